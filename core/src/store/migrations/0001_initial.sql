-- Outpost store schema, version 1. See docs/adr/0002-storage-layout.md.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per synced Dataverse table, with its sync state.
CREATE TABLE sync_table (
    table_id        INTEGER PRIMARY KEY,
    entity_set      TEXT NOT NULL UNIQUE,
    primary_id      TEXT NOT NULL,
    searchable      TEXT NOT NULL DEFAULT '[]',   -- JSON array of column names (full-text index)
    sortable        TEXT NOT NULL DEFAULT '[]',   -- JSON array of column names (ordering indexes)
    delta_link      TEXT,                         -- change-tracking delta link of the last complete pull
    next_link       TEXT,                         -- checkpoint: next page of a pull in progress
    select_columns  TEXT,                         -- the $select the delta link was made with
    last_full_sync  INTEGER,                      -- unix seconds
    last_sync       INTEGER
);

-- Records of every table. `data` is the local view (server mirror with pending local changes
-- applied) and is what queries read; `server_data` holds the mirror as last pulled, only while it
-- differs from `data`. Both are JSONB.
CREATE TABLE record (
    rid          INTEGER PRIMARY KEY,
    table_id     INTEGER NOT NULL REFERENCES sync_table(table_id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    data         BLOB NOT NULL,
    server_data  BLOB,
    etag         TEXT,
    state        INTEGER NOT NULL DEFAULT 0,   -- 0 synced, 1 modified, 2 created, 3 deleted (local)
    modifiedon   TEXT,
    UNIQUE (table_id, id)
);
CREATE INDEX record_modified ON record (table_id, modifiedon);

-- Full-text search: one contentless FTS5 table per synced table, `fts_<table_id>`, created when
-- the table is registered (store/search.rs): the text lives only in the (encrypted) index, and a
-- search touches only its own table's index.

-- Local edits waiting to be pushed, in order.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    table_id     INTEGER NOT NULL REFERENCES sync_table(table_id) ON DELETE CASCADE,
    record_id    TEXT NOT NULL,
    op           TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    changes      BLOB,            -- JSONB: changed columns and new values
    base_values  BLOB,            -- JSONB: the same columns as they were at edit time
    base_etag    TEXT,
    depends_on   INTEGER REFERENCES outbox(seq),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'inflight', 'parked')),
    created_at   INTEGER NOT NULL
);
CREATE INDEX outbox_record ON outbox (table_id, record_id);

-- Conflicts kept for the user to decide.
CREATE TABLE conflict (
    conflict_id   INTEGER PRIMARY KEY,
    table_id      INTEGER NOT NULL REFERENCES sync_table(table_id) ON DELETE CASCADE,
    record_id     TEXT NOT NULL,
    local_changes BLOB NOT NULL,
    base_values   BLOB,
    server_data   BLOB,
    server_etag   TEXT,
    detected_at   INTEGER NOT NULL
);

-- Auth material (refresh tokens, the in-flight sign-in). Lives only inside the vault.
CREATE TABLE auth_token (
    kind        TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    expires_at  INTEGER
) WITHOUT ROWID;

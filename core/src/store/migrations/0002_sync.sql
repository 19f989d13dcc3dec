-- Outpost store schema, version 2: sync state. See docs/sync.md and docs/adr/0004-lookup-targets.md.

-- Per-table sync state beyond the links of version 1.
ALTER TABLE sync_table ADD COLUMN logical_name TEXT;                        -- from EntityDefinitions
ALTER TABLE sync_table ADD COLUMN metadata TEXT;                            -- cached table metadata (JSON)
ALTER TABLE sync_table ADD COLUMN pass INTEGER NOT NULL DEFAULT 0;          -- number of the current full pass
ALTER TABLE sync_table ADD COLUMN pass_kind TEXT;                           -- 'full' | 'delta' while next_link is set
ALTER TABLE sync_table ADD COLUMN annotations INTEGER NOT NULL DEFAULT 1;   -- lookup annotations on tracked queries
ALTER TABLE sync_table ADD COLUMN initial_done INTEGER NOT NULL DEFAULT 0;  -- a full pass has completed once
ALTER TABLE sync_table ADD COLUMN allowed TEXT NOT NULL DEFAULT 'cud';      -- local create/update/delete the profile allows

-- The full pass that last saw a row; rows a completed full pass did not see are gone on the server.
ALTER TABLE record ADD COLUMN pass INTEGER NOT NULL DEFAULT 0;

-- Parked push errors: the server's status and code (the message is in last_error).
ALTER TABLE outbox ADD COLUMN error_status INTEGER;
ALTER TABLE outbox ADD COLUMN error_code TEXT;

-- Conflicts: which case, and which columns disagree.
ALTER TABLE conflict ADD COLUMN kind TEXT NOT NULL DEFAULT 'update';       -- update | server_deleted | local_deleted
ALTER TABLE conflict ADD COLUMN columns TEXT NOT NULL DEFAULT '[]';        -- JSON array of column names
CREATE INDEX conflict_record ON conflict (table_id, record_id);

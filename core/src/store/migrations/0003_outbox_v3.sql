-- Outpost store schema, version 3: the outbox where what was sent is immutable (docs/sync.md,
-- "The outbox state machine"). `state = 'inflight'` now means "sent at least once, outcome not
-- known yet": such an entry is never changed again; later edits go into a new entry.

-- Why a refused entry was refused, as the app can show it: NULL (the server's answer, see
-- error_status / error_code), 'invalid_local_change', or 'missing_lookup_target:<column>'.
ALTER TABLE outbox ADD COLUMN error_reason TEXT;

-- posd schema 24: operator log-in lock-outs outlive a restart (services/auth.py): else
-- whoever can make the daemon restart (crash it, have systemd restart it) gets fresh PIN
-- guesses each time. One row per operator id with failed tries that still count:
--   failures      JSON array of the failed tries' times (timeutil form, UTC) within the
--                 lock-out window
--   locked_until  when the last lock-out ends (UTC); NULL: none in this run of lock-outs
--   streak        lock-outs in a row so far (each one twice as long as the one before)
--   expires_at    after this the row means nothing any more (last failure past the
--                 window, the run of lock-outs over): pruned
-- Times are wall-clock so that they still mean something after a restart; a row that
-- cannot be read is dropped at start (it never locks anyone out).
CREATE TABLE operator_lockouts (
    operator_id  TEXT PRIMARY KEY,
    failures     TEXT NOT NULL,
    locked_until TEXT,
    streak       INTEGER NOT NULL,
    expires_at   TEXT NOT NULL
);

CREATE INDEX operator_lockouts_expires ON operator_lockouts(expires_at);

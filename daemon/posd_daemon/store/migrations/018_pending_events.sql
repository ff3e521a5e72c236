-- posd schema 18: Vorgänge that are no sale (cash movements, a shift's booked cash
-- difference) are signed in two steps so that a crash at any instant leaves the TSE and
-- the register in agreement (DESIGN.md, crash-safety invariant): the TSE transaction is
-- started and this row committed (fsync'd) before the finish; the record of the Vorgang
-- and this row's state DONE commit together after it. A row still PENDING at start-up is
-- a crash between the two: reconciliation records the Vorgang when the TSE finished the
-- transaction, else cancels it (services/fiscal.py, FiscalGateway._resolve_events).
--   PENDING    started, perhaps finished at the TSE, nothing recorded
--   DONE       recorded with the TSE's signature (live, or by reconciliation)
--   OUTAGE     the finish failed; the Vorgang was recorded in the outage it opened and
--              names this transaction; recovery finishes it with the same data (the
--              signature goes to the journal: TSE_EVENT_SIGNED_LATE)
--   CANCELLED  never recorded: the transaction is cancelled (AVBelegabbruch), journaled
-- payload: what recording needs to book the Vorgang exactly as it would have been (JSON:
-- operator, shift, amount, reason, counts, the original time); method, request_id and
-- digest: the call whose stored answer a recovered Vorgang gets (idempotency).
CREATE TABLE tse_pending_events (
    event_id           INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('MOVEMENT', 'SHIFT_CLOSE')),
    state              TEXT NOT NULL
                       CHECK (state IN ('PENDING', 'DONE', 'OUTAGE', 'CANCELLED')),
    client_id          TEXT NOT NULL,
    transaction_number INTEGER NOT NULL,
    start_time         TEXT,
    start_counter      INTEGER,
    process_data       TEXT NOT NULL,
    payload            TEXT NOT NULL,
    method             TEXT NOT NULL,
    request_id         TEXT NOT NULL,
    digest             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    resolved_at        TEXT
);

CREATE INDEX tse_pending_events_state ON tse_pending_events(state);
CREATE INDEX tse_pending_events_request ON tse_pending_events(request_id);

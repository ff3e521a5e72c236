-- posd schema 20: a parked sale this register asked another register to hand over (a
-- slip of another register scanned here), recorded durably BEFORE the other register is
-- asked. The other register commits the hand-over (its TSE transaction ends as
-- AVTransfer) before this one has imported the sale; should this register crash (or
-- fail) in between, the row is what tells it, at its next start, to ask again (the other
-- register hands the same sale over again to this register: transfer_out is idempotent
-- for the register it went to) and to import it. The row goes in the import's own
-- transaction; a refusal by the other register (nothing was handed over) removes it.
--   code         the slip's parking code, as stored
--   operator_json  the operator who scanned it (the import is journaled as theirs)
--   request      the ResumeSale request (serialized), so the recovered import stores the
--                answer its client's retry with the same request_id gets (idempotency)
CREATE TABLE pending_imports (
    code          TEXT PRIMARY KEY,
    operator_json TEXT NOT NULL,
    request       BLOB NOT NULL,
    recorded_at   TEXT NOT NULL
) WITHOUT ROWID;

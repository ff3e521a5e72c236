-- posd schema 29: a digital receipt's link revoked before it expires
-- (RevokeDigitalReceipt: shared by mistake, shown to the wrong person). The row stays
-- until it expires like any other (the housekeeping sweep deletes it then), so that the
-- receipt server can answer the revoked token 410 Gone instead of the receipt, and a
-- repeated revocation answers the same state; the DIGITAL_RECEIPT_REVOKED journal record
-- (sale, receipt number, operator, reason; never the token) keeps it for good.
--   revoked_at     when it was revoked; NULL: not revoked
--   revoke_reason  the reason given ('' while not revoked)
ALTER TABLE digital_receipts ADD COLUMN revoked_at TEXT;
ALTER TABLE digital_receipts ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT '';

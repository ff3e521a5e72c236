-- posd schema 14: digital receipts (digitaler Kassenbon). With [digital_receipt] enabled
-- every post stores, in its own transaction, an unguessable token (secrets.token_urlsafe,
-- 192 bits) that the printed QR code carries; the daemon's small HTTP receipt server
-- answers GET <base_url path><token> with the receipt until expires_at. The token itself
-- is stored (not a hash): a reprint and `posctl receipts url` must show the same URL.
-- Expired rows are deleted by the housekeeping sweep; the sale itself is never touched.
CREATE TABLE digital_receipts (
    token      TEXT PRIMARY KEY,
    sale_id    TEXT NOT NULL UNIQUE REFERENCES sales (sale_id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX digital_receipts_expiry ON digital_receipts (expires_at);

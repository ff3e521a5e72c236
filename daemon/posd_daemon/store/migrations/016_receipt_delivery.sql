-- posd schema 16: how a digital receipt's sale was handed over at posting. PAPER: the
-- receipt was printed (with the QR block); DIGITAL: the customer agreed to the electronic
-- receipt only (Belegausgabepflicht, section 146a (2) AO) and nothing was printed. The
-- SALE_POSTED journal record carries the same value for good; this row expires with its
-- token.
ALTER TABLE digital_receipts ADD COLUMN delivery TEXT NOT NULL DEFAULT 'PAPER'
    CHECK (delivery IN ('PAPER', 'DIGITAL'));

-- posd schema 30: a free-text note on a sale line (AddLine/UpdateLine note, a loaded
-- order line's text), printed under the line on receipts, invoices and reprints.
--   note  at most 80 printable characters; '' = none (every line before schema 30)
ALTER TABLE sale_lines ADD COLUMN note TEXT NOT NULL DEFAULT '';

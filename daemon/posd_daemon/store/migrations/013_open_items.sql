-- posd schema 13: open items (offene Posten), invoices of the back office a customer
-- pays at the register (SaleService.AddInvoicePayment, domain/open_items.py). Only
-- additions. Amounts are minor units of `currency`; dates are TEXT YYYY-MM-DD.
CREATE TABLE open_items (
    invoice_number  TEXT PRIMARY KEY,
    customer_number TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount_open     INTEGER NOT NULL CHECK (amount_open >= 0),
    original_amount INTEGER NOT NULL,
    invoice_date    TEXT NOT NULL,
    due_date        TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL DEFAULT '',
    updated_at      TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX open_items_customer ON open_items (customer_number, invoice_number);

-- an invoice's payment lines are sale_lines of kind INVOICE_PAYMENT whose item_id is the
-- invoice number (found through sale_lines_item, schema 8)

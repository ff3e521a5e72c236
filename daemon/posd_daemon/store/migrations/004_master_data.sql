-- posd schema 4: master data (shops, registers, customers, item variants/units/tracking,
-- vendors, stock), and what a full sale carries (customer, currency terms, VAT
-- direction, discounts, pick-up date, document type). Only additions: every existing
-- table and column keeps its meaning.

-- Shops: the rules a sale follows. Rates and percentages are decimal TEXT.
CREATE TABLE shops (
    shop_id                  TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    currency                 TEXT NOT NULL,
    default_customer_number  TEXT NOT NULL,
    vat_policy               TEXT NOT NULL,   -- CUSTOMER, GROSS, NET
    vat_rounding             TEXT NOT NULL,   -- DOCUMENT, LINE
    simplified_invoice_limit INTEGER NOT NULL,
    allow_negative_stock     INTEGER NOT NULL,
    price_edit_allowed       INTEGER NOT NULL,
    vendor_scan_allowed      INTEGER NOT NULL,
    empty_sale_timeout_s     INTEGER NOT NULL,
    updated_at               TEXT NOT NULL
);

-- Fixed exchange rates: `rate` units of `currency` per one unit of the shop's currency.
CREATE TABLE shop_rates (
    shop_id  TEXT NOT NULL REFERENCES shops(shop_id) ON DELETE CASCADE,
    currency TEXT NOT NULL,
    rate     TEXT NOT NULL,
    PRIMARY KEY (shop_id, currency)
) WITHOUT ROWID;

-- Cash rounding: smallest cash step per currency (e.g. CHF 5 = 0.05).
CREATE TABLE shop_cash_rounding (
    shop_id   TEXT NOT NULL REFERENCES shops(shop_id) ON DELETE CASCADE,
    currency  TEXT NOT NULL,
    increment INTEGER NOT NULL,
    PRIMARY KEY (shop_id, currency)
) WITHOUT ROWID;

-- Shop discount codes (scanned at the register).
CREATE TABLE shop_discounts (
    shop_id TEXT NOT NULL REFERENCES shops(shop_id) ON DELETE CASCADE,
    code    TEXT NOT NULL,
    name    TEXT NOT NULL,
    percent TEXT NOT NULL,
    PRIMARY KEY (shop_id, code)
) WITHOUT ROWID;

-- Discount limits per role ('ROLE') or operator ('OPERATOR'), percent.
CREATE TABLE discount_limits (
    shop_id TEXT NOT NULL REFERENCES shops(shop_id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('ROLE', 'OPERATOR')),
    key     TEXT NOT NULL,
    percent TEXT NOT NULL,
    PRIMARY KEY (shop_id, kind, key)
) WITHOUT ROWID;

-- Daily exchange rates (e.g. the ECB reference rates), per one unit of the local currency.
CREATE TABLE exchange_rates (
    base_currency TEXT NOT NULL,
    currency      TEXT NOT NULL,
    day           TEXT NOT NULL,
    rate          TEXT NOT NULL,
    PRIMARY KEY (base_currency, currency, day)
) WITHOUT ROWID;

CREATE TABLE registers (
    register_id        TEXT PRIMARY KEY,
    shop_id            TEXT NOT NULL REFERENCES shops(shop_id),
    location_id        TEXT NOT NULL,
    document_types     TEXT NOT NULL,   -- comma list: RECEIPT,INVOICE
    requirements       TEXT NOT NULL,   -- comma list: INVOICE:customer_vat_id,...
    price_edit_allowed INTEGER NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE TABLE customers (
    number           TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    company          TEXT NOT NULL,
    email            TEXT NOT NULL,
    email_norm       TEXT NOT NULL,
    street           TEXT NOT NULL,
    postal_code      TEXT NOT NULL,
    city             TEXT NOT NULL,
    country          TEXT NOT NULL,
    vat_id           TEXT NOT NULL,
    default_currency TEXT NOT NULL,
    price_entry      TEXT NOT NULL,   -- GROSS (consumer), NET (business)
    discount_percent TEXT NOT NULL,
    anonymous        INTEGER NOT NULL,
    search_text      TEXT NOT NULL,   -- lower-case name, company, e-mail
    updated_at       TEXT NOT NULL
);
CREATE INDEX customers_email ON customers(email_norm) WHERE email_norm <> '';

-- Items: price basis, type, lot/serial tracking. `gross_price` holds the list price in
-- the item's price basis (a NET item keeps its net price there).
ALTER TABLE items ADD COLUMN price_basis TEXT NOT NULL DEFAULT 'GROSS';
ALTER TABLE items ADD COLUMN item_type TEXT NOT NULL DEFAULT 'INVENTORY';
ALTER TABLE items ADD COLUMN tracking TEXT NOT NULL DEFAULT 'NONE';

CREATE TABLE item_variants (
    item_id    TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
    variant_id TEXT NOT NULL,
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    price      INTEGER,
    PRIMARY KEY (item_id, variant_id)
) WITHOUT ROWID;

CREATE TABLE item_units (
    item_id           TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
    unit              TEXT NOT NULL,
    position          INTEGER NOT NULL,
    quantity_per_unit TEXT NOT NULL,
    price             INTEGER,
    fractional        INTEGER NOT NULL,
    PRIMARY KEY (item_id, unit)
) WITHOUT ROWID;

-- A barcode may name a variant or a unit of its item.
ALTER TABLE barcodes ADD COLUMN variant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE barcodes ADD COLUMN unit TEXT NOT NULL DEFAULT '';

CREATE TABLE vendors (
    vendor_number TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE vendor_items (
    vendor_number      TEXT NOT NULL REFERENCES vendors(vendor_number) ON DELETE CASCADE,
    item_id            TEXT NOT NULL,
    vendor_item_number TEXT NOT NULL,
    position           INTEGER NOT NULL,
    PRIMARY KEY (vendor_number, item_id)
) WITHOUT ROWID;

-- Stock on hand per location in base units (decimal TEXT); `lot` '' = no lot.
CREATE TABLE stock (
    location_id TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    variant_id  TEXT NOT NULL,
    lot         TEXT NOT NULL,
    quantity    TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (location_id, item_id, variant_id, lot)
) WITHOUT ROWID;
CREATE INDEX stock_item ON stock(item_id, variant_id);

-- Lots known to the register (scanning a lot number adds a line with that lot).
CREATE TABLE lots (
    lot        TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    expires_on TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (lot, item_id)
) WITHOUT ROWID;

-- Serial-numbered pieces: where they are and whether they are sold.
CREATE TABLE serials (
    serial      TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    variant_id  TEXT NOT NULL,
    location_id TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('IN_STOCK', 'SOLD')),
    sale_id     TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (serial, item_id)
) WITHOUT ROWID;
CREATE INDEX serials_item ON serials(item_id, location_id, state);

-- Every stock change (append-only): imports, sales.
CREATE TABLE stock_moves (
    move_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    location_id TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    variant_id  TEXT NOT NULL,
    lot         TEXT NOT NULL,
    serial      TEXT NOT NULL,
    delta       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    sale_id     TEXT,
    operator_id TEXT NOT NULL
);
CREATE INDEX stock_moves_sale ON stock_moves(sale_id);
CREATE TRIGGER stock_moves_no_update BEFORE UPDATE ON stock_moves
BEGIN SELECT RAISE(ABORT, 'stock moves are append-only'); END;
CREATE TRIGGER stock_moves_no_delete BEFORE DELETE ON stock_moves
BEGIN SELECT RAISE(ABORT, 'stock moves are append-only'); END;

-- What a full sale carries. NULL in rows written before schema 4 means the old
-- behaviour (local currency, gross, per-document rounding, no customer).
ALTER TABLE sales ADD COLUMN shop_id TEXT;
ALTER TABLE sales ADD COLUMN location_id TEXT;
ALTER TABLE sales ADD COLUMN local_currency TEXT;
ALTER TABLE sales ADD COLUMN exchange_rate TEXT;
ALTER TABLE sales ADD COLUMN rate_source TEXT;
ALTER TABLE sales ADD COLUMN rate_date TEXT;
ALTER TABLE sales ADD COLUMN vat_direction TEXT;
ALTER TABLE sales ADD COLUMN vat_rounding TEXT;
ALTER TABLE sales ADD COLUMN customer_number TEXT;
ALTER TABLE sales ADD COLUMN customer_json TEXT;
ALTER TABLE sales ADD COLUMN customer_discount TEXT;
ALTER TABLE sales ADD COLUMN discount_percent TEXT;
ALTER TABLE sales ADD COLUMN discount_code TEXT;
ALTER TABLE sales ADD COLUMN discount_origin TEXT;
ALTER TABLE sales ADD COLUMN pickup_date TEXT;
ALTER TABLE sales ADD COLUMN document_type TEXT;
ALTER TABLE sales ADD COLUMN document_forced TEXT;
ALTER TABLE sales ADD COLUMN warnings TEXT;
ALTER TABLE sales ADD COLUMN updated_at TEXT;
-- the total in the local currency (= total for local-currency sales)
ALTER TABLE sales ADD COLUMN total_local INTEGER;
CREATE INDEX sales_customer ON sales(customer_number) WHERE customer_number IS NOT NULL;
CREATE INDEX sales_open_pickup ON sales(state, pickup_date);

ALTER TABLE sale_lines ADD COLUMN variant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN unit_factor TEXT NOT NULL DEFAULT '1';
ALTER TABLE sale_lines ADD COLUMN item_type TEXT NOT NULL DEFAULT 'INVENTORY';
ALTER TABLE sale_lines ADD COLUMN list_price INTEGER;
ALTER TABLE sale_lines ADD COLUMN list_basis TEXT NOT NULL DEFAULT 'GROSS';
ALTER TABLE sale_lines ADD COLUMN price_overridden INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sale_lines ADD COLUMN discount_percent TEXT NOT NULL DEFAULT '0';
ALTER TABLE sale_lines ADD COLUMN discount_origin TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN lot TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN serial TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN pickup_date TEXT;
-- derived amounts, stored for readers of the table (exports, closings)
ALTER TABLE sale_lines ADD COLUMN amount INTEGER;
ALTER TABLE sale_lines ADD COLUMN discount INTEGER NOT NULL DEFAULT 0;

-- Full invoices issued for posted sales (printed later, with the customer's address).
CREATE TABLE sale_invoices (
    sale_id     TEXT PRIMARY KEY REFERENCES sales(sale_id),
    customer    TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    issued_at   TEXT NOT NULL
);

-- posd schema 8: the full sale, part 2. Payment methods with their details and the
-- amount kept; rounding and change in the local currency; line kinds (returns, shop
-- discounts, vouchers, balancing) with fixed amounts and references; parking; reversal
-- (storno) receipts; the voucher register.
ALTER TABLE sales ADD COLUMN rounding INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN change_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE sales ADD COLUMN change_local INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN parking_code TEXT;
ALTER TABLE sales ADD COLUMN parked_at TEXT;
ALTER TABLE sales ADD COLUMN held_by TEXT NOT NULL DEFAULT '';
ALTER TABLE sales ADD COLUMN origin_register TEXT NOT NULL DEFAULT '';
ALTER TABLE sales ADD COLUMN reverses_sale_id TEXT;
ALTER TABLE sales ADD COLUMN reverses_receipt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN discount_cap TEXT;
CREATE UNIQUE INDEX sales_parking_code ON sales(parking_code) WHERE parking_code IS NOT NULL;
-- one reversal per receipt: a second storno of the same receipt is refused here too
CREATE UNIQUE INDEX sales_reverses ON sales(reverses_sale_id)
    WHERE reverses_sale_id IS NOT NULL AND state = 'POSTED';

ALTER TABLE sale_lines ADD COLUMN kind TEXT NOT NULL DEFAULT 'GOODS';
ALTER TABLE sale_lines ADD COLUMN fixed_amount INTEGER;
ALTER TABLE sale_lines ADD COLUMN ref_sale_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN ref_line_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN ref_receipt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sale_lines ADD COLUMN voucher_code TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN discount_cap TEXT;
-- returns of a receipt line: "sold minus earlier returns"
CREATE INDEX sale_lines_ref ON sale_lines(ref_sale_id, ref_line_id) WHERE ref_sale_id != '';
-- the receipts that sold an item (a return chooses among them)
CREATE INDEX sale_lines_item ON sale_lines(item_id);

ALTER TABLE sale_payments ADD COLUMN card_institute TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_payments ADD COLUMN authorization_code TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_payments ADD COLUMN contract_number TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_payments ADD COLUMN reference TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_payments ADD COLUMN rounding_step INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sale_payments ADD COLUMN down_payment_for TEXT NOT NULL DEFAULT '';
-- the amount booked (cash less change), written when the sale posts
ALTER TABLE sale_payments ADD COLUMN kept INTEGER;

-- Tracked vouchers: sold once (ISSUED, with its value), redeemed once up to its value.
CREATE TABLE vouchers (
    code             TEXT PRIMARY KEY,
    item_id          TEXT NOT NULL,
    currency         TEXT NOT NULL,
    value            INTEGER NOT NULL,
    state            TEXT NOT NULL,          -- ISSUED, REDEEMED, VOID
    redeemed         INTEGER NOT NULL DEFAULT 0,
    sold_sale_id     TEXT,
    redeemed_sale_id TEXT,
    updated_at       TEXT NOT NULL
) WITHOUT ROWID;

-- shop rules of the full sale part 2 (card authorization, refund methods, balancing
-- account, rounding of other methods than cash, parking barcodes) as one JSON object
ALTER TABLE shops ADD COLUMN sale_rules TEXT NOT NULL DEFAULT '{}';
ALTER TABLE registers ADD COLUMN orders_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE registers ADD COLUMN register_number INTEGER NOT NULL DEFAULT 1;

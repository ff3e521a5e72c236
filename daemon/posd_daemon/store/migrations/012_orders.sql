-- posd schema 12: back-office orders (web shop, phone) loaded into a sale at the register.
-- An order is OPEN until LoadOrder puts it into a sale (LOADED, sale_id set). The sale's
-- row carries the order number; the triggers below move the order on in the very
-- transaction that posts, cancels or deletes that sale, so the post path needs no code
-- of its own for it (as the register day's triggers in schema 3).
CREATE TABLE orders (
    order_number    TEXT PRIMARY KEY,
    customer_number TEXT NOT NULL DEFAULT '',
    currency        TEXT NOT NULL,
    lines_json      TEXT NOT NULL,           -- [{item_id, variant_id, quantity, unit_price, text}]
    state           TEXT NOT NULL DEFAULT 'OPEN'
                    CHECK (state IN ('OPEN', 'LOADED', 'COMPLETED')),
    sale_id         TEXT,                    -- LOADED: the open sale; COMPLETED: the posted one
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX orders_state ON orders(state, order_number);
CREATE INDEX orders_customer ON orders(customer_number, order_number);
CREATE UNIQUE INDEX orders_sale ON orders(sale_id) WHERE sale_id IS NOT NULL;

ALTER TABLE sales ADD COLUMN order_number TEXT NOT NULL DEFAULT '';

-- the sale was posted: the order is complete (in the post's transaction)
CREATE TRIGGER orders_complete_on_post AFTER UPDATE OF state ON sales
WHEN NEW.state = 'POSTED' AND OLD.state != 'POSTED' AND NEW.order_number != ''
BEGIN
    UPDATE orders SET state = 'COMPLETED', updated_at = COALESCE(NEW.posted_at, NEW.updated_at)
    WHERE sale_id = NEW.sale_id AND state = 'LOADED';
END;

-- the sale was cancelled: the order can be loaded again
CREATE TRIGGER orders_reopen_on_cancel AFTER UPDATE OF state ON sales
WHEN NEW.state = 'CANCELLED' AND OLD.state != 'CANCELLED' AND NEW.order_number != ''
BEGIN
    UPDATE orders SET state = 'OPEN', sale_id = NULL,
        updated_at = COALESCE(NEW.cancelled_at, NEW.updated_at)
    WHERE sale_id = NEW.sale_id AND state = 'LOADED';
END;

-- the sale was deleted (an abandoned empty sale): likewise
CREATE TRIGGER orders_reopen_on_delete AFTER DELETE ON sales
WHEN OLD.order_number != ''
BEGIN
    UPDATE orders SET state = 'OPEN', sale_id = NULL,
        updated_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')
    WHERE sale_id = OLD.sale_id AND state = 'LOADED';
END;

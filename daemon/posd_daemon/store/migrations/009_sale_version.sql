-- posd schema 9: a write counter per sale row. Every write of a sale through
-- store.sales.update increments it, so the daemon's in-memory copy of an open sale is
-- used only while it is the version last written. The daemon writes a sale's lines and
-- payments only together with its row; a write of the sale row from elsewhere is caught
-- by the trigger below, a write of only sale_lines or sale_payments from elsewhere is
-- not (the daemon is the one writer of a running register's database).
ALTER TABLE sales ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- A write of the sale row that does not advance the version itself (an operator's repair
-- with the sqlite3 shell while the daemon runs) still makes the kept copy stale.
CREATE TRIGGER sales_version_on_foreign_update AFTER UPDATE ON sales
WHEN NEW.version = OLD.version
BEGIN
    UPDATE sales SET version = OLD.version + 1 WHERE sale_id = NEW.sale_id;
END;

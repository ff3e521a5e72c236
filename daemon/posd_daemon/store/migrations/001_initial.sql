-- posd schema 1. Money is INTEGER minor units; quantities and rates are decimal TEXT.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE items (
    item_id      TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    gross_price  INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    vat_category INTEGER NOT NULL,
    unit         TEXT NOT NULL,
    fractional   INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);

-- A barcode may belong to several items (the client then chooses).
CREATE TABLE barcodes (
    code    TEXT NOT NULL,
    item_id TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
    PRIMARY KEY (code, item_id)
) WITHOUT ROWID;
CREATE INDEX barcodes_item ON barcodes(item_id);

CREATE TABLE sales (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id         TEXT NOT NULL UNIQUE,
    register_id     TEXT NOT NULL,
    operator_id     TEXT NOT NULL,
    currency        TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    posted_at       TEXT,
    cancelled_at    TEXT,
    cancel_reason   TEXT NOT NULL DEFAULT '',
    receipt_number  INTEGER,
    revision        INTEGER NOT NULL,
    next_line_no    INTEGER NOT NULL,
    next_payment_no INTEGER NOT NULL,
    total           INTEGER NOT NULL
);
CREATE UNIQUE INDEX sales_receipt ON sales(register_id, receipt_number)
    WHERE receipt_number IS NOT NULL;
CREATE INDEX sales_state ON sales(state, seq);

CREATE TABLE sale_lines (
    sale_id      TEXT NOT NULL REFERENCES sales(sale_id),
    position     INTEGER NOT NULL,
    line_id      TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    quantity     TEXT NOT NULL,
    unit         TEXT NOT NULL,
    unit_price   INTEGER NOT NULL,
    vat_category INTEGER NOT NULL,
    vat_rate     TEXT NOT NULL,
    scanned_code TEXT NOT NULL,
    fractional   INTEGER NOT NULL,
    PRIMARY KEY (sale_id, position)
) WITHOUT ROWID;

CREATE TABLE sale_payments (
    sale_id    TEXT NOT NULL REFERENCES sales(sale_id),
    position   INTEGER NOT NULL,
    payment_id TEXT NOT NULL,
    method     TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    PRIMARY KEY (sale_id, position)
) WITHOUT ROWID;

-- Cash drawer ledger: one row per money movement through the drawer.
CREATE TABLE drawer_entries (
    entry_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    register_id    TEXT NOT NULL,
    sale_id        TEXT,
    receipt_number INTEGER,
    kind           TEXT NOT NULL,
    method         TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    recorded_at    TEXT NOT NULL
);
CREATE INDEX drawer_entries_sale ON drawer_entries(sale_id);

-- Append-only, hash-chained journal. Triggers refuse UPDATE and DELETE; a change made
-- behind SQLite's back breaks the chain, which `posctl journal verify` detects.
CREATE TABLE journal (
    seq         INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    kind        TEXT NOT NULL,
    register_id TEXT NOT NULL,
    ref         TEXT NOT NULL,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

-- Durable outbox: side effects (print, drawer kick) run after the commit from here.
CREATE TABLE outbox (
    job_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL,
    ref            TEXT NOT NULL,
    receipt_number INTEGER,
    payload        TEXT NOT NULL,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    done_at        TEXT
);
CREATE INDEX outbox_pending ON outbox(state, job_id);

-- Idempotency: the first answer to each request_id.
CREATE TABLE idempotency (
    request_id     TEXT PRIMARY KEY,
    method         TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    response       BLOB NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX idempotency_created ON idempotency(created_at);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

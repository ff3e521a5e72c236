-- posd schema 3: the register's day. Shifts with counted cash, cash movements, the
-- register's transaction list (every DSFinV-K "Vorgang" with its BON_ID), Z closings,
-- and the triggers that freeze everything a Z closing has closed.

-- Shifts: one open shift per register at a time. `first_entry` is the largest
-- drawer_entries.entry_id when the shift opened: the shift's cash is every drawer entry
-- after it (so a clock change cannot move cash between shifts).
CREATE TABLE shifts (
    shift_id    INTEGER PRIMARY KEY,
    register_id TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('OPEN', 'CLOSED')),
    opened_at   TEXT NOT NULL,
    opened_by   TEXT NOT NULL,
    first_entry INTEGER NOT NULL,
    closed_at   TEXT,
    closed_by   TEXT,
    last_entry  INTEGER,
    z_nr        INTEGER
);
CREATE UNIQUE INDEX shifts_one_open ON shifts(register_id) WHERE state = 'OPEN';
CREATE INDEX shifts_z ON shifts(z_nr);

-- What was counted: per currency and denomination (minor units of one piece; 0 = a
-- total that was not split by denomination).
CREATE TABLE shift_counts (
    shift_id     INTEGER NOT NULL REFERENCES shifts(shift_id),
    phase        TEXT NOT NULL CHECK (phase IN ('OPEN', 'CLOSE')),
    currency     TEXT NOT NULL,
    denomination INTEGER NOT NULL,
    pieces       INTEGER NOT NULL,
    amount       INTEGER NOT NULL,
    PRIMARY KEY (shift_id, phase, currency, denomination)
) WITHOUT ROWID;

-- Expected vs counted cash per currency at the close of a shift.
CREATE TABLE shift_balances (
    shift_id   INTEGER NOT NULL REFERENCES shifts(shift_id),
    currency   TEXT NOT NULL,
    opening    INTEGER NOT NULL,
    expected   INTEGER NOT NULL,
    counted    INTEGER NOT NULL,
    difference INTEGER NOT NULL,
    PRIMARY KEY (shift_id, currency)
) WITHOUT ROWID;

-- Cash movements (Einlage, Entnahme, Geldtransit, Trinkgeld, booked cash differences)
-- with their TSE transaction (columns as in sale_tse). `amount` is signed: + into the
-- drawer, - out of it. `number` is gapless per register and printed on the slip.
CREATE TABLE cash_movements (
    movement_id         INTEGER PRIMARY KEY,
    register_id         TEXT NOT NULL,
    number              INTEGER NOT NULL,
    kind                TEXT NOT NULL,
    amount              INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    reason              TEXT NOT NULL,
    operator_id         TEXT NOT NULL,
    shift_id            INTEGER REFERENCES shifts(shift_id),
    created_at          TEXT NOT NULL,
    tse_state           TEXT NOT NULL,
    client_id           TEXT NOT NULL DEFAULT '',
    transaction_number  INTEGER,
    start_time          TEXT,
    finish_time         TEXT,
    finish_counter      INTEGER,
    process_type        TEXT NOT NULL DEFAULT '',
    process_data        TEXT NOT NULL DEFAULT '',
    signature           TEXT NOT NULL DEFAULT '',
    tse_serial          TEXT NOT NULL DEFAULT '',
    public_key          TEXT NOT NULL DEFAULT '',
    signature_algorithm TEXT NOT NULL DEFAULT '',
    time_format         TEXT NOT NULL DEFAULT '',
    outage_number       INTEGER
);
CREATE UNIQUE INDEX cash_movements_number ON cash_movements(register_id, number);

-- Every Vorgang of the register in the order it was completed: posted sales (SALE),
-- cancelled sales (ABORT = DSFinV-K AVBelegabbruch) and cash movements (MOVEMENT).
-- bon_id is the DSFinV-K BON_ID: "stetig fortlaufende und eindeutige Kennzeichnung aller
-- Vorgänge" (DSFinV-K Anhang E), gapless because rows are never deleted. z_nr is the
-- Z closing the Vorgang belongs to (NULL while its period is open).
CREATE TABLE register_transactions (
    bon_id      INTEGER PRIMARY KEY,
    register_id TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('SALE', 'ABORT', 'MOVEMENT')),
    sale_id     TEXT UNIQUE,
    movement_id INTEGER UNIQUE,
    shift_id    INTEGER,
    late        INTEGER NOT NULL DEFAULT 0,
    recorded_at TEXT NOT NULL,
    z_nr        INTEGER
);
CREATE INDEX register_transactions_z ON register_transactions(z_nr);
CREATE INDEX register_transactions_shift ON register_transactions(shift_id);

-- A sale becomes a Vorgang in the very transaction that posts or cancels it (the sale
-- code does not need to know): it joins the open shift, or none (it is then assigned
-- to the next shift when that opens). `late`: started before the shift it lands in.
CREATE TRIGGER sales_vorgang_on_update AFTER UPDATE OF state ON sales
WHEN OLD.state = 'OPEN' AND NEW.state IN ('POSTED', 'CANCELLED')
BEGIN
    INSERT INTO register_transactions (register_id, kind, sale_id, shift_id, late, recorded_at)
    SELECT NEW.register_id,
           CASE NEW.state WHEN 'POSTED' THEN 'SALE' ELSE 'ABORT' END,
           NEW.sale_id,
           s.shift_id,
           CASE WHEN s.shift_id IS NOT NULL AND NEW.created_at < s.opened_at THEN 1 ELSE 0 END,
           COALESCE(NEW.posted_at, NEW.cancelled_at, NEW.created_at)
    FROM (SELECT 1) AS one
    LEFT JOIN shifts AS s ON s.register_id = NEW.register_id AND s.state = 'OPEN';
END;

CREATE TRIGGER sales_vorgang_on_insert AFTER INSERT ON sales
WHEN NEW.state IN ('POSTED', 'CANCELLED')
BEGIN
    INSERT INTO register_transactions (register_id, kind, sale_id, shift_id, late, recorded_at)
    SELECT NEW.register_id,
           CASE NEW.state WHEN 'POSTED' THEN 'SALE' ELSE 'ABORT' END,
           NEW.sale_id,
           s.shift_id,
           CASE WHEN s.shift_id IS NOT NULL AND NEW.created_at < s.opened_at THEN 1 ELSE 0 END,
           COALESCE(NEW.posted_at, NEW.cancelled_at, NEW.created_at)
    FROM (SELECT 1) AS one
    LEFT JOIN shifts AS s ON s.register_id = NEW.register_id AND s.state = 'OPEN';
END;

-- Z closings (Kassenabschluss): gapless z_nr per register, the totals snapshot as
-- canonical JSON (its SHA-256 is journaled), the BON_ID range it closed.
CREATE TABLE closings (
    z_nr          INTEGER NOT NULL,
    register_id   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    business_date TEXT NOT NULL,
    operator_id   TEXT NOT NULL,
    first_bon_id  INTEGER,
    last_bon_id   INTEGER,
    report        TEXT NOT NULL,
    report_sha256 TEXT NOT NULL,
    PRIMARY KEY (register_id, z_nr)
);
CREATE INDEX closings_created ON closings(created_at);

-- Receipt archive queries (ListReceipts) at a year of receipts: a date range becomes a
-- receipt-number range through this covering index (services/receipts.py).
CREATE INDEX sales_register_posted ON sales(register_id, posted_at, receipt_number)
    WHERE receipt_number IS NOT NULL;
CREATE INDEX sales_operator_receipt ON sales(operator_id, receipt_number)
    WHERE receipt_number IS NOT NULL;
CREATE INDEX drawer_entries_time ON drawer_entries(recorded_at);
CREATE INDEX outbox_ref ON outbox(ref);

-- -------------------------------------------------------------------------------------
-- After a Z nothing of its period can change. The sale code writes a sale back as a
-- whole (UPDATE sales, DELETE + INSERT of its lines and payments): every such write on
-- a closed sale is refused here, whoever attempts it.

CREATE TRIGGER sales_closed_no_update BEFORE UPDATE ON sales
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = OLD.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sales_vorgang_no_delete BEFORE DELETE ON sales
WHEN EXISTS (SELECT 1 FROM register_transactions WHERE sale_id = OLD.sale_id)
BEGIN SELECT RAISE(ABORT, 'a posted or cancelled sale cannot be deleted'); END;

CREATE TRIGGER sale_lines_closed_no_insert BEFORE INSERT ON sale_lines
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = NEW.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sale_lines_closed_no_update BEFORE UPDATE ON sale_lines
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = OLD.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sale_lines_closed_no_delete BEFORE DELETE ON sale_lines
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = OLD.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sale_payments_closed_no_insert BEFORE INSERT ON sale_payments
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = NEW.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sale_payments_closed_no_update BEFORE UPDATE ON sale_payments
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = OLD.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sale_payments_closed_no_delete BEFORE DELETE ON sale_payments
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = OLD.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

-- The TSE data of a closed sale is frozen too, with one exception: an outage receipt
-- whose transaction the TSE did finish gets its signature after recovery
-- (services/fiscal.py _sign_late: OUTAGE -> SIGNED_LATE, same transaction and
-- processData). That adds the proof the outage withheld and changes no amount.
CREATE TRIGGER sale_tse_closed_no_insert BEFORE INSERT ON sale_tse
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = NEW.sale_id AND z_nr IS NOT NULL)
 AND NOT (NEW.state = 'SIGNED_LATE' AND EXISTS (
         SELECT 1 FROM sale_tse AS o
         WHERE o.sale_id = NEW.sale_id AND o.state = 'OUTAGE'
           AND o.transaction_number IS NEW.transaction_number
           AND o.process_data = NEW.process_data))
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

CREATE TRIGGER sale_tse_closed_no_update BEFORE UPDATE ON sale_tse
WHEN EXISTS (SELECT 1 FROM register_transactions
             WHERE sale_id = OLD.sale_id AND z_nr IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'closed period: the sale belongs to a Z closing and cannot change'); END;

-- The drawer ledger, cash movements, counts and closings are append-only.
CREATE TRIGGER drawer_entries_no_update BEFORE UPDATE ON drawer_entries
BEGIN SELECT RAISE(ABORT, 'drawer entries are append-only'); END;
CREATE TRIGGER drawer_entries_no_delete BEFORE DELETE ON drawer_entries
BEGIN SELECT RAISE(ABORT, 'drawer entries are append-only'); END;

CREATE TRIGGER cash_movements_no_update BEFORE UPDATE ON cash_movements
BEGIN SELECT RAISE(ABORT, 'cash movements are append-only'); END;
CREATE TRIGGER cash_movements_no_delete BEFORE DELETE ON cash_movements
BEGIN SELECT RAISE(ABORT, 'cash movements are append-only'); END;

CREATE TRIGGER shift_counts_no_update BEFORE UPDATE ON shift_counts
BEGIN SELECT RAISE(ABORT, 'shift counts are append-only'); END;
CREATE TRIGGER shift_counts_no_delete BEFORE DELETE ON shift_counts
BEGIN SELECT RAISE(ABORT, 'shift counts are append-only'); END;

CREATE TRIGGER shift_balances_no_update BEFORE UPDATE ON shift_balances
BEGIN SELECT RAISE(ABORT, 'shift balances are append-only'); END;
CREATE TRIGGER shift_balances_no_delete BEFORE DELETE ON shift_balances
BEGIN SELECT RAISE(ABORT, 'shift balances are append-only'); END;

CREATE TRIGGER shifts_closed_no_update BEFORE UPDATE ON shifts
WHEN OLD.z_nr IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'closed period: the shift belongs to a Z closing and cannot change'); END;
CREATE TRIGGER shifts_no_delete BEFORE DELETE ON shifts
BEGIN SELECT RAISE(ABORT, 'shifts cannot be deleted'); END;

CREATE TRIGGER register_transactions_closed_no_update BEFORE UPDATE ON register_transactions
WHEN OLD.z_nr IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'closed period: the transaction belongs to a Z closing'); END;
CREATE TRIGGER register_transactions_no_delete BEFORE DELETE ON register_transactions
BEGIN SELECT RAISE(ABORT, 'register transactions are append-only'); END;

CREATE TRIGGER closings_no_update BEFORE UPDATE ON closings
BEGIN SELECT RAISE(ABORT, 'Z closings are append-only'); END;
CREATE TRIGGER closings_no_delete BEFORE DELETE ON closings
BEGIN SELECT RAISE(ABORT, 'Z closings are append-only'); END;

-- posd schema 2: TSE transaction of each sale, outage journal.

-- One row per sale that has (or had) a TSE transaction or was posted without one.
CREATE TABLE sale_tse (
    sale_id            TEXT PRIMARY KEY REFERENCES sales(sale_id),
    client_id          TEXT NOT NULL,
    transaction_number INTEGER,
    -- STARTED, SIGNED (finished as receipt), CANCELLED (finished as AVBelegabbruch),
    -- OUTAGE (posted during a TSE outage), SIGNED_LATE (outage receipt whose transaction
    -- was found finished after recovery)
    state              TEXT NOT NULL,
    start_time         TEXT,
    start_counter      INTEGER,
    finish_time        TEXT,
    finish_counter     INTEGER,
    process_type       TEXT NOT NULL DEFAULT '',
    process_data       TEXT NOT NULL DEFAULT '',
    signature          TEXT NOT NULL DEFAULT '',
    tse_serial         TEXT NOT NULL DEFAULT '',
    public_key         TEXT NOT NULL DEFAULT '',
    signature_algorithm TEXT NOT NULL DEFAULT '',
    time_format        TEXT NOT NULL DEFAULT '',
    outage_number      INTEGER
);
CREATE UNIQUE INDEX sale_tse_tx ON sale_tse(client_id, transaction_number)
    WHERE transaction_number IS NOT NULL;
CREATE INDEX sale_tse_state ON sale_tse(state);

-- TSE outages (AEAO zu §146a Nr. 7): running number, cause, TSE, who and where.
CREATE TABLE tse_outages (
    outage_number    INTEGER PRIMARY KEY,
    started_at       TEXT NOT NULL,
    ended_at         TEXT,
    error_code       TEXT NOT NULL,
    error_message    TEXT NOT NULL,
    tse_manufacturer TEXT NOT NULL,
    tse_serial       TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    register_id      TEXT NOT NULL,
    operator_id      TEXT NOT NULL,
    printer          TEXT NOT NULL
);

CREATE TABLE tse_outage_receipts (
    outage_number  INTEGER NOT NULL REFERENCES tse_outages(outage_number),
    receipt_number INTEGER NOT NULL,
    sale_id        TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    PRIMARY KEY (outage_number, receipt_number)
) WITHOUT ROWID;

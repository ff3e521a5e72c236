-- posd schema 6: a posted sale's amounts exactly as the receipt states them, for readers
-- of the tables (closings, DSFinV-K, DATEV): per-rate totals, and each line's gross
-- amount after all discounts (in net-priced sales the rate's tax is allocated to its
-- lines so that the lines add up to the receipt's gross per rate to the cent).
CREATE TABLE sale_vat_totals (
    sale_id      TEXT NOT NULL REFERENCES sales(sale_id),
    position     INTEGER NOT NULL,
    vat_category INTEGER NOT NULL,
    vat_rate     TEXT NOT NULL,
    gross        INTEGER NOT NULL,
    net          INTEGER NOT NULL,
    tax          INTEGER NOT NULL,
    PRIMARY KEY (sale_id, position)
) WITHOUT ROWID;

ALTER TABLE sale_lines ADD COLUMN gross INTEGER;

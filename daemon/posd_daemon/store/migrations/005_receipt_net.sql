-- posd schema 5: the net total of a sale, so that the receipt archive can filter by it.
ALTER TABLE sales ADD COLUMN net_total INTEGER;

-- posd schema 7: training sales (Schulungsmodus). Signed as AVTraining, printed as
-- training receipts, never turnover: no drawer money, no stock, not in Z totals.
ALTER TABLE sales ADD COLUMN training INTEGER NOT NULL DEFAULT 0;

-- posd schema 19: the cash rounding of change paid out in the local currency for foreign
-- cash (sales.change_local is that change rounded to the local cash step): in the local
-- currency, minor units, what the foreign surplus taken in is worth beyond the change
-- paid out for it (Sale.change_rounding; 0.02 CHF tendered beyond the amount due and
-- 0.00 EUR paid out in 0.05 steps: +0.02 EUR). It is booked as a rounding difference
-- ("Rundung") beside the sale's own cash rounding, and the surplus stays in the foreign
-- cash at its value. NULL: posted before schema 19, booked as then (the surplus at the
-- change paid out for it, nothing when that was 0), so that closed periods export as
-- their Z says.
ALTER TABLE sales ADD COLUMN change_rounding INTEGER;

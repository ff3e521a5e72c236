-- posd schema 22: cash movements of foreign cash the shop takes (a Geldtransit of the
-- francs taken in at a EUR register). A movement keeps its amount and currency as
-- counted; these say what it is worth in the register currency, at the shop's rate of
-- its day, as it was signed (the Kassenbeleg's "Nicht Steuerbar" gross slot):
--   amount_local   the amount in the register currency (NULL: amount is in it; every
--                  movement before this schema was)
--   exchange_rate  foreign units per register-currency unit (NULL: the register currency)
-- The Z, DATEV and DSFinV-K read the register currency's value from here.
ALTER TABLE cash_movements ADD COLUMN amount_local INTEGER;
ALTER TABLE cash_movements ADD COLUMN exchange_rate TEXT;

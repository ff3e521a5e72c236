-- posd schema 26: an operator's price is kept as set, with the terms it was set in, so
-- that a new currency or VAT direction converts it from there once, as a catalog price
-- is from list_price, never again from the last terms' rounded price (in a CZK shop
-- 100.01 CZK went to 4.11 EUR and back to 99.93 CZK).
--   override_price     the unit price the operator set (minor units of override_currency,
--                      override_basis); NULL: none, or one set before this schema (that
--                      line's unit price is converted from the last terms, as it was)
--   override_currency  the sale's currency then
--   override_rate      the sale's exchange rate then (decimal text, units of
--                      override_currency per unit of the sale's local currency)
--   override_basis     the sale's VAT direction then (GROSS or NET)
ALTER TABLE sale_lines ADD COLUMN override_price INTEGER;
ALTER TABLE sale_lines ADD COLUMN override_currency TEXT;
ALTER TABLE sale_lines ADD COLUMN override_rate TEXT;
ALTER TABLE sale_lines ADD COLUMN override_basis TEXT;

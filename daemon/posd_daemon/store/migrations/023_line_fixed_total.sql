-- posd schema 23: a weighed pack sold by its price label (a deli scale's label of an item
-- sold by weight): the line's quantity is the pack's weight, and the customer pays the
-- printed price, which above 1 kg no price per kg in whole cents times the weight may
-- make (2.514 kg: 19.89/kg makes 50.00, 19.90/kg 50.03, the label says 50.02).
--   pack_price   the printed price (local currency, the line's list_basis); NULL: the
--                line is priced by unit price x quantity (every line before this schema)
--   fixed_total  that price in the sale's currency and VAT direction: the line's amount
--                before its discounts, in place of unit price x quantity
-- amount and gross (schema 6) already hold what the line cost after its discounts.
ALTER TABLE sale_lines ADD COLUMN pack_price INTEGER;
ALTER TABLE sale_lines ADD COLUMN fixed_total INTEGER;

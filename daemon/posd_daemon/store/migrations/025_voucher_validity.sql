-- posd schema 25: a voucher has a validity (valid_until, YYYY-MM-DD on the register's
-- calendar; NULL: it never expires). A voucher sold before has none: neither its slip nor
-- its receipt told the customer of one, so the register does not refuse it later (the
-- shop may still rely on the statutory limitation, §§ 195, 199 BGB, outside posd).
ALTER TABLE vouchers ADD COLUMN valid_until TEXT;

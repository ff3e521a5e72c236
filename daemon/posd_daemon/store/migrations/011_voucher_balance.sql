-- posd schema 11: a voucher keeps its remaining balance (value - redeemed) and stays
-- ISSUED until it is used up. Before, any redemption set it REDEEMED, so a partly
-- redeemed voucher lost its rest: those are ISSUED again with their rest.
UPDATE vouchers SET state = 'ISSUED' WHERE state = 'REDEEMED' AND redeemed < value;

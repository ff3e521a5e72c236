-- posd schema 17: a sale handed over to another register is a Vorgang of the register
-- that hands it over. Its TSE transaction here finishes as AVTransfer (services/fiscal.py,
-- fiscal-de.md processData: BON_TYP AVTransfer), and transactions_tse.csv lists every
-- TSE transaction of the register, so the hand-over needs a BON_ID like a cancelled sale.
-- The schema 3 trigger fires only on OPEN -> POSTED/CANCELLED; PARKED -> TRANSFERRED
-- (SaleOps.transfer_out, in the transaction that stores the AVTransfer signature) is
-- recorded here. Its kind is ABORT (the CHECK of schema 3 knows no other, and the Z
-- treats both alike: counted, never turnover, no payments); the export tells the two
-- apart by the sale's state (TRANSFERRED -> BON_TYP AVTransfer, exports/dsfinvk.py).
-- A transferred sale cannot come back (Sale.resume refuses it), so it is recorded once.
CREATE TRIGGER sales_vorgang_on_transfer AFTER UPDATE OF state ON sales
WHEN OLD.state = 'PARKED' AND NEW.state = 'TRANSFERRED'
 AND NOT EXISTS (SELECT 1 FROM register_transactions WHERE sale_id = NEW.sale_id)
BEGIN
    INSERT INTO register_transactions (register_id, kind, sale_id, shift_id, late, recorded_at)
    SELECT NEW.register_id,
           'ABORT',
           NEW.sale_id,
           s.shift_id,
           CASE WHEN s.shift_id IS NOT NULL AND NEW.created_at < s.opened_at THEN 1 ELSE 0 END,
           COALESCE(NEW.updated_at, NEW.parked_at, NEW.created_at)
    FROM (SELECT 1) AS one
    LEFT JOIN shifts AS s ON s.register_id = NEW.register_id AND s.state = 'OPEN';
END;

-- Hand-overs made before this schema had no Vorgang, so their signed AVTransfer
-- transaction was in no export: they join the open period now (late: their shift is
-- the one open now, or the next to open), in the order they were handed over.
INSERT INTO register_transactions (register_id, kind, sale_id, shift_id, late, recorded_at)
SELECT x.register_id, 'ABORT', x.sale_id, s.shift_id, 1,
       COALESCE(x.updated_at, x.parked_at, x.created_at)
FROM sales AS x
LEFT JOIN shifts AS s ON s.register_id = x.register_id AND s.state = 'OPEN'
WHERE x.state = 'TRANSFERRED'
  AND NOT EXISTS (SELECT 1 FROM register_transactions AS t WHERE t.sale_id = x.sale_id)
ORDER BY COALESCE(x.updated_at, x.parked_at, x.created_at), x.seq;

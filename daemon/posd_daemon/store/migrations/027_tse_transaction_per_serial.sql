-- posd schema 27: a TSE transaction number is unique per TSE, not per client. A replaced
-- TSE (a new fiskaly TSS, a fresh software TSE: the usual answer to a broken one) numbers
-- its transactions from 1 again (BSI TR-03151: a transaction number names a transaction
-- of one TSE only), and a new sale's transaction n took (INSERT OR REPLACE against the
-- index of schema 2) the row of the old TSE's receipt n: its signature or outage marking
-- and processData were deleted, also in closed periods.
--   tse_serial  (schema 2) now also on STARTED rows: the TSE that started the
--               transaction. Rows keep the serial they carry; a row started before this
--               schema carries none ('') and counts as the current TSE's, as it did.
DROP INDEX sale_tse_tx;
CREATE UNIQUE INDEX sale_tse_tx ON sale_tse(client_id, tse_serial, transaction_number)
    WHERE transaction_number IS NOT NULL;

-- posd schema 21: the lines that pay an open invoice at the register, indexed on their
-- own. The DSFinV-K export's references.csv lists one reference per such line (the
-- invoice, "ExterneRechnung"); without this index it found them by reading every line of
-- every receipt of the exported period (measured: 5.2 of 27.7 s of a year's export, 1.37
-- million lines, none of them an invoice payment). A partial index holds only those
-- lines, so an ordinary sale's line costs it nothing. Return lines and reversals, the
-- other references, have their partial indexes already (sale_lines_ref, sales_reverses).
CREATE INDEX sale_lines_invoice_payment ON sale_lines(sale_id) WHERE kind = 'INVOICE_PAYMENT';

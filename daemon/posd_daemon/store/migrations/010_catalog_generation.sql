-- posd schema 10: a catalog write counter. Every change of an item, its barcodes,
-- variants or units (by the daemon, an import or an operator's sqlite3 shell) advances
-- it, so the daemon's in-memory items are used only while nothing in the catalog changed.
CREATE TABLE catalog_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO catalog_generation (id, n) VALUES (1, 0);

CREATE TRIGGER items_insert_catalog_generation AFTER INSERT ON items
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER items_update_catalog_generation AFTER UPDATE ON items
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER items_delete_catalog_generation AFTER DELETE ON items
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER barcodes_insert_catalog_generation AFTER INSERT ON barcodes
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER barcodes_update_catalog_generation AFTER UPDATE ON barcodes
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER barcodes_delete_catalog_generation AFTER DELETE ON barcodes
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER item_variants_insert_catalog_generation AFTER INSERT ON item_variants
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER item_variants_update_catalog_generation AFTER UPDATE ON item_variants
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER item_variants_delete_catalog_generation AFTER DELETE ON item_variants
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER item_units_insert_catalog_generation AFTER INSERT ON item_units
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER item_units_update_catalog_generation AFTER UPDATE ON item_units
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER item_units_delete_catalog_generation AFTER DELETE ON item_units
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
END;

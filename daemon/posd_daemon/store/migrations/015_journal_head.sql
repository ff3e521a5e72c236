-- posd schema 15: the journal's head, the seq and hash of its last record. Without it a
-- deleted LAST record leaves a chain that verifies (nothing said where it ended). The
-- head moves with every append, in the same transaction (the trigger below), and only
-- forward to the record just appended; it can be neither deleted nor set back, like the
-- journal itself. `posctl journal verify` compares it with the end of the chain.
-- Idempotent (IF NOT EXISTS): a database set back to an older user_version re-runs it.
CREATE TABLE IF NOT EXISTS journal_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO journal_head (id, seq, hash)
SELECT 1, last.seq, last.hash FROM (
    SELECT COALESCE(MAX(seq), 0) AS seq,
           COALESCE((SELECT hash FROM journal ORDER BY seq DESC LIMIT 1), printf('%.64d', 0))
               AS hash
    FROM journal
) AS last
WHERE NOT EXISTS (SELECT 1 FROM journal_head);
CREATE TRIGGER IF NOT EXISTS journal_head_follows AFTER INSERT ON journal
BEGIN UPDATE journal_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS journal_head_no_update BEFORE UPDATE ON journal_head
WHEN NEW.id != OLD.id OR NEW.seq != OLD.seq + 1
     OR NEW.hash IS NOT (SELECT hash FROM journal WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the journal head only follows the journal'); END;
CREATE TRIGGER IF NOT EXISTS journal_head_no_delete BEFORE DELETE ON journal_head
BEGIN SELECT RAISE(ABORT, 'the journal head only follows the journal'); END;
CREATE TRIGGER IF NOT EXISTS journal_head_no_insert BEFORE INSERT ON journal_head
BEGIN SELECT RAISE(ABORT, 'the journal head only follows the journal'); END;

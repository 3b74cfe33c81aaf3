-- Search that walks in list order (docs/architecture.md, "Search").
--
-- The first full-text index (0001) numbered documents by `seq`, the insertion order, so a
-- page of a broad search ("andamios": 126k of 1M invoices) had to read every match to find
-- the newest 51: 13-23 ms a page. Here a document's FTS rowid is its place in the list,
--
--     -((day number of fecha_emision << 32) | seq)
--
-- so `ORDER BY rowid LIMIT 51` is the list's own order (fecha_emision DESC, seq DESC) and
-- FTS5 stops after one page (ascending, because FTS5 reads doclists backwards by first
-- indexing each page). icc-store computes the same key (`search::search_key`); the two must
-- never differ.
--
-- The obra is indexed too (its id, in the `obra` column), so "search within an obra" and a
-- site manager's visible obras intersect two doclists instead of probing invoice rows.
-- People's words are matched only in the other four columns (a column filter).
--
-- Contentless: nothing is read back from the index, and `contentless_delete` lets a row be
-- removed by rowid alone.

DROP TRIGGER invoices_fts_delete;
DROP TRIGGER invoices_fts_update;
DROP TABLE invoices_fts;

CREATE VIRTUAL TABLE invoices_search USING fts5(
    razon_social, rut_emisor, folio, glosa, obra,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Every term that does not start with a digit, as the tokenizer made it. A prefix query
-- (`"andamio"*`) makes FTS5 build the whole doclist of every matching term in memory before
-- it returns the first row (5 ms for a word in 126k documents); icc-store instead looks the
-- prefix up here and asks for the few exact terms it stands for, which FTS5 reads lazily.
-- Terms come from SQLite's own tokenizer (through search_scratch), never from a copy of its
-- rules. Terms of deleted text stay: a term that matches nothing costs nothing.
CREATE TABLE search_terms (term TEXT NOT NULL PRIMARY KEY) WITHOUT ROWID;

-- Tokenizer scratch: the text of newly written rows goes in, its terms are copied into
-- search_terms through the fts5vocab table, and it is emptied again, all before the write
-- transaction commits (WriteTx::commit).
CREATE VIRTUAL TABLE search_scratch USING fts5(
    text, content = '', detail = none, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE search_scratch_terms USING fts5vocab(search_scratch, row);

-- Invoices whose text changed in the current write transaction (filled by the trigger
-- below, drained by WriteTx::commit).
CREATE TABLE search_pending (seq INTEGER PRIMARY KEY);

-- No insert trigger: WriteTx::insert_invoices indexes each batch in one INSERT ... SELECT in
-- key order (FTS5 flushes its pending terms at every statement and whenever a rowid is lower
-- than the previous one).

CREATE TRIGGER invoices_search_delete AFTER DELETE ON invoices BEGIN
    DELETE FROM invoices_search
    WHERE rowid = -((CAST(julianday(old.fecha_emision) AS INTEGER) << 32) | old.seq);
END;

CREATE TRIGGER invoices_search_update
AFTER UPDATE OF razon_social, rut_emisor, folio, glosa, fecha_emision, obra_id ON invoices BEGIN
    DELETE FROM invoices_search
    WHERE rowid = -((CAST(julianday(old.fecha_emision) AS INTEGER) << 32) | old.seq);
    INSERT INTO invoices_search (rowid, razon_social, rut_emisor, folio, glosa, obra)
    VALUES (-((CAST(julianday(new.fecha_emision) AS INTEGER) << 32) | new.seq),
            new.razon_social, new.rut_emisor, new.folio, new.glosa, new.obra_id);
    INSERT OR IGNORE INTO search_pending (seq) VALUES (new.seq);
END;

INSERT INTO invoices_search (rowid, razon_social, rut_emisor, folio, glosa, obra)
SELECT -((CAST(julianday(fecha_emision) AS INTEGER) << 32) | seq),
       razon_social, rut_emisor, folio, glosa, obra_id
FROM invoices
ORDER BY 1;

INSERT INTO search_scratch (text)
SELECT razon_social || ' ' || rut_emisor || ' ' || coalesce(glosa, '') FROM invoices;
INSERT OR IGNORE INTO search_terms (term)
SELECT term FROM search_scratch_terms WHERE term NOT GLOB '[0-9]*';
INSERT INTO search_scratch (search_scratch) VALUES ('delete-all');

-- One segment instead of the dozens a 1M-row insert leaves: a two-word search read 35 %
-- faster on 1M invoices, for 0.9 s here.
INSERT INTO invoices_search (invoices_search) VALUES ('optimize');

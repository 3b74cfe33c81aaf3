-- A pushed document is written once, to the op log. `entity_docs` kept a second copy of
-- the newest document of each entity only to know its obra; `entity_obras` now remembers
-- that itself: `doc_hlc` is the clock of the newest document the server has for the entity,
-- and `edited` says the obra was set by a field edit (which a document never overrides).
-- An entity's obra is therefore: its latest obra edit if it has one, else the obra of its
-- newest document.
-- Never edit this file once merged: add a new migration instead.

ALTER TABLE entity_obras
    ADD COLUMN doc_hlc TEXT,
    ADD COLUMN edited  BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE entity_obras e SET doc_hlc = d.hlc
FROM entity_docs d
WHERE d.entity = e.entity AND d.entity_id = e.entity_id;

UPDATE entity_obras e SET edited = TRUE, obra = f.value #>> '{}'
FROM fields f
WHERE f.entity = e.entity AND f.entity_id = e.entity_id AND f.field = 'obra';

DROP TABLE entity_docs;

-- Nothing reads ops by obra (pulls scope through entity_obras); the index only cost a write
-- per op.
DROP INDEX ops_by_obra;

-- Creation operations carry a whole document (field `_doc`). They are weaker than field
-- edits: a field's value is its latest edit if it has one, else the newest creation's.
-- Two laptops that import the same invoice offline thus end with one invoice, and an edit
-- made on either survives the other's import.
CREATE TABLE entity_docs (
    entity    TEXT   NOT NULL,
    entity_id TEXT   NOT NULL,
    value     JSONB  NOT NULL,
    hlc       TEXT   NOT NULL,
    op_seq    BIGINT NOT NULL REFERENCES ops (seq),
    PRIMARY KEY (entity, entity_id)
);

-- The server decides what a change may do and what each account must receive
-- (docs/sync.md). Never edit this file once merged: add a new migration instead.

-- The sequence number of each entity's newest document, so the server can read the
-- current value of a field that no edit has set (the status machine, a refused change's
-- value) and send an entity whole when it enters a site manager's obras.
ALTER TABLE entity_obras ADD COLUMN doc_seq BIGINT;

UPDATE entity_obras e SET doc_seq = (
    SELECT max(o.seq) FROM ops o
    WHERE o.entity = e.entity AND o.entity_id = e.entity_id AND o.field = '_doc' AND o.hlc = e.doc_hlc
)
WHERE e.doc_hlc IS NOT NULL;

-- Every change of an entity's obra, in the pull stream's sequence (from the ops sequence,
-- like conflicts): an account that gains the entity receives its whole state, one that
-- loses it a removal.
CREATE TABLE scope_moves (
    seq       BIGINT PRIMARY KEY,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    old_obra  TEXT,
    new_obra  TEXT
);

-- The source system an edit came from (`iconstruye`, `import`), NULL for a person's own
-- decision: checked against the permission to run that source, kept for the record.
ALTER TABLE ops ADD COLUMN source TEXT;

-- Offline-first sync (docs/sync.md). Written only while this database is linked to a
-- server (`icc login`); nothing here is needed to work alone.

-- Operations made here and not yet accepted by the server, in the order they were made.
-- Written in the same transaction as the change they describe; deleted once the server
-- has stored them.
CREATE TABLE sync_outbox (
    seq       INTEGER PRIMARY KEY,
    op_id     TEXT NOT NULL UNIQUE,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    value     TEXT NOT NULL, -- JSON
    hlc       TEXT NOT NULL,
    base_hlc  TEXT,
    obra      TEXT
);

-- The version (HLC) of each field's value here, when it came from an edit.
CREATE TABLE sync_fields (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    hlc       TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field)
) WITHOUT ROWID;

-- The version of the creation document each entity's unedited fields come from.
CREATE TABLE sync_docs (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    hlc       TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id)
) WITHOUT ROWID;

-- Conflicts the server reported: a value that lost to a concurrent edit.
CREATE TABLE sync_conflicts (
    id           INTEGER PRIMARY KEY, -- the server's id
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    field        TEXT NOT NULL,
    winner_value TEXT NOT NULL,
    winner_hlc   TEXT NOT NULL,
    loser_value  TEXT NOT NULL,
    loser_hlc    TEXT NOT NULL,
    loser_user   TEXT NOT NULL,
    obra         TEXT,
    resolved_by  TEXT
);

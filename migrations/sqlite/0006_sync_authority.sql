-- The server decides what a change may do and what this laptop must hold (docs/sync.md).
-- Never edit this file once merged: add a new migration instead.

-- The source system an outbox op came from (`iconstruye`, `import`), or NULL for a
-- person's decision: the server checks it against the permission to run that source.
ALTER TABLE sync_outbox ADD COLUMN source TEXT;

-- Changes the server refused, set aside so the ones after them still go out. Each waits
-- for a person to discard it (which restores the server's value here, `current`).
CREATE TABLE sync_refused (
    op_id      TEXT PRIMARY KEY,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL, -- JSON
    hlc        TEXT NOT NULL,
    obra       TEXT,
    reason     TEXT NOT NULL,
    current    TEXT,          -- JSON {value, hlc, edited}: the server's value when it refused
    refused_at TEXT NOT NULL
);

-- Pulled edits of invoices this laptop does not hold yet, applied when the document arrives.
CREATE TABLE sync_held (
    op_id     TEXT PRIMARY KEY,
    entity_id TEXT NOT NULL,
    op        TEXT NOT NULL   -- JSON, the server's op
);
CREATE INDEX sync_held_by_entity ON sync_held (entity_id);

-- Invoices removed because they left this account's obras, to tell the user which and why.
CREATE TABLE sync_removed (
    id         INTEGER PRIMARY KEY,
    entity_id  TEXT NOT NULL,
    invoice    TEXT NOT NULL, -- RUT:TIPO:FOLIO and razón social, as it was
    reason     TEXT NOT NULL,
    removed_at TEXT NOT NULL
);

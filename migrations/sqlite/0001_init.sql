-- ICC Facturas local schema, version 1.
-- Never edit this file once merged: add a new migration instead.
-- Money is INTEGER pesos; dates are ISO-8601 text (YYYY-MM-DD); timestamps are UTC
-- RFC 3339 text with milliseconds, except fecha_recepcion_sii (America/Santiago local time,
-- as the SII reports it).

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash        TEXT    NOT NULL,
    -- 1 when password_hash is the predecessor's unsalted SHA-256, re-hashed at first login.
    password_legacy      INTEGER NOT NULL DEFAULT 0 CHECK (password_legacy IN (0, 1)),
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'gerente', 'contabilidad', 'admin_obra')),
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until_ms      INTEGER,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL
);

CREATE TABLE obras (
    id         INTEGER PRIMARY KEY,
    codigo     TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    nombre     TEXT    NOT NULL,
    activa     INTEGER NOT NULL DEFAULT 1 CHECK (activa IN (0, 1)),
    created_at TEXT    NOT NULL
);

CREATE TABLE user_obras (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    obra_id INTEGER NOT NULL REFERENCES obras (id),
    PRIMARY KEY (user_id, obra_id)
) WITHOUT ROWID;

CREATE TABLE suppliers (
    rut          TEXT NOT NULL PRIMARY KEY,
    razon_social TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE invoices (
    -- rowid alias, used by the full-text index; `id` is the stable identity.
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    rut_emisor          TEXT    NOT NULL REFERENCES suppliers (rut),
    tipo_dte            INTEGER NOT NULL CHECK (tipo_dte BETWEEN 1 AND 9999),
    folio               INTEGER NOT NULL CHECK (folio BETWEEN 1 AND 10000000000),
    razon_social        TEXT    NOT NULL,
    fecha_emision       TEXT    NOT NULL,
    fecha_recepcion_sii TEXT,
    fecha_vencimiento   TEXT,
    -- Derived in icc-core at every write: due date and last day to claim.
    vence               TEXT    NOT NULL,
    plazo_reclamo       TEXT,
    monto_neto          INTEGER NOT NULL,
    monto_exento        INTEGER NOT NULL,
    monto_iva           INTEGER NOT NULL,
    monto_otros         INTEGER NOT NULL,
    monto_total         INTEGER NOT NULL,
    obra_id             INTEGER REFERENCES obras (id),
    centro_costo        TEXT,
    cuenta              TEXT,
    orden_compra        TEXT,
    glosa               TEXT,
    estado              TEXT    NOT NULL CHECK (estado IN ('recibida', 'en_revision', 'aprobada', 'rechazada',
                                                           'parcialmente_pagada', 'pagada', 'anulada')),
    motivo_rechazo      TEXT,
    source              TEXT    NOT NULL,
    external_id         TEXT,
    raw                 TEXT,
    created_at          TEXT    NOT NULL,
    created_by          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    updated_by          TEXT    NOT NULL,
    UNIQUE (rut_emisor, tipo_dte, folio)
);

-- Keyset pagination: ORDER BY fecha_emision DESC, seq DESC, read backwards from these
-- ascending indexes (every SQLite index ends with the rowid, here `seq`). icc-store picks a
-- page's seqs from an index alone, then reads those rows. Every index costs every bulk
-- insert (measured: seven secondary indexes keyed with the 36-character id made inserts
-- about twice as slow), so only the filters people use most have one; the others scan the
-- fecha index.
CREATE INDEX invoices_by_fecha ON invoices (fecha_emision);
CREATE INDEX invoices_by_obra ON invoices (obra_id, fecha_emision);
CREATE INDEX invoices_by_obra_estado ON invoices (obra_id, estado, fecha_emision);
CREATE INDEX invoices_by_estado ON invoices (estado, fecha_emision);
CREATE INDEX invoices_by_rut ON invoices (rut_emisor, fecha_emision);
-- "vencidas": payable documents in list order, with the due date in the index so rows not
-- yet due are skipped without reading the table.
CREATE INDEX invoices_by_payable ON invoices (fecha_emision, vence)
    WHERE estado IN ('recibida', 'en_revision', 'aprobada', 'parcialmente_pagada');
-- "plazo de reclamo por vencer": documents still open to a claim, in list order, with the
-- deadline in the index (the matches are recent, so the walk is short).
CREATE INDEX invoices_by_plazo ON invoices (fecha_emision, plazo_reclamo)
    WHERE estado IN ('recibida', 'en_revision', 'rechazada');

CREATE VIRTUAL TABLE invoices_fts USING fts5(
    razon_social, rut_emisor, folio, glosa,
    content = 'invoices', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- No insert trigger: icc-store's WriteTx::insert_invoices, the only path that inserts
-- invoices, indexes each batch in one INSERT ... SELECT (FTS5 flushes its pending terms at
-- every statement, so a per-row trigger inside multi-row INSERTs was several times slower).

CREATE TRIGGER invoices_fts_delete AFTER DELETE ON invoices BEGIN
    INSERT INTO invoices_fts (invoices_fts, rowid, razon_social, rut_emisor, folio, glosa)
    VALUES ('delete', old.seq, old.razon_social, old.rut_emisor, old.folio, old.glosa);
END;

CREATE TRIGGER invoices_fts_update AFTER UPDATE OF razon_social, glosa ON invoices BEGIN
    INSERT INTO invoices_fts (invoices_fts, rowid, razon_social, rut_emisor, folio, glosa)
    VALUES ('delete', old.seq, old.razon_social, old.rut_emisor, old.folio, old.glosa);
    INSERT INTO invoices_fts (rowid, razon_social, rut_emisor, folio, glosa)
    VALUES (new.seq, new.razon_social, new.rut_emisor, new.folio, new.glosa);
END;

CREATE TABLE invoice_references (
    invoice_id TEXT    NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    pos        INTEGER NOT NULL,
    tipo       TEXT    NOT NULL,
    folio      TEXT    NOT NULL,
    fecha      TEXT,
    codigo     INTEGER,
    razon      TEXT,
    PRIMARY KEY (invoice_id, pos)
) WITHOUT ROWID;
CREATE INDEX invoice_references_by_folio ON invoice_references (tipo, folio);

CREATE TABLE invoice_taxes (
    invoice_id TEXT    NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    pos        INTEGER NOT NULL,
    codigo     INTEGER NOT NULL,
    tasa       REAL,
    valor      INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, pos)
) WITHOUT ROWID;

-- Files kept under the data directory, addressed by their SHA-256.
CREATE TABLE attachments (
    id         INTEGER PRIMARY KEY,
    invoice_id TEXT    NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    sha256     TEXT    NOT NULL,
    file_name  TEXT    NOT NULL,
    mime       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    added_at   TEXT    NOT NULL,
    added_by   TEXT    NOT NULL,
    UNIQUE (invoice_id, sha256)
);

-- Every change, append-only (the triggers below refuse updates and deletes).
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    user_name TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action    TEXT NOT NULL,
    field     TEXT,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX audit_log_by_entity ON audit_log (entity, entity_id, id);

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE import_batches (
    id          INTEGER PRIMARY KEY,
    file_name   TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    documents   INTEGER NOT NULL,
    inserted    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    duplicates  INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    user_name   TEXT    NOT NULL,
    at          TEXT    NOT NULL
);
CREATE INDEX import_batches_by_sha ON import_batches (sha256);

-- Non-secret settings (secrets live in the OS keyring, never here).
CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The supplier bank-account master under four eyes (docs/pagos.md). Never edit this file once
-- merged: add a new migration instead.

-- Destination banks by SBIF/CMF code (DOMAIN.md §6.3). Editable: fintech codes disagree
-- between sources.
CREATE TABLE banks (
    code   TEXT    NOT NULL PRIMARY KEY CHECK (code GLOB '[0-9][0-9][0-9]' OR code GLOB '[0-9][0-9][0-9][0-9]'),
    name   TEXT    NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) WITHOUT ROWID;

INSERT INTO banks (code, name) VALUES
    ('001', 'Banco de Chile / Edwards'),
    ('009', 'Banco Internacional'),
    ('012', 'BancoEstado'),
    ('014', 'Scotiabank'),
    ('016', 'BCI'),
    ('017', 'Banco do Brasil'),
    ('027', 'Corpbanca'),
    ('028', 'BICE'),
    ('031', 'HSBC'),
    ('037', 'Santander'),
    ('039', 'Itaú'),
    ('049', 'Security'),
    ('051', 'Falabella'),
    ('053', 'Ripley'),
    ('055', 'Consorcio'),
    ('059', 'BTG Pactual'),
    ('504', 'BBVA / Scotiabank'),
    ('507', 'Banco del Desarrollo'),
    ('672', 'Coopeuch');

-- Every version of a supplier's account. A new or changed account is `pendiente` until a
-- second user approves it (never the one who entered it); approving one makes the
-- supplier's previous approved account `reemplazada`; an entry superseded before approval
-- is `descartada`. Rows are never edited in place: a change is a new row.
CREATE TABLE supplier_accounts (
    id             TEXT NOT NULL PRIMARY KEY, -- UUID
    rut            TEXT NOT NULL,             -- the supplier (canonical RUT)
    banco          TEXT NOT NULL REFERENCES banks (code),
    tipo_cuenta    TEXT NOT NULL CHECK (tipo_cuenta IN ('corriente', 'vista', 'ahorro', 'rut')),
    numero         TEXT NOT NULL CHECK (numero GLOB '[0-9]*' AND numero NOT GLOB '*[^0-9]*'),
    titular_rut    TEXT NOT NULL,
    titular_nombre TEXT NOT NULL,
    email          TEXT,
    estado         TEXT NOT NULL CHECK (estado IN ('pendiente', 'aprobada', 'reemplazada', 'descartada')),
    origen         TEXT NOT NULL,             -- manual, santander_xlsx
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    decided_at     TEXT,
    decided_by     TEXT
) WITHOUT ROWID;
CREATE INDEX supplier_accounts_by_rut ON supplier_accounts (rut, created_at);
CREATE UNIQUE INDEX supplier_accounts_one_approved ON supplier_accounts (rut) WHERE estado = 'aprobada';
CREATE UNIQUE INDEX supplier_accounts_one_pending ON supplier_accounts (rut) WHERE estado = 'pendiente';

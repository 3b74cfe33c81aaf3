-- Cesiones and the payment run (nómina de pago) (docs/pagos.md). Never edit this file once
-- merged: add a new migration instead.

-- Cesiones (factoring) of received documents, by the document's natural key: a cesión may
-- arrive before the document does (matched when it arrives). The payee of an assigned
-- invoice is the cesionario of the highest sequence.
CREATE TABLE cesiones (
    id                 TEXT    NOT NULL PRIMARY KEY, -- UUID
    rut_emisor         TEXT    NOT NULL,
    tipo_dte           INTEGER NOT NULL,
    folio              INTEGER NOT NULL,
    seq                INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 40),
    cedente_rut        TEXT    NOT NULL,
    cedente_nombre     TEXT,
    cesionario_rut     TEXT    NOT NULL,
    cesionario_nombre  TEXT    NOT NULL,
    monto_cedido       INTEGER NOT NULL CHECK (monto_cedido > 0),
    fecha              TEXT    NOT NULL, -- AAAA-MM-DDTHH:MM:SS, Chile time
    ultimo_vencimiento TEXT,
    identificador      TEXT,             -- the SII's, when the source gives it
    source             TEXT    NOT NULL, -- manual, aec, sii_txt, certificado
    created_at         TEXT    NOT NULL,
    created_by         TEXT    NOT NULL,
    UNIQUE (rut_emisor, tipo_dte, folio, seq)
) WITHOUT ROWID;

-- Company settings that are not secrets live in `settings` (pagos.*).

-- A payment run: borrador → aprobada (gerente) → enviada (al banco) → pagada. Once
-- approved, its lines never change.
CREATE TABLE payment_runs (
    id          TEXT    NOT NULL PRIMARY KEY, -- UUID
    numero      INTEGER NOT NULL UNIQUE,     -- N° de nómina, 1, 2, 3 …
    corte       TEXT    NOT NULL,            -- cut-off: invoices due on or before it
    estado      TEXT    NOT NULL CHECK (estado IN ('borrador', 'aprobada', 'enviada', 'pagada')),
    created_at  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    approved_at TEXT,
    approved_by TEXT,
    sent_at     TEXT,
    sent_by     TEXT,
    paid_at     TEXT,
    paid_by     TEXT,
    bank_file_sha256 TEXT
) WITHOUT ROWID;

-- One invoice of a run: what is paid to whom, explained. `saldo` and the payee are as they
-- were when the run was made; `account_id` is the payee's approved account frozen at the
-- run's approval (NULL when it had none then: the bank file names the line).
CREATE TABLE payment_run_lines (
    run_id          TEXT    NOT NULL REFERENCES payment_runs (id) ON DELETE CASCADE,
    pos             INTEGER NOT NULL,
    invoice_id      TEXT    NOT NULL,
    documento       TEXT    NOT NULL, -- RUT:TIPO:FOLIO
    folio           INTEGER NOT NULL,
    proveedor_rut   TEXT    NOT NULL,
    proveedor       TEXT    NOT NULL,
    beneficiario_rut TEXT   NOT NULL,
    beneficiario    TEXT    NOT NULL,
    cedida          INTEGER NOT NULL CHECK (cedida IN (0, 1)),
    vence           TEXT    NOT NULL, -- the date the run paid it for (60-day rule applied)
    saldo           INTEGER NOT NULL,
    monto           INTEGER NOT NULL CHECK (monto >= 0),
    incluida        INTEGER NOT NULL CHECK (incluida IN (0, 1)),
    nota            TEXT,
    account_id      TEXT,
    PRIMARY KEY (run_id, pos)
) WITHOUT ROWID;

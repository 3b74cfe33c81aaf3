-- Posting invoices to the Kame ERP as accounting vouchers (docs/kame.md). Never edit this
-- file once merged: add a new migration instead.

-- The accounts each concepto de compra posts to, as the accountant configures them.
CREATE TABLE kame_plantillas (
    concepto         TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
    cuenta_neto      TEXT    NOT NULL CHECK (trim(cuenta_neto) <> ''),
    cuenta_exento    TEXT,
    cuenta_iva       TEXT    NOT NULL CHECK (trim(cuenta_iva) <> ''),
    cuenta_otros     TEXT,
    cuenta_proveedor TEXT    NOT NULL CHECK (trim(cuenta_proveedor) <> ''),
    tipo             TEXT    NOT NULL DEFAULT 'TRASPASO' CHECK (tipo IN ('TRASPASO', 'INGRESO', 'EGRESO')),
    misma_cuenta     INTEGER NOT NULL DEFAULT 0 CHECK (misma_cuenta IN (0, 1)),
    updated_at       TEXT    NOT NULL,
    updated_by       TEXT    NOT NULL
) WITHOUT ROWID;

-- Suppliers' fichas: pulled from Kame (getListFicha) or edited here. A local edit is kept
-- when Kame's copy is pulled again.
CREATE TABLE kame_fichas (
    rut        TEXT    NOT NULL PRIMARY KEY,  -- canonical 76123456-7
    nombre     TEXT,
    concepto   TEXT,
    proveedor  INTEGER NOT NULL DEFAULT 0 CHECK (proveedor IN (0, 1)),
    honorario  INTEGER NOT NULL DEFAULT 0 CHECK (honorario IN (0, 1)),
    origen     TEXT    NOT NULL CHECK (origen IN ('kame', 'local')),
    updated_at TEXT    NOT NULL,
    updated_by TEXT    NOT NULL
) WITHOUT ROWID;

-- Centro de gestión (its first 4 characters) → unidad de negocio.
CREATE TABLE kame_unidades (
    centro     TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    unidad     TEXT NOT NULL CHECK (trim(unidad) <> ''),
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
) WITHOUT ROWID;

-- One voucher per invoice, recorded before it is sent and after Kame answers, so a crash
-- or a retry never posts twice (Kame has no duplicate protection):
--   enviando   written before the request; left so when the answer never came (checked
--              against Kame's payables before anything is sent again)
--   publicado  Kame took it
--   rechazado  Kame refused it and said why (nothing was recorded there)
--   no_enviado the request never reached Kame (no connection, 429 to the end)
-- No foreign key to invoices: an invoice a sync removes from this laptop keeps its record
-- (were it to come back, it must not be posted again).
CREATE TABLE kame_envios (
    invoice_id  TEXT    NOT NULL PRIMARY KEY,
    estado      TEXT    NOT NULL CHECK (estado IN ('enviando', 'publicado', 'rechazado', 'no_enviado')),
    comprobante TEXT    NOT NULL,  -- the voucher as sent (JSON)
    kame_id     TEXT,
    intentos    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    recuperado  INTEGER NOT NULL DEFAULT 0 CHECK (recuperado IN (0, 1)),
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX kame_envios_by_estado ON kame_envios (estado);

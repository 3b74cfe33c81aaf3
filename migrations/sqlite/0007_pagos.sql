-- Payments and balances (docs/pagos.md). Never edit this file once merged: add a new
-- migration instead.

-- The day the document was first imported (America/Santiago), set by the importing laptop
-- and carried in the synced document: with no SII reception date the legal 30 days run
-- from it. NULL for documents imported before this migration (their due date stays 30
-- days from emission, and screens say so).
ALTER TABLE invoices ADD COLUMN fecha_importacion TEXT;

-- Payments: each belongs to one invoice; several partial payments per invoice. The balance
-- is derived (total − credit notes − payments), never stored. A payment is never edited:
-- a mistake is corrected by a person through the audit trail, not by rewriting history.
CREATE TABLE payments (
    id         TEXT    NOT NULL PRIMARY KEY, -- UUID
    invoice_id TEXT    NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    fecha      TEXT    NOT NULL,             -- AAAA-MM-DD
    monto      INTEGER NOT NULL CHECK (monto > 0),
    medio      TEXT    NOT NULL CHECK (medio IN ('transferencia', 'cheque', 'vale_vista', 'compensacion', 'otro')),
    referencia TEXT,
    run_id     TEXT,                         -- the payment run it came from, if any
    created_at TEXT    NOT NULL,
    created_by TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX payments_by_invoice ON payments (invoice_id, fecha);

-- The CMF interés corriente per month (annual, basis points), entered by IT; late-payment
-- interest accrues each day at its month's rate.
CREATE TABLE interest_rates (
    month      TEXT    NOT NULL PRIMARY KEY CHECK (month GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]'),
    annual_bp  INTEGER NOT NULL CHECK (annual_bp BETWEEN 0 AND 10000),
    updated_at TEXT    NOT NULL,
    updated_by TEXT    NOT NULL
) WITHOUT ROWID;

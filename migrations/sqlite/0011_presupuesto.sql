-- Obra budgets and the company treasury (docs/presupuesto.md). Never edit this file once
-- merged: add a new migration instead.

-- Every budget and treasury document as it syncs (icc_core::presupuesto): the catalogue's
-- lines, each obra's period and lines, the treasury's accounts, rows and loans. They are
-- read whole and computed into grids in Rust, so one table holds them, the obra beside the
-- document for the per-obra reads and the scope checks.
CREATE TABLE plan_docs (
    entity     TEXT NOT NULL CHECK (entity IN ('budget_line', 'obra_budget', 'obra_budget_line',
                                               'treasury_bank', 'treasury_row', 'loan')),
    id         TEXT NOT NULL,
    obra       TEXT COLLATE NOCASE,
    doc        TEXT NOT NULL CHECK (json_valid(doc)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;

CREATE INDEX plan_docs_by_obra ON plan_docs (entity, obra) WHERE obra IS NOT NULL;

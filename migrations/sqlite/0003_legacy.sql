-- Data brought over from the predecessor app (`icc migrate-legacy`) that this version has no
-- screen for yet: budget items, weekly cash flow, bank balances, loans, the supplier
-- bank-account master, the account and business-unit maps, the ERP upload log. Kept
-- verbatim (every value as the predecessor stored it, as text) so nothing is lost and a
-- later capability can build on it.
CREATE TABLE legacy_records (
    source      TEXT NOT NULL, -- table or file of the predecessor, e.g. `creditos`, `Santander.xlsx`
    legacy_id   TEXT NOT NULL, -- its id there (row id, or the natural key of a file row)
    data        TEXT NOT NULL, -- JSON object: column → value as text
    migrated_at TEXT NOT NULL,
    PRIMARY KEY (source, legacy_id)
) WITHOUT ROWID;

-- Payment records sync beside invoices (docs/sync.md, "Records"). Never edit this file once
-- merged: add a new migration instead.

-- The invoice a record belongs to (a payment's, a cesión's by its natural key): the record
-- takes the invoice's obra, and moves with it, so a site manager receives the payments of
-- the invoices of their obras and no others.
ALTER TABLE entity_obras ADD COLUMN parent TEXT;
CREATE INDEX entity_obras_by_parent ON entity_obras (parent) WHERE parent IS NOT NULL;

-- Faster "vencidas" and "plazo de reclamo por vencer" lists (docs/architecture.md, "Local
-- store").
--
-- Their partial indexes (0001) were ordered (fecha_emision, vence) and (fecha_emision,
-- plazo_reclamo): within a day not in list order, so every page read and sorted whole days.
-- Now `seq` follows the date, and the obra is in the index too, so a site manager's obras
-- are checked in the index instead of reading each row.
DROP INDEX invoices_by_payable;
CREATE INDEX invoices_by_payable ON invoices (fecha_emision, seq, vence, obra_id)
    WHERE estado IN ('recibida', 'en_revision', 'aprobada', 'parcialmente_pagada');
DROP INDEX invoices_by_plazo;
CREATE INDEX invoices_by_plazo ON invoices (fecha_emision, seq, plazo_reclamo, obra_id)
    WHERE estado IN ('recibida', 'en_revision', 'rechazada');

-- Where in the list they can match.
--
-- Both walk an index in list order (newest emission first). Vencidas used to step over every
-- payable document of the last month or so, none of them due yet (about 37k index entries
-- on 1M invoices: the first page cost 1-1.5 ms); a site manager's obras, walked by obra,
-- read each of those rows; and the plazo walk, once past its last match, would read every
-- older claimable document. Per emission day this table keeps bounds of the due dates and
-- claim deadlines, so a query starts and ends its walk on the days that can match.
--
-- The bounds only ever widen: a document that is paid, rejected or deleted leaves them as
-- they were. They stay true (no document outside them can match), a day may just be walked
-- for nothing. Rows are written by WriteTx (bounds of the invoices it inserts, gathered in
-- Rust and written at commit with the same upsert as below) and by the trigger on updates.
CREATE TABLE list_days (
    fecha     TEXT NOT NULL PRIMARY KEY,
    -- lowest `vence` of a payable document emitted that day
    min_vence TEXT,
    -- lowest and highest `plazo_reclamo` of a document emitted that day still open to a claim
    min_plazo TEXT,
    max_plazo TEXT
) WITHOUT ROWID;
-- the few recent days whose deadlines reach today
CREATE INDEX list_days_by_max_plazo ON list_days (max_plazo);

CREATE TRIGGER invoices_list_days
AFTER UPDATE OF fecha_emision, vence, plazo_reclamo, estado ON invoices BEGIN
    INSERT INTO list_days (fecha, min_vence, min_plazo, max_plazo)
    VALUES (
        new.fecha_emision,
        CASE WHEN new.estado IN ('recibida', 'en_revision', 'aprobada', 'parcialmente_pagada')
             THEN new.vence END,
        CASE WHEN new.estado IN ('recibida', 'en_revision', 'rechazada') THEN new.plazo_reclamo END,
        CASE WHEN new.estado IN ('recibida', 'en_revision', 'rechazada') THEN new.plazo_reclamo END
    )
    ON CONFLICT (fecha) DO UPDATE SET
        min_vence = coalesce(min(min_vence, excluded.min_vence), min_vence, excluded.min_vence),
        min_plazo = coalesce(min(min_plazo, excluded.min_plazo), min_plazo, excluded.min_plazo),
        max_plazo = coalesce(max(max_plazo, excluded.max_plazo), max_plazo, excluded.max_plazo);
END;

INSERT INTO list_days (fecha, min_vence, min_plazo, max_plazo)
SELECT fecha_emision,
       MIN(CASE WHEN estado IN ('recibida', 'en_revision', 'aprobada', 'parcialmente_pagada')
                THEN vence END),
       MIN(CASE WHEN estado IN ('recibida', 'en_revision', 'rechazada') THEN plazo_reclamo END),
       MAX(CASE WHEN estado IN ('recibida', 'en_revision', 'rechazada') THEN plazo_reclamo END)
FROM invoices
GROUP BY fecha_emision;

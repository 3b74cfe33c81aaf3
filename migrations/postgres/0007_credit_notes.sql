-- A payment pushed to the server is checked against the invoice's balance: its total, less
-- the credit notes of its issuer that reference it, less its payments (docs/pagos.md). The
-- notes of an issuer are found through this index, which holds credit notes only. Never
-- edit this file once merged: add a new migration instead.
CREATE INDEX ops_credit_notes_by_issuer ON ops ((value #>> '{key,rut_emisor}'))
    WHERE entity = 'invoice' AND field = '_doc' AND (value #>> '{key,tipo_dte}') = '61';

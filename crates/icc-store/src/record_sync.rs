//! Sync of the payment records (payments, supplier bank accounts, payment runs, cesiones,
//! interest rates): each travels as its whole document, the newest by clock wins
//! (docs/sync.md, "Records"). The document types and the rules are `icc_core::records`.

use icc_core::presupuesto::{PLAN_ENTITIES, TREASURY_ENTITIES, doc_obra};
use icc_core::records::{
    BANK_ACCOUNT_ENTITY, BankAccountDoc, CESION_ENTITY, CesionDoc, INTEREST_RATE_ENTITY,
    InterestRateDoc, PAYMENT_ENTITY, PaymentDoc, RECORD_ENTITIES, RUN_ENTITY, RunDoc, is_record,
    well_formed,
};
use icc_core::sync::{Hlc, ServerOp};
use serde_json::Value;
use sqlx::SqliteConnection;

use crate::error::{Result, StoreError};
use crate::sync::Outcome;
use crate::write::WriteTx;

/// The document of a record as it is here, with the obra of the invoice it belongs to;
/// `None` when it is not here.
async fn record_doc(
    conn: &mut SqliteConnection,
    entity: &str,
    id: &str,
) -> Result<Option<(Value, Option<String>)>> {
    fn doc<T: serde::de::DeserializeOwned + serde::Serialize>(json: &str) -> Result<Value> {
        let parsed: T = serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
            column: "record document",
            value: format!("{e}: {json}"),
        })?;
        serde_json::to_value(parsed).map_err(|e| StoreError::Corrupt {
            column: "record document",
            value: e.to_string(),
        })
    }
    let sql = match entity {
        PAYMENT_ENTITY => {
            "SELECT json_object('id', p.id, 'invoice_id', p.invoice_id, 'fecha', p.fecha, 'monto', p.monto, \
                 'medio', p.medio, 'referencia', p.referencia, 'run_id', p.run_id, 'created_at', p.created_at, \
                 'created_by', p.created_by), o.codigo \
             FROM payments p LEFT JOIN invoices i ON i.id = p.invoice_id LEFT JOIN obras o ON o.id = i.obra_id \
             WHERE p.id = ?"
        }
        BANK_ACCOUNT_ENTITY => {
            "SELECT json_object('id', id, 'rut', rut, 'banco', banco, 'tipo_cuenta', tipo_cuenta, 'numero', numero, \
                 'titular_rut', titular_rut, 'titular_nombre', titular_nombre, 'email', email, 'estado', estado, \
                 'origen', origen, 'created_at', created_at, 'created_by', created_by, 'decided_at', decided_at, \
                 'decided_by', decided_by), NULL \
             FROM supplier_accounts WHERE id = ?"
        }
        CESION_ENTITY => {
            "SELECT json_object('id', c.id, 'rut_emisor', c.rut_emisor, 'tipo_dte', c.tipo_dte, 'folio', c.folio, \
                 'seq', c.seq, 'cedente_rut', c.cedente_rut, 'cedente_nombre', c.cedente_nombre, \
                 'cesionario_rut', c.cesionario_rut, 'cesionario_nombre', c.cesionario_nombre, \
                 'monto_cedido', c.monto_cedido, 'fecha', c.fecha, 'ultimo_vencimiento', c.ultimo_vencimiento, \
                 'identificador', c.identificador, 'source', c.source, 'created_at', c.created_at, \
                 'created_by', c.created_by), o.codigo \
             FROM cesiones c \
             LEFT JOIN invoices i ON i.rut_emisor = c.rut_emisor AND i.tipo_dte = c.tipo_dte AND i.folio = c.folio \
             LEFT JOIN obras o ON o.id = i.obra_id WHERE c.id = ?"
        }
        RUN_ENTITY => {
            "SELECT json_object('id', r.id, 'numero', r.numero, 'corte', r.corte, 'estado', r.estado, \
                 'created_at', r.created_at, 'created_by', r.created_by, 'approved_at', r.approved_at, \
                 'approved_by', r.approved_by, 'sent_at', r.sent_at, 'sent_by', r.sent_by, 'paid_at', r.paid_at, \
                 'paid_by', r.paid_by, 'bank_file_sha256', r.bank_file_sha256, 'lineas', json(coalesce(( \
                     SELECT json_group_array(json(j)) FROM ( \
                         SELECT json_object('pos', pos, 'invoice_id', invoice_id, 'documento', documento, \
                             'folio', folio, 'proveedor_rut', proveedor_rut, 'proveedor', proveedor, \
                             'beneficiario_rut', beneficiario_rut, 'beneficiario', beneficiario, \
                             'cedida', json(CASE WHEN cedida THEN 'true' ELSE 'false' END), 'vence', vence, \
                             'saldo', saldo, 'monto', monto, \
                             'incluida', json(CASE WHEN incluida THEN 'true' ELSE 'false' END), \
                             'nota', nota, 'account_id', account_id) AS j \
                         FROM payment_run_lines WHERE run_id = r.id ORDER BY pos)), '[]'))), NULL \
             FROM payment_runs r WHERE r.id = ?"
        }
        INTEREST_RATE_ENTITY => {
            "SELECT json_object('month', month, 'annual_bp', annual_bp, 'updated_at', updated_at, \
                 'updated_by', updated_by), NULL FROM interest_rates WHERE month = ?"
        }
        e if PLAN_ENTITIES.contains(&e) => {
            let row: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT doc, obra FROM plan_docs WHERE entity = ? AND id = ?")
                    .bind(e)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            return row
                .map(|(json, obra)| Ok((serde_json::from_str(&json).map_err(corrupt)?, obra)))
                .transpose();
        }
        _ => return Ok(None),
    };
    let row: Option<(String, Option<String>)> = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((json, obra)) = row else {
        return Ok(None);
    };
    let value = match entity {
        PAYMENT_ENTITY => doc::<PaymentDoc>(&json)?,
        BANK_ACCOUNT_ENTITY => doc::<BankAccountDoc>(&json)?,
        CESION_ENTITY => doc::<CesionDoc>(&json)?,
        RUN_ENTITY => doc::<RunDoc>(&json)?,
        _ => doc::<InterestRateDoc>(&json)?,
    };
    Ok(Some((value, obra)))
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        column: "record document",
        value: e.to_string(),
    }
}

impl WriteTx {
    /// The records this transaction changed (from its audit rows, in order, each once),
    /// plus those queued by [`WriteTx::link_device`].
    pub(crate) fn touched_records(&mut self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::mem::take(&mut self.sync.records);
        for r in self.audit_rows() {
            if is_record(r.entity) && !out.iter().any(|(e, i)| e == r.entity && *i == r.entity_id) {
                out.push((r.entity.to_owned(), r.entity_id.clone()));
            }
        }
        out
    }

    /// Queues the current document of each record in `records` with the next clock values,
    /// and notes that version as the one here (a pulled older document does not replace it).
    pub(crate) async fn queue_records(
        &mut self,
        records: &[(String, String)],
        clock: &mut Hlc,
        now_ms: i64,
    ) -> Result<()> {
        for (entity, id) in records {
            let Some((doc, obra)) = record_doc(self.conn(), entity, id).await? else {
                continue; // removed again in the same transaction
            };
            *clock = clock.tick(now_ms);
            self.outbox_insert_as(
                entity,
                id,
                crate::sync::DOC_FIELD,
                &doc,
                clock,
                None,
                obra.as_deref(),
            )
            .await?;
            self.set_doc_version(entity, id, clock).await?;
        }
        Ok(())
    }

    async fn set_doc_version(&mut self, entity: &str, id: &str, hlc: &Hlc) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_docs (entity, entity_id, hlc) VALUES (?, ?, ?) \
             ON CONFLICT DO UPDATE SET hlc = excluded.hlc",
        )
        .bind(entity)
        .bind(id)
        .bind(hlc.to_string())
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    /// Every record here that was never sent, for a device being linked (in the order their
    /// dependencies need: rates, accounts, cesiones, runs, payments).
    pub(crate) async fn queue_unsent_records(&mut self) -> Result<u64> {
        let mut n = 0;
        for entity in RECORD_ENTITIES {
            let sql = match entity {
                PAYMENT_ENTITY => "SELECT id FROM payments ORDER BY created_at, id",
                BANK_ACCOUNT_ENTITY => "SELECT id FROM supplier_accounts ORDER BY created_at, id",
                CESION_ENTITY => "SELECT id FROM cesiones ORDER BY created_at, id",
                RUN_ENTITY => "SELECT id FROM payment_runs ORDER BY numero",
                INTEREST_RATE_ENTITY => "SELECT month AS id FROM interest_rates ORDER BY month",
                _ => "SELECT id FROM plan_docs WHERE entity = ?1 ORDER BY updated_at, id",
            };
            let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM ({sql}) WHERE id NOT IN (SELECT entity_id FROM sync_docs WHERE entity = ?1)"
            )))
            .bind(entity)
            .fetch_all(&mut *self.conn())
            .await?;
            n += ids.len() as u64;
            self.sync
                .records
                .extend(ids.into_iter().map(|id| (entity.to_owned(), id)));
        }
        Ok(n)
    }

    /// Applies a pulled record document when it is newer than the version here. A payment
    /// of an invoice not here is held until the invoice arrives; a document this device
    /// cannot store is skipped (`Invalid`), never stored.
    pub(crate) async fn apply_record(&mut self, sop: &ServerOp) -> Result<Outcome> {
        let op = &sop.op;
        let text = op.value.to_string();
        if let Err(e) = well_formed(&op.entity, &op.entity_id, &text) {
            tracing::warn!(entity = %op.entity, entity_id = %op.entity_id, reason = ?e, "a pulled record this device cannot store; skipped");
            return Ok(Outcome::Invalid);
        }
        let version: Option<String> =
            sqlx::query_scalar("SELECT hlc FROM sync_docs WHERE entity = ? AND entity_id = ?")
                .bind(&op.entity)
                .bind(&op.entity_id)
                .fetch_optional(&mut *self.conn())
                .await?;
        if version.is_some_and(|v| op.hlc.to_string() <= v) {
            return Ok(Outcome::Skipped);
        }
        // a document the tables refuse (a constraint the checks did not foresee) is skipped
        // whole, never half-stored, and never stops the page
        sqlx::query("SAVEPOINT record_apply")
            .execute(&mut *self.conn())
            .await?;
        let stored = self.store_record(sop).await;
        match stored {
            Ok(Outcome::Applied) => {
                sqlx::query("RELEASE record_apply")
                    .execute(&mut *self.conn())
                    .await?;
                self.set_doc_version(&op.entity, &op.entity_id, &op.hlc)
                    .await?;
                Ok(Outcome::Applied)
            }
            Ok(other) => {
                sqlx::query("RELEASE record_apply")
                    .execute(&mut *self.conn())
                    .await?;
                Ok(other)
            }
            Err(StoreError::Db(sqlx::Error::Database(e))) => {
                tracing::warn!(entity = %op.entity, entity_id = %op.entity_id, error = %e, "a pulled record the tables refuse; skipped");
                sqlx::query("ROLLBACK TO record_apply")
                    .execute(&mut *self.conn())
                    .await?;
                sqlx::query("RELEASE record_apply")
                    .execute(&mut *self.conn())
                    .await?;
                Ok(Outcome::Invalid)
            }
            Err(e) => Err(e),
        }
    }

    /// Stores a well-formed pulled record (see [`WriteTx::apply_record`]).
    async fn store_record(&mut self, sop: &ServerOp) -> Result<Outcome> {
        let op = &sop.op;
        match op.entity.as_str() {
            PAYMENT_ENTITY => {
                let p: PaymentDoc = serde_json::from_value(op.value.clone()).map_err(corrupt)?;
                let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE id = ?")
                    .bind(&p.invoice_id)
                    .fetch_one(&mut *self.conn())
                    .await?;
                if held == 0 {
                    self.hold(sop, &p.invoice_id).await?;
                    return Ok(Outcome::Held);
                }
                self.store_payment(&p).await?;
            }
            BANK_ACCOUNT_ENTITY => {
                let a: BankAccountDoc =
                    serde_json::from_value(op.value.clone()).map_err(corrupt)?;
                self.store_account(&a).await?;
            }
            CESION_ENTITY => {
                let c: CesionDoc = serde_json::from_value(op.value.clone()).map_err(corrupt)?;
                self.store_cesion(&c).await?;
            }
            RUN_ENTITY => {
                let r: RunDoc = serde_json::from_value(op.value.clone()).map_err(corrupt)?;
                self.store_run(&r).await?;
            }
            e if PLAN_ENTITIES.contains(&e) => {
                self.store_plan_doc(e, &op.entity_id, &op.value).await?;
            }
            _ => {
                let r: InterestRateDoc =
                    serde_json::from_value(op.value.clone()).map_err(corrupt)?;
                sqlx::query(
                    "INSERT INTO interest_rates (month, annual_bp, updated_at, updated_by) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (month) DO UPDATE SET annual_bp = excluded.annual_bp, \
                         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(&r.month)
                .bind(r.annual_bp)
                .bind(&r.updated_at)
                .bind(&r.updated_by)
                .execute(&mut *self.conn())
                .await?;
            }
        }
        Ok(Outcome::Applied)
    }

    /// Stores a budget or treasury document as it is (a pulled one, or one made here).
    pub(crate) async fn store_plan_doc(
        &mut self,
        entity: &str,
        id: &str,
        doc: &Value,
    ) -> Result<()> {
        let at = doc
            .get("updated_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        sqlx::query(
            "INSERT INTO plan_docs (entity, id, obra, doc, updated_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (entity, id) DO UPDATE SET obra = excluded.obra, doc = excluded.doc, \
                 updated_at = excluded.updated_at",
        )
        .bind(entity)
        .bind(id)
        .bind(doc_obra(entity, doc))
        .bind(doc.to_string())
        .bind(at)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    /// Keeps a pulled op until the invoice `invoice_id` arrives.
    pub(crate) async fn hold(&mut self, sop: &ServerOp, invoice_id: &str) -> Result<()> {
        let json = serde_json::to_string(sop).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO sync_held (op_id, entity_id, op) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(sop.op.op_id.to_string())
        .bind(invoice_id)
        .bind(json)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    async fn store_payment(&mut self, p: &PaymentDoc) -> Result<()> {
        // a payment is never edited: the first version is the only one
        sqlx::query(
            "INSERT INTO payments (id, invoice_id, fecha, monto, medio, referencia, run_id, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.invoice_id)
        .bind(&p.fecha)
        .bind(p.monto)
        .bind(&p.medio)
        .bind(&p.referencia)
        .bind(&p.run_id)
        .bind(&p.created_at)
        .bind(&p.created_by)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    async fn store_account(&mut self, a: &BankAccountDoc) -> Result<()> {
        // a bank code another laptop added to its table
        sqlx::query("INSERT INTO banks (code, name) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(&a.banco)
            .bind(format!("Banco {}", a.banco))
            .execute(&mut *self.conn())
            .await?;
        // one approved and one pending account per supplier: the newer one supersedes
        // what is here (that version's own document says the same when it arrives)
        let superseded = match a.estado.as_str() {
            "aprobada" => Some("reemplazada"),
            "pendiente" => Some("descartada"),
            _ => None,
        };
        if let Some(to) = superseded {
            sqlx::query(
                "UPDATE supplier_accounts SET estado = ?, decided_at = coalesce(?, decided_at), \
                     decided_by = coalesce(?, decided_by) \
                 WHERE rut = ? AND estado = ? AND id <> ?",
            )
            .bind(to)
            .bind(a.decided_at.as_ref().or(Some(&a.created_at)))
            .bind(a.decided_by.as_ref().or(Some(&a.created_by)))
            .bind(&a.rut)
            .bind(&a.estado)
            .bind(&a.id)
            .execute(&mut *self.conn())
            .await?;
        }
        sqlx::query(
            "INSERT INTO supplier_accounts (id, rut, banco, tipo_cuenta, numero, titular_rut, titular_nombre, email, \
                 estado, origen, created_at, created_by, decided_at, decided_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET estado = excluded.estado, decided_at = excluded.decided_at, \
                 decided_by = excluded.decided_by",
        )
        .bind(&a.id)
        .bind(&a.rut)
        .bind(&a.banco)
        .bind(&a.tipo_cuenta)
        .bind(&a.numero)
        .bind(&a.titular_rut)
        .bind(&a.titular_nombre)
        .bind(&a.email)
        .bind(&a.estado)
        .bind(&a.origen)
        .bind(&a.created_at)
        .bind(&a.created_by)
        .bind(&a.decided_at)
        .bind(&a.decided_by)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    async fn store_cesion(&mut self, c: &CesionDoc) -> Result<()> {
        // the same cesión entered here under another id (before ids followed the natural
        // key) stays as it is
        sqlx::query(
            "INSERT INTO cesiones (id, rut_emisor, tipo_dte, folio, seq, cedente_rut, cedente_nombre, cesionario_rut, \
                 cesionario_nombre, monto_cedido, fecha, ultimo_vencimiento, identificador, source, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.rut_emisor)
        .bind(c.tipo_dte)
        .bind(c.folio)
        .bind(c.seq)
        .bind(&c.cedente_rut)
        .bind(&c.cedente_nombre)
        .bind(&c.cesionario_rut)
        .bind(&c.cesionario_nombre)
        .bind(c.monto_cedido)
        .bind(&c.fecha)
        .bind(&c.ultimo_vencimiento)
        .bind(&c.identificador)
        .bind(&c.source)
        .bind(&c.created_at)
        .bind(&c.created_by)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    async fn store_run(&mut self, r: &RunDoc) -> Result<()> {
        // two offices numbered a run the same while apart: the server took the other one
        // first, so the one made here (still unsent) takes the next number, in its queued
        // documents too
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM payment_runs WHERE numero = ? AND id <> ?")
                .bind(r.numero)
                .bind(&r.id)
                .fetch_optional(&mut *self.conn())
                .await?;
        if let Some(mine) = taken {
            let next: i64 =
                sqlx::query_scalar("SELECT max(coalesce(max(numero), 0), ?) + 1 FROM payment_runs")
                    .bind(r.numero)
                    .fetch_one(&mut *self.conn())
                    .await?;
            sqlx::query("UPDATE payment_runs SET numero = ? WHERE id = ?")
                .bind(next)
                .bind(&mine)
                .execute(&mut *self.conn())
                .await?;
            sqlx::query(
                "UPDATE sync_outbox SET value = json_set(value, '$.numero', ?) WHERE entity = ? AND entity_id = ?",
            )
            .bind(next)
            .bind(RUN_ENTITY)
            .bind(&mine)
            .execute(&mut *self.conn())
            .await?;
            // the server refused it for that number before this page came: it goes again
            // with the new one
            sqlx::query(
                "INSERT INTO sync_outbox (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, source) \
                 SELECT op_id, entity, entity_id, field, json_set(value, '$.numero', ?), hlc, NULL, obra, NULL \
                 FROM sync_refused WHERE entity = ? AND entity_id = ? ORDER BY hlc",
            )
            .bind(next)
            .bind(RUN_ENTITY)
            .bind(&mine)
            .execute(&mut *self.conn())
            .await?;
            sqlx::query("DELETE FROM sync_refused WHERE entity = ? AND entity_id = ?")
                .bind(RUN_ENTITY)
                .bind(&mine)
                .execute(&mut *self.conn())
                .await?;
            self.audit(
                RUN_ENTITY,
                mine,
                "update",
                Some("numero"),
                Some(r.numero.to_string()),
                Some(next.to_string()),
            );
        }
        sqlx::query(
            "INSERT INTO payment_runs (id, numero, corte, estado, created_at, created_by, approved_at, approved_by, \
                 sent_at, sent_by, paid_at, paid_by, bank_file_sha256) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET numero = excluded.numero, corte = excluded.corte, estado = excluded.estado, \
                 approved_at = excluded.approved_at, approved_by = excluded.approved_by, sent_at = excluded.sent_at, \
                 sent_by = excluded.sent_by, paid_at = excluded.paid_at, paid_by = excluded.paid_by, \
                 bank_file_sha256 = excluded.bank_file_sha256",
        )
        .bind(&r.id)
        .bind(r.numero)
        .bind(&r.corte)
        .bind(&r.estado)
        .bind(&r.created_at)
        .bind(&r.created_by)
        .bind(&r.approved_at)
        .bind(&r.approved_by)
        .bind(&r.sent_at)
        .bind(&r.sent_by)
        .bind(&r.paid_at)
        .bind(&r.paid_by)
        .bind(&r.bank_file_sha256)
        .execute(&mut *self.conn())
        .await?;
        sqlx::query("DELETE FROM payment_run_lines WHERE run_id = ?")
            .bind(&r.id)
            .execute(&mut *self.conn())
            .await?;
        for l in &r.lineas {
            sqlx::query(
                "INSERT INTO payment_run_lines (run_id, pos, invoice_id, documento, folio, proveedor_rut, proveedor, \
                     beneficiario_rut, beneficiario, cedida, vence, saldo, monto, incluida, nota, account_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.id)
            .bind(l.pos)
            .bind(&l.invoice_id)
            .bind(&l.documento)
            .bind(l.folio)
            .bind(&l.proveedor_rut)
            .bind(&l.proveedor)
            .bind(&l.beneficiario_rut)
            .bind(&l.beneficiario)
            .bind(l.cedida)
            .bind(&l.vence)
            .bind(l.saldo)
            .bind(l.monto)
            .bind(l.incluida)
            .bind(&l.nota)
            .bind(&l.account_id)
            .execute(&mut *self.conn())
            .await?;
        }
        Ok(())
    }

    /// Records whether the account sees the company treasury, as a pull said (`None`: an
    /// older server, nothing changes). When it does not, the treasury documents held here
    /// are removed (an account that lost `Permission::Treasury`); when it does again, the
    /// next pull says this device lacks them and the server sends everything again.
    /// Returns how many documents were removed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn apply_treasury_scope(&mut self, sees: Option<bool>) -> Result<usize> {
        let Some(sees) = sees else { return Ok(0) };
        let mut removed = 0;
        if !sees {
            for entity in TREASURY_ENTITIES {
                let ids: Vec<String> =
                    sqlx::query_scalar("SELECT id FROM plan_docs WHERE entity = ?")
                        .bind(entity)
                        .fetch_all(&mut *self.conn())
                        .await?;
                for id in &ids {
                    self.remove_record(entity, id).await?;
                }
                removed += ids.len();
            }
        }
        self.set_setting(crate::sync::TREASURY_SETTING, if sees { "1" } else { "0" })
            .await?;
        Ok(removed)
    }

    /// Removes a record here (it left the account's obras, or the server refused it and the
    /// user discarded it) with its version, so a later document brings it back whole.
    pub(crate) async fn remove_record(&mut self, entity: &str, id: &str) -> Result<()> {
        let sql = match entity {
            PAYMENT_ENTITY => "DELETE FROM payments WHERE id = ?",
            BANK_ACCOUNT_ENTITY => "DELETE FROM supplier_accounts WHERE id = ?",
            CESION_ENTITY => "DELETE FROM cesiones WHERE id = ?",
            RUN_ENTITY => "DELETE FROM payment_runs WHERE id = ?",
            INTEREST_RATE_ENTITY => "DELETE FROM interest_rates WHERE month = ?",
            e if PLAN_ENTITIES.contains(&e) => {
                sqlx::query("DELETE FROM plan_docs WHERE entity = ? AND id = ?")
                    .bind(e)
                    .bind(id)
                    .execute(&mut *self.conn())
                    .await?;
                ""
            }
            _ => return Ok(()),
        };
        if !sql.is_empty() {
            sqlx::query(sql).bind(id).execute(&mut *self.conn()).await?;
        }
        sqlx::query("DELETE FROM sync_docs WHERE entity = ? AND entity_id = ?")
            .bind(entity)
            .bind(id)
            .execute(&mut *self.conn())
            .await?;
        Ok(())
    }

    /// Forgets the versions of the payments of an invoice about to be removed (its rows go
    /// with it), so they come back whole if the invoice does.
    pub(crate) async fn forget_payment_versions(&mut self, invoice_id: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM sync_docs WHERE entity = ? AND entity_id IN (SELECT id FROM payments WHERE invoice_id = ?)",
        )
        .bind(PAYMENT_ENTITY)
        .bind(invoice_id)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    /// Restores the server's document of a record whose change was refused and discarded,
    /// or removes the record when the server has none.
    pub(crate) async fn restore_record(
        &mut self,
        entity: &str,
        id: &str,
        server: Option<(Value, Hlc)>,
    ) -> Result<()> {
        self.remove_record(entity, id).await?;
        if let Some((value, hlc)) = server {
            let sop = ServerOp {
                seq: 0,
                op: icc_core::sync::Op {
                    op_id: uuid::Uuid::new_v4(),
                    entity: entity.to_owned(),
                    entity_id: id.to_owned(),
                    field: crate::sync::DOC_FIELD.to_owned(),
                    value,
                    hlc,
                    base_hlc: None,
                    obra: None,
                    source: None,
                },
                user: String::new(),
                device_id: String::new(),
            };
            self.apply_record(&sop).await?;
        }
        Ok(())
    }
}

//! The local half of sync (docs/sync.md): while the database is linked to a server, every
//! write transaction turns its changes into operations in `sync_outbox` at commit, in the
//! same transaction; and operations pulled from the server are applied here with the same
//! per-field rule the server uses, so every device ends with the same values.
//!
//! * Creating an invoice is one `_doc` op carrying the whole document. Field edits are one
//!   op per field, made from the transaction's audit rows (so nothing that is audited can
//!   escape sync).
//! * A field's value is its newest edit (by HLC) if it has one, else the newest document's.
//!   Creations never contest edits: two laptops importing the same invoice end with one, and
//!   an edit made on either survives the other's import.

use icc_core::sync::{Conflict, Hlc, Op, RawJson, ServerOp};
use icc_core::{InvoiceId, InvoiceStatus, claim_deadline, due_date};
use serde_json::Value;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::write::{AssignmentChange, WriteTx};

/// Settings key of this device's id (present only while linked to a server).
pub const DEVICE_SETTING: &str = "sync.device";
/// Settings key of the device's clock.
const HLC_SETTING: &str = "sync.hlc";
/// Settings key of the pull cursor.
pub const CURSOR_SETTING: &str = "sync.cursor";
/// The field of creation ops.
pub const DOC_FIELD: &str = "_doc";

/// Invoice fields that travel as edits, with whether the value is a number.
const FIELDS: &[(&str, bool)] = &[
    ("razon_social", false),
    ("fecha_emision", false),
    ("fecha_recepcion_sii", false),
    ("fecha_vencimiento", false),
    ("monto_neto", true),
    ("monto_exento", true),
    ("monto_iva", true),
    ("monto_otros", true),
    ("monto_total", true),
    ("obra", false),
    ("centro_costo", false),
    ("cuenta", false),
    ("glosa", false),
    ("estado", false),
    ("motivo_rechazo", false),
];

/// A transaction's sync state.
#[derive(Debug, Default)]
pub(crate) struct TxSync {
    /// `None`: not looked up yet; `Some(None)`: not linked; `Some(Some(device))`: linked.
    linked: Option<Option<String>>,
    /// Applying the server's ops: make none of our own.
    pub(crate) remote: bool,
    /// Creations to send: (id, document, obra).
    docs: Vec<(String, Value, Option<String>)>,
}

/// What a pull page changed here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Ops that changed something.
    pub applied: u64,
    /// Ops older than what is here (or about entities this device does not have).
    pub skipped: u64,
    /// Conflicts recorded or updated.
    pub conflicts: u64,
}

/// An op waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxOp {
    /// Local sequence (delete up to it once sent).
    pub seq: i64,
    /// The op, its value as stored (sent as it is).
    pub op: Op<RawJson>,
}

/// A push batch encoded by [`Store::outbox_batch`].
#[derive(Debug, Clone)]
pub struct OutboxBatch {
    /// Local sequence of its last op (delete up to it once acknowledged).
    pub last_seq: i64,
    /// How many ops.
    pub len: u64,
    /// Whether it holds field edits (else only documents, which the server may store in any
    /// order relative to other batches).
    pub edits: bool,
    /// The ops as a JSON array, as a push request carries them.
    pub ops_json: String,
}

fn field_spec(field: &str) -> Option<bool> {
    FIELDS.iter().find(|(f, _)| *f == field).map(|(_, n)| *n)
}

/// The audit field names that differ from the op field names.
fn op_field(audit_field: &str) -> &str {
    match audit_field {
        "motivo" => "motivo_rechazo",
        f => f,
    }
}

fn value_of(text: Option<&str>, numeric: bool) -> Value {
    match text {
        None => Value::Null,
        Some(t) if numeric => t
            .parse::<i64>()
            .map_or_else(|_| Value::String(t.into()), Value::from),
        Some(t) => Value::String(t.into()),
    }
}

impl WriteTx {
    /// This database's device id, when it is linked to a server (looked up once).
    pub(crate) async fn linked_device(&mut self) -> Result<Option<String>> {
        if let Some(l) = &self.sync.linked {
            return Ok(l.clone());
        }
        let d: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(DEVICE_SETTING)
            .fetch_optional(&mut *self.conn())
            .await?;
        self.sync.linked = Some(d.clone());
        Ok(d)
    }

    /// Queues the creation ops of invoices just inserted.
    pub(crate) async fn queue_docs(&mut self, fresh: &[&icc_core::Invoice]) -> Result<()> {
        if self.sync.remote || fresh.is_empty() || self.linked_device().await?.is_none() {
            return Ok(());
        }
        for inv in fresh {
            let doc = serde_json::to_value(inv).map_err(|e| StoreError::Corrupt {
                column: "invoice document",
                value: e.to_string(),
            })?;
            self.sync
                .docs
                .push((inv.id().to_string(), doc, inv.obra.clone()));
        }
        Ok(())
    }

    /// Turns this transaction's changes into outbox ops (called by commit, before the audit
    /// rows are written).
    pub(crate) async fn write_outbox(&mut self) -> Result<()> {
        if self.sync.remote || self.linked_device().await?.is_none() {
            return Ok(());
        }
        let Some(device) = self.linked_device().await? else {
            return Ok(());
        };
        let edits: Vec<(String, String, Option<String>)> = self
            .audit_rows()
            .filter(|r| r.entity == "invoice")
            .filter_map(|r| {
                let f = op_field(r.field?);
                field_spec(f).map(|_| (r.entity_id.clone(), f.to_owned(), r.new.clone()))
            })
            .collect();
        let docs = std::mem::take(&mut self.sync.docs);
        if edits.is_empty() && docs.is_empty() {
            return Ok(());
        }
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(HLC_SETTING)
            .fetch_optional(&mut *self.conn())
            .await?;
        let mut clock = stored
            .and_then(|s| s.parse::<Hlc>().ok())
            .map(|h| Hlc {
                device: device.clone(),
                ..h
            })
            .unwrap_or_else(|| Hlc::zero(&device));
        let now_ms = chrono::Utc::now().timestamp_millis();
        for (id, doc, obra) in docs {
            clock = clock.tick(now_ms);
            self.outbox_insert(&id, DOC_FIELD, &doc, &clock, None, obra.as_deref())
                .await?;
            sqlx::query("INSERT INTO sync_docs (entity, entity_id, hlc) VALUES ('invoice', ?, ?) ON CONFLICT DO UPDATE SET hlc = excluded.hlc")
                .bind(&id)
                .bind(clock.to_string())
                .execute(&mut *self.conn())
                .await?;
        }
        for (id, field, new) in edits {
            clock = clock.tick(now_ms);
            let numeric = field_spec(&field).unwrap_or(false);
            let base: Option<String> = sqlx::query_scalar(
                "SELECT hlc FROM sync_fields WHERE entity = 'invoice' AND entity_id = ? AND field = ?",
            )
            .bind(&id)
            .bind(&field)
            .fetch_optional(&mut *self.conn())
            .await?;
            let obra: Option<String> = sqlx::query_scalar(
                "SELECT o.codigo FROM invoices i JOIN obras o ON o.id = i.obra_id WHERE i.id = ?",
            )
            .bind(&id)
            .fetch_optional(&mut *self.conn())
            .await?;
            let base = base.and_then(|b| b.parse::<Hlc>().ok());
            self.outbox_insert(
                &id,
                &field,
                &value_of(new.as_deref(), numeric),
                &clock,
                base.as_ref(),
                obra.as_deref(),
            )
            .await?;
            self.set_field_version(&id, &field, &clock).await?;
        }
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(HLC_SETTING)
            .bind(clock.to_string())
            .execute(&mut *self.conn())
            .await?;
        Ok(())
    }

    async fn outbox_insert(
        &mut self,
        id: &str,
        field: &str,
        value: &Value,
        hlc: &Hlc,
        base: Option<&Hlc>,
        obra: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_outbox (op_id, entity, entity_id, field, value, hlc, base_hlc, obra) VALUES (?, 'invoice', ?, ?, ?, ?, ?, ?)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(id)
        .bind(field)
        .bind(value.to_string())
        .bind(hlc.to_string())
        .bind(base.map(ToString::to_string))
        .bind(obra)
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    async fn set_field_version(&mut self, id: &str, field: &str, hlc: &Hlc) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_fields (entity, entity_id, field, hlc) VALUES ('invoice', ?, ?, ?) \
             ON CONFLICT DO UPDATE SET hlc = excluded.hlc",
        )
        .bind(id)
        .bind(field)
        .bind(hlc.to_string())
        .execute(&mut *self.conn())
        .await?;
        Ok(())
    }

    /// Links this database to a server as `device` (makes the outbox live). Existing
    /// invoices are queued as creation ops, so the first sync sends everything.
    ///
    /// # Errors
    /// Database errors.
    pub async fn link_device(&mut self, device: &str) -> Result<u64> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(DEVICE_SETTING)
            .bind(device)
            .execute(&mut *self.conn())
            .await?;
        self.sync.linked = Some(Some(device.to_owned()));
        // everything created before linking and never sent goes out as documents
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM invoices WHERE id NOT IN (SELECT entity_id FROM sync_docs WHERE entity = 'invoice') ORDER BY seq",
        )
        .fetch_all(&mut *self.conn())
        .await?;
        let mut n = 0;
        for chunk in ids.chunks(500) {
            let mut invs = Vec::with_capacity(chunk.len());
            for id in chunk {
                invs.push(load_invoice(self.conn(), id).await?);
            }
            let refs: Vec<&icc_core::Invoice> = invs.iter().collect();
            self.queue_docs(&refs).await?;
            n += invs.len() as u64;
        }
        Ok(n)
    }

    /// Applies a page of the server's ops and conflicts and moves the cursor to `cursor`, in
    /// this transaction.
    ///
    /// # Errors
    /// Database errors; a malformed op is skipped and counted, not fatal.
    pub async fn apply_remote(
        &mut self,
        ops: &[ServerOp],
        conflicts: &[Conflict],
        cursor: i64,
    ) -> Result<Applied> {
        self.sync.remote = true;
        let mut out = Applied::default();
        for sop in ops {
            let op = &sop.op;
            if op.entity != "invoice" {
                out.skipped += 1;
                continue;
            }
            let changed = if op.field == DOC_FIELD {
                self.apply_doc(op).await?
            } else {
                self.apply_edit(op).await?
            };
            if changed {
                out.applied += 1;
            } else {
                out.skipped += 1;
            }
        }
        for c in conflicts {
            sqlx::query(
                "INSERT INTO sync_conflicts (id, entity, entity_id, field, winner_value, winner_hlc, loser_value, loser_hlc, loser_user, obra, resolved_by) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET resolved_by = excluded.resolved_by",
            )
            .bind(c.id)
            .bind(&c.entity)
            .bind(&c.entity_id)
            .bind(&c.field)
            .bind(c.winner_value.to_string())
            .bind(c.winner_hlc.to_string())
            .bind(c.loser_value.to_string())
            .bind(c.loser_hlc.to_string())
            .bind(&c.loser_user)
            .bind(&c.obra)
            .bind(&c.resolved_by)
            .execute(&mut *self.conn())
            .await?;
            out.conflicts += 1;
        }
        // the clock never falls behind what it has seen
        if let Some(device) = self.linked_device().await? {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                    .bind(HLC_SETTING)
                    .fetch_optional(&mut *self.conn())
                    .await?;
            let mut clock = stored
                .and_then(|s| s.parse::<Hlc>().ok())
                .unwrap_or_else(|| Hlc::zero(&device));
            let now_ms = chrono::Utc::now().timestamp_millis();
            for sop in ops {
                clock = clock.observe(&sop.op.hlc, now_ms);
            }
            clock.device = device;
            self.set_setting(HLC_SETTING, &clock.to_string()).await?;
        }
        self.set_setting(CURSOR_SETTING, &cursor.to_string())
            .await?;
        Ok(out)
    }

    async fn exists(&mut self, id: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM invoices WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *self.conn())
                .await?
                > 0,
        )
    }

    async fn ensure_obra(&mut self, code: Option<&str>) -> Result<()> {
        if let Some(code) = code {
            sqlx::query("INSERT INTO obras (codigo, nombre, created_at) VALUES (?, ?, ?) ON CONFLICT (codigo) DO NOTHING")
                .bind(code)
                .bind(code)
                .bind(self.now().to_owned())
                .execute(&mut *self.conn())
                .await?;
        }
        Ok(())
    }

    async fn apply_doc(&mut self, op: &Op) -> Result<bool> {
        let Ok(inv) = serde_json::from_value::<icc_core::Invoice>(op.value.clone()) else {
            tracing::warn!(entity_id = %op.entity_id, "a pulled document could not be read; skipped");
            return Ok(false);
        };
        if inv.id().to_string() != op.entity_id {
            tracing::warn!(entity_id = %op.entity_id, "a pulled document does not match its id; skipped");
            return Ok(false);
        }
        let version: Option<String> = sqlx::query_scalar(
            "SELECT hlc FROM sync_docs WHERE entity = 'invoice' AND entity_id = ?",
        )
        .bind(&op.entity_id)
        .fetch_optional(&mut *self.conn())
        .await?;
        let newer = version.is_none_or(|v| op.hlc.to_string() > v);
        if !self.exists(&op.entity_id).await? {
            self.ensure_obra(inv.obra.as_deref()).await?;
            self.insert_invoices(&[(inv.clone(), None)], &mut |_| true)
                .await?;
        } else if newer {
            // the newer document sets every field that no edit has set
            for (field, numeric) in FIELDS {
                let edited: Option<String> = sqlx::query_scalar(
                    "SELECT hlc FROM sync_fields WHERE entity = 'invoice' AND entity_id = ? AND field = ?",
                )
                .bind(&op.entity_id)
                .bind(field)
                .fetch_optional(&mut *self.conn())
                .await?;
                if edited.is_none() {
                    let v = doc_field(&op.value, field, *numeric);
                    self.set_invoice_field(inv.id(), field, &v).await?;
                }
            }
        } else {
            return Ok(false);
        }
        sqlx::query("INSERT INTO sync_docs (entity, entity_id, hlc) VALUES ('invoice', ?, ?) ON CONFLICT DO UPDATE SET hlc = excluded.hlc WHERE excluded.hlc > sync_docs.hlc")
            .bind(&op.entity_id)
            .bind(op.hlc.to_string())
            .execute(&mut *self.conn())
            .await?;
        Ok(true)
    }

    async fn apply_edit(&mut self, op: &Op) -> Result<bool> {
        if field_spec(&op.field).is_none() {
            return Ok(false);
        }
        let Ok(id) = op.entity_id.parse::<InvoiceId>() else {
            return Ok(false);
        };
        if !self.exists(&op.entity_id).await? {
            return Ok(false);
        }
        let version: Option<String> = sqlx::query_scalar(
            "SELECT hlc FROM sync_fields WHERE entity = 'invoice' AND entity_id = ? AND field = ?",
        )
        .bind(&op.entity_id)
        .bind(&op.field)
        .fetch_optional(&mut *self.conn())
        .await?;
        if version.is_some_and(|v| op.hlc.to_string() <= v) {
            return Ok(false);
        }
        self.set_invoice_field(id, &op.field, &op.value).await?;
        self.set_field_version(&op.entity_id, &op.field, &op.hlc)
            .await?;
        Ok(true)
    }

    /// Sets one synced field as a local edit (it goes to the outbox like any change): used
    /// to keep this device's value of a conflict.
    ///
    /// # Errors
    /// Unknown invoice or field, database errors.
    pub async fn set_synced_field(&mut self, id: InvoiceId, field: &str, v: &Value) -> Result<()> {
        if field_spec(field).is_none() {
            return Err(StoreError::NotFound {
                what: "campo sincronizado",
                key: field.into(),
            });
        }
        self.set_invoice_field(id, field, v).await
    }

    /// Sets one synced field of a stored invoice to a pulled value, with an audit row.
    async fn set_invoice_field(&mut self, id: InvoiceId, field: &str, v: &Value) -> Result<()> {
        let text = match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        match field {
            "obra" | "centro_costo" | "cuenta" | "glosa" => {
                if field == "obra" {
                    self.ensure_obra(text.as_deref()).await?;
                }
                let mut change = AssignmentChange::default();
                let slot = Some(text);
                match field {
                    "obra" => change.obra = slot,
                    "centro_costo" => change.centro_costo = slot,
                    "cuenta" => change.cuenta = slot,
                    _ => change.glosa = slot,
                }
                self.update_assignment(id, &change).await?;
            }
            _ => {
                let ids = id.to_string();
                let column = FIELDS
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map(|(f, _)| *f)
                    .ok_or_else(|| StoreError::Corrupt {
                        column: "sync field",
                        value: field.into(),
                    })?;
                if column == "estado"
                    && text
                        .as_deref()
                        .and_then(|e| e.parse::<InvoiceStatus>().ok())
                        .is_none()
                {
                    return Ok(());
                }
                let old: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST({column} AS TEXT) FROM invoices WHERE id = ?"
                )))
                .bind(&ids)
                .fetch_optional(&mut *self.conn())
                .await?
                .flatten();
                if old == text {
                    return Ok(());
                }
                // column names come from FIELDS: plain identifiers
                let sql = format!("UPDATE invoices SET {column} = ? WHERE id = ?");
                let q = sqlx::query(sqlx::AssertSqlSafe(sql));
                let q = if field_spec(column) == Some(true) {
                    q.bind(
                        text.as_deref()
                            .and_then(|t| t.parse::<i64>().ok())
                            .unwrap_or(0),
                    )
                } else {
                    q.bind(text.clone())
                };
                q.bind(&ids).execute(&mut *self.conn()).await?;
                if column.starts_with("fecha_") {
                    self.rederive_deadlines(&ids).await?;
                }
                let audit_field: &'static str = FIELDS
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map_or("campo", |(f, _)| f);
                self.audit("invoice", ids, "sync", Some(audit_field), old, text);
            }
        }
        Ok(())
    }

    async fn rederive_deadlines(&mut self, ids: &str) -> Result<()> {
        let (tipo, emision, recepcion, vencimiento): (i64, String, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT tipo_dte, fecha_emision, fecha_recepcion_sii, fecha_vencimiento FROM invoices WHERE id = ?",
        )
        .bind(ids)
        .fetch_one(&mut *self.conn())
        .await?;
        let tipo = u16::try_from(tipo)
            .ok()
            .and_then(|t| icc_core::DteType::new(t).ok());
        let emision = icc_core::parse_date("fecha_emision", &emision).ok();
        let recepcion =
            recepcion.and_then(|r| icc_core::parse_datetime("fecha_recepcion_sii", &r).ok());
        let vencimiento =
            vencimiento.and_then(|v| icc_core::parse_date("fecha_vencimiento", &v).ok());
        if let (Some(tipo), Some(emision)) = (tipo, emision) {
            sqlx::query("UPDATE invoices SET vence = ?, plazo_reclamo = ? WHERE id = ?")
                .bind(due_date(vencimiento, recepcion, emision).to_string())
                .bind(claim_deadline(tipo, recepcion).map(|d| d.to_string()))
                .bind(ids)
                .execute(&mut *self.conn())
                .await?;
        }
        Ok(())
    }

    /// Deletes outbox ops up to `seq` (the server stored them).
    ///
    /// # Errors
    /// Database errors.
    pub async fn outbox_sent(&mut self, upto: i64) -> Result<()> {
        sqlx::query("DELETE FROM sync_outbox WHERE seq <= ?")
            .bind(upto)
            .execute(&mut *self.conn())
            .await?;
        Ok(())
    }

    /// Marks a local conflict resolved by `user`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn resolve_conflict(&mut self, id: i64, user: &str) -> Result<()> {
        sqlx::query("UPDATE sync_conflicts SET resolved_by = ? WHERE id = ?")
            .bind(user)
            .bind(id)
            .execute(&mut *self.conn())
            .await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct FullRow {
    rut_emisor: String,
    tipo_dte: i64,
    folio: i64,
    razon_social: String,
    fecha_emision: String,
    fecha_recepcion_sii: Option<String>,
    fecha_vencimiento: Option<String>,
    monto_neto: i64,
    monto_exento: i64,
    monto_iva: i64,
    monto_total: i64,
    obra: Option<String>,
    centro_costo: Option<String>,
    cuenta: Option<String>,
    orden_compra: Option<String>,
    glosa: Option<String>,
    estado: String,
    motivo_rechazo: Option<String>,
    source: String,
    external_id: Option<String>,
}

/// A stored invoice as an [`icc_core::Invoice`] (for its creation op).
async fn load_invoice(conn: &mut sqlx::SqliteConnection, id: &str) -> Result<icc_core::Invoice> {
    let r: FullRow = sqlx::query_as(
        "SELECT i.rut_emisor, i.tipo_dte, i.folio, i.razon_social, i.fecha_emision, i.fecha_recepcion_sii, i.fecha_vencimiento, \
         i.monto_neto, i.monto_exento, i.monto_iva, i.monto_total, o.codigo AS obra, i.centro_costo, i.cuenta, i.orden_compra, \
         i.glosa, i.estado, i.motivo_rechazo, i.source, i.external_id \
         FROM invoices i LEFT JOIN obras o ON o.id = i.obra_id WHERE i.id = ?",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let taxes: Vec<(i64, Option<f64>, i64)> = sqlx::query_as(
        "SELECT codigo, tasa, valor FROM invoice_taxes WHERE invoice_id = ? ORDER BY pos",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let refs: Vec<crate::invoices::ReferenceRow> =
        sqlx::query_as("SELECT tipo, folio, fecha, codigo, razon FROM invoice_references WHERE invoice_id = ? ORDER BY pos")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let bad = |column: &'static str, value: String| StoreError::Corrupt { column, value };
    let key: icc_core::NaturalKey = format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio)
        .parse()
        .map_err(|_| bad("invoices.rut_emisor", r.rut_emisor.clone()))?;
    Ok(icc_core::Invoice {
        key,
        razon_social: r.razon_social,
        fecha_emision: icc_core::parse_date("fecha_emision", &r.fecha_emision)
            .map_err(|_| bad("invoices.fecha_emision", r.fecha_emision.clone()))?,
        fecha_recepcion_sii: r
            .fecha_recepcion_sii
            .and_then(|d| icc_core::parse_datetime("fecha_recepcion_sii", &d).ok()),
        fecha_vencimiento: r
            .fecha_vencimiento
            .and_then(|d| icc_core::parse_date("fecha_vencimiento", &d).ok()),
        monto_neto: icc_core::Clp::new(r.monto_neto),
        monto_exento: icc_core::Clp::new(r.monto_exento),
        monto_iva: icc_core::Clp::new(r.monto_iva),
        otros_impuestos: taxes
            .into_iter()
            .map(|(codigo, tasa, valor)| icc_core::OtroImpuesto {
                codigo: u16::try_from(codigo).unwrap_or(0),
                tasa,
                valor: icc_core::Clp::new(valor),
            })
            .collect(),
        monto_total: icc_core::Clp::new(r.monto_total),
        referencias: refs
            .into_iter()
            .map(|r| icc_core::Referencia {
                tipo: r.tipo,
                folio: r.folio,
                fecha: r.fecha.and_then(|f| icc_core::parse_date("fecha", &f).ok()),
                codigo: r.codigo.and_then(|c| u8::try_from(c).ok()),
                razon: r.razon,
            })
            .collect(),
        obra: r.obra,
        centro_costo: r.centro_costo,
        cuenta: r.cuenta,
        orden_compra: r.orden_compra,
        glosa: r.glosa,
        estado: r
            .estado
            .parse()
            .map_err(|_| bad("invoices.estado", r.estado.clone()))?,
        motivo_rechazo: r.motivo_rechazo,
        source: r
            .source
            .parse()
            .map_err(|_| bad("invoices.source", r.source.clone()))?,
        external_id: r.external_id,
    })
}

/// A document's value for one synced field, in the form edits carry.
fn doc_field(doc: &Value, field: &str, numeric: bool) -> Value {
    let v = match field {
        "monto_otros" => {
            let sum: i64 = doc["otros_impuestos"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t["valor"].as_i64()).sum())
                .unwrap_or(0);
            return Value::from(sum);
        }
        "fecha_recepcion_sii" => doc[field]
            .as_str()
            .map(|s| Value::String(s.get(..19).unwrap_or(s).to_owned())),
        f => Some(doc[f].clone()),
    };
    match v {
        Some(Value::Null) | None => Value::Null,
        Some(Value::String(s)) if numeric => s.parse::<i64>().map_or(Value::Null, Value::from),
        Some(v) => v,
    }
}

/// A conflict as stored here.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LocalConflict {
    /// The server's id.
    pub id: i64,
    /// Entity.
    pub entity: String,
    /// Entity id.
    pub entity_id: String,
    /// Field.
    pub field: String,
    /// Winning value (JSON).
    pub winner_value: String,
    /// Losing value (JSON).
    pub loser_value: String,
    /// Who wrote the losing value.
    pub loser_user: String,
    /// Obra.
    pub obra: Option<String>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
}

impl Store {
    /// Outbox ops in order, at most `limit`.
    ///
    /// # Errors
    /// Database errors, a stored op that cannot be read.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxOp>> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, op_id, entity, entity_id, field, value, hlc, base_hlc, obra FROM sync_outbox \
             ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let corrupt = |c: &'static str, v: String| StoreError::Corrupt {
            column: c,
            value: v,
        };
        rows.into_iter()
            .map(
                |(seq, op_id, entity, entity_id, field, value, hlc, base, obra)| {
                    Ok(OutboxOp {
                        seq,
                        op: Op {
                            op_id: op_id
                                .parse()
                                .map_err(|_| corrupt("sync_outbox.op_id", op_id.clone()))?,
                            entity,
                            entity_id,
                            field,
                            value: serde_json::value::RawValue::from_string(value)
                                .map_err(|e| corrupt("sync_outbox.value", e.to_string()))?,
                            hlc: hlc
                                .parse()
                                .map_err(|_| corrupt("sync_outbox.hlc", hlc.clone()))?,
                            base_hlc: base
                                .map(|b| {
                                    b.parse()
                                        .map_err(|_| corrupt("sync_outbox.base_hlc", b.clone()))
                                })
                                .transpose()?,
                            obra,
                        },
                    })
                },
            )
            .collect()
    }

    /// The next push batch after the local sequence `after`: in order, at most `limit` ops
    /// and no more than `max_bytes` of values (always at least one op), small enough for the
    /// server's body limit, already encoded as the JSON array of a push request's `ops`:
    /// SQLite writes it, so stored documents are neither decoded into rows nor parsed on the
    /// way out (the server checks every value). `None` when nothing is waiting.
    ///
    /// # Errors
    /// Database errors, a stored value that is not JSON.
    pub async fn outbox_batch(
        &self,
        after: i64,
        limit: i64,
        max_bytes: i64,
    ) -> Result<Option<OutboxBatch>> {
        let row: (Option<i64>, i64, bool, Option<String>) = sqlx::query_as(
            "SELECT max(seq), count(*), coalesce(max(field <> '_doc'), 0), '[' || group_concat(json_object( \
                 'op_id', op_id, 'entity', entity, 'entity_id', entity_id, 'field', field, \
                 'value', json(value), 'hlc', hlc, 'base_hlc', base_hlc, 'obra', obra), ',' ORDER BY seq) || ']' \
             FROM ( \
                 SELECT *, SUM(octet_length(value)) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS upto \
                 FROM (SELECT * FROM sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?)) \
             WHERE upto - octet_length(value) < ?",
        )
        .bind(after)
        .bind(limit)
        .bind(max_bytes)
        .fetch_one(self.pool())
        .await?;
        Ok(match row {
            (Some(last_seq), len, edits, Some(ops_json)) => Some(OutboxBatch {
                last_seq,
                len: len.unsigned_abs(),
                edits,
                ops_json,
            }),
            _ => None,
        })
    }

    /// Ops waiting to be sent.
    ///
    /// # Errors
    /// Database errors.
    pub async fn outbox_len(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sync_outbox")
            .fetch_one(self.pool())
            .await?)
    }

    /// Conflicts (open first).
    ///
    /// # Errors
    /// Database errors.
    pub async fn conflicts(&self, include_resolved: bool) -> Result<Vec<LocalConflict>> {
        Ok(sqlx::query_as(
            "SELECT id, entity, entity_id, field, winner_value, loser_value, loser_user, obra, resolved_by FROM sync_conflicts \
             WHERE ? OR resolved_by IS NULL ORDER BY resolved_by IS NOT NULL, id",
        )
        .bind(include_resolved)
        .fetch_all(self.pool())
        .await?)
    }
}

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

use icc_core::sync::{
    Conflict, FieldKind, FieldValue, Hlc, INVOICE_FIELDS, Op, RawJson, Refusal, Removal, ServerOp,
    check_invoice_value, invoice_doc_field, invoice_field_kind,
};
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

/// Settings key of the obras this device holds, as the server last said (`*`: all).
pub const SCOPE_SETTING: &str = "sync.scope";

/// Settings key of whether this device holds the treasury, as the server last said
/// (`1`/`0`; absent: unknown).
pub const TREASURY_SETTING: &str = "sync.treasury";

/// Settings key of the server account this device is linked as: its role and obras as the
/// server last said (JSON `{"username", "role", "obras"}`), which icc-app applies to every
/// session on this laptop (the server would refuse anything beyond them). Absent: not
/// linked, logged out, or linked before this was kept (the next sync writes it).
pub const ACCOUNT_SETTING: &str = "sync.account";

/// A transaction's sync state.
#[derive(Debug, Default)]
pub(crate) struct TxSync {
    /// `None`: not looked up yet; `Some(None)`: not linked; `Some(Some(device))`: linked.
    linked: Option<Option<String>>,
    /// Applying the server's ops: make none of our own.
    pub(crate) remote: bool,
    /// Creations to send: (id, document, obra).
    docs: Vec<(String, Value, Option<String>)>,
    /// Conflict resolutions to send: (conflict id, obra).
    resolutions: Vec<(i64, Option<String>)>,
    /// The source system this transaction's changes come from (see [`WriteTx::mark_source`]).
    source: Option<&'static str>,
    /// Restoring the server's value of a refused change (audited as `descarte`).
    pub(crate) discarding: bool,
    /// Records to send besides those the transaction's audit rows name: (entity, id).
    pub(crate) records: Vec<(String, String)>,
    /// Linking this database to a server: the records it holds are sent marked as what it
    /// brought ([`icc_core::records::LINK_SOURCE`]).
    pub(crate) linking: bool,
}

/// What a pull page changed here.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Ops that changed something.
    pub applied: u64,
    /// Ops older than what is here.
    pub skipped: u64,
    /// Ops whose value this device cannot hold (a value of the wrong type, an unreadable
    /// document): skipped and counted, never stored, so one bad value cannot stall sync.
    pub invalid: u64,
    /// Edits of invoices not here yet, kept until their document arrives.
    pub held: u64,
    /// Conflicts recorded or updated.
    pub conflicts: u64,
    /// Invoices removed because they left the account's obras.
    pub removed: Vec<RemovedInvoice>,
}

/// An invoice removed from this laptop because it left the account's obras.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RemovedInvoice {
    /// Its id.
    pub entity_id: String,
    /// RUT:TIPO:FOLIO and razón social, as it was.
    pub invoice: String,
    /// Why, in Spanish.
    pub reason: String,
    /// When (UTC).
    pub removed_at: String,
}

/// A change the server refused, set aside until someone discards it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RefusedChange {
    /// The op's id (what `descartar` names).
    pub op_id: String,
    /// Entity (`invoice`, `conflict`).
    pub entity: String,
    /// Entity id.
    pub entity_id: String,
    /// Field (`_doc` for a whole document).
    pub field: String,
    /// The refused value (JSON).
    pub value: String,
    /// Why the server refused it.
    pub reason: String,
    /// When (UTC).
    pub refused_at: String,
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
    /// Whether it holds field edits or payment records (else only invoice documents, which
    /// the server may store in any order relative to other batches).
    pub edits: bool,
    /// The ops as a JSON array, as a push request carries them.
    pub ops_json: String,
}

fn field_spec(field: &str) -> Option<bool> {
    invoice_field_kind(field).map(|k| k == FieldKind::Amount)
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
    /// Marks this transaction's changes as made by a source system (`iconstruye`,
    /// `import`): the server checks them against the permission to run that source rather
    /// than a person's approval rights.
    pub fn mark_source(&mut self, source: &'static str) {
        self.sync.source = Some(source);
    }

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
            let mut doc = serde_json::to_value(inv).map_err(|e| StoreError::Corrupt {
                column: "invoice document",
                value: e.to_string(),
            })?;
            if let (Some(d), Some(map)) = (self.import_date(inv), doc.as_object_mut()) {
                map.insert("fecha_importacion".into(), d.to_string().into());
            }
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
        let resolutions = std::mem::take(&mut self.sync.resolutions);
        let records = self.touched_records();
        if edits.is_empty() && docs.is_empty() && resolutions.is_empty() && records.is_empty() {
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
        // records after the invoices they belong to, before the edits (a payment and the
        // status it brings travel in the order they were made)
        self.queue_records(&records, &mut clock, now_ms).await?;
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
        // after the edits they settle: a kept value reaches the server before its resolution
        for (conflict, obra) in resolutions {
            clock = clock.tick(now_ms);
            self.outbox_insert(
                &conflict.to_string(),
                icc_core::sync::RESOLVED_FIELD,
                &Value::Null,
                &clock,
                None,
                obra.as_deref(),
            )
            .await?;
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
        let entity = if field == icc_core::sync::RESOLVED_FIELD {
            icc_core::sync::CONFLICT_ENTITY
        } else {
            icc_core::sync::INVOICE_ENTITY
        };
        self.outbox_insert_as(entity, id, field, value, hlc, base, obra)
            .await
    }

    /// Queues one op of `entity`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn outbox_insert_as(
        &mut self,
        entity: &str,
        id: &str,
        field: &str,
        value: &Value,
        hlc: &Hlc,
        base: Option<&Hlc>,
        obra: Option<&str>,
    ) -> Result<()> {
        // invoice documents are the import itself; only edits carry the source mark, and
        // the records a laptop brings when it is linked
        let source =
            if self.sync.linking && field == DOC_FIELD && icc_core::records::is_record(entity) {
                Some(icc_core::records::LINK_SOURCE)
            } else {
                self.sync.source.filter(|_| field != DOC_FIELD)
            };
        sqlx::query(
            "INSERT INTO sync_outbox (op_id, entity, entity_id, field, value, hlc, base_hlc, obra, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(entity)
        .bind(id)
        .bind(field)
        .bind(value.to_string())
        .bind(hlc.to_string())
        .bind(base.map(ToString::to_string))
        .bind(obra)
        .bind(source)
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
        self.sync.linking = true;
        n += self.queue_unsent_records().await?;
        Ok(n)
    }

    /// Applies a page of the server's ops and conflicts, removes what left the account's
    /// obras, and moves the cursor to `cursor` and the held scope to `scope`, in this
    /// transaction. An edit of an invoice not here is kept until its document arrives; a
    /// value this device cannot hold is skipped and counted, never stored, so it cannot
    /// stall the pull.
    ///
    /// # Errors
    /// Database errors.
    pub async fn apply_remote(
        &mut self,
        ops: &[ServerOp<RawJson>],
        conflicts: &[Conflict],
        removed: &[Removal],
        scope: Option<&[String]>,
        cursor: i64,
    ) -> Result<Applied> {
        let docs = decode_invoice_docs(ops);
        self.apply_decoded(ops, docs, conflicts, removed, scope, cursor)
            .await
    }

    /// [`WriteTx::apply_remote`] with the page's invoice documents already decoded by
    /// [`decode_invoice_docs`] (which a caller can do on another thread while the previous
    /// page is written).
    ///
    /// # Errors
    /// Database errors.
    pub async fn apply_decoded(
        &mut self,
        ops: &[ServerOp<RawJson>],
        docs: Vec<Option<icc_core::Invoice>>,
        conflicts: &[Conflict],
        removed: &[Removal],
        scope: Option<&[String]>,
        cursor: i64,
    ) -> Result<Applied> {
        self.sync.remote = true;
        // decoded from another page, or not at all: decode this one
        let docs = if docs.len() == ops.len() {
            docs
        } else {
            decode_invoice_docs(ops)
        };
        let mut out = Applied::default();
        let inserted = self.insert_new_docs(ops, docs, &mut out).await?;
        for (i, sop) in ops.iter().enumerate() {
            let op = &sop.op;
            let record = icc_core::records::is_record(&op.entity) && op.field == DOC_FIELD;
            if op.entity != icc_core::sync::INVOICE_ENTITY && !record {
                out.skipped += 1;
                continue;
            }
            if inserted.contains(&i) {
                continue; // counted by insert_new_docs
            }
            // the text of a value read from the wire is JSON
            let Ok(sop) = sop.parsed() else {
                out.invalid += 1;
                continue;
            };
            let outcome = if record {
                self.apply_record(&sop).await?
            } else if op.field == DOC_FIELD {
                self.apply_doc(&sop.op, &mut out).await?
            } else {
                self.apply_edit(&sop).await?
            };
            match outcome {
                Outcome::Applied => out.applied += 1,
                Outcome::Skipped => out.skipped += 1,
                Outcome::Invalid => out.invalid += 1,
                Outcome::Held => out.held += 1,
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
        for r in removed {
            if icc_core::records::is_record(&r.entity) {
                self.remove_record(&r.entity, &r.entity_id).await?;
                continue;
            }
            let reason = match &r.obra {
                Some(o) => format!("pasó a la obra {o}, que no es de las obras de su cuenta"),
                None => "quedó sin obra asignada, y su cuenta solo ve sus obras".to_owned(),
            };
            if let Some(gone) = self.remove_invoice(&r.entity_id, &reason).await? {
                out.removed.push(gone);
            }
        }
        if let Some(scope) = scope {
            let held: Option<String> =
                sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                    .bind(SCOPE_SETTING)
                    .fetch_optional(&mut *self.conn())
                    .await?;
            // only what the account stopped seeing: while the scope is the same, what
            // leaves comes as the server's removals (a local change the server refused
            // must not make an invoice disappear)
            let lost: Option<Vec<String>> = match held.as_deref() {
                None | Some("*") => None,
                Some(h) => Some(
                    h.split(',')
                        .filter(|o| {
                            !o.is_empty() && !scope.iter().any(|x| x.eq_ignore_ascii_case(o))
                        })
                        .map(str::to_owned)
                        .collect(),
                ),
            };
            if lost.as_ref().is_none_or(|l| !l.is_empty()) {
                out.removed
                    .extend(self.keep_only_obras(scope, lost.as_deref()).await?);
            }
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
        self.set_setting(
            SCOPE_SETTING,
            &scope.map_or_else(|| "*".to_owned(), |s| s.join(",")),
        )
        .await?;
        Ok(out)
    }

    /// Inserts, in one batch, the newest document of each invoice of the page that is not
    /// here yet (a laptop joining a server receives mostly these): one bulk insert, one
    /// statement for their versions, instead of some ten statements a document. Returns the
    /// positions in `ops` it applied; everything else goes through the per-op path.
    async fn insert_new_docs(
        &mut self,
        ops: &[ServerOp<RawJson>],
        docs: Vec<Option<icc_core::Invoice>>,
        out: &mut Applied,
    ) -> Result<std::collections::HashSet<usize>> {
        let mut newest: std::collections::HashMap<&str, (usize, icc_core::Invoice)> =
            std::collections::HashMap::new();
        // what did not decode goes through the per-op path, which counts it as invalid
        for (i, inv) in docs.into_iter().enumerate() {
            let (Some(inv), Some(sop)) = (inv, ops.get(i)) else {
                continue;
            };
            let op = &sop.op;
            if op.entity != icc_core::sync::INVOICE_ENTITY
                || op.field != DOC_FIELD
                || inv.id().to_string() != op.entity_id
            {
                continue; // not this op's document: the per-op path decides
            }
            match newest.get(op.entity_id.as_str()) {
                Some((j, _)) if ops[*j].op.hlc >= op.hlc => {}
                _ => {
                    newest.insert(op.entity_id.as_str(), (i, inv));
                }
            }
        }
        let mut chosen = std::collections::HashSet::new();
        if newest.is_empty() {
            return Ok(chosen);
        }
        let ids: Vec<&str> = newest.keys().copied().collect();
        // a new laptop's first pull knows what it holds: what it inserted
        let present: std::collections::HashSet<String> = match self.known_present(&ids) {
            Some(here) => here.into_iter().map(str::to_owned).collect(),
            None => sqlx::query_scalar(
                "SELECT id FROM invoices WHERE id IN (SELECT value FROM json_each(?))",
            )
            .bind(serde_json::to_string(&ids).unwrap_or_default())
            .fetch_all(&mut *self.conn())
            .await?
            .into_iter()
            .collect(),
        };
        let mut fresh: Vec<(usize, icc_core::Invoice)> = newest
            .into_iter()
            .filter(|(id, _)| !present.contains(*id))
            .map(|(_, v)| v)
            .collect();
        if fresh.is_empty() {
            return Ok(chosen);
        }
        fresh.sort_by_key(|(i, _)| *i);
        let mut obras: Vec<&str> = fresh
            .iter()
            .filter_map(|(_, inv)| inv.obra.as_deref())
            .collect();
        obras.sort_unstable();
        obras.dedup();
        for obra in obras {
            self.ensure_obra(Some(obra)).await?;
        }
        let (positions, invoices): (Vec<usize>, Vec<(icc_core::Invoice, Option<String>)>) =
            fresh.into_iter().map(|(i, inv)| (i, (inv, None))).unzip();
        self.insert_invoices(&invoices, &mut |_| true).await?;
        let versions: Vec<(&str, String)> = positions
            .iter()
            .map(|i| (ops[*i].op.entity_id.as_str(), ops[*i].op.hlc.to_string()))
            .collect();
        // their versions, and which of them have edits held for them (those, and the page's
        // older documents of the same invoices, then apply as usual: the older ones are
        // skipped)
        let held = crate::raw::with_raw(self.conn(), |c| {
            let mut version = c.prepare(
                "INSERT INTO sync_docs (entity, entity_id, hlc) VALUES ('invoice', ?1, ?2) \
                 ON CONFLICT DO UPDATE SET hlc = excluded.hlc WHERE excluded.hlc > sync_docs.hlc",
            )?;
            let mut any_held =
                c.prepare("SELECT EXISTS (SELECT 1 FROM sync_held WHERE entity_id = ?1)")?;
            let any_held_at_all: bool =
                c.query_row("SELECT EXISTS (SELECT 1 FROM sync_held)", [], |r| r.get(0))?;
            let mut held = Vec::new();
            for (id, hlc) in &versions {
                version.execute(rusqlite::params![id, hlc])?;
                if any_held_at_all && any_held.query_row([id], |r| r.get::<_, bool>(0))? {
                    held.push((*id).to_owned());
                }
            }
            Ok(held)
        })
        .await?;
        out.applied += positions.len() as u64;
        for id in held {
            self.apply_held(&id, out).await?;
        }
        chosen.extend(positions);
        Ok(chosen)
    }

    /// Removes an invoice that left the account's obras: the row and everything hanging
    /// from it (search index, tax lines, references, attachments' rows), its sync versions,
    /// held edits, conflicts, refused and unsent changes; the audit log keeps its history
    /// and `sync_removed` says why. The attachments' files go after the commit (icc-app).
    /// `None` when it was not here.
    async fn remove_invoice(&mut self, id: &str, reason: &str) -> Result<Option<RemovedInvoice>> {
        self.forget_payment_versions(id).await?;
        for sql in [
            "DELETE FROM sync_held WHERE entity_id = ?",
            "DELETE FROM sync_fields WHERE entity = 'invoice' AND entity_id = ?",
            "DELETE FROM sync_docs WHERE entity = 'invoice' AND entity_id = ?",
            // the server's values it held in conflicts, and changes the server cannot take
            // any more (out of the account's obras: refused at the next push)
            "DELETE FROM sync_conflicts WHERE entity = 'invoice' AND entity_id = ?",
            "DELETE FROM sync_refused WHERE entity = 'invoice' AND entity_id = ?",
            "DELETE FROM sync_outbox WHERE entity = 'invoice' AND entity_id = ?",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *self.conn()).await?;
        }
        let label: Option<String> = sqlx::query_scalar(
            "SELECT rut_emisor || ':' || tipo_dte || ':' || folio || ' ' || razon_social FROM invoices WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *self.conn())
        .await?;
        let Some(label) = label else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM invoices WHERE id = ?")
            .bind(id)
            .execute(&mut *self.conn())
            .await?;
        let gone = RemovedInvoice {
            entity_id: id.to_owned(),
            invoice: label,
            reason: reason.to_owned(),
            removed_at: self.now().to_owned(),
        };
        sqlx::query(
            "INSERT INTO sync_removed (entity_id, invoice, reason, removed_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&gone.entity_id)
        .bind(&gone.invoice)
        .bind(&gone.reason)
        .bind(&gone.removed_at)
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "invoice",
            id.to_owned(),
            "retiro",
            None,
            Some(gone.invoice.clone()),
            Some(gone.reason.clone()),
        );
        Ok(Some(gone))
    }

    /// Removes the invoices of the obras the account lost (`lost`), or every invoice
    /// outside `obras` when the device held all obras or did not know its scope.
    async fn keep_only_obras(
        &mut self,
        obras: &[String],
        lost: Option<&[String]>,
    ) -> Result<Vec<RemovedInvoice>> {
        let upper = |l: &[String]| {
            serde_json::to_string(&l.iter().map(|o| o.to_uppercase()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let outside: Vec<(String, Option<String>)> = match lost {
            Some(lost) => {
                sqlx::query_as(
                    "SELECT i.id, o.codigo FROM invoices i JOIN obras o ON o.id = i.obra_id \
                     WHERE upper(o.codigo) IN (SELECT value FROM json_each(?))",
                )
                .bind(upper(lost))
                .fetch_all(&mut *self.conn())
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT i.id, o.codigo FROM invoices i LEFT JOIN obras o ON o.id = i.obra_id \
                     WHERE o.codigo IS NULL OR upper(o.codigo) NOT IN (SELECT value FROM json_each(?))",
                )
                .bind(upper(obras))
                .fetch_all(&mut *self.conn())
                .await?
            }
        };
        let mut out = Vec::with_capacity(outside.len());
        for (id, obra) in outside {
            let reason = match obra {
                Some(o) => format!("la obra {o} ya no está entre las obras de su cuenta"),
                None => "no tiene obra asignada, y su cuenta solo ve sus obras".to_owned(),
            };
            out.extend(self.remove_invoice(&id, &reason).await?);
        }
        // the budgets of the obras it no longer sees go with their invoices
        let plan: Vec<(String, String)> = match lost {
            Some(lost) => {
                sqlx::query_as(
                    "SELECT entity, id FROM plan_docs WHERE obra IS NOT NULL \
                     AND upper(obra) IN (SELECT value FROM json_each(?))",
                )
                .bind(upper(lost))
                .fetch_all(&mut *self.conn())
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT entity, id FROM plan_docs WHERE obra IS NOT NULL \
                     AND upper(obra) NOT IN (SELECT value FROM json_each(?))",
                )
                .bind(upper(obras))
                .fetch_all(&mut *self.conn())
                .await?
            }
        };
        for (entity, id) in plan {
            self.remove_record(&entity, &id).await?;
        }
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

    async fn apply_doc(&mut self, op: &Op, out: &mut Applied) -> Result<Outcome> {
        let Ok(inv) = serde_json::from_value::<icc_core::Invoice>(op.value.clone()) else {
            tracing::warn!(entity_id = %op.entity_id, "a pulled document could not be read; skipped");
            return Ok(Outcome::Invalid);
        };
        if inv.id().to_string() != op.entity_id {
            tracing::warn!(entity_id = %op.entity_id, "a pulled document does not match its id; skipped");
            return Ok(Outcome::Invalid);
        }
        let version: Option<String> = sqlx::query_scalar(
            "SELECT hlc FROM sync_docs WHERE entity = 'invoice' AND entity_id = ?",
        )
        .bind(&op.entity_id)
        .fetch_optional(&mut *self.conn())
        .await?;
        let newer = version.is_none_or(|v| op.hlc.to_string() > v);
        let fresh = !self.exists(&op.entity_id).await?;
        if fresh {
            self.ensure_obra(inv.obra.as_deref()).await?;
            self.insert_invoices(&[(inv.clone(), None)], &mut |_| true)
                .await?;
        } else if newer {
            // the newer document sets every field that no edit has set
            for (field, _) in INVOICE_FIELDS {
                let edited: Option<String> = sqlx::query_scalar(
                    "SELECT hlc FROM sync_fields WHERE entity = 'invoice' AND entity_id = ? AND field = ?",
                )
                .bind(&op.entity_id)
                .bind(field)
                .fetch_optional(&mut *self.conn())
                .await?;
                if edited.is_none() {
                    let v = invoice_doc_field(&op.value, field);
                    if check_invoice_value(field, &v).is_ok() {
                        self.set_invoice_field(inv.id(), field, &v).await?;
                    }
                }
            }
        } else {
            return Ok(Outcome::Skipped);
        }
        sqlx::query("INSERT INTO sync_docs (entity, entity_id, hlc) VALUES ('invoice', ?, ?) ON CONFLICT DO UPDATE SET hlc = excluded.hlc WHERE excluded.hlc > sync_docs.hlc")
            .bind(&op.entity_id)
            .bind(op.hlc.to_string())
            .execute(&mut *self.conn())
            .await?;
        if fresh {
            self.apply_held(&op.entity_id, out).await?;
        }
        Ok(Outcome::Applied)
    }

    /// Applies the edits held for an invoice whose document just arrived, oldest first.
    async fn apply_held(&mut self, id: &str, out: &mut Applied) -> Result<()> {
        let held: Vec<String> =
            sqlx::query_scalar("SELECT op FROM sync_held WHERE entity_id = ? ORDER BY op_id")
                .bind(id)
                .fetch_all(&mut *self.conn())
                .await?;
        sqlx::query("DELETE FROM sync_held WHERE entity_id = ?")
            .bind(id)
            .execute(&mut *self.conn())
            .await?;
        let mut ops: Vec<ServerOp> = held
            .iter()
            .filter_map(|h| serde_json::from_str(h).ok())
            .collect();
        ops.sort_by(|a, b| a.op.hlc.cmp(&b.op.hlc));
        for sop in &ops {
            let outcome = if icc_core::records::is_record(&sop.op.entity) {
                self.apply_record(sop).await?
            } else {
                self.apply_edit(sop).await?
            };
            match outcome {
                Outcome::Applied => {
                    out.applied += 1;
                    out.held = out.held.saturating_sub(1);
                }
                Outcome::Invalid => out.invalid += 1,
                Outcome::Skipped | Outcome::Held => {}
            }
        }
        Ok(())
    }

    async fn apply_edit(&mut self, sop: &ServerOp) -> Result<Outcome> {
        let op = &sop.op;
        if check_invoice_value(&op.field, &op.value).is_err() {
            tracing::warn!(entity_id = %op.entity_id, field = %op.field, "a pulled value this device cannot hold; skipped");
            return Ok(Outcome::Invalid);
        }
        let Ok(id) = op.entity_id.parse::<InvoiceId>() else {
            return Ok(Outcome::Invalid);
        };
        if !self.exists(&op.entity_id).await? {
            let json = serde_json::to_string(sop).map_err(|e| StoreError::Corrupt {
                column: "sync_held.op",
                value: e.to_string(),
            })?;
            sqlx::query("INSERT INTO sync_held (op_id, entity_id, op) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(op.op_id.to_string())
                .bind(&op.entity_id)
                .bind(json)
                .execute(&mut *self.conn())
                .await?;
            return Ok(Outcome::Held);
        }
        let version: Option<String> = sqlx::query_scalar(
            "SELECT hlc FROM sync_fields WHERE entity = 'invoice' AND entity_id = ? AND field = ?",
        )
        .bind(&op.entity_id)
        .bind(&op.field)
        .fetch_optional(&mut *self.conn())
        .await?;
        if version.is_some_and(|v| op.hlc.to_string() <= v) {
            return Ok(Outcome::Skipped);
        }
        self.set_invoice_field(id, &op.field, &op.value).await?;
        self.set_field_version(&op.entity_id, &op.field, &op.hlc)
            .await?;
        Ok(Outcome::Applied)
    }

    /// Sets aside changes the server refused: out of the outbox (so the ones after them go
    /// on) into `sync_refused`, each with its reason and the server's value of the field.
    /// Returns how many were set aside.
    ///
    /// # Errors
    /// Database errors.
    pub async fn set_aside(&mut self, refused: &[Refusal]) -> Result<u64> {
        let mut n = 0;
        for r in refused {
            let op_id = r.op_id.to_string();
            let current = r
                .current
                .as_ref()
                .and_then(|c| serde_json::to_string(c).ok());
            let moved = sqlx::query(
                "INSERT INTO sync_refused (op_id, entity, entity_id, field, value, hlc, obra, reason, current, refused_at) \
                 SELECT op_id, entity, entity_id, field, value, hlc, obra, ?, ?, ? FROM sync_outbox WHERE op_id = ? \
                 ON CONFLICT (op_id) DO NOTHING",
            )
            .bind(&r.reason)
            .bind(current)
            .bind(self.now().to_owned())
            .bind(&op_id)
            .execute(&mut *self.conn())
            .await?;
            sqlx::query("DELETE FROM sync_outbox WHERE op_id = ?")
                .bind(&op_id)
                .execute(&mut *self.conn())
                .await?;
            n += moved.rows_affected();
        }
        Ok(n)
    }

    /// Of the changes the server refused because it does not hold their invoice (its
    /// document never arrived, or the server was restored from an older backup), those of
    /// an invoice this laptop holds: the invoice's current document is queued again
    /// (written to the outbox at commit), and the caller moves the changes behind it with
    /// [`WriteTx::move_behind`] in a second transaction, so they go after it. Invoices in
    /// `skip` (sent again already) and invoices whose own document the same push refused
    /// are left to be set aside. Returns the changes' op ids, and the invoices sent again.
    ///
    /// # Errors
    /// Database errors.
    pub async fn resend_documents(
        &mut self,
        refused: &[Refusal],
        skip: &std::collections::HashSet<String>,
    ) -> Result<(Vec<uuid::Uuid>, Vec<String>)> {
        let doc_refused: std::collections::HashSet<&str> = refused
            .iter()
            .filter(|r| r.field == DOC_FIELD)
            .map(|r| r.entity_id.as_str())
            .collect();
        let (mut moving, mut resent, mut absent) = (Vec::new(), Vec::new(), Vec::new());
        for r in refused {
            let id = &r.entity_id;
            if !r.unknown_entity
                || r.entity != icc_core::sync::INVOICE_ENTITY
                || r.field == DOC_FIELD
                || skip.contains(id)
                || doc_refused.contains(id.as_str())
                || absent.contains(id)
            {
                continue;
            }
            if !resent.contains(id) {
                if !self.exists(id).await? {
                    absent.push(id.clone());
                    continue;
                }
                resent.push(id.clone());
            }
            moving.push(r.op_id);
        }
        let mut invoices = Vec::with_capacity(resent.len());
        for id in &resent {
            invoices.push(load_invoice(self.conn(), id).await?);
        }
        let refs: Vec<&icc_core::Invoice> = invoices.iter().collect();
        self.queue_docs(&refs).await?;
        Ok((moving, resent))
    }

    /// Moves the outbox ops `op_ids`, in this order, to the end of the outbox.
    ///
    /// # Errors
    /// Database errors.
    pub async fn move_behind(&mut self, op_ids: &[uuid::Uuid]) -> Result<()> {
        for id in op_ids {
            sqlx::query(
                "UPDATE sync_outbox SET seq = (SELECT MAX(seq) + 1 FROM sync_outbox) WHERE op_id = ?",
            )
            .bind(id.to_string())
            .execute(&mut *self.conn())
            .await?;
        }
        Ok(())
    }

    /// Discards a refused change: the server's value of its field (as the server said when
    /// it refused) is restored here, audited as `descarte`, and the change is forgotten.
    /// Later pulls bring any newer value as usual.
    ///
    /// # Errors
    /// Unknown op id, database errors.
    pub async fn discard_refused(&mut self, op_id: &str) -> Result<RefusedChange> {
        let row: Option<(RefusedChange, Option<String>)> = sqlx::query_as::<_, RefusedRow>(
            "SELECT op_id, entity, entity_id, field, value, reason, refused_at, current FROM sync_refused WHERE op_id = ?",
        )
        .bind(op_id.trim())
        .fetch_optional(&mut *self.conn())
        .await?
        .map(RefusedRow::split);
        let Some((change, current)) = row else {
            return Err(StoreError::NotFound {
                what: "cambio rechazado",
                key: op_id.trim().to_owned(),
            });
        };
        sqlx::query("DELETE FROM sync_refused WHERE op_id = ?")
            .bind(&change.op_id)
            .execute(&mut *self.conn())
            .await?;
        let current: Option<FieldValue> = current.and_then(|c| serde_json::from_str(&c).ok());
        if icc_core::records::is_record(&change.entity) {
            self.sync.remote = true;
            self.sync.discarding = true;
            self.restore_record(
                &change.entity,
                &change.entity_id,
                current.as_ref().map(|c| (c.value.clone(), c.hlc.clone())),
            )
            .await?;
        }
        let restorable = change.entity == icc_core::sync::INVOICE_ENTITY
            && invoice_field_kind(&change.field).is_some()
            && self.exists(&change.entity_id).await?;
        if let (true, Some(current), Ok(id)) =
            (restorable, current, change.entity_id.parse::<InvoiceId>())
            && check_invoice_value(&change.field, &current.value).is_ok()
        {
            self.sync.remote = true;
            self.sync.discarding = true;
            self.set_invoice_field(id, &change.field, &current.value)
                .await?;
            if current.edited {
                self.set_field_version(&change.entity_id, &change.field, &current.hlc)
                    .await?;
            } else {
                sqlx::query(
                    "DELETE FROM sync_fields WHERE entity = 'invoice' AND entity_id = ? AND field = ?",
                )
                .bind(&change.entity_id)
                .bind(&change.field)
                .execute(&mut *self.conn())
                .await?;
            }
        }
        self.audit(
            "sync",
            change.op_id.clone(),
            "descarte",
            None,
            Some(format!(
                "{} {} = {}",
                change.entity_id, change.field, change.value
            )),
            Some(change.reason.clone()),
        );
        Ok(change)
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
                let column = INVOICE_FIELDS
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
                // column names come from INVOICE_FIELDS: plain identifiers
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
                let audit_field: &'static str = INVOICE_FIELDS
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map_or("campo", |(f, _)| f);
                let action = self.change_action();
                self.audit("invoice", ids, action, Some(audit_field), old, text);
            }
        }
        Ok(())
    }

    async fn rederive_deadlines(&mut self, ids: &str) -> Result<()> {
        let (tipo, emision, recepcion, vencimiento, importacion): (i64, String, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT tipo_dte, fecha_emision, fecha_recepcion_sii, fecha_vencimiento, fecha_importacion FROM invoices WHERE id = ?",
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
                .bind(
                    due_date(
                        vencimiento,
                        recepcion,
                        importacion.and_then(|d| d.parse().ok()),
                        emision,
                    )
                    .to_string(),
                )
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
        let obra: Option<Option<String>> =
            sqlx::query_scalar("SELECT obra FROM sync_conflicts WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *self.conn())
                .await?;
        let Some(obra) = obra else {
            return Err(StoreError::NotFound {
                what: "conflicto",
                key: id.to_string(),
            });
        };
        sqlx::query("UPDATE sync_conflicts SET resolved_by = ? WHERE id = ?")
            .bind(user)
            .bind(id)
            .execute(&mut *self.conn())
            .await?;
        // the resolution travels through the outbox, after the kept value
        self.sync.resolutions.push((id, obra));
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
    fecha_importacion: Option<String>,
}

/// The invoice documents of a pulled page, decoded: position `i` holds op `i`'s invoice
/// when op `i` is an invoice document that reads, else `None`. Pure CPU work, apart from
/// the store, so it can run ahead of [`WriteTx::apply_decoded`] (which checks each against
/// its op).
pub fn decode_invoice_docs(ops: &[ServerOp<RawJson>]) -> Vec<Option<icc_core::Invoice>> {
    ops.iter()
        .map(|sop| {
            let op = &sop.op;
            if op.entity != icc_core::sync::INVOICE_ENTITY || op.field != DOC_FIELD {
                return None;
            }
            serde_json::from_str::<icc_core::Invoice>(op.value.get()).ok()
        })
        .collect()
}

/// A stored invoice as an [`icc_core::Invoice`] (for its creation op).
pub(crate) async fn load_invoice(
    conn: &mut sqlx::SqliteConnection,
    id: &str,
) -> Result<icc_core::Invoice> {
    let r: FullRow = sqlx::query_as(
        "SELECT i.rut_emisor, i.tipo_dte, i.folio, i.razon_social, i.fecha_emision, i.fecha_recepcion_sii, i.fecha_vencimiento, \
         i.monto_neto, i.monto_exento, i.monto_iva, i.monto_total, o.codigo AS obra, i.centro_costo, i.cuenta, i.orden_compra, \
         i.glosa, i.estado, i.motivo_rechazo, i.source, i.external_id, i.fecha_importacion \
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
        fecha_importacion: r.fecha_importacion.and_then(|d| d.parse().ok()),
    })
}

/// How applying one pulled op ended.
pub(crate) enum Outcome {
    Applied,
    Skipped,
    Invalid,
    Held,
}

#[derive(sqlx::FromRow)]
struct RefusedRow {
    op_id: String,
    entity: String,
    entity_id: String,
    field: String,
    value: String,
    reason: String,
    refused_at: String,
    current: Option<String>,
}

impl RefusedRow {
    fn split(self) -> (RefusedChange, Option<String>) {
        (
            RefusedChange {
                op_id: self.op_id,
                entity: self.entity,
                entity_id: self.entity_id,
                field: self.field,
                value: self.value,
                reason: self.reason,
                refused_at: self.refused_at,
            },
            self.current,
        )
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
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, op_id, entity, entity_id, field, value, hlc, base_hlc, obra, source FROM sync_outbox \
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
                |(seq, op_id, entity, entity_id, field, value, hlc, base, obra, source)| {
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
                            source,
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
            "SELECT max(seq), count(*), coalesce(max(field <> '_doc' OR entity <> 'invoice'), 0), '[' || group_concat(json_object( \
                 'op_id', op_id, 'entity', entity, 'entity_id', entity_id, 'field', field, \
                 'value', json(value), 'hlc', hlc, 'base_hlc', base_hlc, 'obra', obra, 'source', source), ',' ORDER BY seq) || ']' \
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

    /// Changes the server refused, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn refused(&self) -> Result<Vec<RefusedChange>> {
        Ok(sqlx::query_as(
            "SELECT op_id, entity, entity_id, field, value, reason, refused_at FROM sync_refused ORDER BY refused_at, op_id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Invoices removed because they left the account's obras, newest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn removed_invoices(&self, limit: i64) -> Result<Vec<RemovedInvoice>> {
        Ok(sqlx::query_as(
            "SELECT entity_id, invoice, reason, removed_at FROM sync_removed ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
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

//! Write transactions: every change and its audit-log rows commit together or not at all.

use std::collections::HashMap;

use icc_core::{Invoice, InvoiceId, InvoiceStatus, claim_deadline, due_date};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};

use crate::error::{Result, StoreError, is_unique_violation};
use crate::now_utc;
use crate::users::NewUser;

/// Invoices inserted between progress reports (and cancellation checks).
const INVOICE_BATCH: usize = 1000;
/// Audit rows per multi-row INSERT (8 values each).
const AUDIT_BATCH: usize = 2000;

/// Result of a bulk insert.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InsertReport {
    /// Ids of the invoices that were new and are now stored.
    pub inserted: Vec<InvoiceId>,
    /// How many were already present (same natural key) and left untouched.
    pub duplicates: usize,
}

/// A change to an invoice's assignment fields; `None` leaves a field as it is,
/// `Some(None)` clears it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AssignmentChange {
    /// Obra code.
    pub obra: Option<Option<String>>,
    /// Centro de costo.
    pub centro_costo: Option<Option<String>>,
    /// Cuenta contable.
    pub cuenta: Option<Option<String>>,
    /// Glosa.
    pub glosa: Option<Option<String>>,
}

/// An import batch to record.
#[derive(Debug, Clone)]
pub struct ImportBatch {
    /// File name as given.
    pub file_name: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Detected format.
    pub format: String,
    /// Valid documents in the file.
    pub documents: i64,
    /// Inserted.
    pub inserted: i64,
    /// Updated.
    pub updated: i64,
    /// Already present.
    pub duplicates: i64,
    /// Rejected rows.
    pub rejected: i64,
}

/// The document fields of an invoice as stored, for `update_document`.
#[derive(sqlx::FromRow, PartialEq)]
struct DocumentColumns {
    razon_social: String,
    fecha_emision: String,
    fecha_recepcion_sii: Option<String>,
    fecha_vencimiento: Option<String>,
    monto_neto: i64,
    monto_exento: i64,
    monto_iva: i64,
    monto_otros: i64,
    monto_total: i64,
}

impl DocumentColumns {
    fn of(inv: &Invoice) -> DocumentColumns {
        DocumentColumns {
            razon_social: inv.razon_social.clone(),
            fecha_emision: inv.fecha_emision.to_string(),
            fecha_recepcion_sii: inv
                .fecha_recepcion_sii
                .map(|d| d.format(RECEPCION_FORMAT).to_string()),
            fecha_vencimiento: inv.fecha_vencimiento.map(|d| d.to_string()),
            monto_neto: inv.monto_neto.pesos(),
            monto_exento: inv.monto_exento.pesos(),
            monto_iva: inv.monto_iva.pesos(),
            monto_otros: inv.otros_total().pesos(),
            monto_total: inv.monto_total.pesos(),
        }
    }

    fn diff(&self, new: &DocumentColumns) -> Vec<(&'static str, Option<String>, Option<String>)> {
        let mut out = Vec::new();
        let mut cmp = |f: &'static str, a: Option<String>, b: Option<String>| {
            if a != b {
                out.push((f, a, b));
            }
        };
        cmp(
            "razon_social",
            Some(self.razon_social.clone()),
            Some(new.razon_social.clone()),
        );
        cmp(
            "fecha_emision",
            Some(self.fecha_emision.clone()),
            Some(new.fecha_emision.clone()),
        );
        cmp(
            "fecha_recepcion_sii",
            self.fecha_recepcion_sii.clone(),
            new.fecha_recepcion_sii.clone(),
        );
        cmp(
            "fecha_vencimiento",
            self.fecha_vencimiento.clone(),
            new.fecha_vencimiento.clone(),
        );
        for (f, a, b) in [
            ("monto_neto", self.monto_neto, new.monto_neto),
            ("monto_exento", self.monto_exento, new.monto_exento),
            ("monto_iva", self.monto_iva, new.monto_iva),
            ("monto_otros", self.monto_otros, new.monto_otros),
            ("monto_total", self.monto_total, new.monto_total),
        ] {
            cmp(f, Some(a.to_string()), Some(b.to_string()));
        }
        out
    }
}

/// How `fecha_recepcion_sii` is stored.
const RECEPCION_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// The assignment fields as stored.
#[derive(sqlx::FromRow)]
struct Assignment {
    obra: Option<String>,
    centro_costo: Option<String>,
    cuenta: Option<String>,
    glosa: Option<String>,
}

pub(crate) struct AuditRow {
    pub(crate) entity: &'static str,
    pub(crate) entity_id: String,
    action: &'static str,
    pub(crate) field: Option<&'static str>,
    old: Option<String>,
    pub(crate) new: Option<String>,
}

/// An open write transaction on behalf of one user. Dropping it without
/// [`WriteTx::commit`] rolls everything back.
pub struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    actor: String,
    now: String,
    /// The local date of `now`: the import date of documents imported here.
    today: chrono::NaiveDate,
    /// Documents inserted by this transaction were received long before today (a
    /// migration): today is not their import date.
    historical: bool,
    audit: Vec<AuditRow>,
    /// Whether this transaction enlarged the connection's page cache for a bulk write.
    bulk_cache: bool,
    /// Secondary indexes of `invoices` dropped for a bulk load, as their `CREATE INDEX`
    /// statements read from `sqlite_master`; recreated before commit.
    deferred_indexes: Vec<String>,
    /// A bulk load from the server into an empty `invoices` table: the ids of the invoices
    /// this transaction inserted, which are then every invoice stored (a first pull asks
    /// this instead of probing the id index for each document of a page). Dropped at the
    /// first local insert (an import or a seed keeps no such list).
    fresh_ids: Option<std::collections::HashSet<String>>,
    /// List positions (fecha_emision, seq) of the rows a bulk load inserted, given their
    /// full-text entries at commit in one statement, in list order.
    deferred_search: Vec<(chrono::NaiveDate, i64)>,
    /// Suppliers this transaction has written, with the name written: a bulk load names
    /// the same few hundred suppliers in every batch, and upserting them again each time
    /// cost a tenth of a first pull.
    suppliers: HashMap<String, String>,
    /// Whether `search_scratch` holds text whose terms must reach `search_terms` before
    /// commit (migration 0004).
    scratch_terms: bool,
    /// Vocabulary of the text inserted so far (tokenized in Rust where that is exact) and
    /// the text left to SQLite's tokenizer, written at commit: a pull inserts documents one
    /// at a time, and one statement per transaction beats one per document.
    new_terms: std::collections::HashSet<String>,
    new_text: Vec<String>,
    /// `list_days` bounds of the invoices inserted so far, written at commit.
    new_days: crate::invoices::ListDays,
    /// Sync bookkeeping (outbox ops made at commit).
    pub(crate) sync: crate::sync::TxSync,
}

/// The text of an invoice whose terms `search_terms` keeps (the searchable columns but the
/// folio, whose terms are digits).
const SCRATCH_TEXT: &str = "razon_social || ' ' || rut_emisor || ' ' || coalesce(glosa, '')";

/// Page cache for bulk writes (KiB, negative as SQLite wants). A large transaction that
/// overflows the cache spills pages to the WAL and reads them back, which made a 1M-row
/// seed several times slower; the normal size is restored at commit.
const BULK_CACHE_KIB: i64 = -131_072;
/// The connection's normal page cache (matches `Store::open`).
pub(crate) const NORMAL_CACHE_KIB: i64 = -32_000;

impl WriteTx {
    pub(crate) fn new(tx: Transaction<'static, Sqlite>, actor: &str) -> WriteTx {
        WriteTx {
            tx,
            actor: actor.to_owned(),
            now: now_utc(),
            today: chrono::Local::now().date_naive(),
            historical: false,
            audit: Vec::new(),
            bulk_cache: false,
            deferred_indexes: Vec::new(),
            fresh_ids: None,
            deferred_search: Vec::new(),
            suppliers: HashMap::new(),
            scratch_terms: false,
            new_terms: std::collections::HashSet::new(),
            new_text: Vec::new(),
            new_days: crate::invoices::ListDays::default(),
            sync: crate::sync::TxSync::default(),
        }
    }

    /// Prepares for inserting about `expected` invoices. When they outnumber the invoices
    /// already stored, the list indexes are dropped now and rebuilt at commit: building an
    /// index over sorted data is much cheaper than inserting into it at random, and DDL is
    /// transactional in SQLite, so a crash or a rollback restores them untouched.
    ///
    /// # Errors
    /// Database errors.
    pub async fn expect_bulk(&mut self, expected: usize) -> Result<()> {
        const MIN_BULK: usize = 20_000;
        if expected < MIN_BULK || !self.deferred_indexes.is_empty() {
            return Ok(());
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
            .fetch_one(&mut *self.tx)
            .await?;
        if usize::try_from(stored).unwrap_or(usize::MAX) >= expected {
            return Ok(());
        }
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND ((tbl_name = 'invoices' AND name LIKE 'invoices_by_%') \
               OR (tbl_name = 'invoice_references' AND name LIKE 'invoice_references_by_%'))",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        for (name, sql) in indexes {
            // names come from sqlite_master and match invoices_by_%: plain identifiers
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                .execute(&mut *self.tx)
                .await?;
            self.deferred_indexes.push(sql);
        }
        if stored == 0 {
            self.fresh_ids = Some(std::collections::HashSet::new());
        }
        Ok(())
    }

    /// Which of `ids` are stored, when this transaction knows without asking the database:
    /// a bulk load that started on an empty `invoices` table ([`WriteTx::expect_bulk`])
    /// inserted every invoice there is. `None` otherwise. It may name an invoice removed
    /// since (callers check again before relying on presence), never miss a stored one.
    pub(crate) fn known_present<'a>(&self, ids: &[&'a str]) -> Option<Vec<&'a str>> {
        self.fresh_ids
            .as_ref()
            .map(|f| ids.iter().copied().filter(|id| f.contains(*id)).collect())
    }

    /// Whether this transaction is a bulk load ([`WriteTx::expect_bulk`] dropped the list
    /// indexes, rebuilt at commit).
    pub fn bulk_load(&self) -> bool {
        !self.deferred_indexes.is_empty()
    }

    /// The connection, for crates that write their own tables in the same transaction.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// The user name this transaction writes as.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The transaction's timestamp (UTC, ISO-8601): every row it writes carries it.
    pub fn now(&self) -> &str {
        &self.now
    }

    /// The import date of `inv` as stored: its own (set where it was first imported), else
    /// today's when it is imported here; `None` for a document from the server that never
    /// had one (imported before import dates were recorded).
    pub(crate) fn import_date(&self, inv: &Invoice) -> Option<chrono::NaiveDate> {
        inv.fecha_importacion
            .or((!self.sync.remote && !self.historical).then_some(self.today))
    }

    /// Says the documents this transaction inserts were received before today (the
    /// predecessor's, migrated): they keep only the import date they carry, so a due date
    /// without SII reception runs from emission, never from the migration day (which would
    /// hide how late they are).
    pub fn historical_import(&mut self) {
        self.historical = true;
    }

    /// The audit action of a field change: `sync` when applying the server's changes.
    pub(crate) fn change_action(&self) -> &'static str {
        if self.sync.discarding {
            "descarte"
        } else if self.sync.remote {
            "sync"
        } else {
            "update"
        }
    }

    /// The audit rows queued and not yet written.
    pub(crate) fn audit_rows(&self) -> impl Iterator<Item = &AuditRow> {
        self.audit.iter()
    }

    /// Queues an audit-log row; it is written at commit, in this transaction.
    pub fn audit(
        &mut self,
        entity: &'static str,
        entity_id: impl Into<String>,
        action: &'static str,
        field: Option<&'static str>,
        old: Option<String>,
        new: Option<String>,
    ) {
        self.audit.push(AuditRow {
            entity,
            entity_id: entity_id.into(),
            action,
            field,
            old,
            new,
        });
    }

    async fn flush_audit(&mut self) -> Result<()> {
        let rows = std::mem::take(&mut self.audit);
        for chunk in rows.chunks(AUDIT_BATCH) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO audit_log (at, user_name, entity, entity_id, action, field, old_value, new_value) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(self.now.clone())
                    .push_bind(self.actor.clone())
                    .push_bind(r.entity)
                    .push_bind(r.entity_id.clone())
                    .push_bind(r.action)
                    .push_bind(r.field)
                    .push_bind(r.old.clone())
                    .push_bind(r.new.clone());
            });
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Writes the queued audit rows and commits.
    ///
    /// # Errors
    /// On database errors; then nothing of the transaction is kept.
    pub async fn commit(mut self) -> Result<()> {
        // before the vocabulary is written, which empties `search_pending`
        let deferred = std::mem::take(&mut self.deferred_search);
        self.index_search(deferred, true).await?;
        self.write_outbox().await?;
        self.flush_search_terms().await?;
        self.flush_audit().await?;
        let bulk_load = !self.deferred_indexes.is_empty();
        for sql in std::mem::take(&mut self.deferred_indexes) {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *self.tx)
                .await?;
        }
        if self.bulk_cache {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA cache_size = {NORMAL_CACHE_KIB}"
            )))
            .execute(&mut *self.tx)
            .await?;
        }
        if bulk_load {
            // A load larger than what was stored leaves the full-text index in many
            // segments, and every search reads each of them: merge them into one (on 1M
            // invoices 0.9 s, and a two-word search page went from 1.2 to 0.6 ms). Smaller
            // writes are left to FTS5's own incremental merging. After the page cache is back
            // to its normal size, so the merged copy does not add to the load's peak memory.
            sqlx::query("INSERT INTO invoices_search (invoices_search) VALUES ('optimize')")
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Writes what this transaction's new and changed invoices add to `search_terms` (the
    /// vocabulary prefix searches are expanded from) and to `list_days`: the terms tokenized
    /// in Rust, and through SQLite's own tokenizer the text Rust could not vouch for and the
    /// text of rows the update trigger marked in `search_pending`.
    async fn flush_search_terms(&mut self) -> Result<()> {
        if !self.new_terms.is_empty() {
            let terms = std::mem::take(&mut self.new_terms);
            sqlx::query("INSERT OR IGNORE INTO search_terms (term) SELECT value FROM json_each(?)")
                .bind(serde_json::to_string(&terms).unwrap_or_default())
                .execute(&mut *self.tx)
                .await?;
        }
        if !self.new_text.is_empty() {
            let text = std::mem::take(&mut self.new_text);
            sqlx::query("INSERT INTO search_scratch (text) SELECT value FROM json_each(?)")
                .bind(serde_json::to_string(&text).unwrap_or_default())
                .execute(&mut *self.tx)
                .await?;
            self.scratch_terms = true;
        }
        self.new_days.write(&mut self.tx).await?;
        let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM search_pending)")
            .fetch_one(&mut *self.tx)
            .await?;
        if pending {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO search_scratch (text) SELECT {SCRATCH_TEXT} FROM invoices \
                 WHERE seq IN (SELECT seq FROM search_pending)"
            )))
            .execute(&mut *self.tx)
            .await?;
            sqlx::query("DELETE FROM search_pending")
                .execute(&mut *self.tx)
                .await?;
            self.scratch_terms = true;
        }
        if std::mem::take(&mut self.scratch_terms) {
            sqlx::query(
                "INSERT OR IGNORE INTO search_terms (term) \
                 SELECT term FROM search_scratch_terms WHERE term NOT GLOB '[0-9]*'",
            )
            .execute(&mut *self.tx)
            .await?;
            sqlx::query("INSERT INTO search_scratch (search_scratch) VALUES ('delete-all')")
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn obra_ids(&mut self) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT codigo, id FROM obras")
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(c, i)| (c.to_uppercase(), i))
            .collect())
    }

    /// Inserts the invoices that are not stored yet (by natural key) through prepared
    /// statements on this transaction's connection (bypassing sqlx's binding), with their taxes, references and suppliers, and one
    /// audit row for the batch.
    /// `progress` is called with the number of invoices processed so far and returns `false`
    /// to cancel, which makes this return [`StoreError::Cancelled`] (drop the transaction to
    /// roll back).
    ///
    /// # Errors
    /// Unknown obra codes ([`StoreError::NotFound`]), database errors, cancellation.
    pub async fn insert_invoices(
        &mut self,
        invoices: &[(Invoice, Option<String>)],
        progress: &mut (dyn FnMut(usize) -> bool + Send),
    ) -> Result<InsertReport> {
        let obras = self.obra_ids().await?;
        if invoices.len() > INVOICE_BATCH && !self.bulk_cache {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA cache_size = {BULK_CACHE_KIB}"
            )))
            .execute(&mut *self.tx)
            .await?;
            self.bulk_cache = true;
        }
        let mut report = InsertReport::default();
        let mut done = 0usize;
        let mut seq_range: Option<(i64, i64)> = None;
        // (fecha_emision, seq) of every new row, for the full-text index in list order
        let mut positions: Vec<(chrono::NaiveDate, i64)> = Vec::new();
        for chunk in invoices.chunks(INVOICE_BATCH) {
            let mut rows = Vec::with_capacity(chunk.len());
            for (inv, raw) in chunk {
                let obra_id = match &inv.obra {
                    None => None,
                    Some(code) => Some(*obras.get(&code.to_uppercase()).ok_or_else(|| {
                        StoreError::NotFound {
                            what: "obra",
                            key: code.clone(),
                        }
                    })?),
                };
                rows.push(NewRow {
                    inv,
                    raw: raw.as_deref(),
                    id: inv.id().to_string(),
                    obra_id,
                    importacion: self.import_date(inv),
                });
            }
            let (now, actor) = (self.now.as_str(), self.actor.as_str());
            let suppliers = &mut self.suppliers;
            let seqs = crate::raw::with_raw(&mut self.tx, |c| {
                insert_rows(c, &rows, now, actor, suppliers)
            })
            .await?;
            let mut fresh: Vec<&Invoice> = Vec::with_capacity(rows.len());
            for (row, seq) in rows.iter().zip(seqs) {
                let Some(seq) = seq else { continue };
                seq_range = Some(seq_range.map_or((seq, seq), |(lo, hi): (i64, i64)| {
                    (lo.min(seq), hi.max(seq))
                }));
                positions.push((row.inv.fecha_emision, seq));
                fresh.push(row.inv);
                if !self.sync.remote {
                    // only a pull asks, and only while every insert was the server's
                    self.fresh_ids = None;
                } else if let Some(f) = &mut self.fresh_ids {
                    f.insert(row.id.clone());
                }
            }
            report.duplicates += chunk.len() - fresh.len();
            // vocabulary and day bounds, written at commit; tokenizing in Rust where that is
            // exact saves SQLite tokenizing every row twice (0.14 s per 100k)
            for inv in &fresh {
                self.new_days.add(inv, self.import_date(inv));
                let rut = inv.key.rut_emisor.to_string();
                for text in [
                    Some(inv.razon_social.as_str()),
                    Some(rut.as_str()),
                    inv.glosa.as_deref(),
                ]
                .into_iter()
                .flatten()
                {
                    if !crate::search::vocabulary_terms(text, &mut self.new_terms) {
                        self.new_text.push(text.to_owned());
                    }
                }
            }
            self.queue_docs(&fresh).await?;
            report.inserted.extend(fresh.iter().map(|i| i.id()));
            if self.audit.len() >= AUDIT_BATCH {
                self.flush_audit().await?;
            }
            done += chunk.len();
            if !progress(done) {
                return Err(StoreError::Cancelled);
            }
        }
        if let Some((lo, hi)) = seq_range {
            // a bulk load indexes all its rows at commit, in one statement
            if self.bulk_load() {
                self.deferred_search.extend(positions);
            } else {
                self.index_search(positions, false).await?;
            }
            // Creation is recorded on each row (created_at, created_by); the audit log gets
            // one row for the whole batch instead of one per invoice (which cost ~17 µs per
            // row, half the insert time, for no information the row does not already hold).
            self.audit(
                "invoice_batch",
                format!("{lo}-{hi}"),
                "create",
                Some("invoices"),
                None,
                Some(report.inserted.len().to_string()),
            );
        }
        Ok(report)
    }

    /// Gives the rows at `positions` (fecha_emision, seq) their full-text entries in one
    /// statement, in key order: FTS5 flushes its pending terms at every statement and
    /// whenever a rowid is lower than the one before, so indexing per INSERT batch, by
    /// trigger or unsorted was several times slower. The order is the list's (newest
    /// first), sorted here on two numbers per row: an ORDER BY in SQL sorted whole rows in
    /// memory (+9 MB peak for 100k rows).
    ///
    /// `deferred`: the rows were inserted earlier in this transaction (a bulk load indexes
    /// them at commit), so some may have changed since. A row deleted since is no longer
    /// there to join; a row whose searched columns were updated since already got its entry
    /// from the update trigger (which marks it in `search_pending`), and is replaced rather
    /// than added twice.
    async fn index_search(
        &mut self,
        mut positions: Vec<(chrono::NaiveDate, i64)>,
        deferred: bool,
    ) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        positions.sort_unstable_by(|a, b| b.cmp(a));
        let mut seqs: Vec<i64> = positions.iter().map(|(_, seq)| *seq).collect();
        if deferred {
            // a seq freed by a deletion can be given to a later row
            let mut seen = std::collections::HashSet::with_capacity(seqs.len());
            seqs.retain(|s| seen.insert(*s));
        }
        let seqs = serde_json::to_string(&seqs).unwrap_or_default();
        let key = crate::search::search_key("i.fecha_emision", "i.seq");
        // CROSS JOIN keeps json_each, in array order, as the outer loop
        let select = format!(
            "SELECT {key}, i.razon_social, i.rut_emisor, i.folio, i.glosa, i.obra_id \
             FROM json_each(?) j CROSS JOIN invoices i ON i.seq = j.value"
        );
        let columns = "invoices_search (rowid, razon_social, rut_emisor, folio, glosa, obra)";
        if !deferred {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {columns} {select}"
            )))
            .bind(seqs)
            .execute(&mut *self.tx)
            .await?;
            return Ok(());
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {columns} {select} WHERE i.seq NOT IN (SELECT seq FROM search_pending)"
        )))
        .bind(&seqs)
        .execute(&mut *self.tx)
        .await?;
        let updated: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM search_pending)")
            .fetch_one(&mut *self.tx)
            .await?;
        if updated {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT OR REPLACE INTO {columns} {select} WHERE i.seq IN (SELECT seq FROM search_pending)"
            )))
            .bind(&seqs)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Changes assignment fields of an invoice, one audit row per field that really changed.
    /// Returns how many fields changed.
    ///
    /// # Errors
    /// Unknown invoice or obra ([`StoreError::NotFound`]), database errors.
    pub async fn update_assignment(
        &mut self,
        id: InvoiceId,
        change: &AssignmentChange,
    ) -> Result<usize> {
        let ids = id.to_string();
        let current: Option<Assignment> = sqlx::query_as(
            "SELECT o.codigo AS obra, i.centro_costo, i.cuenta, i.glosa FROM invoices i LEFT JOIN obras o ON o.id = i.obra_id \
             WHERE i.id = ?",
        )
        .bind(&ids)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Assignment {
            obra,
            centro_costo: cc,
            cuenta,
            glosa,
        } = current.ok_or_else(|| StoreError::NotFound {
            what: "factura",
            key: ids.clone(),
        })?;
        let mut changed = 0;
        if let Some(new) = &change.obra
            && !eq_ci(new.as_deref(), obra.as_deref())
        {
            let obra_id: Option<i64> = match new {
                None => None,
                Some(code) => Some(
                    sqlx::query_scalar("SELECT id FROM obras WHERE codigo = ?")
                        .bind(code)
                        .fetch_optional(&mut *self.tx)
                        .await?
                        .ok_or_else(|| StoreError::NotFound {
                            what: "obra",
                            key: code.clone(),
                        })?,
                ),
            };
            sqlx::query("UPDATE invoices SET obra_id = ? WHERE id = ?")
                .bind(obra_id)
                .bind(&ids)
                .execute(&mut *self.tx)
                .await?;
            let action = self.change_action();
            self.audit(
                "invoice",
                ids.clone(),
                action,
                Some("obra"),
                obra,
                new.clone(),
            );
            changed += 1;
        }
        for (field, sql, old, new) in [
            (
                "centro_costo",
                "UPDATE invoices SET centro_costo = ? WHERE id = ?",
                cc,
                &change.centro_costo,
            ),
            (
                "cuenta",
                "UPDATE invoices SET cuenta = ? WHERE id = ?",
                cuenta,
                &change.cuenta,
            ),
            (
                "glosa",
                "UPDATE invoices SET glosa = ? WHERE id = ?",
                glosa,
                &change.glosa,
            ),
        ] {
            if let Some(new) = new
                && *new != old
            {
                sqlx::query(sql)
                    .bind(new.clone())
                    .bind(&ids)
                    .execute(&mut *self.tx)
                    .await?;
                let action = self.change_action();
                self.audit(
                    "invoice",
                    ids.clone(),
                    action,
                    Some(field),
                    old,
                    new.clone(),
                );
                changed += 1;
            }
        }
        if changed > 0 {
            self.touch_invoice(&ids).await?;
        }
        Ok(changed)
    }

    async fn touch_invoice(&mut self, id: &str) -> Result<()> {
        sqlx::query("UPDATE invoices SET updated_at = ?, updated_by = ? WHERE id = ?")
            .bind(&self.now)
            .bind(&self.actor)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Moves an invoice to `to`, checking the status machine against the stored status
    /// inside this transaction, and records the change (and the motivo) in the audit log.
    ///
    /// # Errors
    /// Unknown invoice, an illegal transition or a missing motivo ([`StoreError::Core`]).
    pub async fn set_status(
        &mut self,
        id: InvoiceId,
        to: InvoiceStatus,
        motivo: Option<&str>,
    ) -> Result<InvoiceStatus> {
        let ids = id.to_string();
        let current: String = sqlx::query_scalar("SELECT estado FROM invoices WHERE id = ?")
            .bind(&ids)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "factura",
                key: ids.clone(),
            })?;
        let from: InvoiceStatus = current.parse().map_err(|_| StoreError::Corrupt {
            column: "invoices.estado",
            value: current.clone(),
        })?;
        from.check_transition(to, motivo)?;
        let motivo = motivo
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty());
        sqlx::query("UPDATE invoices SET estado = ?, motivo_rechazo = CASE WHEN ? = 'rechazada' THEN ? ELSE motivo_rechazo END WHERE id = ?")
            .bind(to.as_str())
            .bind(to.as_str())
            .bind(&motivo)
            .bind(&ids)
            .execute(&mut *self.tx)
            .await?;
        self.touch_invoice(&ids).await?;
        self.audit(
            "invoice",
            ids.clone(),
            "estado",
            Some("estado"),
            Some(from.as_str().into()),
            Some(to.as_str().into()),
        );
        if let Some(m) = motivo {
            self.audit("invoice", ids, "estado", Some("motivo"), None, Some(m));
        }
        Ok(from)
    }

    /// The stored status and centro de costo of an invoice, seen from inside this
    /// transaction; `None` when it is not stored.
    ///
    /// # Errors
    /// Database errors, a status the schema does not know.
    pub async fn status_and_centro(
        &mut self,
        id: InvoiceId,
    ) -> Result<Option<(InvoiceStatus, Option<String>)>> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT estado, centro_costo FROM invoices WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|(estado, centro)| {
            estado
                .parse()
                .map(|e| (e, centro))
                .map_err(|_| StoreError::Corrupt {
                    column: "invoices.estado",
                    value: estado,
                })
        })
        .transpose()
    }

    /// Replaces the origin payload (`raw`) and external id of an invoice: what the source
    /// system sent, kept for reference, not a user-visible field (no audit row). Returns
    /// whether anything changed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn set_source_payload(
        &mut self,
        id: InvoiceId,
        external_id: Option<&str>,
        raw: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE invoices SET raw = ?, external_id = ? WHERE id = ? AND (raw IS NOT ? OR external_id IS NOT ?)",
        )
        .bind(raw)
        .bind(external_id)
        .bind(id.to_string())
        .bind(raw)
        .bind(external_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Number of users, seen from inside this transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn user_count(&mut self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Replaces the document fields of a stored invoice (razón social, dates, amounts, other
    /// taxes) with `inv`'s, one audit row per field that changed. Assignment fields and the
    /// status are the users' and are left alone. Returns how many fields changed.
    ///
    /// # Errors
    /// Unknown invoice, database errors.
    pub async fn update_document(&mut self, inv: &Invoice) -> Result<usize> {
        let ids = inv.id().to_string();
        let cur: Option<DocumentColumns> = sqlx::query_as(
            "SELECT razon_social, fecha_emision, fecha_recepcion_sii, fecha_vencimiento, monto_neto, monto_exento, monto_iva, \
             monto_otros, monto_total FROM invoices WHERE id = ?",
        )
        .bind(&ids)
        .fetch_optional(&mut *self.tx)
        .await?;
        let cur = cur.ok_or_else(|| StoreError::NotFound {
            what: "factura",
            key: inv.key.to_string(),
        })?;
        let new = DocumentColumns::of(inv);
        let mut changed = 0;
        for (field, old, new) in cur.diff(&new) {
            self.audit("invoice", ids.clone(), "update", Some(field), old, new);
            changed += 1;
        }
        if changed > 0 {
            let importacion: Option<String> =
                sqlx::query_scalar("SELECT fecha_importacion FROM invoices WHERE id = ?")
                    .bind(&ids)
                    .fetch_one(&mut *self.tx)
                    .await?;
            let importacion = importacion.and_then(|d| d.parse().ok());
            sqlx::query(
                "UPDATE invoices SET razon_social = ?, fecha_emision = ?, fecha_recepcion_sii = ?, fecha_vencimiento = ?, \
                 vence = ?, plazo_reclamo = ?, monto_neto = ?, monto_exento = ?, monto_iva = ?, monto_otros = ?, monto_total = ? \
                 WHERE id = ?",
            )
            .bind(&new.razon_social)
            .bind(&new.fecha_emision)
            .bind(&new.fecha_recepcion_sii)
            .bind(&new.fecha_vencimiento)
            .bind(due_date(inv.fecha_vencimiento, inv.fecha_recepcion_sii, importacion, inv.fecha_emision).to_string())
            .bind(claim_deadline(inv.key.tipo_dte, inv.fecha_recepcion_sii).map(|d| d.to_string()))
            .bind(new.monto_neto)
            .bind(new.monto_exento)
            .bind(new.monto_iva)
            .bind(new.monto_otros)
            .bind(new.monto_total)
            .bind(&ids)
            .execute(&mut *self.tx)
            .await?;
            sqlx::query("DELETE FROM invoice_taxes WHERE invoice_id = ?")
                .bind(&ids)
                .execute(&mut *self.tx)
                .await?;
            self.insert_children_taxes(inv).await?;
            self.touch_invoice(&ids).await?;
        }
        Ok(changed)
    }

    async fn insert_children_taxes(&mut self, inv: &Invoice) -> Result<()> {
        for (pos, t) in inv.otros_impuestos.iter().enumerate() {
            sqlx::query("INSERT INTO invoice_taxes (invoice_id, pos, codigo, tasa, valor) VALUES (?, ?, ?, ?, ?)")
                .bind(inv.id().to_string())
                .bind(pos as i64)
                .bind(i64::from(t.codigo))
                .bind(t.tasa)
                .bind(t.valor.pesos())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Records an import batch (file hash and counts) in this transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn record_import_batch(&mut self, b: &ImportBatch) -> Result<i64> {
        let id = sqlx::query(
            "INSERT INTO import_batches (file_name, sha256, format, documents, inserted, updated, duplicates, rejected, user_name, at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&b.file_name)
        .bind(&b.sha256)
        .bind(&b.format)
        .bind(b.documents)
        .bind(b.inserted)
        .bind(b.updated)
        .bind(b.duplicates)
        .bind(b.rejected)
        .bind(&self.actor)
        .bind(&self.now)
        .execute(&mut *self.tx)
        .await?
        .last_insert_rowid();
        self.audit(
            "import_batch",
            id.to_string(),
            "create",
            Some("file"),
            None,
            Some(format!("{} ({})", b.file_name, b.sha256)),
        );
        Ok(id)
    }

    /// Creates a user (the hash is computed by the caller, icc-app).
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] for a taken name, unknown obras.
    pub async fn create_user(&mut self, user: &NewUser) -> Result<i64> {
        let res = sqlx::query(
            "INSERT INTO users (username, password_hash, password_legacy, must_change_password, role, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.password_legacy)
        .bind(user.must_change_password)
        .bind(user.role.as_str())
        .bind(&self.now)
        .bind(&self.now)
        .execute(&mut *self.tx)
        .await;
        let id = match res {
            Ok(r) => r.last_insert_rowid(),
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists {
                    what: "usuario",
                    key: user.username.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            "user",
            user.username.clone(),
            "create",
            Some("role"),
            None,
            Some(user.role.as_str().into()),
        );
        self.set_user_obras(id, &user.username, &user.obras).await?;
        Ok(id)
    }

    /// Replaces the obras assigned to a user.
    ///
    /// # Errors
    /// Unknown obra codes, database errors.
    pub async fn set_user_obras(
        &mut self,
        user_id: i64,
        username: &str,
        obras: &[String],
    ) -> Result<()> {
        sqlx::query("DELETE FROM user_obras WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        for code in obras {
            let obra_id: i64 = sqlx::query_scalar("SELECT id FROM obras WHERE codigo = ?")
                .bind(code)
                .fetch_optional(&mut *self.tx)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "obra",
                    key: code.clone(),
                })?;
            sqlx::query("INSERT OR IGNORE INTO user_obras (user_id, obra_id) VALUES (?, ?)")
                .bind(user_id)
                .bind(obra_id)
                .execute(&mut *self.tx)
                .await?;
        }
        if !obras.is_empty() {
            self.audit(
                "user",
                username,
                "update",
                Some("obras"),
                None,
                Some(obras.join(",")),
            );
        }
        Ok(())
    }

    /// Replaces a user's password hash and clears the legacy and must-change marks.
    ///
    /// # Errors
    /// Unknown user, database errors.
    pub async fn set_password(&mut self, username: &str, hash: &str) -> Result<()> {
        let n = sqlx::query(
            "UPDATE users SET password_hash = ?, password_legacy = 0, must_change_password = 0, failed_logins = 0, \
             locked_until_ms = NULL, updated_at = ? WHERE username = ?",
        )
        .bind(hash)
        .bind(&self.now)
        .bind(username)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        user_found(n, username)?;
        self.audit(
            "user",
            username,
            "update",
            Some("password"),
            None,
            Some("(cambiada)".into()),
        );
        Ok(())
    }

    /// Changes a user's role.
    ///
    /// # Errors
    /// Unknown user, database errors.
    pub async fn set_role(&mut self, username: &str, role: icc_core::Role) -> Result<()> {
        self.set_user_column(username, "role", role.as_str(), role.as_str().into())
            .await
    }

    /// Enables or disables an account.
    ///
    /// # Errors
    /// Unknown user, database errors.
    pub async fn set_disabled(&mut self, username: &str, disabled: bool) -> Result<()> {
        self.set_user_column(username, "disabled", disabled, disabled.to_string())
            .await
    }

    /// Sets one column of a user (`column` is one of ours, never user input) with its audit row.
    async fn set_user_column<V>(
        &mut self,
        username: &str,
        column: &'static str,
        value: V,
        shown: String,
    ) -> Result<()>
    where
        V: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send,
    {
        let sql = format!("UPDATE users SET {column} = ?, updated_at = ? WHERE username = ?");
        let n = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(&self.now)
            .bind(username)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        user_found(n, username)?;
        self.audit("user", username, "update", Some(column), None, Some(shown));
        Ok(())
    }

    /// Records a failed login: bumps the counter and sets the lock-out end.
    ///
    /// # Errors
    /// Database errors.
    pub async fn record_failed_login(
        &mut self,
        username: &str,
        failed: i64,
        locked_until_ms: Option<i64>,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET failed_logins = ?, locked_until_ms = ? WHERE username = ?")
            .bind(failed)
            .bind(locked_until_ms)
            .bind(username)
            .execute(&mut *self.tx)
            .await?;
        self.audit(
            "user",
            username,
            "login_failed",
            Some("failed_logins"),
            None,
            Some(failed.to_string()),
        );
        Ok(())
    }

    /// Clears the failed-login counter after a successful login.
    ///
    /// # Errors
    /// Database errors.
    pub async fn reset_failed_logins(&mut self, username: &str) -> Result<()> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until_ms = NULL WHERE username = ? AND failed_logins > 0")
            .bind(username)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Creates an obra.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] for a taken code.
    pub async fn create_obra(&mut self, codigo: &str, nombre: &str) -> Result<i64> {
        let res = sqlx::query("INSERT INTO obras (codigo, nombre, created_at) VALUES (?, ?, ?)")
            .bind(codigo)
            .bind(nombre)
            .bind(&self.now)
            .execute(&mut *self.tx)
            .await;
        match res {
            Ok(r) => {
                self.audit(
                    "obra",
                    codigo,
                    "create",
                    Some("nombre"),
                    None,
                    Some(nombre.into()),
                );
                Ok(r.last_insert_rowid())
            }
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
                what: "obra",
                key: codigo.into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames an obra or (de)activates it; `false` when there is no such obra.
    ///
    /// # Errors
    /// Database errors.
    pub async fn update_obra(&mut self, codigo: &str, nombre: &str, activa: bool) -> Result<bool> {
        let old: Option<(String, bool)> =
            sqlx::query_as("SELECT nombre, activa FROM obras WHERE codigo = ?")
                .bind(codigo)
                .fetch_optional(&mut *self.tx)
                .await?;
        let Some((old_nombre, old_activa)) = old else {
            return Ok(false);
        };
        sqlx::query("UPDATE obras SET nombre = ?, activa = ? WHERE codigo = ?")
            .bind(nombre)
            .bind(activa)
            .bind(codigo)
            .execute(&mut *self.tx)
            .await?;
        if old_nombre != nombre {
            self.audit(
                "obra",
                codigo,
                "update",
                Some("nombre"),
                Some(old_nombre),
                Some(nombre.into()),
            );
        }
        if old_activa != activa {
            self.audit(
                "obra",
                codigo,
                "update",
                Some("activa"),
                Some(old_activa.to_string()),
                Some(activa.to_string()),
            );
        }
        Ok(true)
    }

    /// Writes a non-secret setting.
    ///
    /// # Errors
    /// Database errors.
    pub async fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&mut *self.tx)
            .await?;
        self.audit(
            "setting",
            key,
            "update",
            Some("value"),
            None,
            Some(value.into()),
        );
        Ok(())
    }

    /// Removes a non-secret setting.
    ///
    /// # Errors
    /// Database errors.
    pub async fn delete_setting(&mut self, key: &str) -> Result<()> {
        let r = sqlx::query("DELETE FROM settings WHERE key = ?")
            .bind(key)
            .execute(&mut *self.tx)
            .await?;
        if r.rows_affected() > 0 {
            self.audit("setting", key, "delete", Some("value"), None, None);
        }
        Ok(())
    }
}

/// An UPDATE of one user by name that touched no row means the user does not exist.
fn user_found(rows_affected: u64, username: &str) -> Result<()> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound {
            what: "usuario",
            key: username.into(),
        });
    }
    Ok(())
}

fn eq_ci(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    }
}

/// An invoice about to be inserted, with what the insert derives from the store.
struct NewRow<'a> {
    inv: &'a Invoice,
    raw: Option<&'a str>,
    id: String,
    obra_id: Option<i64>,
    importacion: Option<chrono::NaiveDate>,
}

/// Inserts `rows` with their suppliers, tax lines and references through prepared
/// statements (see `crate::raw`). Returns each row's `seq`, `None` where an invoice with
/// the same natural key was already stored (that row and its children are left as they
/// are). `written` holds the suppliers (RUT, name) the transaction already wrote, which
/// are not written again; it gains this batch's.
fn insert_rows(
    c: &rusqlite::Connection,
    rows: &[NewRow<'_>],
    now: &str,
    actor: &str,
    written: &mut HashMap<String, String>,
) -> rusqlite::Result<Vec<Option<i64>>> {
    use crate::raw::insert_many;
    // suppliers first (the invoice row references them); the last name seen wins
    let mut suppliers: HashMap<String, &str> = HashMap::new();
    for r in rows {
        suppliers.insert(r.inv.key.rut_emisor.to_string(), &r.inv.razon_social);
    }
    let suppliers: Vec<(String, &str)> = suppliers
        .into_iter()
        .filter(|(rut, name)| written.get(rut).is_none_or(|w| w != name))
        .collect();
    insert_many(
        c,
        "INSERT INTO suppliers (rut, razon_social, created_at, updated_at)",
        4,
        "ON CONFLICT (rut) DO UPDATE SET razon_social = excluded.razon_social, updated_at = excluded.updated_at \
         WHERE suppliers.razon_social <> excluded.razon_social",
        suppliers.len(),
        |b, i| {
            let (rut, name) = &suppliers[i];
            b.bind(rut)?.bind(name)?.bind(now)?.bind(now)?;
            Ok(())
        },
        |_| Ok(()),
    )?;
    written.extend(
        suppliers
            .iter()
            .map(|(rut, name)| (rut.clone(), (*name).to_owned())),
    );
    let mut seq_of: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    insert_many(
        c,
        "INSERT INTO invoices (id, rut_emisor, tipo_dte, folio, razon_social, fecha_emision, fecha_recepcion_sii, \
         fecha_vencimiento, vence, plazo_reclamo, monto_neto, monto_exento, monto_iva, monto_otros, monto_total, \
         obra_id, centro_costo, cuenta, orden_compra, glosa, estado, motivo_rechazo, source, external_id, raw, \
         created_at, created_by, updated_at, updated_by, fecha_importacion)",
        30,
        "ON CONFLICT (rut_emisor, tipo_dte, folio) DO NOTHING RETURNING id, seq",
        rows.len(),
        |b, i| {
            let r = &rows[i];
            let inv = r.inv;
            let k = &inv.key;
            let vence = due_date(
                inv.fecha_vencimiento,
                inv.fecha_recepcion_sii,
                r.importacion,
                inv.fecha_emision,
            );
            b.bind(&r.id)?
                .bind(k.rut_emisor.to_string())?
                .bind(i64::from(k.tipo_dte.code()))?
                .bind(k.folio.get() as i64)?
                .bind(&inv.razon_social)?
                .bind(inv.fecha_emision.to_string())?
                .bind(
                    inv.fecha_recepcion_sii
                        .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string()),
                )?
                .bind(inv.fecha_vencimiento.map(|d| d.to_string()))?
                .bind(vence.to_string())?
                .bind(claim_deadline(k.tipo_dte, inv.fecha_recepcion_sii).map(|d| d.to_string()))?
                .bind(inv.monto_neto.pesos())?
                .bind(inv.monto_exento.pesos())?
                .bind(inv.monto_iva.pesos())?
                .bind(inv.otros_total().pesos())?
                .bind(inv.monto_total.pesos())?
                .bind(r.obra_id)?
                .bind(&inv.centro_costo)?
                .bind(&inv.cuenta)?
                .bind(&inv.orden_compra)?
                .bind(&inv.glosa)?
                .bind(inv.estado.as_str())?
                .bind(&inv.motivo_rechazo)?
                .bind(inv.source.as_str())?
                .bind(&inv.external_id)?
                .bind(r.raw)?
                .bind(now)?
                .bind(actor)?
                .bind(now)?
                .bind(actor)?
                .bind(r.importacion.map(|d| d.to_string()))?;
            Ok(())
        },
        |row| {
            seq_of.insert(row.get(0)?, row.get(1)?);
            Ok(())
        },
    )?;
    let mut tax = c.prepare(
        "INSERT INTO invoice_taxes (invoice_id, pos, codigo, tasa, valor) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut reference = c.prepare(
        "INSERT INTO invoice_references (invoice_id, pos, tipo, folio, fecha, codigo, razon) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut seqs = Vec::with_capacity(rows.len());
    for r in rows {
        // a key twice in `rows`: the first was stored, the second is a duplicate
        let seq = seq_of.remove(&r.id);
        seqs.push(seq);
        if seq.is_none() {
            continue;
        }
        let inv = r.inv;
        for (pos, t) in inv.otros_impuestos.iter().enumerate() {
            tax.execute(rusqlite::params![
                r.id,
                pos as i64,
                i64::from(t.codigo),
                t.tasa,
                t.valor.pesos()
            ])?;
        }
        for (pos, x) in inv.referencias.iter().enumerate() {
            reference.execute(rusqlite::params![
                r.id,
                pos as i64,
                x.tipo,
                x.folio,
                x.fecha.map(|d| d.to_string()),
                x.codigo.map(i64::from),
                x.razon
            ])?;
        }
    }
    Ok(seqs)
}

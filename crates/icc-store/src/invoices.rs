//! Reading invoices: keyset pages with filters and full-text search, details, history.

use chrono::{Days, NaiveDate};
use icc_core::{InvoiceId, InvoiceStatus, NaturalKey, Rut};
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::search::{SEARCH_SEQ, Search, push_search_key};

/// Most rows a page may hold.
pub const MAX_PAGE: u32 = 1000;

/// Filters of the invoice list. All set filters must hold.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Obra code.
    pub obra: Option<String>,
    /// Status.
    pub estado: Option<InvoiceStatus>,
    /// Supplier.
    pub proveedor: Option<Rut>,
    /// Emitted on or after.
    pub desde: Option<NaiveDate>,
    /// Emitted on or before.
    pub hasta: Option<NaiveDate>,
    /// Only payable invoices past their due date.
    pub vencidas: bool,
    /// Only documents whose claim deadline falls within this many days from today
    /// (and still open to a claim).
    pub plazo_por_vencer: Option<u32>,
    /// Full-text search over proveedor, RUT, folio and glosa.
    pub q: Option<String>,
    /// Only these invoice ids (a selection; at most a few thousand).
    pub ids: Option<Vec<String>>,
    /// Restrict to these obra codes (set by icc-app for an `admin_obra`; `None` = all).
    pub visible_obras: Option<Vec<String>>,
    /// "Today" for due dates and deadlines (local date, set by the caller).
    pub today: Option<NaiveDate>,
}

/// Position after the last row of a page: `(fecha_emision, seq)`, the list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    fecha: NaiveDate,
    seq: i64,
}

impl Cursor {
    /// The opaque text form, `AAAA-MM-DD|n`.
    pub fn encode(&self) -> String {
        format!("{}|{}", self.fecha, self.seq)
    }

    /// Reads the text form.
    ///
    /// # Errors
    /// [`icc_core::CoreError::Invalid`] (wrapped) when it is not a cursor this store issued.
    pub fn decode(s: &str) -> Result<Cursor> {
        let bad = || {
            icc_core::CoreError::invalid(
                "cursor",
                s,
                "no es un cursor de página válido; use el valor next_cursor de la página anterior",
            )
        };
        let (f, seq) = s.split_once('|').ok_or_else(bad)?;
        let fecha: NaiveDate = f.parse().map_err(|_| bad())?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        if seq < 1 {
            return Err(bad().into());
        }
        Ok(Cursor { fecha, seq })
    }
}

/// One row of the invoice list: what the list screen and `invoices list --json` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InvoiceRow {
    /// Local row number (list order tie-breaker; differs between devices).
    #[serde(skip)]
    pub seq: i64,
    /// Invoice id (UUID).
    pub id: String,
    /// Canonical RUT of the issuer.
    pub rut_emisor: String,
    /// SII type code.
    pub tipo_dte: i64,
    /// Folio.
    pub folio: i64,
    /// Issuer name.
    pub razon_social: String,
    /// Emission date, `AAAA-MM-DD`.
    pub fecha_emision: String,
    /// Due date.
    pub vence: String,
    /// Last day to claim; `None` when unknown or not claimable.
    pub plazo_reclamo: Option<String>,
    /// Neto.
    pub monto_neto: i64,
    /// Exento.
    pub monto_exento: i64,
    /// IVA.
    pub monto_iva: i64,
    /// Total as stated.
    pub monto_total: i64,
    /// Status name.
    pub estado: String,
    /// Obra code.
    pub obra: Option<String>,
    /// Claim deadline state as of today (`vigente`, `por_vencer`, `vencido`, `desconocido`,
    /// `no_aplica`); filled by icc-app, which knows today's date.
    pub plazo_reclamo_estado: Option<String>,
    /// Payable and past its due date as of today; filled by icc-app.
    pub vencida: bool,
    /// No accounting template reaches it (its supplier has no concepto de compra, or the
    /// concepto no template): Kame posting would refuse it. Filled by icc-app for users who
    /// post to Kame; `false` otherwise.
    pub sin_cuenta: bool,
}

/// The list columns, in the order [`InvoiceRow`]'s decoder reads them.
pub(crate) const ROW_COLUMNS: &str = "i.seq, i.id, i.rut_emisor, i.tipo_dte, i.folio, i.razon_social, i.fecha_emision, i.vence, \
     i.plazo_reclamo, i.monto_neto, i.monto_exento, i.monto_iva, i.monto_total, i.estado, o.codigo";

/// Wraps a page query (`SELECT {ROW_COLUMNS} … LIMIT n`, closed with `)`) so SQLite returns
/// the page as one JSON array of rows in list order. Read row by row, sqlx copies every
/// value of each row and hands each row across its worker thread: about 4 µs a row, most of
/// a 50-row page.
const PAGE_JSON: &str = "SELECT json_group_array(json_array(seq, id, rut_emisor, tipo_dte, folio, \
     razon_social, fecha_emision, vence, plazo_reclamo, monto_neto, monto_exento, monto_iva, \
     monto_total, estado, codigo) ORDER BY fecha_emision DESC, seq DESC) FROM (";

/// One row of a [`PAGE_JSON`] page, in [`ROW_COLUMNS`] order.
type PageRow = (
    i64,
    String,
    String,
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    String,
    Option<String>,
);

impl From<PageRow> for InvoiceRow {
    fn from(r: PageRow) -> InvoiceRow {
        InvoiceRow {
            seq: r.0,
            id: r.1,
            rut_emisor: r.2,
            tipo_dte: r.3,
            folio: r.4,
            razon_social: r.5,
            fecha_emision: r.6,
            vence: r.7,
            plazo_reclamo: r.8,
            monto_neto: r.9,
            monto_exento: r.10,
            monto_iva: r.11,
            monto_total: r.12,
            estado: r.13,
            obra: r.14,
            plazo_reclamo_estado: None,
            vencida: false,
            sin_cuenta: false,
        }
    }
}

/// How many columns [`ROW_COLUMNS`] lists.
pub(crate) const ROW_COLUMN_COUNT: usize = 15;

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for InvoiceRow {
    /// By position, not by name: a page decodes ~750 values and name lookups were a
    /// measurable share of it.
    fn from_row(r: &'r sqlx::sqlite::SqliteRow) -> std::result::Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(InvoiceRow {
            seq: r.try_get(0)?,
            id: r.try_get(1)?,
            rut_emisor: r.try_get(2)?,
            tipo_dte: r.try_get(3)?,
            folio: r.try_get(4)?,
            razon_social: r.try_get(5)?,
            fecha_emision: r.try_get(6)?,
            vence: r.try_get(7)?,
            plazo_reclamo: r.try_get(8)?,
            monto_neto: r.try_get(9)?,
            monto_exento: r.try_get(10)?,
            monto_iva: r.try_get(11)?,
            monto_total: r.try_get(12)?,
            estado: r.try_get(13)?,
            obra: r.try_get(14)?,
            plazo_reclamo_estado: None,
            vencida: false,
            sin_cuenta: false,
        })
    }
}

/// A page of the invoice list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Page {
    /// Rows, newest emission first.
    pub items: Vec<InvoiceRow>,
    /// Cursor for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

impl Page {
    /// A page from up to `limit + 1` rows read in list order: the extra row only says that
    /// another page follows.
    fn of(mut items: Vec<InvoiceRow>, limit: u32) -> Page {
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().and_then(|r| {
                r.fecha_emision
                    .parse()
                    .ok()
                    .map(|fecha| Cursor { fecha, seq: r.seq }.encode())
            })
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// Everything stored about one invoice.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InvoiceDetail {
    /// The list columns.
    #[serde(flatten)]
    pub row: InvoiceRow,
    /// SII reception (America/Santiago), `AAAA-MM-DDTHH:MM:SS`.
    pub fecha_recepcion_sii: Option<String>,
    /// Sum of otros impuestos.
    pub monto_otros: i64,
    /// Centro de costo.
    pub centro_costo: Option<String>,
    /// Cuenta contable.
    pub cuenta: Option<String>,
    /// Stated due date.
    pub fecha_vencimiento: Option<String>,
    /// Orden de compra.
    pub orden_compra: Option<String>,
    /// Glosa.
    pub glosa: Option<String>,
    /// Reason of a rejection.
    pub motivo_rechazo: Option<String>,
    /// Origin.
    pub source: String,
    /// Id in the origin.
    pub external_id: Option<String>,
    /// The day it was first imported (`AAAA-MM-DD`), where known.
    pub fecha_importacion: Option<String>,
    /// Other taxes.
    pub otros_impuestos: Vec<icc_core::OtroImpuesto>,
    /// References.
    pub referencias: Vec<icc_core::Referencia>,
    /// Created (UTC) and by whom.
    pub created_at: String,
    /// Creator.
    pub created_by: String,
    /// Last change (UTC).
    pub updated_at: String,
    /// Last changer.
    pub updated_by: String,
}

#[derive(sqlx::FromRow)]
struct DetailColumns {
    fecha_recepcion_sii: Option<String>,
    monto_otros: i64,
    centro_costo: Option<String>,
    cuenta: Option<String>,
    fecha_vencimiento: Option<String>,
    orden_compra: Option<String>,
    glosa: Option<String>,
    motivo_rechazo: Option<String>,
    source: String,
    external_id: Option<String>,
    fecha_importacion: Option<String>,
    created_at: String,
    created_by: String,
    updated_at: String,
    updated_by: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReferenceRow {
    pub(crate) tipo: String,
    pub(crate) folio: String,
    pub(crate) fecha: Option<String>,
    pub(crate) codigo: Option<i64>,
    pub(crate) razon: Option<String>,
}

/// One audit-log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditEntry {
    /// When (UTC).
    pub at: String,
    /// Who.
    pub user_name: String,
    /// What kind of change (`create`, `update`, `estado`, ...).
    pub action: String,
    /// Field changed.
    pub field: Option<String>,
    /// Value before.
    pub old_value: Option<String>,
    /// Value after.
    pub new_value: Option<String>,
    /// `at` in Chile's time (America/Santiago), `dd-mm-aaaa HH:MM:SS`, as people read it.
    #[sqlx(skip)]
    pub fecha_local: String,
    /// `action` in Spanish (creación, cambio, …), as people read it.
    #[sqlx(skip)]
    pub accion: String,
}

impl AuditEntry {
    /// Fills the fields people read (`fecha_local`, `accion`) from the stored ones.
    #[must_use]
    pub fn for_people(mut self) -> AuditEntry {
        self.fecha_local = icc_core::santiago_text(&self.at).unwrap_or_else(|| self.at.clone());
        self.accion = icc_core::audit_action_label(&self.action).to_owned();
        self
    }
}

/// A filter with its obra codes looked up and its search text parsed.
pub(crate) struct ResolvedFilter<'f> {
    filter: &'f InvoiceFilter,
    /// Allowed obra ids; `None` = every obra.
    pub(crate) obra_ids: Option<Vec<i64>>,
    proveedor: Option<Rut>,
    /// The search as an FTS5 expression over `invoices_search` (text columns only).
    fts: Option<String>,
    /// The emission days the overdue and claim filters can match.
    days: DayBounds,
    pub(crate) today: NaiveDate,
}

/// Emission days (ISO text) outside which the vencidas and plazo filters cannot match, read
/// from `list_days` (migration 0005). A list walk starts at `highest` instead of stepping
/// over every newer document not due yet, and stops at `lowest` instead of reading every
/// older one.
#[derive(Debug, Default)]
struct DayBounds {
    highest: Option<String>,
    lowest: Option<String>,
}

impl DayBounds {
    fn at_most(&mut self, day: String) {
        if self.highest.as_ref().is_none_or(|h| day < *h) {
            self.highest = Some(day);
        }
    }

    fn at_least(&mut self, day: String) {
        if self.lowest.as_ref().is_none_or(|l| day > *l) {
            self.lowest = Some(day);
        }
    }
}

impl ResolvedFilter<'_> {
    /// Appends ` AND i.obra_id IN (...)` when the filter allows only some obras.
    pub(crate) fn push_obra_scope(&self, qb: &mut QueryBuilder<Sqlite>) {
        if let Some(ids) = &self.obra_ids {
            qb.push(" AND i.obra_id IN (");
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            qb.push(")");
        }
    }

    /// Appends ` AND ...` for every set filter but the obra, on `invoices` aliased `i`.
    pub(crate) fn push_conditions(&self, qb: &mut QueryBuilder<Sqlite>) {
        self.push_field_conditions(qb);
        self.push_day_bounds(qb, true);
        if let Some(q) = &self.fts {
            qb.push(format!(
                " AND i.seq IN (SELECT {SEARCH_SEQ} FROM invoices_search WHERE invoices_search MATCH "
            ))
            .push_bind(q.clone())
            .push(")");
        }
    }

    /// ` AND ...` for the emission days that can match ([`DayBounds`]); the upper one only
    /// when asked (a list walk merges it with its cursor instead, so that SQLite's range
    /// scan starts at whichever is lower).
    fn push_day_bounds(&self, qb: &mut QueryBuilder<Sqlite>, upper: bool) {
        if let Some(lo) = &self.days.lowest {
            qb.push(" AND i.fecha_emision >= ").push_bind(lo.clone());
        }
        if upper && let Some(hi) = &self.days.highest {
            qb.push(" AND i.fecha_emision <= ").push_bind(hi.clone());
        }
    }

    /// Where a list walk starts: before the cursor or after the last day that can match,
    /// whichever comes first in list order.
    fn walk_start(&self, cursor: Option<&Cursor>) -> Option<(String, i64)> {
        let after_day = self.days.highest.clone().map(|d| (d, i64::MAX));
        let after_cursor = cursor.map(|c| (c.fecha.to_string(), c.seq));
        match (after_cursor, after_day) {
            (Some(c), Some(d)) => Some(if d < c { d } else { c }),
            (c, d) => c.or(d),
        }
    }

    /// [`Self::push_conditions`] without the search and the day bounds.
    fn push_field_conditions(&self, qb: &mut QueryBuilder<Sqlite>) {
        let filter = self.filter;
        let today = self.today;
        if let Some(estado) = filter.estado {
            qb.push(" AND i.estado = ").push_bind(estado.as_str());
        }
        if let Some(rut) = self.proveedor {
            qb.push(" AND i.rut_emisor = ").push_bind(rut.to_string());
        }
        if let Some(d) = filter.desde {
            qb.push(" AND i.fecha_emision >= ").push_bind(d.to_string());
        }
        if let Some(d) = filter.hasta {
            qb.push(" AND i.fecha_emision <= ").push_bind(d.to_string());
        }
        if filter.vencidas {
            qb.push(" AND i.vence < ").push_bind(today.to_string());
            // the same terms as the partial index invoices_by_payable
            qb.push(" AND i.estado IN (").push(PAYABLE_STATES).push(")");
            // a guía de despacho is no debt: never overdue (as the rows say, `vencida`)
            qb.push(" AND i.tipo_dte NOT IN (50, 52)");
        }
        if let Some(days) = filter.plazo_por_vencer {
            let until = claim_window_end(today, days);
            qb.push(" AND i.plazo_reclamo >= ")
                .push_bind(today.to_string());
            qb.push(" AND i.plazo_reclamo <= ")
                .push_bind(until.to_string());
            // the same terms as the partial index invoices_by_plazo, so it applies
            qb.push(" AND i.estado IN (")
                .push(CLAIMABLE_STATES)
                .push(")");
        }
        if let Some(ids) = &filter.ids {
            if ids.is_empty() {
                qb.push(" AND 0");
            } else {
                qb.push(" AND i.id IN (");
                let mut sep = qb.separated(", ");
                for id in ids {
                    sep.push_bind(id.clone());
                }
                qb.push(")");
            }
        }
    }
}

/// States in which something is still owed, as SQL (the terms of the partial index
/// `invoices_by_payable`).
pub(crate) const PAYABLE_STATES: &str =
    "'recibida', 'en_revision', 'aprobada', 'parcialmente_pagada'";

/// The last claim deadline the "plazo por vencer" filter of `days` days accepts.
fn claim_window_end(today: NaiveDate, days: u32) -> NaiveDate {
    today
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(today)
}

/// States in which a document can still be claimed ([`InvoiceStatus::is_open_to_claim`]),
/// as SQL (the terms of the partial index `invoices_by_plazo`).
pub(crate) const CLAIMABLE_STATES: &str = "'recibida', 'en_revision', 'rechazada'";

/// `list_days` bounds (migration 0005) of newly inserted invoices, gathered while they are
/// inserted (computing them in SQL meant sorting the new rows by day: 0.09 s per 100k).
#[derive(Debug, Default)]
pub(crate) struct ListDays {
    /// Per emission day: lowest due date of a payable document, lowest and highest claim
    /// deadline of a claimable one.
    days: std::collections::BTreeMap<NaiveDate, DayRow>,
}

type DayRow = (Option<NaiveDate>, Option<NaiveDate>, Option<NaiveDate>);

impl ListDays {
    pub(crate) fn add(&mut self, inv: &icc_core::Invoice, importacion: Option<NaiveDate>) {
        let row = self.days.entry(inv.fecha_emision).or_default();
        if inv.estado.is_payable() {
            let vence = icc_core::due_date(
                inv.fecha_vencimiento,
                inv.fecha_recepcion_sii,
                importacion,
                inv.fecha_emision,
            );
            row.0 = Some(row.0.map_or(vence, |v| v.min(vence)));
        }
        if inv.estado.is_open_to_claim()
            && let Some(plazo) = icc_core::claim_deadline(inv.key.tipo_dte, inv.fecha_recepcion_sii)
        {
            row.1 = Some(row.1.map_or(plazo, |v| v.min(plazo)));
            row.2 = Some(row.2.map_or(plazo, |v| v.max(plazo)));
        }
    }

    /// Widens the stored bounds with these (the upsert of migration 0005's trigger).
    pub(crate) async fn write(&mut self, tx: &mut sqlx::SqliteConnection) -> Result<()> {
        if self.days.is_empty() {
            return Ok(());
        }
        let text = |d: &Option<NaiveDate>| d.map(|d| d.to_string());
        let rows: Vec<_> = std::mem::take(&mut self.days)
            .into_iter()
            .map(|(day, r)| (day.to_string(), text(&r.0), text(&r.1), text(&r.2)))
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt {
            column: "list_days",
            value: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO list_days (fecha, min_vence, min_plazo, max_plazo) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?) WHERE true \
             ON CONFLICT (fecha) DO UPDATE SET \
             min_vence = coalesce(min(min_vence, excluded.min_vence), min_vence, excluded.min_vence), \
             min_plazo = coalesce(min(min_plazo, excluded.min_plazo), min_plazo, excluded.min_plazo), \
             max_plazo = coalesce(max(max_plazo, excluded.max_plazo), max_plazo, excluded.max_plazo)",
        )
        .bind(json)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// A page of invoices, `ORDER BY fecha_emision DESC, seq DESC`, after `cursor`.
    /// `limit` is clamped to `1..=1000`.
    ///
    /// Every form walks an index in list order and stops after one page: a search walks
    /// the full-text index (its rowids are list positions), the other filters one of the
    /// list indexes. Several visible obras (a site manager's) are one ordered, limited arm
    /// per obra, merged: never a sort of every invoice they have.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_invoices(
        &self,
        filter: &InvoiceFilter,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE);
        let Some(r) = self.resolve_filter(filter).await? else {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        };
        // Conditions and order on the invoices table, aliased `i` in every form below.
        let arm = |qb: &mut QueryBuilder<Sqlite>, select: &str, obra_id: Option<i64>| {
            qb.push(select);
            qb.push(" WHERE 1 = 1");
            match obra_id {
                Some(id) => {
                    qb.push(" AND i.obra_id = ").push_bind(id);
                }
                None => r.push_obra_scope(qb),
            }
            r.push_field_conditions(qb);
            r.push_day_bounds(qb, false);
            if let Some((fecha, seq)) = r.walk_start(cursor) {
                qb.push(" AND (i.fecha_emision, i.seq) < (")
                    .push_bind(fecha)
                    .push(", ")
                    .push_bind(seq)
                    .push(")");
            }
            qb.push(" ORDER BY i.fecha_emision DESC, i.seq DESC LIMIT ")
                .push_bind(i64::from(limit) + 1);
        };
        // A search walks the full-text index in list order (its rowids are list keys) and
        // stops after one page; the obras, if restricted, are part of the match, and the
        // other filters are checked on each matching row.
        if let Some(fts) = &r.fts {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                "{PAGE_JSON}SELECT {ROW_COLUMNS} FROM invoices_search CROSS JOIN invoices i \
                 ON i.seq = {SEARCH_SEQ} \
                 LEFT JOIN obras o ON o.id = i.obra_id WHERE invoices_search MATCH "
            ));
            qb.push_bind(Search::within_obras(fts, r.obra_ids.as_deref()));
            r.push_field_conditions(&mut qb);
            r.push_day_bounds(&mut qb, true);
            if let Some(c) = cursor {
                qb.push(" AND invoices_search.rowid > ");
                push_search_key(&mut qb, c.fecha.to_string(), c.seq);
            }
            qb.push(" ORDER BY invoices_search.rowid LIMIT ")
                .push_bind(i64::from(limit) + 1);
            return self.fetch_page(qb, limit).await;
        }
        // The index to walk in list order. SQLite's planner, left alone, picked the estado
        // index for vencidas (an IN over four states: 477 ms a page sorting 500k rows) and
        // sorted every plazo match (1-8 ms); these walks stop after one page.
        // Vencidas and plazo walk their partial index whatever the obras: it holds the obra,
        // so the scope is checked there without reading rows.
        let single_obra = matches!(r.obra_ids.as_deref(), Some([_]));
        let partial_walk = filter.plazo_por_vencer.is_some() || filter.vencidas;
        let walk_index = if filter.plazo_por_vencer.is_some() {
            "invoices_by_plazo"
        } else if filter.vencidas {
            "invoices_by_payable"
        } else if single_obra && filter.estado.is_some() {
            "invoices_by_obra_estado"
        } else {
            ""
        };
        let full =
            format!("SELECT {ROW_COLUMNS} FROM invoices i LEFT JOIN obras o ON o.id = i.obra_id");
        let full_walk = if walk_index.is_empty() {
            full.clone()
        } else {
            format!(
                "SELECT {ROW_COLUMNS} FROM invoices i INDEXED BY {walk_index} LEFT JOIN obras o ON o.id = i.obra_id"
            )
        };
        let keys_only = "SELECT i.seq, i.fecha_emision FROM invoices i";
        let one_obra = r.obra_ids.as_deref().and_then(|ids| ids.first().copied());
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(PAGE_JSON);
        match r.obra_ids.as_deref() {
            _ if partial_walk => arm(&mut qb, &full_walk, None),
            // One obra or all: walk an index in list order and stop after one page.
            None | Some([_]) => arm(&mut qb, &full_walk, one_obra),
            // Several obras: one ordered, limited arm per obra, merged.
            Some(many) => {
                qb.push(&full).push(" WHERE i.seq IN (SELECT seq FROM (");
                for (n, id) in many.iter().enumerate() {
                    if n > 0 {
                        qb.push(" UNION ALL ");
                    }
                    qb.push("SELECT * FROM (");
                    arm(&mut qb, keys_only, Some(*id));
                    qb.push(")");
                }
                qb.push(") ORDER BY fecha_emision DESC, seq DESC LIMIT ")
                    .push_bind(i64::from(limit) + 1);
                qb.push(") ORDER BY i.fecha_emision DESC, i.seq DESC");
            }
        }
        self.fetch_page(qb, limit).await
    }

    /// Runs a page query started with [`PAGE_JSON`] and decodes its one JSON value.
    async fn fetch_page(&self, mut qb: QueryBuilder<Sqlite>, limit: u32) -> Result<Page> {
        qb.push(")");
        let json: String = qb.build_query_scalar().fetch_one(self.pool()).await?;
        let rows: Vec<PageRow> = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
            column: "invoices (page)",
            value: e.to_string(),
        })?;
        let items = rows.into_iter().map(InvoiceRow::from).collect();
        Ok(Page::of(items, limit))
    }

    /// Turns a filter into what the queries need: the obra ids it allows (`None` = every
    /// obra), the supplier, the search expression, the emission days vencidas and plazo can
    /// match, and today's date. `Ok(None)` when nothing can match: no obra is allowed, a
    /// searched word starts no stored term, or no day can hold an overdue document or a
    /// claim deadline in the window.
    pub(crate) async fn resolve_filter<'f>(
        &self,
        filter: &'f InvoiceFilter,
    ) -> Result<Option<ResolvedFilter<'f>>> {
        // which obras: the filter's one, within the visible set when there is one
        let obra_ids: Option<Vec<i64>> = {
            let mut codes: Option<Vec<String>> = filter.visible_obras.clone();
            if let Some(o) = &filter.obra {
                codes = Some(match codes {
                    Some(v) if !v.iter().any(|c| c.eq_ignore_ascii_case(o)) => vec![],
                    _ => vec![o.clone()],
                });
            }
            match codes {
                None => None,
                Some(codes) if codes.is_empty() => return Ok(None),
                Some(codes) => {
                    let mut qb: QueryBuilder<Sqlite> =
                        QueryBuilder::new("SELECT id FROM obras WHERE codigo IN (");
                    let mut sep = qb.separated(", ");
                    for c in &codes {
                        sep.push_bind(c.clone());
                    }
                    qb.push(") ORDER BY id");
                    let ids: Vec<i64> = qb.build_query_scalar().fetch_all(self.pool()).await?;
                    if ids.is_empty() {
                        return Ok(None);
                    }
                    Some(ids)
                }
            }
        };
        let today = filter
            .today
            .unwrap_or_else(|| chrono::Local::now().date_naive());
        // A RUT typed in the search box (with its dash or dots) is a supplier filter: exact,
        // and served by an index instead of the full-text search.
        let mut proveedor = filter.proveedor;
        let mut q = filter.q.as_deref();
        if proveedor.is_none()
            && let Some(text) = q
            && text.trim().contains(['-', '.'])
            && let Ok(rut) = text.trim().parse::<Rut>()
        {
            proveedor = Some(rut);
            q = None;
        }
        let mut days = DayBounds::default();
        if filter.vencidas {
            let newest: Option<String> = sqlx::query_scalar(
                "SELECT fecha FROM list_days WHERE min_vence < ? ORDER BY fecha DESC LIMIT 1",
            )
            .bind(today.to_string())
            .fetch_optional(self.pool())
            .await?;
            match newest {
                Some(day) => days.at_most(day),
                None => return Ok(None),
            }
        }
        if let Some(n) = filter.plazo_por_vencer {
            let until = claim_window_end(today, n);
            let (newest, oldest): (Option<String>, Option<String>) = sqlx::query_as(
                "SELECT MAX(fecha), MIN(fecha) FROM list_days INDEXED BY list_days_by_max_plazo \
                 WHERE max_plazo >= ? AND min_plazo <= ?",
            )
            .bind(today.to_string())
            .bind(until.to_string())
            .fetch_one(self.pool())
            .await?;
            let (Some(newest), Some(oldest)) = (newest, oldest) else {
                return Ok(None);
            };
            days.at_most(newest);
            days.at_least(oldest);
        }
        let fts = match q {
            None => None,
            Some(text) => match self.search(text).await? {
                None => None,
                Some(Search::Match(expr)) => Some(expr),
                Some(Search::Nothing) => return Ok(None),
            },
        };
        Ok(Some(ResolvedFilter {
            filter,
            obra_ids,
            proveedor,
            fts,
            days,
            today,
        }))
    }

    /// Resolves a natural key to the stored invoice's id.
    ///
    /// # Errors
    /// Database errors.
    pub async fn invoice_id_by_key(&self, key: &NaturalKey) -> Result<Option<InvoiceId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM invoices WHERE rut_emisor = ? AND tipo_dte = ? AND folio = ?",
        )
        .bind(key.rut_emisor.to_string())
        .bind(i64::from(key.tipo_dte.code()))
        .bind(key.folio.get() as i64)
        .fetch_optional(self.pool())
        .await?;
        id.map(|s| {
            s.parse().map_err(|_| StoreError::Corrupt {
                column: "invoices.id",
                value: s,
            })
        })
        .transpose()
    }

    /// Everything about one invoice.
    ///
    /// # Errors
    /// Database errors.
    pub async fn invoice(&self, id: InvoiceId) -> Result<Option<InvoiceDetail>> {
        let ids = id.to_string();
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM invoices i LEFT JOIN obras o ON o.id = i.obra_id WHERE i.id = ?"
        );
        let Some(row) = sqlx::query_as::<_, InvoiceRow>(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let extra: DetailColumns = sqlx::query_as(
            "SELECT fecha_recepcion_sii, monto_otros, centro_costo, cuenta, fecha_vencimiento, orden_compra, glosa, \
             motivo_rechazo, source, external_id, fecha_importacion, created_at, created_by, updated_at, updated_by \
             FROM invoices WHERE id = ?",
        )
        .bind(&ids)
        .fetch_one(self.pool())
        .await?;
        let taxes: Vec<(i64, Option<f64>, i64)> = sqlx::query_as(
            "SELECT codigo, tasa, valor FROM invoice_taxes WHERE invoice_id = ? ORDER BY pos",
        )
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        let refs: Vec<ReferenceRow> =
            sqlx::query_as("SELECT tipo, folio, fecha, codigo, razon FROM invoice_references WHERE invoice_id = ? ORDER BY pos")
                .bind(&ids)
                .fetch_all(self.pool())
                .await?;
        let DetailColumns {
            fecha_recepcion_sii,
            monto_otros,
            centro_costo,
            cuenta,
            fecha_vencimiento,
            orden_compra,
            glosa,
            motivo_rechazo,
            source,
            external_id,
            fecha_importacion,
            created_at,
            created_by,
            updated_at,
            updated_by,
        } = extra;
        Ok(Some(InvoiceDetail {
            row,
            fecha_recepcion_sii,
            monto_otros,
            centro_costo,
            cuenta,
            fecha_vencimiento,
            orden_compra,
            glosa,
            motivo_rechazo,
            source,
            external_id,
            fecha_importacion,
            otros_impuestos: taxes
                .into_iter()
                .map(|(codigo, tasa, valor)| icc_core::OtroImpuesto {
                    codigo: u16::try_from(codigo).unwrap_or(0),
                    tasa,
                    valor: icc_core::Clp::new(valor),
                })
                .collect(),
            referencias: refs
                .into_iter()
                .map(|r| icc_core::Referencia {
                    tipo: r.tipo,
                    folio: r.folio,
                    fecha: r.fecha.and_then(|f| f.parse().ok()),
                    codigo: r.codigo.and_then(|c| u8::try_from(c).ok()),
                    razon: r.razon,
                })
                .collect(),
            created_at,
            created_by,
            updated_at,
            updated_by,
        }))
    }

    /// The audit trail of one entity, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn history(&self, entity: &str, entity_id: &str) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditEntry> = sqlx::query_as(
            "SELECT at, user_name, action, field, old_value, new_value FROM audit_log WHERE entity = ? AND entity_id = ? ORDER BY id",
        )
        .bind(entity)
        .bind(entity_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(AuditEntry::for_people).collect())
    }

    /// The types of the stored documents of `rut` with `folio` (a note names the invoice it
    /// corrects by folio only).
    ///
    /// # Errors
    /// Database errors.
    pub async fn types_with_folio(&self, rut: &str, folio: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT tipo_dte FROM invoices WHERE rut_emisor = ? AND folio = ? ORDER BY tipo_dte",
        )
        .bind(rut)
        .bind(folio)
        .fetch_all(self.pool())
        .await?)
    }

    /// Which of `keys` are already stored.
    ///
    /// # Errors
    /// Database errors.
    pub async fn existing_keys(
        &self,
        keys: &[NaturalKey],
    ) -> Result<std::collections::HashSet<NaturalKey>> {
        self.matching_keys(keys, "").await
    }

    /// Which of `keys` are stored without obra.
    ///
    /// # Errors
    /// Database errors.
    pub async fn keys_without_obra(
        &self,
        keys: &[NaturalKey],
    ) -> Result<std::collections::HashSet<NaturalKey>> {
        self.matching_keys(keys, " WHERE i.obra_id IS NULL").await
    }

    async fn matching_keys(
        &self,
        keys: &[NaturalKey],
        condition: &'static str,
    ) -> Result<std::collections::HashSet<NaturalKey>> {
        let mut found = std::collections::HashSet::new();
        // the first import into a new database: nothing to match (binding 100k keys to
        // find none cost 0.1 s)
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM invoices)")
            .fetch_one(self.pool())
            .await?;
        if !any {
            return Ok(found);
        }
        for chunk in keys.chunks(5000) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("WITH k(rut, tipo, folio) AS (");
            qb.push_values(chunk, |mut b, k| {
                b.push_bind(k.rut_emisor.to_string())
                    .push_bind(i64::from(k.tipo_dte.code()))
                    .push_bind(k.folio.get() as i64);
            });
            qb.push(
                ") SELECT k.rut, k.tipo, k.folio FROM k JOIN invoices i \
                 ON i.rut_emisor = k.rut AND i.tipo_dte = k.tipo AND i.folio = k.folio",
            );
            qb.push(condition);
            let rows: Vec<(String, i64, i64)> = qb.build_query_as().fetch_all(self.pool()).await?;
            for (rut, tipo, folio) in rows {
                let key: NaturalKey =
                    format!("{rut}:{tipo}:{folio}")
                        .parse()
                        .map_err(|_| StoreError::Corrupt {
                            column: "invoices.rut_emisor",
                            value: rut.clone(),
                        })?;
                found.insert(key);
            }
        }
        Ok(found)
    }

    /// Whether a file with this SHA-256 was imported before.
    ///
    /// # Errors
    /// Database errors.
    pub async fn import_batch_exists(&self, sha256: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM import_batches WHERE sha256 = ?")
                .bind(sha256)
                .fetch_one(self.pool())
                .await?
                > 0,
        )
    }

    /// Number of stored invoices.
    ///
    /// # Errors
    /// Database errors.
    pub async fn invoice_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
            .fetch_one(self.pool())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lists_in_sql_match_the_rust_ones() {
        for s in InvoiceStatus::ALL {
            let quoted = format!("'{}'", s.as_str());
            assert_eq!(PAYABLE_STATES.contains(&quoted), s.is_payable(), "{s:?}");
            assert_eq!(
                CLAIMABLE_STATES.contains(&quoted),
                s.is_open_to_claim(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            fecha: "2026-10-01".parse().unwrap(),
            seq: 4711,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "abc",
            "2026-10-01|nope",
            "2026-13-01|5",
            "2026-10-01|0",
            "2026-10-01|-3",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}

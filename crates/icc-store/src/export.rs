//! Reading invoices for reports: every column, in the order a report needs, streamed.

use sqlx::{QueryBuilder, Sqlite};
use tokio::sync::mpsc;

use crate::Store;
use crate::error::Result;
use crate::invoices::{InvoiceFilter, InvoiceRow, PAYABLE_STATES, ROW_COLUMNS, ResolvedFilter};

/// Rows sent to the consumer at a time: large enough that the channel costs nothing per
/// row, small enough that a cancelled export stops at once.
pub const EXPORT_CHUNK: usize = 512;

/// Which documents a report takes and in what order, on top of the user's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSet {
    /// Every filtered document, in list order (newest emission first).
    List,
    /// The purchase register of a period: tax documents (no dispatch guides) that were
    /// neither rejected nor voided, received at the SII within `[desde, hasta]` (by
    /// emission date when the reception is unknown), ordered by type, date and folio like
    /// the SII's register.
    PurchaseBook {
        /// First day of the period.
        desde: chrono::NaiveDate,
        /// Last day of the period.
        hasta: chrono::NaiveDate,
    },
    /// What is still owed: documents in a payable state (no dispatch guides), by supplier
    /// name, then due date.
    Payables,
    /// Spend: documents neither rejected nor voided (no dispatch guides), by obra (those
    /// without one last), centro de costo and date.
    Spend,
}

/// One invoice with every column a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// The list columns.
    pub row: InvoiceRow,
    /// Name of the obra.
    pub obra_nombre: Option<String>,
    /// SII reception, `AAAA-MM-DDTHH:MM:SS`.
    pub fecha_recepcion_sii: Option<String>,
    /// Sum of otros impuestos.
    pub monto_otros: i64,
    /// Centro de costo.
    pub centro_costo: Option<String>,
    /// Cuenta contable.
    pub cuenta: Option<String>,
    /// Orden de compra.
    pub orden_compra: Option<String>,
    /// Glosa.
    pub glosa: Option<String>,
}

const EXTRA_COLUMNS: &str = "o.nombre, i.fecha_recepcion_sii, i.monto_otros, i.centro_costo, i.cuenta, i.orden_compra, i.glosa";

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for ExportRow {
    fn from_row(r: &'r sqlx::sqlite::SqliteRow) -> std::result::Result<Self, sqlx::Error> {
        use sqlx::Row;
        let row = InvoiceRow::from_row(r)?;
        let n = crate::invoices::ROW_COLUMN_COUNT;
        Ok(ExportRow {
            row,
            obra_nombre: r.try_get(n)?,
            fecha_recepcion_sii: r.try_get(n + 1)?,
            monto_otros: r.try_get(n + 2)?,
            centro_costo: r.try_get(n + 3)?,
            cuenta: r.try_get(n + 4)?,
            orden_compra: r.try_get(n + 5)?,
            glosa: r.try_get(n + 6)?,
        })
    }
}

/// The query of a report's rows, or of their count.
fn report_query(r: &ResolvedFilter<'_>, set: ReportSet, count: bool) -> QueryBuilder<Sqlite> {
    let select = if count {
        "SELECT COUNT(*)".to_owned()
    } else {
        format!("SELECT {ROW_COLUMNS}, {EXTRA_COLUMNS}")
    };
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "{select} FROM invoices i LEFT JOIN obras o ON o.id = i.obra_id WHERE 1 = 1"
    ));
    r.push_obra_scope(&mut qb);
    r.push_conditions(&mut qb);
    const NOT_GUIDES: &str = " AND i.tipo_dte NOT IN (50, 52)";
    const COUNTED: &str = " AND i.estado NOT IN ('rechazada', 'anulada')";
    let order = match set {
        ReportSet::List => " ORDER BY i.fecha_emision DESC, i.seq DESC",
        ReportSet::PurchaseBook { desde, hasta } => {
            qb.push(NOT_GUIDES).push(COUNTED);
            // Reception never precedes emission, so the emission bound narrows the scan
            // through the fecha index before the exact period test.
            qb.push(" AND i.fecha_emision <= ")
                .push_bind(hasta.to_string());
            qb.push(
                " AND COALESCE(substr(i.fecha_recepcion_sii, 1, 10), i.fecha_emision) BETWEEN ",
            )
            .push_bind(desde.to_string())
            .push(" AND ")
            .push_bind(hasta.to_string());
            " ORDER BY i.tipo_dte, i.fecha_emision, i.folio, i.rut_emisor"
        }
        ReportSet::Payables => {
            qb.push(NOT_GUIDES);
            qb.push(" AND i.estado IN (").push(PAYABLE_STATES).push(")");
            " ORDER BY i.razon_social, i.rut_emisor, i.vence, i.fecha_emision, i.folio"
        }
        ReportSet::Spend => {
            qb.push(NOT_GUIDES).push(COUNTED);
            " ORDER BY o.codigo IS NULL, o.codigo, i.centro_costo IS NULL, i.centro_costo, \
             i.fecha_emision, i.seq"
        }
    };
    if !count {
        qb.push(order);
    }
    qb
}

impl Store {
    /// How many documents a report will hold (for a progress bar).
    ///
    /// # Errors
    /// Database errors.
    pub async fn count_report_rows(&self, filter: &InvoiceFilter, set: ReportSet) -> Result<u64> {
        let Some(r) = self.resolve_filter(filter).await? else {
            return Ok(0);
        };
        let n: i64 = report_query(&r, set, true)
            .build_query_scalar()
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Streams the documents of a report to `tx` in chunks, in the report's order, and
    /// returns how many were sent. Stops early, without error, when the receiver is
    /// dropped (the export was cancelled or failed on the writing side).
    ///
    /// # Errors
    /// Database errors.
    pub async fn stream_report_rows(
        &self,
        filter: &InvoiceFilter,
        set: ReportSet,
        tx: mpsc::Sender<Vec<ExportRow>>,
    ) -> Result<u64> {
        use futures_util::TryStreamExt;

        let Some(r) = self.resolve_filter(filter).await? else {
            return Ok(0);
        };
        let mut qb = report_query(&r, set, false);
        let mut rows = qb.build_query_as::<ExportRow>().fetch(self.pool());
        let mut chunk = Vec::with_capacity(EXPORT_CHUNK);
        let mut sent = 0u64;
        while let Some(row) = rows.try_next().await? {
            chunk.push(row);
            if chunk.len() == EXPORT_CHUNK {
                sent += chunk.len() as u64;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(EXPORT_CHUNK));
                if tx.send(full).await.is_err() {
                    return Ok(sent);
                }
            }
        }
        if !chunk.is_empty() {
            sent += chunk.len() as u64;
            if tx.send(chunk).await.is_err() {
                return Ok(sent);
            }
        }
        Ok(sent)
    }
}

/// Spend of one obra in one document type (the panel's "gasto por obra").
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SpendGroup {
    /// Obra code (`None`: no obra).
    pub obra: Option<String>,
    /// Obra name.
    pub nombre: Option<String>,
    /// Document type.
    pub tipo_dte: i64,
    /// Documents.
    pub documentos: i64,
    /// Sum of totals as stated (the caller applies the type's sign).
    pub total: i64,
}

/// Payable documents due on one date, of one type (the panel's aging).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueGroup {
    /// Due date.
    pub vence: String,
    /// Document type.
    pub tipo_dte: i64,
    /// Documents.
    pub documentos: i64,
    /// Sum of totals as stated.
    pub total: i64,
}

/// Documents still open to a claim whose deadline falls on one date (`None`: unknown).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimGroup {
    /// Last day to claim.
    pub plazo: Option<String>,
    /// Document type.
    pub tipo_dte: i64,
    /// Documents.
    pub documentos: i64,
}

/// The grouped figures the panel is drawn from.
#[derive(Debug, Clone, Default)]
pub struct DashboardGroups {
    /// Spend per obra and type.
    pub spend: Vec<SpendGroup>,
    /// Payables per due date and type.
    pub due: Vec<DueGroup>,
    /// Open claims per deadline and type.
    pub claims: Vec<ClaimGroup>,
}

impl Store {
    /// Grouped figures for the panel, within the filter (its obra scope above all). Signs,
    /// buckets and deadline states are the caller's: they are domain rules.
    ///
    /// # Errors
    /// Database errors.
    pub async fn dashboard_groups(&self, filter: &InvoiceFilter) -> Result<DashboardGroups> {
        let Some(r) = self.resolve_filter(filter).await? else {
            return Ok(DashboardGroups::default());
        };
        // Every obra's spend reads the whole table: sequentially (NOT INDEXED) that took
        // 1.4 s on 1M invoices, through the obra index 2.7 s. A site manager's few obras
        // are better served by the index.
        let whole = r.obra_ids.is_none();
        let scoped = |select: &str, extra: &str, group: &str| {
            let hint = if whole && group.contains("obra_id") {
                " NOT INDEXED"
            } else {
                ""
            };
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("{select} FROM invoices i{hint} WHERE 1 = 1"));
            r.push_obra_scope(&mut qb);
            r.push_conditions(&mut qb);
            qb.push(extra).push(group);
            qb
        };
        // grouped by the integer obra id first and named after, instead of joining every row
        let mut spend_q = scoped(
            "SELECT o.codigo AS obra, o.nombre AS nombre, g.tipo_dte, g.documentos, g.total \
             FROM (SELECT i.obra_id, i.tipo_dte, COUNT(*) AS documentos, COALESCE(SUM(i.monto_total), 0) AS total",
            " AND i.estado NOT IN ('rechazada', 'anulada')",
            " GROUP BY i.obra_id, i.tipo_dte",
        );
        spend_q
            .push(") g LEFT JOIN obras o ON o.id = g.obra_id ORDER BY o.codigo IS NULL, o.codigo");
        let spend = spend_q
            .build_query_as::<SpendGroup>()
            .fetch_all(self.pool())
            .await?;
        let mut due_q = scoped(
            "SELECT i.vence, i.tipo_dte, COUNT(*) AS documentos, COALESCE(SUM(i.monto_total), 0) AS total",
            "",
            "",
        );
        due_q
            .push(" AND i.estado IN (")
            .push(PAYABLE_STATES)
            .push(") GROUP BY i.vence, i.tipo_dte");
        let due = due_q
            .build_query_as::<DueGroup>()
            .fetch_all(self.pool())
            .await?;
        let claims = scoped(
            "SELECT i.plazo_reclamo AS plazo, i.tipo_dte, COUNT(*) AS documentos",
            " AND i.estado IN ('recibida', 'en_revision')",
            " GROUP BY i.plazo_reclamo, i.tipo_dte",
        )
        .build_query_as::<ClaimGroup>()
        .fetch_all(self.pool())
        .await?;
        Ok(DashboardGroups { spend, due, claims })
    }
}

//! Export use case: a report of the invoices a user may see, to xlsx or CSV.
//!
//! The store streams rows on the async side while a blocking task writes them, so reading
//! the database and building the workbook overlap on two cores. Progress is reported from
//! the async side; cancelling drops the writer, which deletes its temporary file: the
//! destination is only ever a finished report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use icc_core::{DteType, InvoiceStatus, Rut};
use icc_io::export::{ExportFormat, ExportSummary, Exporter, Line, Meta, ReportKind};
use icc_store::{ExportRow, InvoiceFilter, ReportSet, StoreError};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The report.
    pub report: ReportKind,
    /// xlsx or CSV.
    pub format: ExportFormat,
    /// The same filters as the invoice list.
    pub filter: InvoiceFilter,
    /// The month of `libro-compras` (`AAAA-MM`), required there and refused elsewhere.
    pub mes: Option<String>,
    /// Destination file (replaced if it exists).
    pub out: PathBuf,
}

/// Where an export is, for a progress bar.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportProgress {
    /// Documents written.
    pub written: u64,
    /// Documents the report will hold.
    pub total: u64,
}

/// What an export produced (`icc export --json`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportReport {
    /// Report name (`facturas`, `libro-compras`, ...).
    pub report: ReportKind,
    /// `xlsx` or `csv`.
    pub format: ExportFormat,
    /// The file written.
    pub path: PathBuf,
    /// Documents in it.
    pub documents: u64,
    /// Sheets, in tab order (empty for CSV).
    pub sheets: Vec<String>,
}

/// The format a file name asks for: `.csv` is CSV, anything else xlsx.
pub fn format_for_path(path: &Path) -> ExportFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => ExportFormat::Csv,
        _ => ExportFormat::Xlsx,
    }
}

/// First and last day of an `AAAA-MM` month.
///
/// # Errors
/// [`AppError::Invalid`] naming the value and the expected shape.
pub fn month_bounds(mes: &str) -> Result<(NaiveDate, NaiveDate)> {
    let bad = || {
        AppError::Invalid(format!(
            "--mes: «{mes}» no es un mes válido; escríbalo como AAAA-MM, por ejemplo 2026-10"
        ))
    };
    let (y, m) = mes.trim().split_once('-').ok_or_else(bad)?;
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
    if !(1990..=2200).contains(&y) {
        return Err(bad());
    }
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(bad)?;
    Ok((first, next.pred_opt().ok_or_else(bad)?))
}

fn dmy(d: NaiveDate) -> String {
    format!("{:02}-{:02}-{:04}", d.day(), d.month(), d.year())
}

/// The filters in Spanish, for the title line and the `Parámetros` sheet.
fn describe(
    filter: &InvoiceFilter,
    s: &Session,
    period: Option<(NaiveDate, NaiveDate)>,
) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = Vec::new();
    if let Some((a, b)) = period {
        f.push(("Período".into(), format!("{} a {}", dmy(a), dmy(b))));
    }
    if let Some(o) = &filter.obra {
        f.push(("Obra".into(), o.clone()));
    }
    if let Some(e) = filter.estado {
        f.push(("Estado".into(), e.label().into()));
    }
    if let Some(r) = filter.proveedor {
        f.push(("Proveedor".into(), r.display()));
    }
    if let Some(d) = filter.desde {
        f.push(("Emitidas desde".into(), dmy(d)));
    }
    if let Some(d) = filter.hasta {
        f.push(("Emitidas hasta".into(), dmy(d)));
    }
    if filter.vencidas {
        f.push(("Vencidas".into(), "solo vencidas e impagas".into()));
    }
    if let Some(n) = filter.plazo_por_vencer {
        f.push((
            "Plazo de reclamo".into(),
            format!("vence en {n} días o menos"),
        ));
    }
    if let Some(q) = &filter.q {
        f.push(("Búsqueda".into(), q.clone()));
    }
    if let Some(ids) = &filter.ids {
        f.push((
            "Selección".into(),
            format!("{} facturas elegidas en la lista", ids.len()),
        ));
    }
    if let Some(scope) = s.obra_scope() {
        f.push(("Obras asignadas al usuario".into(), scope.join(", ")));
    }
    f
}

fn corrupt(column: &'static str, value: &str) -> AppError {
    AppError::Store(StoreError::Corrupt {
        column,
        value: value.to_owned(),
    })
}

/// What the vencimientos report adds to each document: credits, payments, balance and late
/// interest, from one pass over the database (not three queries a document).
struct Money {
    maps: icc_store::pagos::MoneyMaps,
    rates: Vec<icc_core::pagos::InterestRate>,
    today: NaiveDate,
}

impl Money {
    fn facts(&self, id: &str, l: &Line) -> icc_io::export::PaymentFacts {
        let total = l.signed(l.total);
        if l.tipo_dte.is_credit_note() {
            // a note credited to an invoice is counted there; one that is not is a credit
            let applied = self.maps.applied_notes.contains(id);
            return icc_io::export::PaymentFacts {
                saldo: if applied { 0 } else { total },
                ..Default::default()
            };
        }
        let notas = self.maps.credited.get(id).copied().unwrap_or(0);
        let pagado = self.maps.paid.get(id).copied().unwrap_or(0);
        let saldo = total.saturating_sub(notas).saturating_sub(pagado);
        let mora = icc_core::pagos::late_interest(
            icc_core::Clp::new(saldo),
            l.vence,
            self.today,
            &self.rates,
        );
        icc_io::export::PaymentFacts {
            notas,
            pagado,
            saldo,
            interes: mora.interes.pesos(),
            cargo: mora.cargo_cobranza.pesos(),
        }
    }
}

/// A stored row as the reports read it.
fn to_line(r: ExportRow, money: Option<&Money>) -> Result<Line> {
    let row = r.row;
    let id = row.id.clone();
    let date = |column: &'static str, v: &str| -> Result<NaiveDate> {
        v.parse().map_err(|_| corrupt(column, v))
    };
    let tipo = u16::try_from(row.tipo_dte)
        .ok()
        .and_then(|c| DteType::new(c).ok())
        .ok_or_else(|| corrupt("invoices.tipo_dte", &row.tipo_dte.to_string()))?;
    let rut: Rut = row
        .rut_emisor
        .parse()
        .map_err(|_| corrupt("invoices.rut_emisor", &row.rut_emisor))?;
    let estado: InvoiceStatus = row
        .estado
        .parse()
        .map_err(|_| corrupt("invoices.estado", &row.estado))?;
    let fecha_recepcion = match &r.fecha_recepcion_sii {
        Some(t) => Some(
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
                .map_err(|_| corrupt("invoices.fecha_recepcion_sii", t))?,
        ),
        None => None,
    };
    Ok(Line {
        tipo_dte: tipo,
        folio: row.folio,
        rut_emisor: rut,
        razon_social: row.razon_social,
        fecha_emision: date("invoices.fecha_emision", &row.fecha_emision)?,
        fecha_recepcion,
        vence: date("invoices.vence", &row.vence)?,
        plazo_reclamo: row
            .plazo_reclamo
            .as_deref()
            .map(|p| date("invoices.plazo_reclamo", p))
            .transpose()?,
        estado,
        obra: row.obra,
        obra_nombre: r.obra_nombre,
        centro_costo: r.centro_costo,
        cuenta: r.cuenta,
        orden_compra: r.orden_compra,
        glosa: r.glosa,
        neto: row.monto_neto,
        exento: row.monto_exento,
        iva: row.monto_iva,
        otros: r.monto_otros,
        total: row.monto_total,
        pagos: None,
    })
    .map(|mut l: Line| {
        if let Some(m) = money {
            l.pagos = Some(m.facts(&id, &l));
        }
        l
    })
}

impl App {
    /// Writes a report of the invoices this user may see. `progress` is called about ten
    /// times a second; returning `false` cancels, and then no file is left behind.
    ///
    /// # Errors
    /// Forbidden for the role, an obra the user does not have, a bad `--mes`,
    /// [`AppError::Cancelled`], the destination not writable, store errors.
    pub async fn export(
        &self,
        s: &Session,
        opts: ExportOptions,
        progress: &mut (dyn FnMut(ExportProgress) -> bool + Send),
    ) -> Result<ExportReport> {
        s.require(Permission::Export)?;
        let filter = self.scoped_filter(s, opts.filter)?;
        let period = match (&opts.mes, opts.report) {
            (Some(m), ReportKind::LibroCompras) => Some(month_bounds(m)?),
            (None, ReportKind::LibroCompras) => {
                return Err(AppError::Invalid(
                    "el libro de compras es mensual: indique el mes con --mes AAAA-MM".into(),
                ));
            }
            (Some(_), other) => {
                return Err(AppError::Invalid(format!(
                    "--mes solo se usa con libro-compras; para «{}» filtre con --desde y --hasta",
                    other.name()
                )));
            }
            (None, _) => None,
        };
        let set = match (opts.report, period) {
            (ReportKind::Facturas, _) => ReportSet::List,
            (ReportKind::LibroCompras, Some((desde, hasta))) => {
                ReportSet::PurchaseBook { desde, hasta }
            }
            (ReportKind::LibroCompras, None) => {
                return Err(AppError::Invalid(
                    "falta el mes del libro de compras".into(),
                ));
            }
            (ReportKind::Vencimientos, _) => ReportSet::Payables,
            (ReportKind::PorObra, _) => ReportSet::Spend,
        };
        let now = chrono::Local::now();
        let meta = Meta {
            kind: opts.report,
            exported_by: s.username.clone(),
            exported_at: now.naive_local(),
            today: filter.today.unwrap_or_else(|| now.date_naive()),
            filters: describe(&filter, s, period),
            app_version: env!("CARGO_PKG_VERSION").into(),
        };
        let total = self.store.count_report_rows(&filter, set).await?;
        let money = match set {
            ReportSet::Payables => Some(Money {
                maps: self.store.money_maps().await?,
                rates: self.store.interest_rates().await?,
                today: filter.today.unwrap_or_else(|| now.date_naive()),
            }),
            _ => None,
        };
        tracing::info!(
            report = opts.report.name(),
            documents = total,
            user = %s.username,
            "export started"
        );

        let written = Arc::new(AtomicU64::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = mpsc::channel::<Vec<ExportRow>>(8);
        let mut writer = {
            let written = Arc::clone(&written);
            let cancel = Arc::clone(&cancel);
            let out = opts.out.clone();
            let format = opts.format;
            tokio::task::spawn_blocking(move || -> Result<ExportSummary> {
                let mut ex = Exporter::create(meta, format, &out).map_err(export_error)?;
                while let Some(chunk) = rx.blocking_recv() {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(AppError::Cancelled);
                    }
                    for r in chunk {
                        ex.push(&to_line(r, money.as_ref())?)
                            .map_err(export_error)?;
                    }
                    written.store(ex.documents(), Ordering::Relaxed);
                }
                if cancel.load(Ordering::Relaxed) {
                    return Err(AppError::Cancelled);
                }
                ex.finish().map_err(export_error)
            })
        };
        let reading = self.store.stream_report_rows(&filter, set, tx);
        tokio::pin!(reading);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        let mut read_done = false;
        let mut report = |cancel: &AtomicBool| {
            let go = progress(ExportProgress {
                written: written.load(Ordering::Relaxed),
                total,
            });
            if !go {
                cancel.store(true, Ordering::Relaxed);
            }
        };
        let summary = loop {
            tokio::select! {
                r = &mut reading, if !read_done => {
                    read_done = true;
                    if let Err(e) = r {
                        // the writer must not finish a report the database cut short
                        cancel.store(true, Ordering::Relaxed);
                        return Err(e.into());
                    }
                }
                w = &mut writer => {
                    let summary = w.map_err(|e| AppError::Io(format!("la exportación se interrumpió: {e}")))??;
                    break summary;
                }
                _ = tick.tick() => report(&cancel),
            }
        };
        report(&cancel);
        tracing::info!(
            report = opts.report.name(),
            documents = summary.documents,
            "export finished"
        );
        Ok(ExportReport {
            report: opts.report,
            format: opts.format,
            path: opts.out,
            documents: summary.documents,
            sheets: summary.sheets,
        })
    }
}

fn export_error(e: icc_io::export::ExportError) -> AppError {
    AppError::Io(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_have_their_real_bounds() {
        let (a, b) = month_bounds("2024-02").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2024-02-01".into(), "2024-02-29".into())
        );
        let (_, b) = month_bounds("2026-12").unwrap();
        assert_eq!(b.to_string(), "2026-12-31");
        for bad in [
            "", "2026", "2026-13", "26-10", "2026-00", "abcd-ef", "1500-01",
        ] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_choose_the_format() {
        assert_eq!(format_for_path(Path::new("a/b.CSV")), ExportFormat::Csv);
        assert_eq!(format_for_path(Path::new("a/b.xlsx")), ExportFormat::Xlsx);
        assert_eq!(format_for_path(Path::new("informe")), ExportFormat::Xlsx);
    }
}

//! Reports for accountants, as xlsx workbooks or CSV files.
//!
//! An [`Exporter`] takes documents one at a time, in the order its report needs (the
//! store delivers them so), and writes as it goes: memory stays flat for any number of
//! rows. Four reports: [`ReportKind::Facturas`] (the filtered list),
//! [`ReportKind::LibroCompras`] (the purchase register of a month, subtotals per document
//! type), [`ReportKind::Vencimientos`] (accounts payable with aging buckets, subtotals per
//! supplier) and [`ReportKind::PorObra`] (spend per obra and centro de costo, a chart, a
//! detail sheet per obra).
//!
//! Every xlsx sheet starts with a title and a line describing the filters, then a frozen
//! header with an autofilter; amounts carry the CLP format, dates `dd-mm-aaaa`. A
//! `Parámetros` sheet says who exported what, when, with which filters. Subtotals and
//! totals are `SUBTOTAL` formulas Excel recalculates, with their values cached so any
//! reader sees them without recalculating.

pub mod grid;
mod reports;
mod table;

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use icc_core::{DteType, InvoiceStatus, Rut};

pub use reports::Exporter;

/// The reports there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// The filtered invoice list.
    Facturas,
    /// The purchase register of a month.
    LibroCompras,
    /// Accounts payable by due date with aging buckets.
    Vencimientos,
    /// Spend per obra and centro de costo.
    PorObra,
}

impl ReportKind {
    /// Every report, in menu order.
    pub const ALL: [ReportKind; 4] = [
        ReportKind::Facturas,
        ReportKind::LibroCompras,
        ReportKind::Vencimientos,
        ReportKind::PorObra,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Facturas => "facturas",
            ReportKind::LibroCompras => "libro-compras",
            ReportKind::Vencimientos => "vencimientos",
            ReportKind::PorObra => "por-obra",
        }
    }

    /// The title users read.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::Facturas => "Facturas",
            ReportKind::LibroCompras => "Libro de compras",
            ReportKind::Vencimientos => "Vencimientos y antigüedad de deuda",
            ReportKind::PorObra => "Gasto por obra y centro de costo",
        }
    }
}

impl std::str::FromStr for ReportKind {
    type Err = icc_core::CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReportKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                icc_core::CoreError::invalid(
                    "informe",
                    s,
                    "use facturas, libro-compras, vencimientos o por-obra",
                )
            })
    }
}

/// File format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// An Excel workbook.
    Xlsx,
    /// `;`-separated values, UTF-8 with BOM.
    Csv,
}

impl std::str::FromStr for ExportFormat {
    type Err = icc_core::CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xlsx" => Ok(ExportFormat::Xlsx),
            "csv" => Ok(ExportFormat::Csv),
            _ => Err(icc_core::CoreError::invalid("formato", s, "use xlsx o csv")),
        }
    }
}

/// One document as the reports need it. Amounts are as stated on the document (positive
/// for credit notes too); reports apply the sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Document type.
    pub tipo_dte: DteType,
    /// Folio.
    pub folio: i64,
    /// Issuer.
    pub rut_emisor: Rut,
    /// Issuer name.
    pub razon_social: String,
    /// Emission date.
    pub fecha_emision: NaiveDate,
    /// SII reception (America/Santiago).
    pub fecha_recepcion: Option<NaiveDateTime>,
    /// Due date.
    pub vence: NaiveDate,
    /// Last day to claim; `None` when unknown or the type cannot be claimed.
    pub plazo_reclamo: Option<NaiveDate>,
    /// Status.
    pub estado: InvoiceStatus,
    /// Obra code.
    pub obra: Option<String>,
    /// Obra name.
    pub obra_nombre: Option<String>,
    /// Centro de costo.
    pub centro_costo: Option<String>,
    /// Cuenta contable.
    pub cuenta: Option<String>,
    /// Orden de compra.
    pub orden_compra: Option<String>,
    /// Glosa.
    pub glosa: Option<String>,
    /// Neto.
    pub neto: i64,
    /// Exento.
    pub exento: i64,
    /// IVA.
    pub iva: i64,
    /// Otros impuestos.
    pub otros: i64,
    /// Total.
    pub total: i64,
    /// What was credited and paid, the balance and the late interest (the vencimientos
    /// report); `None` when not known: nothing credited or paid.
    pub pagos: Option<PaymentFacts>,
}

/// The money side of a document in the vencimientos report, with the report's sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentFacts {
    /// Credit notes credited to it.
    pub notas: i64,
    /// Payments recorded.
    pub pagado: i64,
    /// What is still owed (negative for a credit note not credited to any invoice, 0 for
    /// one that was).
    pub saldo: i64,
    /// Late-payment interest on the balance, today.
    pub interes: i64,
    /// The 1 % collection charge, when late.
    pub cargo: i64,
}

impl Line {
    /// The money facts, or those of a document nothing was credited to or paid.
    pub fn payment_facts(&self) -> PaymentFacts {
        self.pagos.unwrap_or(PaymentFacts {
            saldo: self.signed(self.total),
            ..PaymentFacts::default()
        })
    }

    /// An amount with this document's sign in reports: credit notes subtract.
    pub fn signed(&self, amount: i64) -> i64 {
        if self.tipo_dte.is_credit_note() {
            amount.saturating_abs().saturating_neg()
        } else {
            amount
        }
    }
}

/// What the export is about, for the title line and the `Parámetros` sheet.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The report.
    pub kind: ReportKind,
    /// Who exported.
    pub exported_by: String,
    /// When (local time).
    pub exported_at: NaiveDateTime,
    /// The date deadlines and aging count from (local).
    pub today: NaiveDate,
    /// The filters, as label and value, in Spanish (`("Obra", "OB-2026-001")`).
    pub filters: Vec<(String, String)>,
    /// Version of the application, for the record.
    pub app_version: String,
}

impl Meta {
    /// The line under each title: the filters, or that there are none.
    pub fn filter_line(&self) -> String {
        if self.filters.is_empty() {
            "Sin filtros: todos los documentos visibles para el usuario".into()
        } else {
            let parts: Vec<String> = self
                .filters
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            format!("Filtros: {}", parts.join(" · "))
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// Documents written.
    pub documents: u64,
    /// Sheets of the workbook, in tab order (empty for CSV).
    pub sheets: Vec<String>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading or writing a file.
    #[error("no se pudo escribir «{}»: {source}. Revise que la carpeta exista, que haya espacio y que el archivo no esté abierto en Excel", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The workbook library refused something.
    #[error("no se pudo generar el libro Excel: {0}")]
    Xlsx(String),
    /// A report asked for something impossible (a bug).
    #[error("error interno al generar el informe: {0}")]
    Internal(String),
}

impl ExportError {
    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ExportError::Io { path, .. } => Some(path),
            _ => None,
        }
    }
}

//! From rows to invoices: the SII RCV (every variant, continuation rows of otros impuestos)
//! and generic sheets, each row validated by icc-core. Stages: a [`Row`] is read into an
//! [`Invoice`] draft, continuation rows are folded in, then the draft is validated.

use std::collections::HashMap;

use chrono::NaiveDate;
use icc_core::{
    Clp, DteType, Folio, Invoice, InvoiceStatus, NaturalKey, OtroImpuesto, Referencia, Rut,
    Severity, Source,
};
use serde::Serialize;

use crate::cell::{self, Cell};
use crate::error::{FileError, RowIssue};
use crate::header::{self, Field, Mapping, MappingSpec, normalize};
use crate::source::{FileKind, Row, Sheet, TextEncoding, Workbook};

/// What the caller says the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Decide from the header.
    #[default]
    Auto,
    /// SII Registro de Compras.
    Rcv,
    /// A sheet exported from iConstruye.
    Iconstruye,
    /// Any sheet with recognisable columns.
    Generic,
}

/// The RCV compras variants (DOMAIN.md §3), told apart by their header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RcvVariant {
    /// Estado Registro (27 columns, with Fecha Acuse and the Tabacos columns).
    Registro,
    /// Estado No incluir (Fecha Acuse, no Tabacos).
    NoIncluir,
    /// Estado Reclamado (Fecha Reclamo).
    Reclamado,
    /// Estado Pendiente (no Fecha Acuse).
    Pendiente,
}

/// What the file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", content = "variant", rename_all = "snake_case")]
pub enum Detected {
    /// SII RCV compras.
    Rcv(RcvVariant),
    /// A generic or iConstruye sheet.
    Generic,
}

/// Options for parsing.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Format hint.
    pub format: Format,
    /// Sheet to read (default: the first with data).
    pub sheet: Option<String>,
    /// Column mapping for generic sheets.
    pub mapping: Option<MappingSpec>,
    /// "Today", for date plausibility.
    pub today: Option<NaiveDate>,
}

/// One valid document and where it came from.
#[derive(Debug, Clone)]
pub struct ParsedDoc {
    /// The document.
    pub invoice: Invoice,
    /// Its first row in the file.
    pub row: u64,
}

/// Everything read from one file.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ParsedFile {
    /// File name as given.
    pub file: String,
    /// Container.
    pub kind: FileKind,
    /// Text encoding (CSV).
    pub encoding: Option<TextEncoding>,
    /// CSV delimiter.
    pub delimiter: Option<char>,
    /// RCV variant or generic.
    pub detected: Detected,
    /// Sheet read.
    pub sheet: Option<String>,
    /// Header row (1-based).
    pub header_row: u64,
    /// Field → column header used.
    pub mapping: std::collections::BTreeMap<Field, String>,
    /// The same mapping as column letters (what a mapping editor sends back).
    pub mapping_letters: std::collections::BTreeMap<Field, String>,
    /// The header row's cells as `(letter, text)`, for a mapping editor.
    pub columns: Vec<(String, String)>,
    /// Data rows read (not counting blanks).
    pub rows_read: u64,
    /// Valid documents.
    #[serde(skip)]
    pub docs: Vec<ParsedDoc>,
    /// Rows that could not be used.
    pub errors: Vec<RowIssue>,
    /// Usable but suspicious.
    pub warnings: Vec<RowIssue>,
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The whole file is refused.
    #[error(transparent)]
    File(#[from] FileError),
    /// The caller cancelled.
    #[error("importación cancelada")]
    Cancelled,
}

struct Ctx<'a> {
    file: &'a str,
    sheet: Option<String>,
    mapping: &'a Mapping,
    today: NaiveDate,
    errors: Vec<RowIssue>,
    warnings: Vec<RowIssue>,
}

impl Ctx<'_> {
    fn issue(
        &self,
        row: u64,
        field: Option<Field>,
        value: Option<String>,
        message: String,
    ) -> RowIssue {
        RowIssue {
            file: self.file.to_owned(),
            sheet: self.sheet.clone(),
            row: Some(row),
            column: field.and_then(|f| self.mapping.label(f)),
            value,
            message,
        }
    }

    fn error(
        &mut self,
        row: u64,
        field: Option<Field>,
        value: Option<String>,
        message: impl Into<String>,
    ) {
        let i = self.issue(row, field, value, message.into());
        self.errors.push(i);
    }

    /// An error about one cell: names the column and quotes the raw value.
    fn cell_error(&mut self, row: u64, r: &Row<'_>, f: Field, message: String) {
        let raw = get(r, self.mapping, f).raw();
        self.error(row, Some(f), Some(raw), message);
    }

    fn warn(
        &mut self,
        row: u64,
        field: Option<Field>,
        value: Option<String>,
        message: impl Into<String>,
    ) {
        let i = self.issue(row, field, value, message.into());
        self.warnings.push(i);
    }
}

fn get<'r>(row: &Row<'r>, m: &Mapping, f: Field) -> Cell<'r> {
    m.col(f).map_or(Cell::Empty, |c| row.get(c))
}

/// Progress is reported every this many rows.
pub const PROGRESS_EVERY: u64 = 1000;

/// Reads `bytes` (the content of `file`) into documents and row findings.
/// `progress(rows_read)` is called every [`PROGRESS_EVERY`] rows; returning `false` cancels.
///
/// # Errors
/// [`ParseError::File`] when the file as a whole is refused (empty, not a spreadsheet,
/// encrypted, a sales register, no header), [`ParseError::Cancelled`].
pub fn parse_file(
    file: &str,
    bytes: Vec<u8>,
    opts: &ParseOptions,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<ParsedFile, ParseError> {
    let mut wb = Workbook::open(file, bytes)?;
    let sheet = wb.take_sheet(file, opts.sheet.as_deref())?;
    if sheet.is_empty() || (0..sheet.len()).all(|i| sheet.row(i).is_none_or(|r| r.is_blank())) {
        return Err(FileError::Empty {
            file: file.to_owned(),
        }
        .into());
    }
    let sheet_label = sheet
        .name
        .as_ref()
        .map(|n| format!(" (hoja «{n}»)"))
        .unwrap_or_default();
    // a sales register is recognised before anything else, so it is refused as what it is
    for i in 0..sheet.len().min(50) {
        if let Some(r) = sheet.row(i)
            && (0..r.len().min(256)).any(|c| {
                r.get(c)
                    .text()
                    .is_some_and(|h| normalize(&h) == "rut cliente")
            })
        {
            return Err(FileError::SalesRegister { file: file.into() }.into());
        }
    }
    let (header_idx, mapping) = header::detect(&sheet, opts.mapping.as_ref()).map_err(|found| {
        if opts.mapping.is_some() {
            FileError::BadMapping {
                file: file.into(),
                reason: format!("ninguna fila contiene todas las columnas indicadas{found}"),
            }
        } else {
            FileError::NoHeader {
                file: file.into(),
                sheet: sheet_label.clone(),
                found,
            }
        }
    })?;
    let header_row = sheet.row(header_idx);
    let columns: Vec<(String, String)> = header_row.map_or_else(Vec::new, |r| {
        (0..r.len().min(512))
            .filter_map(|c| {
                r.get(c)
                    .text()
                    .map(|t| (crate::header::column_letter(c), t.trim().to_owned()))
            })
            .filter(|(_, t)| !t.is_empty())
            .collect()
    });
    let headers: Vec<String> = header_row.map_or_else(Vec::new, |r| {
        (0..r.len().min(512))
            .filter_map(|c| r.get(c).text())
            .map(|h| normalize(&h))
            .collect()
    });
    let detected = match opts.format {
        Format::Generic | Format::Iconstruye => Detected::Generic,
        Format::Rcv | Format::Auto => match rcv_variant(&headers) {
            Some(v) => Detected::Rcv(v),
            None if opts.format == Format::Rcv => {
                return Err(FileError::Unreadable {
                    file: file.into(),
                    reason: "no tiene los encabezados del Registro de Compras del SII (Nro, Tipo Doc, RUT Proveedor, Folio, Monto Total…); \
                             si es otra planilla, importe con --format generic"
                        .into(),
                }
                .into());
            }
            None => Detected::Generic,
        },
    };
    let today = opts
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let mut ctx = Ctx {
        file,
        sheet: sheet.name.clone(),
        mapping: &mapping,
        today,
        errors: vec![],
        warnings: vec![],
    };
    if detected == Detected::Generic && !mapping.has(Field::Tipo) {
        ctx.warn(
            sheet.row_number(header_idx),
            None,
            None,
            "no hay columna de tipo de documento: se asume 33 (factura electrónica)",
        );
    }
    if detected == Detected::Generic && !mapping.has(Field::Iva) {
        ctx.warn(
            sheet.row_number(header_idx),
            None,
            None,
            "no hay columna de IVA: se calcula como total − neto − exento",
        );
    }
    let (docs, rows_read) = read_rows(&sheet, header_idx, detected, &mut ctx, progress)?;
    let Ctx {
        errors, warnings, ..
    } = ctx;
    Ok(ParsedFile {
        file: file.to_owned(),
        kind: wb.kind,
        encoding: wb.encoding,
        delimiter: wb.delimiter,
        detected,
        sheet: sheet.name.clone(),
        header_row: sheet.row_number(header_idx),
        mapping: mapping.describe(),
        mapping_letters: mapping.letters(),
        columns,
        rows_read,
        docs,
        errors,
        warnings,
    })
}

fn rcv_variant(headers: &[String]) -> Option<RcvVariant> {
    let has = |h: &str| headers.iter().any(|x| x == h);
    if !(has("nro")
        && has("tipo doc")
        && has("rut proveedor")
        && has("folio")
        && has("monto total"))
    {
        return None;
    }
    Some(if has("fecha reclamo") {
        RcvVariant::Reclamado
    } else if has("fecha acuse") && has("tabacos puros") {
        RcvVariant::Registro
    } else if has("fecha acuse") {
        RcvVariant::NoIncluir
    } else {
        RcvVariant::Pendiente
    })
}

/// A document being built, waiting for possible continuation rows.
struct Pending {
    invoice: Invoice,
    row: u64,
    iva_derived: bool,
}

fn read_rows(
    sheet: &Sheet,
    header_idx: usize,
    detected: Detected,
    ctx: &mut Ctx<'_>,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<(Vec<ParsedDoc>, u64), ParseError> {
    let mut docs: Vec<ParsedDoc> = Vec::new();
    let mut seen: HashMap<NaturalKey, u64> = HashMap::new();
    let mut pending: Option<Pending> = None;
    let mut pending_failed = false;
    let mut rows_read = 0u64;
    let m = ctx.mapping;
    for (rownum, row) in sheet.rows().skip(header_idx + 1) {
        if row.is_blank() {
            continue;
        }
        rows_read += 1;
        if rows_read.is_multiple_of(PROGRESS_EVERY) && !progress(rows_read) {
            return Err(ParseError::Cancelled);
        }
        let is_rcv = matches!(detected, Detected::Rcv(_));
        if is_rcv
            && get(&row, m, Field::Nro).is_blank()
            && get(&row, m, Field::FechaRecepcion).is_blank()
            && get(&row, m, Field::Total).is_blank()
        {
            // continuation: another otro impuesto of the document above
            match (&mut pending, pending_failed) {
                (Some(p), _) => {
                    if let Some(o) = otro_impuesto(&row, rownum, ctx) {
                        p.invoice.otros_impuestos.push(o);
                    }
                }
                (None, true) => {} // its document was already rejected
                (None, false) => ctx.error(
                    rownum,
                    None,
                    None,
                    "fila de otros impuestos sin un documento en la fila anterior",
                ),
            }
            continue;
        }
        if let Some(p) = pending.take() {
            finish(p, ctx, &mut seen, &mut docs);
        }
        if !is_rcv && is_totals_row(&row, m) {
            continue;
        }
        match read_document(&row, rownum, detected, ctx) {
            Some(p) => {
                pending = Some(p);
                pending_failed = false;
            }
            None => pending_failed = true,
        }
    }
    if let Some(p) = pending.take() {
        finish(p, ctx, &mut seen, &mut docs);
    }
    progress(rows_read);
    Ok((docs, rows_read))
}

/// A generic sheet's totals row: no RUT and no folio, or a cell saying "total".
fn is_totals_row(row: &Row<'_>, m: &Mapping) -> bool {
    let rut = get(row, m, Field::Rut);
    if let Some(t) = rut.text() {
        // a RUT-looking cell is a document; only a cell reading "Total…" is a totals row
        return !t.starts_with(|c: char| c.is_ascii_digit()) && normalize(&t).starts_with("total");
    }
    let folio_blank = get(row, m, Field::Folio).is_blank() && get(row, m, Field::Nro).is_blank();
    folio_blank
        || (0..row.len().min(8)).any(|c| {
            row.get(c)
                .text()
                .is_some_and(|t| normalize(&t).starts_with("total"))
        })
}

fn otro_impuesto(row: &Row<'_>, rownum: u64, ctx: &mut Ctx<'_>) -> Option<OtroImpuesto> {
    let m = ctx.mapping;
    let codigo = match cell::integer(get(row, m, Field::OtroCodigo)) {
        Ok(c) => c,
        Err(e) => {
            ctx.cell_error(rownum, row, Field::OtroCodigo, e);
            return None;
        }
    };
    let valor = match cell::amount(get(row, m, Field::OtroValor)) {
        Ok(v) => v,
        Err(e) => {
            ctx.cell_error(rownum, row, Field::OtroValor, e);
            return None;
        }
    };
    let tasa = get(row, m, Field::OtroTasa)
        .text()
        .and_then(|t| t.replace(',', ".").parse::<f64>().ok());
    match (codigo, valor) {
        (None, None) => None,
        (Some(c), Some(v)) => Some(OtroImpuesto {
            codigo: u16::try_from(c).unwrap_or(0),
            tasa,
            valor: Clp::new(v.pesos),
        }),
        (None, Some(v)) if v.pesos == 0 => None,
        (c, v) => {
            ctx.error(
                rownum,
                Some(if c.is_none() {
                    Field::OtroCodigo
                } else {
                    Field::OtroValor
                }),
                None,
                format!(
                    "otro impuesto incompleto: código {} y valor {}",
                    c.map_or("vacío".into(), |c| c.to_string()),
                    v.map_or("vacío".into(), |v| v.pesos.to_string())
                ),
            );
            None
        }
    }
}

fn read_document(
    row: &Row<'_>,
    rownum: u64,
    detected: Detected,
    ctx: &mut Ctx<'_>,
) -> Option<Pending> {
    let m = ctx.mapping;
    let errors_before = ctx.errors.len();
    let raw = |f: Field| Some(get(row, m, f).raw());

    let rut = match get(row, m, Field::Rut).text() {
        None => {
            ctx.error(rownum, Some(Field::Rut), None, "falta el RUT del proveedor");
            None
        }
        Some(t) => match t.parse::<Rut>() {
            Ok(r) => Some(r),
            Err(e) => {
                ctx.error(rownum, Some(Field::Rut), Some(t), e.to_string());
                None
            }
        },
    };
    let tipo = if m.has(Field::Tipo) {
        match get(row, m, Field::Tipo).text() {
            None => {
                ctx.error(
                    rownum,
                    Some(Field::Tipo),
                    None,
                    "falta el tipo de documento",
                );
                None
            }
            Some(t) => match DteType::from_label(&t) {
                Ok(t) => Some(t),
                Err(e) => {
                    ctx.error(rownum, Some(Field::Tipo), Some(t), e.to_string());
                    None
                }
            },
        }
    } else {
        Some(DteType::FACTURA)
    };
    let folio_field = if m.has(Field::Folio) {
        Field::Folio
    } else {
        Field::Nro
    };
    let folio = match get(row, m, folio_field).text() {
        None => {
            ctx.error(rownum, Some(folio_field), None, "falta el folio");
            None
        }
        Some(t) => match t.parse::<Folio>() {
            Ok(f) => Some(f),
            Err(e) => {
                ctx.error(rownum, Some(folio_field), Some(t), e.to_string());
                None
            }
        },
    };
    let emision = match cell::date(get(row, m, Field::FechaEmision)) {
        Ok(Some(d)) => Some(d),
        Ok(None) => {
            ctx.error(
                rownum,
                Some(Field::FechaEmision),
                None,
                "falta la fecha de emisión",
            );
            None
        }
        Err(e) => {
            ctx.error(
                rownum,
                Some(Field::FechaEmision),
                raw(Field::FechaEmision),
                format!("fecha de emisión: {e}"),
            );
            None
        }
    };
    let opt_date = |f: Field, what: &str, ctx: &mut Ctx<'_>| match cell::datetime(get(row, m, f)) {
        Ok(d) => d,
        Err(e) => {
            ctx.cell_error(rownum, row, f, format!("{what}: {e}"));
            None
        }
    };
    let recepcion = opt_date(Field::FechaRecepcion, "fecha de recepción", ctx);
    let vencimiento =
        opt_date(Field::FechaVencimiento, "fecha de vencimiento", ctx).map(|d| d.date());

    let amount = |f: Field, what: &str, ctx: &mut Ctx<'_>| -> Option<i64> {
        match cell::amount(get(row, m, f)) {
            Ok(Some(a)) => {
                if a.rounded {
                    ctx.warn(
                        rownum,
                        Some(f),
                        Some(get(row, m, f).raw()),
                        format!("{what}: tenía decimales y se redondeó a {} pesos", a.pesos),
                    );
                }
                Some(a.pesos)
            }
            Ok(None) => Some(0),
            Err(e) => {
                ctx.cell_error(rownum, row, f, format!("{what}: {e}"));
                None
            }
        }
    };
    let neto = amount(Field::Neto, "monto neto", ctx);
    let exento = amount(Field::Exento, "monto exento", ctx);
    let iva_rec = amount(Field::Iva, "IVA", ctx);
    let iva_nr = amount(Field::IvaNoRecuperable, "IVA no recuperable", ctx);
    let iva_uc = amount(Field::IvaUsoComun, "IVA uso común", ctx);
    let total = if get(row, m, Field::Total).is_blank() && m.has(Field::Total) {
        ctx.error(rownum, Some(Field::Total), None, "falta el monto total");
        None
    } else {
        amount(Field::Total, "monto total", ctx)
    };
    let otro = if matches!(detected, Detected::Rcv(_)) {
        otro_impuesto(row, rownum, ctx)
    } else {
        None
    };

    if ctx.errors.len() > errors_before {
        return None;
    }
    let (rut, tipo, folio, emision, neto, exento, iva_rec, iva_nr, iva_uc, total) = (
        rut?, tipo?, folio?, emision?, neto?, exento?, iva_rec?, iva_nr?, iva_uc?, total?,
    );
    let mut iva = iva_rec.saturating_add(iva_nr).saturating_add(iva_uc);
    let mut amounts = [neto, exento, iva, total];
    if tipo.is_credit_note() && amounts.iter().any(|a| *a < 0) {
        // some exports already sign credit notes; the document itself is positive
        ctx.warn(rownum, Some(Field::Total), Some(total.to_string()), "nota de crédito con montos negativos: se guardan en valor absoluto (se restan en los totales)");
        amounts = amounts.map(i64::saturating_abs);
    }
    let [neto, exento, iva_abs, total] = amounts;
    iva = iva_abs;
    let mut iva_derived = false;
    if !m.has(Field::Iva) && matches!(detected, Detected::Generic) {
        iva = total - neto - exento - otro.as_ref().map_or(0, |o| o.valor.pesos());
        iva_derived = true;
    }
    let text = |f: Field| get(row, m, f).text();
    let orden_compra = text(Field::OrdenCompra);
    let referencias = orden_compra
        .iter()
        .map(|oc| Referencia {
            tipo: "801".into(),
            folio: oc.chars().take(18).collect(),
            fecha: None,
            codigo: None,
            razon: None,
        })
        .collect();
    let (estado, motivo) = match detected {
        Detected::Rcv(RcvVariant::Reclamado) => (
            InvoiceStatus::Rechazada,
            Some("reclamado en el SII (Registro de Compras, estado Reclamado)".to_owned()),
        ),
        _ => (InvoiceStatus::Recibida, None),
    };
    let invoice = Invoice {
        key: NaturalKey {
            rut_emisor: rut,
            tipo_dte: tipo,
            folio,
        },
        razon_social: text(Field::RazonSocial).unwrap_or_default(),
        fecha_emision: emision,
        fecha_recepcion_sii: recepcion,
        fecha_vencimiento: vencimiento,
        monto_neto: Clp::new(neto),
        monto_exento: Clp::new(exento),
        monto_iva: Clp::new(iva),
        otros_impuestos: otro.into_iter().collect(),
        monto_total: Clp::new(total),
        referencias,
        obra: text(Field::Obra),
        centro_costo: text(Field::CentroCosto),
        cuenta: text(Field::Cuenta),
        orden_compra,
        glosa: text(Field::Glosa),
        estado,
        motivo_rechazo: motivo,
        source: if matches!(detected, Detected::Rcv(_)) {
            Source::Rcv
        } else {
            Source::Excel
        },
        external_id: None,
        fecha_importacion: None,
    };
    Some(Pending {
        invoice,
        row: rownum,
        iva_derived,
    })
}

fn field_for(label: &str) -> Option<Field> {
    Some(match label {
        "monto neto" => Field::Neto,
        "monto exento" => Field::Exento,
        "IVA" => Field::Iva,
        "monto total" => Field::Total,
        "otros impuestos" => Field::OtroValor,
        "fecha emisión" => Field::FechaEmision,
        "fecha recepción SII" => Field::FechaRecepcion,
        "fecha vencimiento" => Field::FechaVencimiento,
        "tipo de documento" => Field::Tipo,
        "razón social" => Field::RazonSocial,
        _ => return None,
    })
}

fn finish(
    p: Pending,
    ctx: &mut Ctx<'_>,
    seen: &mut HashMap<NaturalKey, u64>,
    docs: &mut Vec<ParsedDoc>,
) {
    let v = icc_core::validate(&p.invoice, ctx.today);
    let mut bad = false;
    for issue in &v.issues {
        let field = field_for(issue.field);
        let message = format!("{}: {}", issue.field, issue.message);
        match issue.severity {
            Severity::Error => {
                bad = true;
                ctx.error(p.row, field, Some(issue.value.clone()), message);
            }
            // an IVA we derived ourselves cannot be "off"; its total check is the real one
            Severity::Warning if p.iva_derived && issue.field == "IVA" => {}
            Severity::Warning => ctx.warn(p.row, field, Some(issue.value.clone()), message),
        }
    }
    if p.iva_derived && p.invoice.monto_iva.pesos() < 0 {
        bad = true;
        ctx.error(
            p.row,
            Some(Field::Total),
            Some(p.invoice.monto_total.pesos().to_string()),
            "el total es menor que neto + exento: revise los montos",
        );
    }
    if bad {
        return;
    }
    if let Some(first) = seen.get(&p.invoice.key) {
        let key = p.invoice.key.to_string();
        ctx.error(p.row, Some(Field::Folio), Some(key.clone()), format!("el documento {key} está repetido en el archivo (ya aparece en la fila {first}); se importa solo la primera vez"));
        return;
    }
    seen.insert(p.invoice.key, p.row);
    docs.push(ParsedDoc {
        invoice: p.invoice,
        row: p.row,
    });
}

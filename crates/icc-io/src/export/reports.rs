//! The four reports, each a small state machine over documents arriving in order.

use std::path::{Path, PathBuf};

use icc_core::{AgingBucket, aging_bucket};

use super::table::{
    Cell, Col, CsvSink, FIRST_DATA_ROW, Kind, Mark, RowStyle, SheetSpec, Sink, XlsxSink, col,
    date_text, datetime_text,
};
use super::{ExportError, ExportFormat, ExportSummary, Line, Meta, ReportKind};

const NO_RESULTS: &str = "Sin resultados para los filtros indicados.";

const FACTURAS: &[Col] = &[
    col("Tipo", Kind::Code),
    col("Documento", Kind::Text),
    col("Folio", Kind::Code),
    col("RUT proveedor", Kind::Text),
    col("Razón social", Kind::Text),
    col("Emisión", Kind::Date),
    col("Recepción SII", Kind::DateTime),
    col("Vencimiento", Kind::Date),
    col("Plazo reclamo", Kind::Date),
    col("Estado", Kind::Text),
    col("Obra", Kind::Text),
    col("Centro de costo", Kind::Text),
    col("Cuenta", Kind::Text),
    col("Orden de compra", Kind::Text),
    col("Neto", Kind::Money),
    col("Exento", Kind::Money),
    col("IVA", Kind::Money),
    col("Otros impuestos", Kind::Money),
    col("Total", Kind::Money),
    col("Glosa", Kind::Text),
];

const LIBRO: &[Col] = &[
    col("Nro", Kind::Code),
    col("Tipo", Kind::Code),
    col("Documento", Kind::Text),
    col("RUT proveedor", Kind::Text),
    col("Razón social", Kind::Text),
    col("Folio", Kind::Code),
    col("Fecha docto", Kind::Date),
    col("Fecha recepción", Kind::DateTime),
    col("Monto exento", Kind::Money),
    col("Monto neto", Kind::Money),
    col("Monto IVA", Kind::Money),
    col("Otros impuestos", Kind::Money),
    col("Monto total", Kind::Money),
];
const LIBRO_MONEY: usize = 8;

const VENCIMIENTOS: &[Col] = &[
    col("RUT proveedor", Kind::Text),
    col("Razón social", Kind::Text),
    col("Tipo", Kind::Code),
    col("Documento", Kind::Text),
    col("Folio", Kind::Code),
    col("Emisión", Kind::Date),
    col("Vencimiento", Kind::Date),
    col("Días vencido", Kind::Count),
    col("Antigüedad", Kind::Text),
    col("Plazo reclamo", Kind::Date),
    col("Estado", Kind::Text),
    col("Obra", Kind::Text),
    col("Monto", Kind::Money),
    col("Notas de crédito", Kind::Money),
    col("Pagado", Kind::Money),
    col("Saldo", Kind::Money),
    col("Interés por mora", Kind::Money),
    col("Cargo de cobranza", Kind::Money),
    col("Al día", Kind::Money),
    col("1–30 días", Kind::Money),
    col("31–60 días", Kind::Money),
    col("61–90 días", Kind::Money),
    col("Más de 90 días", Kind::Money),
];
const VENC_MONEY: usize = 12;

const OBRA_DETALLE: &[Col] = &[
    col("Tipo", Kind::Code),
    col("Documento", Kind::Text),
    col("Folio", Kind::Code),
    col("RUT proveedor", Kind::Text),
    col("Razón social", Kind::Text),
    col("Emisión", Kind::Date),
    col("Centro de costo", Kind::Text),
    col("Cuenta", Kind::Text),
    col("Estado", Kind::Text),
    col("Neto", Kind::Money),
    col("Exento", Kind::Money),
    col("IVA", Kind::Money),
    col("Otros impuestos", Kind::Money),
    col("Total", Kind::Money),
];
const DETALLE_MONEY: usize = 9;

const RESUMEN: &[Col] = &[
    col("Obra", Kind::Text),
    col("Nombre de la obra", Kind::Text),
    col("Centro de costo", Kind::Text),
    col("Documentos", Kind::Count),
    col("Neto", Kind::Money),
    col("Exento", Kind::Money),
    col("IVA", Kind::Money),
    col("Otros impuestos", Kind::Money),
    col("Total", Kind::Money),
];
const RESUMEN_SUMS: usize = 3;

const TOTAL_POR_OBRA: &[Col] = &[
    col("Obra", Kind::Text),
    col("Nombre de la obra", Kind::Text),
    col("Total", Kind::Money),
];

const PARAMETROS: &[Col] = &[col("Parámetro", Kind::Text), col("Valor", Kind::Text)];

const SIN_OBRA: &str = "Sin obra";
const SIN_CENTRO: &str = "Sin centro de costo";

/// Running sums of N columns.
#[derive(Debug, Clone, Copy)]
struct Sums<const N: usize>([i64; N]);

impl<const N: usize> Sums<N> {
    fn zero() -> Self {
        Sums([0; N])
    }

    fn add(&mut self, v: [i64; N]) {
        for (s, x) in self.0.iter_mut().zip(v) {
            *s = s.saturating_add(x);
        }
    }

    /// `SUBTOTAL` cells over sheet rows `first..=last`.
    fn cells(&self, first: u32, last: u32) -> [Cell<'static>; N] {
        self.0.map(|value| Cell::Sum { value, first, last })
    }
}

/// The five amounts of a document with its report sign: exento, neto, IVA, otros, total.
fn amounts(l: &Line) -> [i64; 5] {
    [
        l.signed(l.exento),
        l.signed(l.neto),
        l.signed(l.iva),
        l.signed(l.otros),
        l.signed(l.total),
    ]
}

fn tipo_label(l: &Line) -> &'static str {
    l.tipo_dte
        .label()
        .unwrap_or("Documento de tipo desconocido")
}

fn opt(s: &Option<String>) -> Cell<'_> {
    s.as_deref().map_or(Cell::Empty, Cell::Text)
}

fn plazo_cell(l: &Line, today: chrono::NaiveDate, mark: bool) -> Cell<'static> {
    match l.plazo_reclamo {
        Some(p) if mark => match icc_core::claim_state(Some(l.tipo_dte), Some(p), today).0 {
            icc_core::ClaimState::Vencido => Cell::MarkedDate(p, Mark::Expired),
            icc_core::ClaimState::PorVencer => Cell::MarkedDate(p, Mark::Soon),
            _ => Cell::Date(p),
        },
        Some(p) => Cell::Date(p),
        None if l.tipo_dte.is_claimable() => Cell::Text("desconocido"),
        None => Cell::Text("no aplica"),
    }
}

fn count_text(n: u64) -> String {
    let s = icc_core::group_thousands(n);
    if n == 1 {
        "1 documento".into()
    } else {
        format!("{s} documentos")
    }
}

/// Per-report state.
enum State {
    Facturas,
    Libro {
        group: Option<(icc_core::DteType, u32, u64, Sums<5>)>,
        total: Sums<5>,
        nro: u64,
    },
    Vencimientos {
        group: Option<(icc_core::Rut, String, u32, u64, Sums<11>)>,
        total: Sums<11>,
    },
    PorObra {
        resumen: usize,
        /// Per obra: code, name, per centro de costo (name, documents, sums); in order.
        obras: Vec<ObraSpend>,
        /// The detail sheet being written: its first data row.
        detail_first: u32,
    },
}

struct ObraSpend {
    code: Option<String>,
    name: Option<String>,
    centros: Vec<(Option<String>, u64, Sums<5>)>,
}

/// Writes one report. Feed it documents in the order of its report with
/// [`Exporter::push`], then [`Exporter::finish`]. The file appears at its destination only
/// when finished: until then it is a temporary file beside it, removed if the export is
/// dropped (cancelled or failed), so a half-written report never takes the name.
pub struct Exporter {
    meta: Meta,
    sink: Box<dyn Sink + Send>,
    state: State,
    documents: u64,
    temp: tempfile::TempPath,
    out: PathBuf,
}

/// Name of a report being written, beside its destination: `.icc-export-XXXXXX.partial`.
const PARTIAL_PREFIX: &str = ".icc-export-";
const PARTIAL_SUFFIX: &str = ".partial";
/// A report still being written is younger than this (a million rows take about a minute).
const STALE_PARTIAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes what killed exports left in `dir` (a cancelled or failed export removes its own
/// file; a killed process cannot). Only our own names, only older than an hour; what cannot
/// be removed is left alone.
fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(PARTIAL_PREFIX) && name.ends_with(PARTIAL_SUFFIX)) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_PARTIAL);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Exporter {
    /// Starts a report that will be written to `out`.
    ///
    /// # Errors
    /// The destination's folder cannot hold a new file.
    pub fn create(meta: Meta, format: ExportFormat, out: &Path) -> Result<Exporter, ExportError> {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_stale_partials(&dir);
        let mut builder = tempfile::Builder::new();
        builder.prefix(PARTIAL_PREFIX).suffix(PARTIAL_SUFFIX);
        // a report is an ordinary document, readable like any other the user saves
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let temp = builder
            .tempfile_in(&dir)
            .map_err(|source| ExportError::Io {
                path: out.to_path_buf(),
                source,
            })?
            .into_temp_path();
        let sink: Box<dyn Sink + Send> = match format {
            ExportFormat::Xlsx => Box::new(XlsxSink::new()),
            ExportFormat::Csv => Box::new(CsvSink::new(&temp)?),
        };
        let mut e = Exporter {
            meta,
            sink,
            state: State::Facturas,
            documents: 0,
            temp,
            out: out.to_path_buf(),
        };
        e.begin()?;
        Ok(e)
    }

    /// Starts a sheet titled with the report's title.
    fn sheet(&mut self, name: &str, cols: &'static [Col], main: bool) -> Result<(), ExportError> {
        let title = self.meta.kind.title();
        self.sheet_titled(name, title, cols, main, None)
    }

    fn sheet_titled(
        &mut self,
        name: &str,
        title: &str,
        cols: &'static [Col],
        main: bool,
        reserved: Option<usize>,
    ) -> Result<(), ExportError> {
        let subtitle = self.meta.filter_line();
        self.sink.begin_sheet(&SheetSpec {
            name,
            title,
            subtitle: &subtitle,
            cols,
            main,
            reserved,
        })
    }

    fn begin(&mut self) -> Result<(), ExportError> {
        self.state = match self.meta.kind {
            ReportKind::Facturas => {
                self.sheet("Facturas", FACTURAS, true)?;
                State::Facturas
            }
            ReportKind::LibroCompras => {
                self.sheet("Libro de compras", LIBRO, true)?;
                State::Libro {
                    group: None,
                    total: Sums::zero(),
                    nro: 0,
                }
            }
            ReportKind::Vencimientos => {
                self.sheet("Vencimientos", VENCIMIENTOS, true)?;
                State::Vencimientos {
                    group: None,
                    total: Sums::zero(),
                }
            }
            ReportKind::PorObra => {
                let resumen = self.sink.reserve_sheet("Resumen")?;
                State::PorObra {
                    resumen,
                    obras: Vec::new(),
                    detail_first: FIRST_DATA_ROW,
                }
            }
        };
        Ok(())
    }

    /// Documents written so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Adds one document.
    ///
    /// # Errors
    /// Writing failed.
    pub fn push(&mut self, l: &Line) -> Result<(), ExportError> {
        self.documents += 1;
        let today = self.meta.today;
        match &mut self.state {
            State::Facturas => {
                let rut = l.rut_emisor.display();
                let cells = [
                    Cell::Int(i64::from(l.tipo_dte.code())),
                    Cell::Text(tipo_label(l)),
                    Cell::Int(l.folio),
                    Cell::Owned(rut),
                    Cell::Text(&l.razon_social),
                    Cell::Date(l.fecha_emision),
                    l.fecha_recepcion.map_or(Cell::Empty, Cell::DateTime),
                    Cell::Date(l.vence),
                    plazo_cell(l, today, false),
                    Cell::Text(l.estado.label()),
                    opt(&l.obra),
                    opt(&l.centro_costo),
                    opt(&l.cuenta),
                    opt(&l.orden_compra),
                    Cell::Int(l.signed(l.neto)),
                    Cell::Int(l.signed(l.exento)),
                    Cell::Int(l.signed(l.iva)),
                    Cell::Int(l.signed(l.otros)),
                    Cell::Int(l.signed(l.total)),
                    opt(&l.glosa),
                ];
                self.sink.row(&cells, RowStyle::Data)?;
            }
            State::Libro { group, total, nro } => {
                if group.as_ref().is_some_and(|g| g.0 != l.tipo_dte) {
                    close_libro_group(self.sink.as_mut(), group)?;
                }
                let g = group
                    .get_or_insert_with(|| (l.tipo_dte, self.sink.next_row(), 0, Sums::zero()));
                let a = amounts(l);
                g.2 += 1;
                g.3.add(a);
                total.add(a);
                *nro += 1;
                let cells = [
                    Cell::Int(*nro as i64),
                    Cell::Int(i64::from(l.tipo_dte.code())),
                    Cell::Text(tipo_label(l)),
                    Cell::Owned(l.rut_emisor.display()),
                    Cell::Text(&l.razon_social),
                    Cell::Int(l.folio),
                    Cell::Date(l.fecha_emision),
                    l.fecha_recepcion.map_or(Cell::Empty, Cell::DateTime),
                    Cell::Int(a[0]),
                    Cell::Int(a[1]),
                    Cell::Int(a[2]),
                    Cell::Int(a[3]),
                    Cell::Int(a[4]),
                ];
                self.sink.row(&cells, RowStyle::Data)?;
            }
            State::Vencimientos { group, total } => {
                if group.as_ref().is_some_and(|g| g.0 != l.rut_emisor) {
                    close_supplier_group(self.sink.as_mut(), group)?;
                }
                let g = group.get_or_insert_with(|| {
                    (
                        l.rut_emisor,
                        l.razon_social.clone(),
                        self.sink.next_row(),
                        0,
                        Sums::zero(),
                    )
                });
                let monto = l.signed(l.total);
                let p = l.payment_facts();
                let bucket = aging_bucket(l.vence, today);
                // the buckets age what is still owed
                let mut row = [
                    monto,
                    p.notas.saturating_neg(),
                    p.pagado.saturating_neg(),
                    p.saldo,
                    p.interes,
                    p.cargo,
                    0,
                    0,
                    0,
                    0,
                    0,
                ];
                row[6 + bucket_index(bucket)] = p.saldo;
                g.3 += 1;
                g.4.add(row);
                total.add(row);
                let overdue = (today - l.vence).num_days().max(0);
                let rut = l.rut_emisor.display();
                let cells = [
                    Cell::Owned(rut),
                    Cell::Text(&l.razon_social),
                    Cell::Int(i64::from(l.tipo_dte.code())),
                    Cell::Text(tipo_label(l)),
                    Cell::Int(l.folio),
                    Cell::Date(l.fecha_emision),
                    Cell::Date(l.vence),
                    Cell::Int(overdue),
                    Cell::Text(bucket.label()),
                    plazo_cell(l, today, true),
                    Cell::Text(l.estado.label()),
                    opt(&l.obra),
                    Cell::Int(row[0]),
                    money_or_empty(row[1]),
                    money_or_empty(row[2]),
                    Cell::Int(row[3]),
                    money_or_empty(row[4]),
                    money_or_empty(row[5]),
                    money_or_empty(row[6]),
                    money_or_empty(row[7]),
                    money_or_empty(row[8]),
                    money_or_empty(row[9]),
                    money_or_empty(row[10]),
                ];
                self.sink.row(&cells, RowStyle::Data)?;
            }
            State::PorObra {
                obras,
                detail_first,
                ..
            } => {
                let new_obra = obras.last().is_none_or(|o| o.code != l.obra);
                if new_obra {
                    if !obras.is_empty() {
                        close_obra_sheet(self.sink.as_mut(), obras, *detail_first)?;
                    }
                    obras.push(ObraSpend {
                        code: l.obra.clone(),
                        name: l.obra_nombre.clone(),
                        centros: Vec::new(),
                    });
                    let name = l.obra.clone().unwrap_or_else(|| SIN_OBRA.into());
                    let title = match (&l.obra, &l.obra_nombre) {
                        (Some(code), Some(n)) => format!("Obra {code}: {n}"),
                        (Some(code), None) => format!("Obra {code}"),
                        (None, _) => "Documentos sin obra asignada".into(),
                    };
                    self.sheet_titled(&name, &title, OBRA_DETALLE, false, None)?;
                    if let State::PorObra { detail_first, .. } = &mut self.state {
                        *detail_first = self.sink.next_row();
                    }
                }
                let State::PorObra { obras, .. } = &mut self.state else {
                    return Err(ExportError::Internal("estado de informe cambiado".into()));
                };
                let Some(obra) = obras.last_mut() else {
                    return Err(ExportError::Internal("obra sin abrir".into()));
                };
                let a = amounts(l);
                if obra.centros.last().is_none_or(|c| c.0 != l.centro_costo) {
                    obra.centros.push((l.centro_costo.clone(), 0, Sums::zero()));
                }
                if let Some(c) = obra.centros.last_mut() {
                    c.1 += 1;
                    c.2.add(a);
                }
                let cells = [
                    Cell::Int(i64::from(l.tipo_dte.code())),
                    Cell::Text(tipo_label(l)),
                    Cell::Int(l.folio),
                    Cell::Owned(l.rut_emisor.display()),
                    Cell::Text(&l.razon_social),
                    Cell::Date(l.fecha_emision),
                    opt(&l.centro_costo),
                    opt(&l.cuenta),
                    Cell::Text(l.estado.label()),
                    Cell::Int(a[1]),
                    Cell::Int(a[0]),
                    Cell::Int(a[2]),
                    Cell::Int(a[3]),
                    Cell::Int(a[4]),
                ];
                self.sink.row(&cells, RowStyle::Data)?;
            }
        }
        Ok(())
    }

    /// Writes the totals, the `Parámetros` sheet and moves the file to its destination.
    ///
    /// # Errors
    /// Writing or renaming failed; the destination is then untouched.
    pub fn finish(mut self) -> Result<ExportSummary, ExportError> {
        let empty = self.documents == 0;
        let sink = self.sink.as_mut();
        match &mut self.state {
            State::Facturas => {
                if empty {
                    sink.note(NO_RESULTS)?;
                }
                sink.end_sheet()?;
            }
            State::Libro { group, total, nro } => {
                if empty {
                    sink.note(NO_RESULTS)?;
                } else {
                    close_libro_group(sink, group)?;
                    let last = sink.next_row() - 1;
                    let mut cells = vec![
                        Cell::Empty,
                        Cell::Empty,
                        Cell::Text("Total"),
                        Cell::Owned(count_text(*nro)),
                    ];
                    cells.resize(LIBRO_MONEY, Cell::Empty);
                    cells.extend(total.cells(FIRST_DATA_ROW, last));
                    sink.row(&cells, RowStyle::Total)?;
                }
                sink.end_sheet()?;
            }
            State::Vencimientos { group, total } => {
                if empty {
                    sink.note(NO_RESULTS)?;
                } else {
                    close_supplier_group(sink, group)?;
                    let last = sink.next_row() - 1;
                    let mut cells = vec![
                        Cell::Empty,
                        Cell::Text("Total"),
                        Cell::Empty,
                        Cell::Owned(count_text(self.documents)),
                    ];
                    cells.resize(VENC_MONEY, Cell::Empty);
                    cells.extend(total.cells(FIRST_DATA_ROW, last));
                    sink.row(&cells, RowStyle::Total)?;
                }
                sink.end_sheet()?;
            }
            State::PorObra {
                resumen,
                obras,
                detail_first,
            } => {
                if !obras.is_empty() {
                    close_obra_sheet(sink, obras, *detail_first)?;
                }
                let resumen = *resumen;
                let obras = std::mem::take(obras);
                self.write_resumen(resumen, &obras)?;
            }
        }
        self.parametros()?;
        let sheets = self.sink.sheet_names();
        let Exporter {
            sink,
            temp,
            out,
            documents,
            ..
        } = self;
        sink.save(&temp)?;
        temp.persist(&out).map_err(|e| ExportError::Io {
            path: out.clone(),
            source: e.error,
        })?;
        Ok(ExportSummary { documents, sheets })
    }

    fn write_resumen(&mut self, sheet: usize, obras: &[ObraSpend]) -> Result<(), ExportError> {
        self.sheet_titled(
            "Resumen",
            ReportKind::PorObra.title(),
            RESUMEN,
            true,
            Some(sheet),
        )?;
        let sink = self.sink.as_mut();
        if obras.is_empty() {
            sink.note(NO_RESULTS)?;
            return sink.end_sheet();
        }
        let mut grand = Sums::<6>::zero();
        let mut per_obra: Vec<(&ObraSpend, i64)> = Vec::new();
        for obra in obras {
            let code = obra.code.as_deref().unwrap_or(SIN_OBRA);
            let name = obra.name.as_deref().map_or(Cell::Empty, Cell::Text);
            let first = sink.next_row();
            let mut sums = Sums::<6>::zero();
            for (centro, n, s) in &obra.centros {
                let v = [*n as i64, s.0[1], s.0[0], s.0[2], s.0[3], s.0[4]];
                sums.add(v);
                let mut cells = vec![
                    Cell::Text(code),
                    name.clone(),
                    Cell::Text(centro.as_deref().unwrap_or(SIN_CENTRO)),
                ];
                cells.extend(v.map(Cell::Int));
                sink.row(&cells, RowStyle::Data)?;
            }
            let last = sink.next_row() - 1;
            let mut cells = vec![
                Cell::Text(code),
                Cell::Owned(format!("Subtotal {code}")),
                Cell::Empty,
            ];
            cells.extend(sums.cells(first, last));
            sink.row(&cells, RowStyle::Subtotal)?;
            grand.add(sums.0);
            per_obra.push((obra, sums.0[5]));
        }
        let last = sink.next_row() - 1;
        let mut cells = vec![Cell::Empty, Cell::Text("Total"), Cell::Empty];
        cells.extend(grand.cells(FIRST_DATA_ROW, last));
        debug_assert_eq!(cells.len(), RESUMEN_SUMS + 6);
        sink.row(&cells, RowStyle::Total)?;

        sink.section("Total por obra", TOTAL_POR_OBRA)?;
        let first = sink.next_row();
        for (obra, total) in &per_obra {
            sink.row(
                &[
                    Cell::Text(obra.code.as_deref().unwrap_or(SIN_OBRA)),
                    obra.name.as_deref().map_or(Cell::Empty, Cell::Text),
                    Cell::Int(*total),
                ],
                RowStyle::Data,
            )?;
        }
        let last = sink.next_row() - 1;
        sink.column_chart(
            "Gasto total por obra",
            (first, last, 0),
            (first, last, 2),
            (last + 2, 0),
        )?;
        sink.end_sheet()
    }

    fn parametros(&mut self) -> Result<(), ExportError> {
        self.sheet("Parámetros", PARAMETROS, false)?;
        let m = &self.meta;
        let mut rows: Vec<(String, String)> = vec![
            ("Informe".into(), m.kind.title().into()),
            ("Exportado por".into(), m.exported_by.clone()),
            ("Fecha de exportación".into(), datetime_text(m.exported_at)),
            (
                "Plazos y antigüedad calculados al".into(),
                date_text(m.today),
            ),
        ];
        if m.filters.is_empty() {
            rows.push(("Filtros".into(), "ninguno".into()));
        }
        rows.extend(m.filters.iter().cloned());
        rows.push((
            "Documentos exportados".into(),
            icc_core::group_thousands(self.documents),
        ));
        rows.push((
            "Montos".into(),
            "pesos chilenos; las notas de crédito restan (signo negativo)".into(),
        ));
        rows.push((
            "Aplicación".into(),
            format!("ICC Facturas {}", m.app_version),
        ));
        for (k, v) in &rows {
            self.sink
                .row(&[Cell::Text(k), Cell::Text(v)], RowStyle::Data)?;
        }
        self.sink.end_sheet()
    }
}

fn money_or_empty(v: i64) -> Cell<'static> {
    if v == 0 { Cell::Empty } else { Cell::Int(v) }
}

fn bucket_index(b: AgingBucket) -> usize {
    match b {
        AgingBucket::AlDia => 0,
        AgingBucket::D1a30 => 1,
        AgingBucket::D31a60 => 2,
        AgingBucket::D61a90 => 3,
        AgingBucket::Mas90 => 4,
    }
}

fn close_libro_group(
    sink: &mut (dyn Sink + Send),
    group: &mut Option<(icc_core::DteType, u32, u64, Sums<5>)>,
) -> Result<(), ExportError> {
    let Some((tipo, first, n, sums)) = group.take() else {
        return Ok(());
    };
    let last = sink.next_row() - 1;
    let label = tipo.label().unwrap_or("tipo desconocido");
    let mut cells = vec![
        Cell::Empty,
        Cell::Int(i64::from(tipo.code())),
        Cell::Owned(format!("Subtotal {label}")),
        Cell::Owned(count_text(n)),
    ];
    cells.resize(LIBRO_MONEY, Cell::Empty);
    cells.extend(sums.cells(first, last));
    sink.row(&cells, RowStyle::Subtotal)?;
    Ok(())
}

fn close_supplier_group(
    sink: &mut (dyn Sink + Send),
    group: &mut Option<(icc_core::Rut, String, u32, u64, Sums<11>)>,
) -> Result<(), ExportError> {
    let Some((rut, name, first, n, sums)) = group.take() else {
        return Ok(());
    };
    let last = sink.next_row() - 1;
    let mut cells = vec![
        Cell::Owned(rut.display()),
        Cell::Owned(format!("Subtotal {name}")),
        Cell::Empty,
        Cell::Owned(count_text(n)),
    ];
    cells.resize(VENC_MONEY, Cell::Empty);
    cells.extend(sums.cells(first, last));
    sink.row(&cells, RowStyle::Subtotal)?;
    Ok(())
}

fn close_obra_sheet(
    sink: &mut (dyn Sink + Send),
    obras: &[ObraSpend],
    first: u32,
) -> Result<(), ExportError> {
    let Some(obra) = obras.last() else {
        return Ok(());
    };
    let mut sums = Sums::<5>::zero();
    let mut n = 0;
    for (_, count, s) in &obra.centros {
        n += count;
        sums.add(s.0);
    }
    let last = sink.next_row() - 1;
    let mut cells = vec![
        Cell::Empty,
        Cell::Text("Total"),
        Cell::Empty,
        Cell::Empty,
        Cell::Owned(count_text(n)),
    ];
    cells.resize(DETALLE_MONEY, Cell::Empty);
    let s = sums.0;
    // the detail's money columns are neto, exento, IVA, otros, total
    let ordered = Sums([s[1], s[0], s[2], s[3], s[4]]);
    cells.extend(ordered.cells(first, last));
    sink.row(&cells, RowStyle::Total)?;
    sink.end_sheet()
}

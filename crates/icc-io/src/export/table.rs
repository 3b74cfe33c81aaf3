//! Tables of typed cells, written either to an xlsx workbook or to a CSV file.
//!
//! Reports describe their sheets as columns and rows of [`Cell`]s once; a [`Sink`] decides
//! how they look: formatted cells, formulas, frozen headers and autofilters in xlsx, plain
//! `;`-separated values in CSV.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{
    Chart, Color, Format, FormatAlign, FormatBorder, Formula, Workbook, Worksheet,
};

use super::ExportError;

/// What a column holds, which decides its number format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Text.
    Text,
    /// A code or number shown without separators (folio, tipo).
    Code,
    /// A count, with thousands separators.
    Count,
    /// Pesos.
    Money,
    /// `dd-mm-aaaa`.
    Date,
    /// `dd-mm-aaaa hh:mm`.
    DateTime,
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub header: &'static str,
    pub kind: Kind,
}

pub(crate) const fn col(header: &'static str, kind: Kind) -> Col {
    Col { header, kind }
}

/// How urgent a date is, shown as a fill colour in xlsx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Expires within the warning window.
    Soon,
    /// Already expired.
    Expired,
}

/// One cell value.
#[derive(Debug, Clone)]
pub(crate) enum Cell<'a> {
    Empty,
    Text(&'a str),
    Owned(String),
    Int(i64),
    Date(NaiveDate),
    /// A date with an urgency mark.
    MarkedDate(NaiveDate, Mark),
    DateTime(NaiveDateTime),
    /// The sum of this column over sheet rows `first..=last` (0-based), excluding nested
    /// sums: `SUBTOTAL(9, …)` in xlsx, so Excel recalculates it and a filter narrows it;
    /// `value` is what it evaluates to now (cached in xlsx, written in CSV).
    Sum {
        value: i64,
        first: u32,
        last: u32,
    },
}

/// The role of a row, which decides its style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowStyle {
    Data,
    Subtotal,
    Total,
}

/// Where report rows go.
pub(crate) trait Sink {
    /// Starts a sheet: title, a line describing the filters, then the header row of its
    /// main table. `main` marks the sheet a CSV export consists of. With `reserved`, the
    /// sheet is the one [`Sink::reserve_sheet`] placed earlier in the tab order.
    fn begin_sheet(&mut self, spec: &SheetSpec<'_>) -> Result<(), ExportError>;
    /// Writes one row; returns its 0-based sheet row.
    fn row(&mut self, cells: &[Cell<'_>], style: RowStyle) -> Result<u32, ExportError>;
    /// The 0-based sheet row the next [`Sink::row`] goes to.
    fn next_row(&self) -> u32;
    /// A line of text across the table ("sin resultados").
    fn note(&mut self, text: &str) -> Result<(), ExportError>;
    /// Ends the main table (its autofilter covers the rows so far) and starts another one
    /// below it, with a title and its own header. Not part of a CSV export.
    fn section(&mut self, title: &str, cols: &'static [Col]) -> Result<(), ExportError>;
    /// A column chart of `values` by `categories`, both 0-based `(first_row, last_row,
    /// col)` ranges of the current sheet, placed at `(row, col)`.
    fn column_chart(
        &mut self,
        title: &str,
        categories: (u32, u32, u16),
        values: (u32, u32, u16),
        at: (u32, u16),
    ) -> Result<(), ExportError>;
    /// Finishes the current sheet: widths, frozen header, autofilter.
    fn end_sheet(&mut self) -> Result<(), ExportError>;
    /// Creates an empty sheet now, so it sits at this position among the tabs, to be
    /// written later with `reserved` set. Returns its handle.
    fn reserve_sheet(&mut self, name: &str) -> Result<usize, ExportError>;
    /// The sheets' names as written (made legal and unique), in tab order.
    fn sheet_names(&self) -> Vec<String>;
    /// Writes everything out to `path`.
    fn save(self: Box<Self>, path: &Path) -> Result<(), ExportError>;
}

/// A sheet to start.
pub(crate) struct SheetSpec<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub subtitle: &'a str,
    pub cols: &'static [Col],
    pub main: bool,
    pub reserved: Option<usize>,
}

/// First sheet row of a table's data: title, filters, a blank row, the header.
pub(crate) const HEADER_ROW: u32 = 3;
/// Sheet row of the first data row.
pub(crate) const FIRST_DATA_ROW: u32 = HEADER_ROW + 1;

/// Excel's serial day number of a date (days since 1899-12-30, the 1900 system).
fn excel_serial(d: NaiveDate) -> f64 {
    // 1899-12-30 is day 0 because Excel counts the non-existent 1900-02-29.
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or(NaiveDate::MIN);
    (d - epoch).num_days() as f64
}

fn excel_serial_time(t: NaiveDateTime) -> f64 {
    excel_serial(t.date()) + f64::from(t.num_seconds_from_midnight()) / 86_400.0
}

/// `dd-mm-aaaa`, the Chilean order.
pub(crate) fn date_text(d: NaiveDate) -> String {
    format!("{:02}-{:02}-{:04}", d.day(), d.month(), d.year())
}

/// `dd-mm-aaaa hh:mm`.
pub(crate) fn datetime_text(t: NaiveDateTime) -> String {
    format!("{} {:02}:{:02}", date_text(t.date()), t.hour(), t.minute())
}

/// A sheet name Excel accepts: no `[]:*?/\`, at most 31 characters, not blank.
pub(crate) fn sheet_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '-' } else { c })
        .collect();
    let trimmed = cleaned.trim().trim_matches('\'');
    let name: String = trimmed.chars().take(31).collect();
    if name.is_empty() { "Hoja".into() } else { name }
}

/// Widest a fitted column gets, in characters.
const MAX_WIDTH: usize = 60;

/// The number formats and styles of every workbook.
struct Styles {
    title: Format,
    subtitle: Format,
    header: Format,
    /// Header of a numeric column: right-aligned over its numbers.
    header_number: Format,
    note: Format,
    /// Per style row (data, subtotal, total) and kind.
    cells: [[Format; 6]; 3],
    soon: Format,
    expired: Format,
}

const MONEY: &str = "\"$\"#,##0;[Red]-\"$\"#,##0";
const DATE: &str = "dd-mm-yyyy";
const DATETIME: &str = "dd-mm-yyyy hh:mm";

fn kind_index(k: Kind) -> usize {
    match k {
        Kind::Text => 0,
        Kind::Code => 1,
        Kind::Count => 2,
        Kind::Money => 3,
        Kind::Date => 4,
        Kind::DateTime => 5,
    }
}

impl Styles {
    fn new() -> Styles {
        let base = |k: Kind| match k {
            Kind::Text => Format::new(),
            Kind::Code => Format::new().set_num_format("0"),
            Kind::Count => Format::new().set_num_format("#,##0"),
            Kind::Money => Format::new().set_num_format(MONEY),
            Kind::Date => Format::new()
                .set_num_format(DATE)
                .set_align(FormatAlign::Center),
            Kind::DateTime => Format::new()
                .set_num_format(DATETIME)
                .set_align(FormatAlign::Center),
        };
        let kinds = [
            Kind::Text,
            Kind::Code,
            Kind::Count,
            Kind::Money,
            Kind::Date,
            Kind::DateTime,
        ];
        let data = kinds.map(base);
        let subtotal = kinds.map(|k| {
            base(k)
                .set_bold()
                .set_background_color(Color::RGB(0xF2_F2_F2))
                .set_border_top(FormatBorder::Thin)
        });
        let total = kinds.map(|k| {
            base(k)
                .set_bold()
                .set_background_color(Color::RGB(0xD9_E1_F2))
                .set_border_top(FormatBorder::Double)
        });
        Styles {
            title: Format::new().set_bold().set_font_size(14),
            subtitle: Format::new()
                .set_italic()
                .set_font_color(Color::RGB(0x59_59_59)),
            header: Format::new()
                .set_bold()
                .set_font_color(Color::White)
                .set_background_color(Color::RGB(0x1F_4E_79))
                .set_text_wrap()
                .set_align(FormatAlign::VerticalCenter),
            header_number: Format::new()
                .set_bold()
                .set_font_color(Color::White)
                .set_background_color(Color::RGB(0x1F_4E_79))
                .set_text_wrap()
                .set_align(FormatAlign::VerticalCenter)
                .set_align(FormatAlign::Right),
            note: Format::new().set_italic(),
            cells: [data, subtotal, total],
            soon: base(Kind::Date).set_background_color(Color::RGB(0xFF_E6_99)),
            expired: base(Kind::Date)
                .set_background_color(Color::RGB(0xF8_CB_AD))
                .set_bold(),
        }
    }
}

/// Per-sheet state of the xlsx sink.
struct SheetState {
    index: usize,
    cols: &'static [Col],
    widths: Vec<usize>,
    next_row: u32,
    /// Last row of the main table once a section ended it.
    main_last_row: Option<u32>,
    main_cols: usize,
}

/// Writes an xlsx workbook in constant memory: rows go to a temporary file as they are
/// written, so memory stays flat however many rows there are.
pub(crate) struct XlsxSink {
    workbook: Workbook,
    styles: Styles,
    sheet: Option<SheetState>,
    /// Names in use, lowercase (Excel compares sheet names case-insensitively).
    names: Vec<String>,
    /// Names as written, in tab order.
    sheet_order: Vec<String>,
}

impl XlsxSink {
    pub(crate) fn new() -> XlsxSink {
        XlsxSink {
            workbook: Workbook::new(),
            styles: Styles::new(),
            sheet: None,
            names: Vec::new(),
            sheet_order: Vec::new(),
        }
    }

    fn unique_name(&mut self, raw: &str) -> String {
        let base = sheet_name(raw);
        let mut name = base.clone();
        let mut n = 2;
        while self.names.contains(&name.to_lowercase()) {
            let suffix = format!(" ({n})");
            let keep = 31 - suffix.chars().count();
            name = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            n += 1;
        }
        self.names.push(name.to_lowercase());
        self.sheet_order.push(name.clone());
        name
    }

    fn current(&mut self) -> Result<(&mut Worksheet, &mut SheetState), ExportError> {
        sheet_parts(&mut self.workbook, &mut self.sheet)
    }

    fn write_header(
        ws: &mut Worksheet,
        state: &mut SheetState,
        styles: &Styles,
        cols: &[Col],
    ) -> Result<(), ExportError> {
        let row = state.next_row;
        for (c, col) in cols.iter().enumerate() {
            let fmt = match col.kind {
                Kind::Money | Kind::Count => &styles.header_number,
                _ => &styles.header,
            };
            ws.write_string_with_format(row, c as u16, col.header, fmt)
                .map_err(xlsx_error)?;
            widen(&mut state.widths, c, col.header.chars().count());
        }
        ws.set_row_height(row, 30).map_err(xlsx_error)?;
        state.next_row += 1;
        Ok(())
    }
}

/// The open sheet and its state, borrowed apart from the styles.
fn sheet_parts<'a>(
    workbook: &'a mut Workbook,
    sheet: &'a mut Option<SheetState>,
) -> Result<(&'a mut Worksheet, &'a mut SheetState), ExportError> {
    let state = sheet
        .as_mut()
        .ok_or_else(|| ExportError::Internal("fila escrita fuera de una hoja".into()))?;
    let ws = workbook
        .worksheet_from_index(state.index)
        .map_err(xlsx_error)?;
    Ok((ws, state))
}

fn widen(widths: &mut Vec<usize>, col: usize, chars: usize) {
    if widths.len() <= col {
        widths.resize(col + 1, 0);
    }
    if chars > widths[col] {
        widths[col] = chars;
    }
}

/// Characters a peso amount takes formatted: `$`, digits, a dot per thousand, the sign.
fn money_chars(v: i64) -> usize {
    let digits = v.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1;
    1 + digits + (digits - 1) / 3 + usize::from(v < 0)
}

fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> ExportError {
    ExportError::Xlsx(e.to_string())
}

/// An amount as a cell number: exact, since pesos stay far below 2^53.
fn pesos(v: i64) -> f64 {
    v as f64
}

impl Sink for XlsxSink {
    fn begin_sheet(&mut self, spec: &SheetSpec<'_>) -> Result<(), ExportError> {
        let index = match spec.reserved {
            Some(i) => i,
            None => {
                let name = self.unique_name(spec.name);
                let ws = self
                    .workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(xlsx_error)?;
                ws.set_name(name).map_err(xlsx_error)?;
                self.workbook.worksheets().len() - 1
            }
        };
        let ws = self
            .workbook
            .worksheet_from_index(index)
            .map_err(xlsx_error)?;
        // printed (or turned into PDF): landscape, as wide as the page, header on each page
        ws.set_landscape();
        ws.set_print_fit_to_pages(1, 0);
        ws.set_repeat_rows(HEADER_ROW, HEADER_ROW)
            .map_err(xlsx_error)?;
        ws.write_string_with_format(0, 0, spec.title, &self.styles.title)
            .map_err(xlsx_error)?;
        ws.write_string_with_format(1, 0, spec.subtitle, &self.styles.subtitle)
            .map_err(xlsx_error)?;
        let mut state = SheetState {
            index,
            cols: spec.cols,
            widths: vec![0; spec.cols.len()],
            next_row: HEADER_ROW,
            main_last_row: None,
            main_cols: spec.cols.len(),
        };
        Self::write_header(ws, &mut state, &self.styles, spec.cols)?;
        self.sheet = Some(state);
        Ok(())
    }

    fn row(&mut self, cells: &[Cell<'_>], style: RowStyle) -> Result<u32, ExportError> {
        let styles_row = match style {
            RowStyle::Data => 0,
            RowStyle::Subtotal => 1,
            RowStyle::Total => 2,
        };
        let (ws, state) = sheet_parts(&mut self.workbook, &mut self.sheet)?;
        let row = state.next_row;
        let formats = &self.styles.cells[styles_row];
        for (c, cell) in cells.iter().enumerate() {
            let kind = state.cols.get(c).map_or(Kind::Text, |k| k.kind);
            let fmt = &formats[kind_index(kind)];
            let col = c as u16;
            let chars = match cell {
                Cell::Empty => {
                    if style != RowStyle::Data {
                        ws.write_blank(row, col, fmt).map_err(xlsx_error)?;
                    }
                    0
                }
                Cell::Text(s) => {
                    ws.write_string_with_format(row, col, *s, fmt)
                        .map_err(xlsx_error)?;
                    s.chars().count()
                }
                Cell::Owned(s) => {
                    ws.write_string_with_format(row, col, s, fmt)
                        .map_err(xlsx_error)?;
                    s.chars().count()
                }
                Cell::Int(v) => {
                    ws.write_number_with_format(row, col, pesos(*v), fmt)
                        .map_err(xlsx_error)?;
                    if kind == Kind::Money {
                        money_chars(*v)
                    } else {
                        v.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 2
                    }
                }
                Cell::Date(d) => {
                    ws.write_number_with_format(row, col, excel_serial(*d), fmt)
                        .map_err(xlsx_error)?;
                    10
                }
                Cell::MarkedDate(d, mark) => {
                    let f = match mark {
                        Mark::Soon => &self.styles.soon,
                        Mark::Expired => &self.styles.expired,
                    };
                    ws.write_number_with_format(row, col, excel_serial(*d), f)
                        .map_err(xlsx_error)?;
                    10
                }
                Cell::DateTime(t) => {
                    ws.write_number_with_format(row, col, excel_serial_time(*t), fmt)
                        .map_err(xlsx_error)?;
                    16
                }
                Cell::Sum { value, first, last } => {
                    let letter = crate::header::column_letter(usize::from(col));
                    let formula = Formula::new(format!(
                        "=SUBTOTAL(9,{letter}{}:{letter}{})",
                        first + 1,
                        last + 1
                    ))
                    .set_result(value.to_string());
                    ws.write_formula_with_format(row, col, formula, fmt)
                        .map_err(xlsx_error)?;
                    money_chars(*value)
                }
            };
            widen(&mut state.widths, c, chars.min(MAX_WIDTH));
        }
        state.next_row += 1;
        Ok(row)
    }

    fn next_row(&self) -> u32 {
        self.sheet.as_ref().map_or(FIRST_DATA_ROW, |s| s.next_row)
    }

    fn note(&mut self, text: &str) -> Result<(), ExportError> {
        let (ws, state) = sheet_parts(&mut self.workbook, &mut self.sheet)?;
        ws.write_string_with_format(state.next_row, 0, text, &self.styles.note)
            .map_err(xlsx_error)?;
        state.next_row += 1;
        Ok(())
    }

    fn section(&mut self, title: &str, cols: &'static [Col]) -> Result<(), ExportError> {
        let (ws, state) = sheet_parts(&mut self.workbook, &mut self.sheet)?;
        if state.main_last_row.is_none() {
            state.main_last_row = Some(state.next_row.saturating_sub(1));
        }
        let row = state.next_row + 1;
        ws.write_string_with_format(row, 0, title, &self.styles.title)
            .map_err(xlsx_error)?;
        state.next_row = row + 1;
        state.cols = cols;
        Self::write_header(ws, state, &self.styles, cols)
    }

    fn column_chart(
        &mut self,
        title: &str,
        categories: (u32, u32, u16),
        values: (u32, u32, u16),
        at: (u32, u16),
    ) -> Result<(), ExportError> {
        let (ws, _) = self.current()?;
        let sheet = ws.name();
        let mut chart = Chart::new_column();
        chart
            .add_series()
            .set_categories((
                sheet.as_str(),
                categories.0,
                categories.2,
                categories.1,
                categories.2,
            ))
            .set_values((sheet.as_str(), values.0, values.2, values.1, values.2))
            .set_name(title);
        chart.title().set_name(title);
        chart.legend().set_hidden();
        chart.y_axis().set_num_format("\"$\"#,##0");
        chart.set_width(720).set_height(360);
        ws.insert_chart(at.0, at.1, &chart).map_err(xlsx_error)?;
        Ok(())
    }

    fn end_sheet(&mut self) -> Result<(), ExportError> {
        let Some(state) = self.sheet.take() else {
            return Ok(());
        };
        let ws = self
            .workbook
            .worksheet_from_index(state.index)
            .map_err(xlsx_error)?;
        for (c, w) in state.widths.iter().enumerate() {
            let width = (*w).clamp(6, MAX_WIDTH) as f64 + 2.0;
            ws.set_column_width(c as u16, width).map_err(xlsx_error)?;
        }
        ws.set_freeze_panes(FIRST_DATA_ROW, 0).map_err(xlsx_error)?;
        let last = state
            .main_last_row
            .unwrap_or(state.next_row.saturating_sub(1))
            .max(HEADER_ROW);
        let last_col = state.main_cols.saturating_sub(1) as u16;
        ws.autofilter(HEADER_ROW, 0, last, last_col)
            .map_err(xlsx_error)?;
        Ok(())
    }

    fn reserve_sheet(&mut self, name: &str) -> Result<usize, ExportError> {
        let name = self.unique_name(name);
        let ws = self.workbook.add_worksheet();
        ws.set_name(name).map_err(xlsx_error)?;
        Ok(self.workbook.worksheets().len() - 1)
    }

    fn sheet_names(&self) -> Vec<String> {
        self.sheet_order.clone()
    }

    fn save(mut self: Box<Self>, path: &Path) -> Result<(), ExportError> {
        self.end_sheet()?;
        self.workbook.save(path).map_err(|e| match e {
            rust_xlsxwriter::XlsxError::IoError(io) => ExportError::Io {
                path: path.to_path_buf(),
                source: io,
            },
            other => xlsx_error(other),
        })
    }
}

/// Writes the main table of the main sheet as CSV: `;`-separated, UTF-8 with a BOM and
/// CRLF line ends, so Excel in a Spanish locale opens it with accents and columns right.
/// Amounts are plain integers (no separators), dates `dd-mm-aaaa`.
pub(crate) struct CsvSink {
    out: csv::Writer<BufWriter<File>>,
    path: PathBuf,
    /// Rows of the current sheet go to the file.
    active: bool,
    /// The main table has ended (a section started).
    done: bool,
    next_row: u32,
}

impl CsvSink {
    pub(crate) fn new(path: &Path) -> Result<CsvSink, ExportError> {
        let io = |source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = BufWriter::new(File::create(path).map_err(io)?);
        file.write_all("\u{feff}".as_bytes()).map_err(io)?;
        let out = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .from_writer(file);
        Ok(CsvSink {
            out,
            path: path.to_path_buf(),
            active: false,
            done: false,
            next_row: FIRST_DATA_ROW,
        })
    }

    fn csv_error(&self, e: csv::Error) -> ExportError {
        let path = self.path.clone();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => ExportError::Io { path, source },
            other => ExportError::Internal(format!("{other:?}")),
        }
    }
}

/// A text cell as CSV writes it: one that a spreadsheet would read as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return: a razón social or glosa typed as
/// `=HYPERLINK(…)`) is prefixed with `'`, which Excel and LibreOffice show as text.
/// Amounts are numbers, never text, so a negative amount is not touched.
pub(crate) fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

impl Sink for CsvSink {
    fn begin_sheet(&mut self, spec: &SheetSpec<'_>) -> Result<(), ExportError> {
        self.active = spec.main && !self.done;
        self.next_row = FIRST_DATA_ROW;
        if self.active {
            self.out
                .write_record(spec.cols.iter().map(|c| c.header))
                .map_err(|e| self.csv_error(e))?;
        }
        Ok(())
    }

    fn row(&mut self, cells: &[Cell<'_>], _style: RowStyle) -> Result<u32, ExportError> {
        let row = self.next_row;
        self.next_row += 1;
        if !self.active {
            return Ok(row);
        }
        let fields = cells.iter().map(|c| match c {
            Cell::Empty => String::new(),
            Cell::Text(s) => csv_text(s),
            Cell::Owned(s) => csv_text(s),
            Cell::Int(v) | Cell::Sum { value: v, .. } => v.to_string(),
            Cell::Date(d) | Cell::MarkedDate(d, _) => date_text(*d),
            Cell::DateTime(t) => datetime_text(*t),
        });
        self.out
            .write_record(fields)
            .map_err(|e| self.csv_error(e))?;
        Ok(row)
    }

    fn next_row(&self) -> u32 {
        self.next_row
    }

    fn note(&mut self, _text: &str) -> Result<(), ExportError> {
        // An empty result is a header without rows: what a program reading it expects.
        Ok(())
    }

    fn section(&mut self, _title: &str, _cols: &'static [Col]) -> Result<(), ExportError> {
        if self.active {
            self.done = true;
            self.active = false;
        }
        Ok(())
    }

    fn column_chart(
        &mut self,
        _title: &str,
        _categories: (u32, u32, u16),
        _values: (u32, u32, u16),
        _at: (u32, u16),
    ) -> Result<(), ExportError> {
        Ok(())
    }

    fn end_sheet(&mut self) -> Result<(), ExportError> {
        if self.active {
            self.done = true;
            self.active = false;
        }
        Ok(())
    }

    fn reserve_sheet(&mut self, _name: &str) -> Result<usize, ExportError> {
        Ok(0)
    }

    fn sheet_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn save(self: Box<Self>, path: &Path) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_match_excel() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(excel_serial(d(1900, 3, 1)), 61.0);
        assert_eq!(excel_serial(d(2026, 11, 28)), 46354.0);
        let t = d(2026, 11, 28).and_hms_opt(12, 0, 0).unwrap();
        assert_eq!(excel_serial_time(t), 46354.5);
    }

    #[test]
    fn sheet_names_are_legal() {
        assert_eq!(sheet_name("OB-2026/001"), "OB-2026-001");
        assert_eq!(sheet_name("   "), "Hoja");
        assert_eq!(sheet_name(&"x".repeat(40)).chars().count(), 31);
        assert_eq!(sheet_name("'a[b]'"), "a-b-");
    }

    #[test]
    fn money_widths() {
        assert_eq!(money_chars(0), 2);
        assert_eq!(money_chars(1_234_567), 10);
        assert_eq!(money_chars(-999), 5);
        assert_eq!(money_chars(i64::MIN), 27);
    }
}

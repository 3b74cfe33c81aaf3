//! Opening a file: format from its bytes (never trusting the extension), text encoding and
//! CSV delimiter detection, and a uniform row view over workbook sheets and CSV records.

use std::io::Cursor;

use calamine::{Data, Range, Reader, Sheets};

use crate::cell::Cell;
use crate::error::FileError;

/// What the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// xlsx, xlsm, xlsb or ods (a zip container).
    Workbook,
    /// Legacy xls (an OLE container).
    Xls,
    /// CSV or TXT.
    Text,
}

/// Encoding found in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    /// UTF-8.
    Utf8,
    /// UTF-8 with a byte-order mark.
    Utf8Bom,
    /// Windows-1252 (files re-saved by Excel on Windows).
    Windows1252,
}

/// Rows of one sheet.
pub enum SheetRows {
    /// A workbook sheet.
    Grid(Range<Data>),
    /// CSV records with their line numbers (blank lines are not records, so the numbers
    /// are not consecutive).
    Csv(Vec<(u64, csv::StringRecord)>),
}

/// One sheet (a CSV file is one sheet without a name).
pub struct Sheet {
    /// Sheet name; `None` for CSV.
    pub name: Option<String>,
    /// The rows.
    pub rows: SheetRows,
    /// Row number (1-based) of the first row.
    pub first_row: u64,
}

/// One row of a sheet.
#[derive(Clone, Copy)]
pub enum Row<'a> {
    /// Workbook cells.
    Grid(&'a [Data]),
    /// CSV fields.
    Csv(&'a csv::StringRecord),
}

impl<'a> Row<'a> {
    /// The cell at `i` (empty beyond the row's end).
    pub fn get(&self, i: usize) -> Cell<'a> {
        match self {
            Row::Grid(r) => r.get(i).map_or(Cell::Empty, Cell::from_data),
            Row::Csv(r) => r.get(i).map_or(Cell::Empty, Cell::from_text),
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            Row::Grid(r) => r.len(),
            Row::Csv(r) => r.len(),
        }
    }

    /// Whether the row has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every cell is blank.
    pub fn is_blank(&self) -> bool {
        (0..self.len()).all(|i| self.get(i).is_blank())
    }
}

impl Sheet {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match &self.rows {
            SheetRows::Grid(r) => r.height(),
            SheetRows::Csv(r) => r.len(),
        }
    }

    /// Whether the sheet has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The 1-based row number (file line for CSV) of row `i`.
    pub fn row_number(&self, i: usize) -> u64 {
        match &self.rows {
            SheetRows::Grid(_) => self.first_row + i as u64,
            SheetRows::Csv(r) => r.get(i).map_or(i as u64 + 1, |(line, _)| *line),
        }
    }

    /// Row `i` (0-based within the sheet).
    pub fn row(&self, i: usize) -> Option<Row<'_>> {
        match &self.rows {
            SheetRows::Grid(r) => r.rows().nth(i).map(Row::Grid),
            SheetRows::Csv(r) => r.get(i).map(|(_, rec)| Row::Csv(rec)),
        }
    }

    /// All rows with their 1-based row numbers.
    pub fn rows(&self) -> Box<dyn Iterator<Item = (u64, Row<'_>)> + '_> {
        let first = self.first_row;
        match &self.rows {
            SheetRows::Grid(r) => Box::new(
                r.rows()
                    .enumerate()
                    .map(move |(i, row)| (first + i as u64, Row::Grid(row))),
            ),
            SheetRows::Csv(r) => Box::new(r.iter().map(|(line, row)| (*line, Row::Csv(row)))),
        }
    }
}

/// A file opened for import.
pub struct Workbook {
    /// Kind of container.
    pub kind: FileKind,
    /// Encoding, for text files.
    pub encoding: Option<TextEncoding>,
    /// CSV delimiter, for text files.
    pub delimiter: Option<char>,
    /// Sheet names in order (one empty name for CSV).
    pub sheet_names: Vec<String>,
    inner: Inner,
}

enum Inner {
    Sheets(Box<Sheets<Cursor<Vec<u8>>>>),
    Csv(Option<Sheet>),
}

const ZIP: &[u8] = b"PK\x03\x04";
const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

impl Workbook {
    /// Opens `bytes` (named `file` in messages).
    ///
    /// # Errors
    /// [`FileError`] for empty, binary, encrypted or unreadable files.
    pub fn open(file: &str, bytes: Vec<u8>) -> Result<Workbook, FileError> {
        let unreadable = |reason: &str| FileError::Unreadable {
            file: file.to_owned(),
            reason: reason.to_owned(),
        };
        if bytes.is_empty() {
            return Err(FileError::Empty {
                file: file.to_owned(),
            });
        }
        if bytes.starts_with(b"%PDF") {
            return Err(unreadable(
                "es un PDF, no una planilla; importe el Excel o CSV (el PDF se puede adjuntar a la factura)",
            ));
        }
        if bytes.starts_with(ZIP) {
            let sheets = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|_| {
                unreadable("es un archivo comprimido (zip) que no es un libro de Excel ni OpenDocument; ábralo y guárdelo como .xlsx")
            })?;
            return Ok(Workbook::from_sheets(FileKind::Workbook, sheets));
        }
        if bytes.starts_with(OLE) {
            let cursor = Cursor::new(bytes);
            match calamine::open_workbook_from_rs::<calamine::Xlsx<_>, _>(cursor.clone()) {
                Err(calamine::XlsxError::Password) => {
                    return Err(FileError::Encrypted {
                        file: file.to_owned(),
                    });
                }
                Ok(x) => return Ok(Workbook::from_sheets(FileKind::Workbook, Sheets::Xlsx(x))),
                Err(_) => {}
            }
            return match calamine::open_workbook_from_rs::<calamine::Xls<_>, _>(cursor) {
                Ok(x) => Ok(Workbook::from_sheets(FileKind::Xls, Sheets::Xls(x))),
                Err(calamine::XlsError::Password) => Err(FileError::Encrypted {
                    file: file.to_owned(),
                }),
                Err(_) => Err(unreadable(
                    "es un documento de Office que no es una planilla de Excel legible; ábralo en Excel y guárdelo como .xlsx",
                )),
            };
        }
        let (text, encoding) = decode_text(&bytes);
        if looks_binary(&text) {
            return Err(unreadable(
                "no es una planilla ni un archivo de texto (contenido binario); use .xlsx, .xls, .ods o .csv",
            ));
        }
        drop(bytes);
        let delimiter = detect_delimiter(&text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter as u8)
            .from_reader(text.as_bytes());
        // line numbers from byte offsets: the csv crate skips blank lines without counting
        // them, and users read row numbers off their editor
        let newlines: Vec<usize> = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let raw = text.as_bytes();
        let line_of = |byte: u64| {
            // a record's position can point at the blank lines skipped before it
            let mut b = usize::try_from(byte).unwrap_or(usize::MAX).min(raw.len());
            while b < raw.len() && matches!(raw[b], b'\n' | b'\r') {
                b += 1;
            }
            newlines.partition_point(|&nl| nl < b) as u64 + 1
        };
        let mut records = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let rec = rec
                .map_err(|e| unreadable(&format!("fila {}: no se pudo leer el CSV: {e}", i + 1)))?;
            let line = rec.position().map_or(i as u64 + 1, |p| line_of(p.byte()));
            records.push((line, rec));
        }
        Ok(Workbook {
            kind: FileKind::Text,
            encoding: Some(encoding),
            delimiter: Some(delimiter),
            sheet_names: vec![String::new()],
            inner: Inner::Csv(Some(Sheet {
                name: None,
                rows: SheetRows::Csv(records),
                first_row: 1,
            })),
        })
    }

    fn from_sheets(kind: FileKind, sheets: Sheets<Cursor<Vec<u8>>>) -> Workbook {
        Workbook {
            kind,
            encoding: None,
            delimiter: None,
            sheet_names: sheets.sheet_names(),
            inner: Inner::Sheets(Box::new(sheets)),
        }
    }

    /// Takes the sheet named `name`, or the first sheet that has any non-blank cell.
    ///
    /// # Errors
    /// [`FileError::NoSuchSheet`] for an unknown name, [`FileError::Unreadable`] when a
    /// sheet cannot be read.
    pub fn take_sheet(&mut self, file: &str, name: Option<&str>) -> Result<Sheet, FileError> {
        match &mut self.inner {
            Inner::Csv(sheet) => sheet.take().ok_or_else(|| FileError::Unreadable {
                file: file.into(),
                reason: "ya se leyó".into(),
            }),
            Inner::Sheets(sheets) => {
                let names = self.sheet_names.clone();
                let wanted: Vec<String> = match name {
                    Some(n) => {
                        let found = names
                            .iter()
                            .find(|s| s.trim().eq_ignore_ascii_case(n.trim()))
                            .cloned();
                        vec![found.ok_or_else(|| FileError::NoSuchSheet {
                            file: file.into(),
                            sheet: n.into(),
                            available: names.join(", "),
                        })?]
                    }
                    None => names.clone(),
                };
                let mut first_blank: Option<Sheet> = None;
                for n in wanted {
                    let range = sheets
                        .worksheet_range(&n)
                        .map_err(|e| FileError::Unreadable {
                            file: file.into(),
                            reason: format!("no se pudo leer la hoja «{n}»: {e}"),
                        })?;
                    let first_row = range.start().map_or(1, |(r, _)| u64::from(r) + 1);
                    let has_data = range
                        .used_cells()
                        .any(|(_, _, c)| !Cell::from_data(c).is_blank());
                    let sheet = Sheet {
                        name: Some(n),
                        rows: SheetRows::Grid(range),
                        first_row,
                    };
                    if has_data || name.is_some() {
                        return Ok(sheet);
                    }
                    first_blank.get_or_insert(sheet);
                }
                first_blank.ok_or_else(|| FileError::Unreadable {
                    file: file.into(),
                    reason: "el libro no tiene hojas".into(),
                })
            }
        }
    }
}

/// UTF-8 (with or without BOM) when valid, otherwise Windows-1252.
pub(crate) fn decode_text(bytes: &[u8]) -> (String, TextEncoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF")
        && let Ok(s) = std::str::from_utf8(rest)
    {
        return (s.to_owned(), TextEncoding::Utf8Bom);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), TextEncoding::Utf8),
        Err(_) => {
            let (s, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (s.into_owned(), TextEncoding::Windows1252)
        }
    }
}

/// More than 1 % control characters (other than tab and line ends) in the first 64 KiB.
pub(crate) fn looks_binary(text: &str) -> bool {
    let sample: Vec<char> = text.chars().take(65_536).collect();
    let ctrl = sample
        .iter()
        .filter(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        .count();
    ctrl * 100 > sample.len().max(1)
}

/// The candidate (`;`, `,`, tab, `|`) that splits the first lines into the most columns,
/// consistently. Quoted text is skipped.
fn detect_delimiter(text: &str) -> char {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let count = |line: &str, d: char| {
        let mut n = 0;
        let mut quoted = false;
        for c in line.chars() {
            if c == '"' {
                quoted = !quoted;
            } else if c == d && !quoted {
                n += 1;
            }
        }
        n
    };
    let mut best = (';', 0usize);
    for d in [';', ',', '\t', '|'] {
        let counts: Vec<usize> = lines.iter().map(|l| count(l, d)).collect();
        let max = counts.iter().copied().max().unwrap_or(0);
        // score: columns in the widest line, weighted by how many lines reach it
        let agree = counts.iter().filter(|&&c| c == max).count();
        let score = max * agree;
        if score > best.1 {
            best = (d, score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_detected() {
        assert_eq!(detect_delimiter("a;b;c\n1;2;3\n"), ';');
        assert_eq!(detect_delimiter("a,b,c\n1,2,3\n"), ',');
        assert_eq!(detect_delimiter("a\tb\tc\n1\t2\t3\n"), '\t');
        assert_eq!(
            detect_delimiter("a;b;\"x,y,z,w\"\n1;2;\"3,4,5,6\"\n"),
            ';',
            "commas inside quotes do not count"
        );
    }

    #[test]
    fn windows_1252_is_decoded_and_bom_removed() {
        let (s, e) = decode_text(b"Raz\xf3n;Pe\xf1alol\xe9n");
        assert_eq!(
            (s.as_str(), e),
            ("Razón;Peñalolén", TextEncoding::Windows1252)
        );
        let (s, e) = decode_text("\u{feff}Nro;Folio".as_bytes());
        assert_eq!((s.as_str(), e), ("Nro;Folio", TextEncoding::Utf8Bom));
    }

    #[test]
    fn non_spreadsheets_are_refused_with_what_they_are() {
        let e = Workbook::open("f.xlsx", b"%PDF-1.7 ...".to_vec())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("PDF"), "{e}");
        let e = Workbook::open("f.xlsx", b"PK\x03\x04garbage-zip".to_vec())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("zip"), "{e}");
        let e = Workbook::open("f.csv", vec![]).err().unwrap().to_string();
        assert!(e.contains("vacío"), "{e}");
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let e = Workbook::open("f.bin", noise).err().unwrap().to_string();
        assert!(e.contains("binario"), "{e}");
    }
}

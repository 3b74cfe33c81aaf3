//! The predecessor app's files (`facturas.csv`, `subidas.csv`, `cuentas.xlsx`, `UN.xlsx`,
//! `Santander.xlsx` …) read as header → value records. Their columns are described in
//! DOMAIN.md §5 and docs/migration.md; here they are only read, faithfully: the first
//! non-blank row is the header (whitespace, including the line breaks inside Santander's
//! headers, collapsed to one space), blank rows are skipped, and every value is kept as the
//! user would read it (whole numbers stored as floats by Excel print without `.0`).

use std::collections::BTreeMap;

use crate::error::FileError;
use crate::source::Workbook;

/// One data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based row number in the file (line for CSV), for reports.
    pub row: u64,
    /// Header → trimmed value; blank cells are absent.
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// The value under the first of `names` present (headers compared case- and
    /// space-insensitively).
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            let want = normalize_header(n).to_lowercase();
            self.fields
                .iter()
                .find(|(k, _)| k.to_lowercase() == want)
                .map(|(_, v)| v.as_str())
        })
    }
}

/// A file's header and rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// The header, normalized, in file order (a repeated name gets ` (2)`, ` (3)` …).
    pub headers: Vec<String>,
    /// The data rows.
    pub rows: Vec<Record>,
}

/// Collapses runs of whitespace (spaces, tabs, line breaks) to one space and trims.
pub fn normalize_header(h: &str) -> String {
    h.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads `bytes` (named `file` in messages) as records; `sheet` picks a workbook sheet (else
/// the first with data). A zero-byte file, or one without any non-blank row (what the
/// predecessor wrote for an empty table), gives no headers and no rows.
///
/// # Errors
/// [`FileError`] for binary, encrypted or unreadable files and unknown sheets.
pub fn read_records(file: &str, bytes: Vec<u8>, sheet: Option<&str>) -> Result<Records, FileError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) || bytes == b"\xEF\xBB\xBF".as_slice() {
        return Ok(Records::default());
    }
    let stripped_bom_only = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .is_some_and(|rest| rest.iter().all(|b| b.is_ascii_whitespace()));
    if stripped_bom_only {
        return Ok(Records::default());
    }
    let mut wb = Workbook::open(file, bytes)?;
    let sheet = wb.take_sheet(file, sheet)?;
    let mut out = Records::default();
    let mut header: Option<Vec<String>> = None;
    for (n, row) in sheet.rows() {
        let cells: Vec<Option<String>> = (0..row.len()).map(|i| row.get(i).text()).collect();
        if cells.iter().all(Option::is_none) {
            continue;
        }
        match &header {
            None => {
                let mut names: Vec<String> = Vec::with_capacity(cells.len());
                for (i, c) in cells.iter().enumerate() {
                    let base = c
                        .as_deref()
                        .map(normalize_header)
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| format!("columna {}", i + 1));
                    let mut name = base.clone();
                    let mut k = 2;
                    while names.iter().any(|x| x.eq_ignore_ascii_case(&name)) {
                        name = format!("{base} ({k})");
                        k += 1;
                    }
                    names.push(name);
                }
                out.headers.clone_from(&names);
                header = Some(names);
            }
            Some(names) => {
                let mut fields = BTreeMap::new();
                for (i, c) in cells.into_iter().enumerate() {
                    let Some(v) = c else { continue };
                    let name = names
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("columna {}", i + 1));
                    fields.insert(name, v);
                }
                out.rows.push(Record { row: n, fields });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_bom_csv_with_a_header_and_skips_blank_rows() {
        let csv =
            "\u{feff}idDocumento,folioUnico,montoTotal\n31002659,3482819.0,245048.0\n\n7,BH 14,\n";
        let r = read_records("facturas.csv", csv.as_bytes().to_vec(), None).unwrap();
        assert_eq!(r.headers, ["idDocumento", "folioUnico", "montoTotal"]);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0].get(&["folioUnico"]), Some("3482819.0"));
        assert_eq!(r.rows[1].get(&["FOLIOUNICO"]), Some("BH 14"));
        assert_eq!(
            r.rows[1].get(&["montoTotal"]),
            None,
            "blank cells are absent"
        );
        assert_eq!(r.rows[1].row, 4);
    }

    #[test]
    fn empty_files_have_no_rows_and_odd_headers_are_normalized() {
        for empty in [
            &b""[..],
            b"\n",
            b"\xEF\xBB\xBF",
            b"\xEF\xBB\xBF\r\n",
            b"  \n\n",
        ] {
            assert_eq!(
                read_records("x.csv", empty.to_vec(), None).unwrap(),
                Records::default()
            );
        }
        // a quoted header with a line break
        let csv2 = "\"RUT beneficiario\n(obligatorio)\",a,a,\n1,2,3,4\n";
        let r2 = read_records("s.csv", csv2.as_bytes().to_vec(), None).unwrap();
        assert_eq!(
            r2.headers,
            ["RUT beneficiario (obligatorio)", "a", "a (2)", "columna 4"]
        );
        assert_eq!(
            r2.rows[0].get(&["RUT beneficiario (obligatorio)"]),
            Some("1")
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(read_records("x.xlsx", b"PK\x03\x04garbage".to_vec(), None).is_err());
        let binary = read_records("x.csv", vec![0, 159, 146, 150, 0, 0, 1], None);
        assert!(binary.is_err(), "{binary:?}");
    }
}

/// A cell written by [`write_xlsx`].
#[derive(Debug, Clone, PartialEq)]
pub enum XlsxValue {
    /// Text.
    Text(String),
    /// A number (Excel stores every number as a float).
    Number(f64),
    /// Nothing.
    Empty,
}

/// Writes one sheet with a header row and data rows: the shape of the predecessor's
/// `cuentas.xlsx`, `UN.xlsx` and `Santander.xlsx`, for the fixture generator.
///
/// # Errors
/// The file cannot be written.
pub fn write_xlsx(
    path: &std::path::Path,
    headers: &[&str],
    rows: &[Vec<XlsxValue>],
) -> Result<(), String> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let e = |e: rust_xlsxwriter::XlsxError| e.to_string();
    for (c, h) in headers.iter().enumerate() {
        let c = u16::try_from(c).map_err(|e| e.to_string())?;
        ws.write_string(0, c, *h).map_err(e)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|e| e.to_string())?;
        for (c, v) in row.iter().enumerate() {
            let c = u16::try_from(c).map_err(|e| e.to_string())?;
            match v {
                XlsxValue::Text(t) => {
                    ws.write_string(r, c, t).map_err(e)?;
                }
                XlsxValue::Number(n) => {
                    ws.write_number(r, c, *n).map_err(e)?;
                }
                XlsxValue::Empty => {}
            }
        }
    }
    wb.save(path).map_err(e)
}

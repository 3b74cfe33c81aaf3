//! Budget and treasury grids as xlsx workbooks: a title, a header of weeks, rows of pesos
//! (negative in red), bold subtotal and total rows, frozen labels and header. The file is
//! written beside its destination and renamed into place, so a crash never leaves half a
//! workbook where the user expects one.

use std::path::Path;

use chrono::NaiveDate;
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook};

use super::ExportError;

/// How a grid row looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridStyle {
    /// A line.
    Data,
    /// A family subtotal or a bank's balance.
    Subtotal,
    /// The total.
    Total,
}

/// One row: labels (one per label column) and a value per value column (`None`: empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridLine {
    /// Texts of the label columns.
    pub labels: Vec<String>,
    /// Pesos per value column.
    pub values: Vec<Option<i64>>,
    /// Style.
    pub style: GridStyle,
}

/// One sheet of a grid workbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridSheet {
    /// Sheet name (at most 31 characters; cut when longer).
    pub name: String,
    /// Title on its first row.
    pub title: String,
    /// A line under the title (period, date made).
    pub subtitle: String,
    /// Headers of the label columns.
    pub label_headers: Vec<String>,
    /// Headers of the value columns.
    pub value_headers: Vec<String>,
    /// Rows.
    pub rows: Vec<GridLine>,
}

/// A week's Monday as a column header, `dd-mm`.
pub fn week_header(monday: &str) -> String {
    NaiveDate::parse_from_str(monday, "%Y-%m-%d").map_or_else(
        |_| monday.to_owned(),
        |d| format!("Sem. {}", d.format("%d-%m-%Y")),
    )
}

fn xlsx(e: rust_xlsxwriter::XlsxError) -> ExportError {
    ExportError::Xlsx(e.to_string())
}

/// Writes `sheets` to `out` (replacing it whole).
///
/// # Errors
/// The folder cannot be written, or the workbook library refuses something.
pub fn write_grid(out: &Path, sheets: &[GridSheet]) -> Result<(), ExportError> {
    let io = |source: std::io::Error| ExportError::Io {
        path: out.to_path_buf(),
        source,
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut wb = Workbook::new();
    let title = Format::new().set_bold().set_font_size(14);
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0x00DD_E6F0))
        .set_border_bottom(FormatBorder::Thin);
    let money = "#,##0;[Red]-#,##0";
    let data = Format::new().set_num_format(money);
    let sub = Format::new().set_num_format(money).set_bold();
    let total = Format::new()
        .set_num_format(money)
        .set_bold()
        .set_border_top(FormatBorder::Double);
    let label_sub = Format::new().set_bold();
    for s in sheets {
        let ws = wb.add_worksheet();
        let name: String = s
            .name
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(31)
            .collect();
        ws.set_name(if name.is_empty() { "Hoja" } else { &name })
            .map_err(xlsx)?;
        ws.write_string_with_format(0, 0, &s.title, &title)
            .map_err(xlsx)?;
        ws.write_string(1, 0, &s.subtitle).map_err(xlsx)?;
        let nl = u16::try_from(s.label_headers.len()).unwrap_or(u16::MAX);
        for (i, h) in s.label_headers.iter().chain(&s.value_headers).enumerate() {
            let c = u16::try_from(i)
                .map_err(|_| ExportError::Internal("demasiadas columnas".into()))?;
            ws.write_string_with_format(3, c, h, &head).map_err(xlsx)?;
        }
        for (r, line) in s.rows.iter().enumerate() {
            let row = 4 + u32::try_from(r)
                .map_err(|_| ExportError::Internal("demasiadas filas".into()))?;
            let (vf, lf) = match line.style {
                GridStyle::Data => (&data, None),
                GridStyle::Subtotal => (&sub, Some(&label_sub)),
                GridStyle::Total => (&total, Some(&label_sub)),
            };
            for (c, l) in line.labels.iter().enumerate() {
                let c = u16::try_from(c).unwrap_or(0);
                match lf {
                    Some(f) => ws.write_string_with_format(row, c, l, f),
                    None => ws.write_string(row, c, l),
                }
                .map_err(xlsx)?;
            }
            for (c, v) in line.values.iter().enumerate() {
                let c = nl.saturating_add(u16::try_from(c).unwrap_or(u16::MAX));
                match v {
                    // pesos are exact in a double up to 2^53
                    #[allow(clippy::cast_precision_loss)]
                    Some(v) => ws.write_number_with_format(row, c, *v as f64, vf),
                    None => ws.write_blank(row, c, vf),
                }
                .map_err(xlsx)?;
            }
        }
        ws.set_freeze_panes(4, nl).map_err(xlsx)?;
        for c in 0..nl {
            ws.set_column_width(c, if c == 0 { 34 } else { 18 })
                .map_err(xlsx)?;
        }
        let nv = u16::try_from(s.value_headers.len()).unwrap_or(0);
        if nv > 0 {
            ws.set_column_range_width(nl, nl + nv - 1, 15)
                .map_err(xlsx)?;
        }
    }
    let temp = tempfile::Builder::new()
        .prefix(".icc-export-")
        .suffix(".xlsx")
        .tempfile_in(dir)
        .map_err(io)?;
    wb.save(temp.path()).map_err(xlsx)?;
    temp.persist(out).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook};

    #[test]
    fn a_grid_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("g.xlsx");
        let sheet = GridSheet {
            name: "Obra OB-1".into(),
            title: "Presupuesto".into(),
            subtitle: "período".into(),
            label_headers: vec!["Partida".into()],
            value_headers: vec![week_header("2026-11-30"), "Total".into()],
            rows: vec![
                GridLine {
                    labels: vec!["Moldajes".into()],
                    values: vec![Some(-1_500), None],
                    style: GridStyle::Data,
                },
                GridLine {
                    labels: vec!["TOTAL".into()],
                    values: vec![Some(10), Some(20)],
                    style: GridStyle::Total,
                },
            ],
        };
        write_grid(&out, &[sheet]).unwrap();
        let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
        let r = wb.worksheet_range("Obra OB-1").unwrap();
        assert_eq!(
            r.get_value((3, 1)),
            Some(&Data::String("Sem. 30-11-2026".into()))
        );
        assert_eq!(r.get_value((4, 1)), Some(&Data::Float(-1500.0)));
        assert_eq!(r.get_value((5, 2)), Some(&Data::Float(20.0)));
    }
}

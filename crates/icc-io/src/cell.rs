//! A borrowed view of one cell, whatever the file format, and the Chilean readings of it:
//! amounts (`1.234.567`, `$ 1.234`, `(1.234)`, `1.234,5`), integers, dates (Excel serials,
//! date cells, `dd/mm/aaaa`, `dd-mm-aaaa`, `aaaa-mm-dd`, with or without time).

use calamine::Data;
use chrono::{Days, NaiveDate, NaiveDateTime};

/// One cell. Text from CSV files is always [`Cell::Text`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Nothing in it.
    Empty,
    /// Text.
    Text(&'a str),
    /// Whole number.
    Int(i64),
    /// Number with a fraction (or a whole number stored as float by Excel).
    Float(f64),
    /// A date cell.
    Date(NaiveDateTime),
    /// A boolean.
    Bool(bool),
}

impl<'a> Cell<'a> {
    /// Borrows a calamine cell.
    pub fn from_data(d: &'a Data) -> Cell<'a> {
        match d {
            Data::Empty => Cell::Empty,
            Data::String(s) => {
                if s.trim().is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(s)
                }
            }
            Data::Int(i) => Cell::Int(*i),
            Data::Float(f) => Cell::Float(*f),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) => dt
                .as_datetime()
                .map_or(Cell::Float(dt.as_f64()), Cell::Date),
            Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s),
            Data::Error(_) => Cell::Text("#¡ERROR!"),
        }
    }

    /// Borrows a CSV field.
    pub fn from_text(s: &'a str) -> Cell<'a> {
        if s.trim().is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s)
        }
    }

    /// Empty, or text that is only blanks or a dash (the SII writes `-` for "no value").
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => matches!(t.trim(), "" | "-"),
            _ => false,
        }
    }

    /// The cell as the user would read it (for error reports).
    pub fn raw(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(t) => (*t).to_owned(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Date(d) => d.format("%d-%m-%Y %H:%M:%S").to_string(),
            Cell::Bool(b) => b.to_string(),
        }
    }

    /// Trimmed text of a text-like cell (numbers are printed without `.0`).
    pub fn text(&self) -> Option<String> {
        match self {
            Cell::Empty => None,
            Cell::Text(t) => {
                let t = t.trim();
                (!t.is_empty() && t != "-").then(|| t.to_owned())
            }
            Cell::Int(i) => Some(i.to_string()),
            Cell::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", *f as i64)),
            Cell::Float(f) => Some(f.to_string()),
            Cell::Date(d) => Some(d.date().to_string()),
            Cell::Bool(b) => Some(b.to_string()),
        }
    }
}

/// An amount read from a cell: whole pesos, and whether it had to be rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    /// Pesos.
    pub pesos: i64,
    /// The source had a fraction of a peso, rounded half away from zero.
    pub rounded: bool,
}

/// Reads an amount in pesos. Blank is `Ok(None)`.
///
/// Text accepts Chilean and international spellings: `1.234.567`, `$ 1.234`, `1.234,5`,
/// `1,234,567.00`, `-1.234`, `(1.234)` (negative), `119.000` (thousands, as Chileans write it).
///
/// # Errors
/// A Spanish reason when the cell is not a number.
pub fn amount(cell: Cell<'_>) -> Result<Option<Amount>, String> {
    match cell {
        c if c.is_blank() => Ok(None),
        Cell::Int(i) => Ok(Some(Amount {
            pesos: i,
            rounded: false,
        })),
        Cell::Float(f) => float_pesos(f).map(Some),
        Cell::Text(t) => parse_amount_text(t).map(Some),
        Cell::Bool(_) | Cell::Date(_) => Err("se esperaba un monto en pesos".into()),
        Cell::Empty => Ok(None),
    }
}

fn float_pesos(f: f64) -> Result<Amount, String> {
    if !f.is_finite() || f.abs() > 9.0e15 {
        return Err("el monto está fuera de rango".into());
    }
    let r = f.round();
    // Excel stores 1190 as 1190.0000000001 after arithmetic: not a real fraction.
    let rounded = (f - r).abs() > 1e-6;
    Ok(Amount {
        pesos: r as i64,
        rounded,
    })
}

fn parse_amount_text(raw: &str) -> Result<Amount, String> {
    let bad = || "no es un monto; use números como 1.234.567 o 1234567".to_string();
    let mut t: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '$' | '\t'))
        .collect();
    t = t
        .trim_start_matches("CLP")
        .trim_end_matches("CLP")
        .to_owned();
    let mut negative = false;
    if t.starts_with('(') && t.ends_with(')') && t.len() > 2 {
        negative = true;
        t = t[1..t.len() - 1].to_owned();
    }
    if let Some(rest) = t.strip_prefix('-') {
        negative = !negative;
        t = rest.to_owned();
    } else if let Some(rest) = t.strip_suffix('-') {
        negative = !negative;
        t = rest.to_owned();
    }
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        || !t.as_bytes()[0].is_ascii_digit()
    {
        return Err(bad());
    }
    let dots = t.matches('.').count();
    let commas = t.matches(',').count();
    let (int_part, frac_part): (String, String) = match (dots, commas) {
        (0, 0) => (t.clone(), String::new()),
        (_, 0) => {
            let after = t.rsplit('.').next().unwrap_or("");
            if dots == 1 && after.len() != 3 {
                split_decimal(&t, '.')
            } else {
                (grouped(&t, '.').ok_or_else(bad)?, String::new())
            }
        }
        (0, _) => {
            let after = t.rsplit(',').next().unwrap_or("");
            if commas == 1 && after.len() != 3 {
                split_decimal(&t, ',')
            } else {
                (grouped(&t, ',').ok_or_else(bad)?, String::new())
            }
        }
        _ => {
            // both: the last one is the decimal separator
            let (dec, thou) = if t.rfind(',') > t.rfind('.') {
                (',', '.')
            } else {
                ('.', ',')
            };
            let (i, f) = split_decimal(&t, dec);
            if f.contains(thou) || f.contains(dec) {
                return Err(bad());
            }
            (grouped(&i, thou).ok_or_else(bad)?, f)
        }
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let int: i64 = int_part
        .parse()
        .map_err(|_| "el monto está fuera de rango".to_string())?;
    let frac_first = frac_part.bytes().next().map_or(0, |b| i64::from(b - b'0'));
    let rounded = frac_part.bytes().any(|b| b != b'0');
    let mut pesos = if frac_first >= 5 {
        int.checked_add(1).ok_or("el monto está fuera de rango")?
    } else {
        int
    };
    if negative {
        pesos = -pesos;
    }
    Ok(Amount { pesos, rounded })
}

fn split_decimal(t: &str, sep: char) -> (String, String) {
    match t.rsplit_once(sep) {
        Some((i, f)) => (i.to_owned(), f.to_owned()),
        None => (t.to_owned(), String::new()),
    }
}

/// `1.234.567` with `.` → `1234567`, checking groups of three.
fn grouped(t: &str, sep: char) -> Option<String> {
    let parts: Vec<&str> = t.split(sep).collect();
    let first = parts.first()?;
    if first.is_empty() || first.len() > 3 || parts[1..].iter().any(|p| p.len() != 3) {
        return None;
    }
    Some(parts.concat())
}

/// Reads a whole number (tipo de documento, códigos). Blank is `Ok(None)`.
///
/// # Errors
/// A Spanish reason when the cell is not a whole number.
pub fn integer(cell: Cell<'_>) -> Result<Option<i64>, String> {
    match cell {
        c if c.is_blank() => Ok(None),
        Cell::Int(i) => Ok(Some(i)),
        Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Cell::Text(t) => {
            let t = t.trim();
            let t = t
                .strip_suffix(".0")
                .or_else(|| t.strip_suffix(",0"))
                .unwrap_or(t);
            t.parse()
                .map(Some)
                .map_err(|_| "se esperaba un número entero".into())
        }
        _ => Err("se esperaba un número entero".into()),
    }
}

/// Excel's day zero in the 1900 date system (with its 1900 leap-year bug, serials after
/// February 1900 count from 1899-12-30).
fn excel_serial(serial: f64) -> Option<NaiveDateTime> {
    // plausible invoice dates only: 1990-01-01 (32874) to 2100-12-31 (73415)
    if !(32874.0..=73415.0).contains(&serial) {
        return None;
    }
    let days = serial.trunc() as u64;
    let secs = ((serial.fract() * 86_400.0).round() as u32).min(86_399);
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    let date = base.checked_add_days(Days::new(days))?;
    date.and_hms_opt(secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Reads a date and time. Blank or `-` is `Ok(None)`.
///
/// # Errors
/// A Spanish reason when the cell is not a date.
pub fn datetime(cell: Cell<'_>) -> Result<Option<NaiveDateTime>, String> {
    let bad = "no es una fecha; use dd-mm-aaaa, dd/mm/aaaa o aaaa-mm-dd".to_string();
    match cell {
        c if c.is_blank() => Ok(None),
        Cell::Date(d) => Ok(Some(d)),
        Cell::Int(i) => excel_serial(i as f64).map(Some).ok_or(bad),
        Cell::Float(f) => excel_serial(f).map(Some).ok_or(bad),
        Cell::Text(t) => {
            let t = t.trim();
            if let Ok(serial) = t.parse::<f64>() {
                return excel_serial(serial).map(Some).ok_or(bad);
            }
            icc_core::parse_datetime("fecha", t)
                .map(Some)
                .map_err(|_| bad)
        }
        _ => Err(bad),
    }
}

/// Reads a date (a time part is dropped).
///
/// # Errors
/// As [`datetime`].
pub fn date(cell: Cell<'_>) -> Result<Option<NaiveDate>, String> {
    datetime(cell).map(|d| d.map(|d| d.date()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pesos(s: &str) -> i64 {
        amount(Cell::Text(s)).unwrap().unwrap().pesos
    }

    #[test]
    fn chilean_and_international_amounts() {
        for (s, v) in [
            ("1.234.567", 1_234_567),
            ("119.000", 119_000),
            ("$ 1.234", 1_234),
            ("$1.234.567", 1_234_567),
            ("1234567", 1_234_567),
            ("-1.234", -1_234),
            ("(1.234)", -1_234),
            ("1.234-", -1_234),
            ("1.234,5", 1_235),
            ("1.234,4", 1_234),
            ("1,234,567.00", 1_234_567),
            ("1234,50", 1_235),
            ("12.5", 13),
            ("0", 0),
            (" 1.000 ", 1_000),
            ("CLP 5.000", 5_000),
        ] {
            assert_eq!(pesos(s), v, "{s}");
        }
        assert!(amount(Cell::Text("1.234,5")).unwrap().unwrap().rounded);
        assert!(!amount(Cell::Text("1.234")).unwrap().unwrap().rounded);
        assert_eq!(
            amount(Cell::Float(1190.0000000001)).unwrap().unwrap(),
            Amount {
                pesos: 1190,
                rounded: false
            }
        );
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for s in [
            "abc", "1.23.4", "12,34,5", "1..2", "$", "()", "1.234.56", "--5", "1e5", "٣",
        ] {
            assert!(amount(Cell::Text(s)).is_err(), "{s}");
        }
        assert_eq!(
            amount(Cell::Text("-")).unwrap(),
            None,
            "the SII's dash means no value"
        );
        assert_eq!(amount(Cell::Empty).unwrap(), None);
    }

    #[test]
    fn dates_in_every_shape() {
        let want = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        for c in [
            Cell::Text("03/10/2026"),
            Cell::Text("03-10-2026"),
            Cell::Text("2026-10-03"),
            Cell::Text("03/10/2026 16:27:03"),
            Cell::Int(46298),
            Cell::Float(46298.68),
            Cell::Text("46298"),
            Cell::Date(want.and_hms_opt(0, 0, 0).unwrap()),
        ] {
            assert_eq!(date(c).unwrap(), Some(want), "{c:?}");
        }
        assert_eq!(
            datetime(Cell::Float(46298.5)).unwrap().unwrap().to_string(),
            "2026-10-03 12:00:00"
        );
        for c in [
            Cell::Text("31/02/2026"),
            Cell::Int(5),
            Cell::Text("ayer"),
            Cell::Bool(true),
        ] {
            assert!(date(c).is_err(), "{c:?}");
        }
        assert_eq!(date(Cell::Text("-")).unwrap(), None);
    }

    #[test]
    fn integers_from_text_and_float_cells() {
        assert_eq!(integer(Cell::Text("33")).unwrap(), Some(33));
        assert_eq!(integer(Cell::Text("33.0")).unwrap(), Some(33));
        assert_eq!(integer(Cell::Float(61.0)).unwrap(), Some(61));
        assert!(integer(Cell::Float(61.5)).is_err());
        assert!(integer(Cell::Text("treinta")).is_err());
    }
}

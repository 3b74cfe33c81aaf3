//! Dates as Chileans write them (`dd/mm/aaaa`, `dd-mm-aaaa`) and as machines do (`aaaa-mm-dd`),
//! with or without a time.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::error::{CoreError, Result};

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d"];
const TIME_FORMATS: &[&str] = &["%H:%M:%S", "%H:%M", "%H:%M:%S%.f"];

/// Reads a date; a trailing time (`dd/mm/aaaa HH:MM:SS`, `aaaa-mm-ddTHH:MM:SS`) is accepted
/// and dropped.
///
/// # Errors
/// [`CoreError::Invalid`] naming `field` when the text is not a date in one of the formats.
pub fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate> {
    let t = raw.trim();
    let date_part = t.split([' ', 'T']).next().unwrap_or(t);
    for f in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(date_part, f) {
            return Ok(d);
        }
    }
    Err(CoreError::invalid(
        field,
        t,
        "no es una fecha; use dd-mm-aaaa, dd/mm/aaaa o aaaa-mm-dd",
    ))
}

/// Reads a date with an optional time (a missing time is midnight).
///
/// # Errors
/// [`CoreError::Invalid`] naming `field` when date or time cannot be read.
pub fn parse_datetime(field: &'static str, raw: &str) -> Result<NaiveDateTime> {
    let t = raw.trim();
    let (d, rest) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let date = parse_date(field, d).map_err(|_| {
        CoreError::invalid(
            field,
            t,
            "no es una fecha; use dd/mm/aaaa HH:MM:SS o aaaa-mm-dd HH:MM:SS",
        )
    })?;
    if rest.is_empty() {
        return Ok(date.and_time(NaiveTime::MIN));
    }
    let rest = rest.trim_end_matches('Z');
    for f in TIME_FORMATS {
        if let Ok(time) = NaiveTime::parse_from_str(rest, f) {
            return Ok(date.and_time(time));
        }
    }
    Err(CoreError::invalid(
        field,
        t,
        "la hora no es válida; use HH:MM:SS",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chilean_and_iso_dates_parse_to_the_same_day() {
        let want = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        for s in [
            "03/10/2026",
            "03-10-2026",
            "2026-10-03",
            "2026/10/03",
            " 03/10/2026 16:27:03",
            "2026-10-03T16:27:03",
        ] {
            assert_eq!(parse_date("fecha", s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn datetimes_keep_the_time_and_default_to_midnight() {
        let dt = parse_datetime("fecha recepción", "03/10/2026 16:27:03").unwrap();
        assert_eq!(dt.to_string(), "2026-10-03 16:27:03");
        assert_eq!(
            parse_datetime("f", "2026-10-03").unwrap().to_string(),
            "2026-10-03 00:00:00"
        );
    }

    #[test]
    fn impossible_dates_are_refused_naming_the_field() {
        for s in [
            "",
            "31/02/2026",
            "2026-13-01",
            "hoy",
            "03/10/2026 25:00:00",
            "-",
        ] {
            let e = parse_datetime("fecha emisión", s).unwrap_err().to_string();
            assert!(e.starts_with("fecha emisión"), "{e}");
        }
    }
}

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

/// A UTC time stored as text: `AAAA-MM-DDTHH:MM:SS[.fff]Z`, RFC 3339 or
/// `AAAA-MM-DD HH:MM:SS[.fff]`.
fn parse_utc(utc: &str) -> Option<chrono::DateTime<chrono_tz::Tz>> {
    use chrono::TimeZone;
    let t = chrono::DateTime::parse_from_rfc3339(utc.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(
                utc.trim().trim_end_matches('Z'),
                "%Y-%m-%dT%H:%M:%S%.f",
            )
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(utc.trim(), "%Y-%m-%d %H:%M:%S%.f"))
            .map(|n| chrono::Utc.from_utc_datetime(&n))
        })
        .ok()?;
    Some(t.with_timezone(&chrono_tz::America::Santiago))
}

/// A UTC time stored as text (`AAAA-MM-DDTHH:MM:SS[.fff]Z` or RFC 3339) as people in Chile
/// read it: America/Santiago local time (summer time included, from the bundled time-zone
/// database), `dd-mm-aaaa HH:MM:SS`. `None` for text that is not such a time.
pub fn santiago_text(utc: &str) -> Option<String> {
    Some(parse_utc(utc)?.format("%d-%m-%Y %H:%M:%S").to_string())
}

/// The day in Chile (America/Santiago) of a UTC time stored as text, as for
/// [`santiago_text`]: a payment marked at 22:00 on a Sunday in Santiago belongs to that
/// Sunday's week, not to Monday's in UTC.
pub fn santiago_date(utc: &str) -> Option<NaiveDate> {
    Some(parse_utc(utc)?.date_naive())
}

/// The Spanish name of an audit action, as the Historial shows it (the stored names are
/// stable identifiers in English or Spanish; people never see them).
pub fn audit_action_label(action: &str) -> &str {
    match action {
        "create" => "creación",
        "update" => "cambio",
        "estado" => "cambio de estado",
        "delete" => "eliminación",
        "attach" => "adjunto",
        "sync" => "recibido del servidor",
        "descarte" => "descarte",
        "retiro" => "retiro (salió de sus obras)",
        "login" => "vinculación al servidor",
        "logout" => "desvinculación del servidor",
        "cuenta" => "cambio de rol u obras en el servidor",
        "login_failed" => "ingreso fallido",
        "nuevo_dispositivo" => "nuevo dispositivo",
        "envio" => "envío por correo",
        "guardada" => "credencial guardada",
        "eliminada" => "credencial eliminada",
        "kame" => "contabilizada en Kame",
        other => other,
    }
}

#[cfg(test)]
mod santiago_tests {
    use super::*;

    #[test]
    fn utc_times_read_as_chile_time_in_winter_and_summer() {
        // July: UTC-4
        assert_eq!(
            santiago_text("2026-07-01T15:00:00Z").as_deref(),
            Some("01-07-2026 11:00:00")
        );
        // December: summer time, UTC-3
        assert_eq!(
            santiago_text("2026-12-03T15:30:05.123Z").as_deref(),
            Some("03-12-2026 12:30:05")
        );
        // the day changes across midnight UTC
        assert_eq!(
            santiago_text("2026-12-04T01:00:00Z").as_deref(),
            Some("03-12-2026 22:00:00")
        );
        assert_eq!(santiago_text("ayer"), None);
        // a Sunday 22:00 in Santiago is Monday 01:00 UTC: the day is Sunday
        assert_eq!(
            santiago_date("2026-12-07T01:00:00.000Z"),
            NaiveDate::from_ymd_opt(2026, 12, 6)
        );
        assert_eq!(
            santiago_date("2026-07-01T03:59:59Z"),
            NaiveDate::from_ymd_opt(2026, 6, 30)
        );
        assert_eq!(santiago_date("2026-13-01T00:00:00Z"), None);
        assert_eq!(audit_action_label("create"), "creación");
        assert_eq!(audit_action_label("update"), "cambio");
    }
}

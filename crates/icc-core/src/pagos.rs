//! Paying suppliers: the legal due date and where it comes from, the weekly payment
//! cut-off, late days and late-payment interest, and an invoice's balance.
//!
//! The rules are Ley 19.983 as amended by Ley 21.131 (`DOMAIN.md` §6.1): an invoice is due 30
//! calendar days after its reception unless a registered agreement says otherwise; from the
//! first day late it earns interest at the CMF *interés corriente* in force each day, plus a
//! one-time collection charge of 1 % of the unpaid balance.

use std::collections::HashSet;
use std::fmt;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::clp::Clp;
use crate::deadline::DEFAULT_PAYMENT_TERM_DAYS;
use crate::error::{CoreError, Result};
use crate::status::InvoiceStatus;

/// Where an invoice's due date comes from, in the order the law gives them weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DueSource {
    /// The date the document (or iConstruye) states: an agreed term.
    Acordada,
    /// 30 days from the reception at the SII (the RCV's `Fecha Recepcion`).
    RecepcionSii,
    /// 30 days from the day it was imported here: the reception at the SII is unknown, and
    /// the company cannot have received it later than that.
    Importacion,
    /// 30 days from emission: neither reception nor import date is known (documents
    /// imported before the import date was recorded).
    Emision,
}

impl DueSource {
    /// The code screens and JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            DueSource::Acordada => "acordada",
            DueSource::RecepcionSii => "recepcion_sii",
            DueSource::Importacion => "importacion",
            DueSource::Emision => "emision",
        }
    }

    /// How screens explain it.
    pub fn label(self) -> &'static str {
        match self {
            DueSource::Acordada => "fecha acordada en el documento",
            DueSource::RecepcionSii => "30 días desde la recepción en el SII",
            DueSource::Importacion => "30 días desde la importación (recepción SII desconocida)",
            DueSource::Emision => "30 días desde la emisión (recepción e importación desconocidas)",
        }
    }
}

impl fmt::Display for DueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A due date with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueDate {
    /// The last day to pay without interest.
    pub date: NaiveDate,
    /// Where it comes from.
    pub source: DueSource,
}

/// The legal due date: the agreed date when the document carries one, else 30 calendar days
/// from the reception at the SII, else from the import date, else from emission.
pub fn legal_due_date(
    acordada: Option<NaiveDate>,
    recepcion_sii: Option<NaiveDateTime>,
    importacion: Option<NaiveDate>,
    emision: NaiveDate,
) -> DueDate {
    if let Some(date) = acordada {
        return DueDate {
            date,
            source: DueSource::Acordada,
        };
    }
    let (from, source) = match (recepcion_sii, importacion) {
        (Some(r), _) => (r.date(), DueSource::RecepcionSii),
        (None, Some(i)) => (i, DueSource::Importacion),
        (None, None) => (emision, DueSource::Emision),
    };
    DueDate {
        date: from
            .checked_add_days(Days::new(DEFAULT_PAYMENT_TERM_DAYS))
            .unwrap_or(from),
        source,
    }
}

/// The default cut-off of a payment run: this week's Friday, today when today is a Friday,
/// and the coming Friday on a weekend (the office pays on Fridays; every screen and the CLI
/// take the default from here).
pub fn payment_cutoff(today: NaiveDate) -> NaiveDate {
    let from_monday = i64::from(today.weekday().num_days_from_monday());
    let friday = i64::from(Weekday::Fri.num_days_from_monday());
    let ahead = (friday - from_monday).rem_euclid(7);
    today
        .checked_add_days(Days::new(ahead.unsigned_abs()))
        .unwrap_or(today)
}

/// Days late on `on` for a due date (0 while not late).
pub fn late_days(due: NaiveDate, on: NaiveDate) -> i64 {
    (on - due).num_days().max(0)
}

/// A month's CMF *interés corriente* (annual, for non-indexed peso operations over 90 days),
/// in basis points: 2,432 is 24.32 % a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InterestRate {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Annual rate in basis points.
    pub annual_bp: u32,
}

/// Highest annual rate accepted, in basis points (the legal maximum has never been near it).
pub const MAX_ANNUAL_BP: u32 = 10_000;

/// Day-count basis of the interest: rate / 360 per day (`DOMAIN.md` §6.1; the law does not
/// say, so it is documented here and in the user docs).
pub const INTEREST_DAY_BASIS: i64 = 360;

/// The one-time collection charge, in percent of the unpaid balance.
pub const COLLECTION_CHARGE_PERCENT: i64 = 1;

/// What a late invoice owes on top of its balance on a given day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LateInterest {
    /// Days late.
    pub dias: i64,
    /// Interest accrued on the balance, at each day's rate.
    pub interes: Clp,
    /// The 1 % collection charge (0 while not late).
    pub cargo_cobranza: Clp,
    /// Months (`AAAA-MM`) late days fall in that have no rate in the table: those days accrue
    /// nothing until IT enters the rate, and screens say so.
    pub meses_sin_tasa: Vec<String>,
}

/// Late-payment interest of `balance` due on `due`, on day `on`: from the first day late to
/// `on` inclusive, each day at the annual rate of its month / [`INTEREST_DAY_BASIS`], rounded
/// once at the end (half up); plus the 1 % collection charge. Nothing when not late or
/// nothing is owed.
pub fn late_interest(
    balance: Clp,
    due: NaiveDate,
    on: NaiveDate,
    rates: &[InterestRate],
) -> LateInterest {
    let dias = late_days(due, on);
    if dias == 0 || balance.pesos() <= 0 {
        return LateInterest {
            dias,
            interes: Clp::ZERO,
            cargo_cobranza: Clp::ZERO,
            meses_sin_tasa: Vec::new(),
        };
    }
    // sum of the daily rates in basis points, month by month
    let mut bp_days: i128 = 0;
    let mut missing = Vec::new();
    let mut day = due.succ_opt().unwrap_or(due);
    while day <= on {
        let (y, m) = (day.year(), day.month());
        let month_end = first_of_next_month(y, m).and_then(|d| d.pred_opt());
        let last = month_end.map_or(on, |e| e.min(on));
        let days_here = i128::from((last - day).num_days() + 1);
        match rates.iter().find(|r| r.year == y && r.month == m) {
            Some(r) => bp_days += i128::from(r.annual_bp) * days_here,
            None => missing.push(format!("{y:04}-{m:02}")),
        }
        match last.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    let num = i128::from(balance.pesos()) * bp_days;
    let den = 10_000 * i128::from(INTEREST_DAY_BASIS);
    let interes = (num + den / 2) / den;
    LateInterest {
        dias,
        interes: Clp::new(i64::try_from(interes).unwrap_or(i64::MAX)),
        cargo_cobranza: balance.percent(COLLECTION_CHARGE_PERCENT),
        meses_sin_tasa: missing,
    }
}

fn first_of_next_month(y: i32, m: u32) -> Option<NaiveDate> {
    if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
}

/// An invoice's balance, derived and never typed: total − its credit notes − its payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Balance {
    /// The document's total.
    pub total: Clp,
    /// Credit notes that reference it, each counted once.
    pub notas_credito: Clp,
    /// Payments recorded.
    pub pagado: Clp,
    /// What is left to pay (negative only if data elsewhere paid too much: shown, never
    /// paid).
    pub saldo: Clp,
}

/// The balance of an invoice of `total` with the credit notes that reference it (by the
/// note's own identity, so a note listed twice, or referencing the invoice on two lines,
/// counts once) and its payments.
///
/// # Errors
/// [`CoreError::Overflow`] on absurd sums.
pub fn balance<'a, K: Eq + std::hash::Hash + 'a>(
    total: Clp,
    notes: impl IntoIterator<Item = (&'a K, Clp)>,
    payments: impl IntoIterator<Item = Clp>,
) -> Result<Balance> {
    let mut seen = HashSet::new();
    let mut notas = Clp::ZERO;
    for (key, amount) in notes {
        if seen.insert(key) {
            notas = notas.checked_add(amount.abs(), "las notas de crédito")?;
        }
    }
    let mut pagado = Clp::ZERO;
    for p in payments {
        pagado = pagado.checked_add(p, "los pagos")?;
    }
    let saldo = total
        .checked_sub(notas, "el saldo")?
        .checked_sub(pagado, "el saldo")?;
    Ok(Balance {
        total,
        notas_credito: notas,
        pagado,
        saldo,
    })
}

/// The documents a credit note names, in the order it lists them: each reference whose type
/// and folio are written as numbers are (`33`, `1234`; `033` or `AS-1` name nothing), as a
/// document of the note's own issuer, never the note itself. A note is credited to the first
/// of them the register holds, so it never counts twice across invoices: the rule of
/// icc-store's balance queries, for the server, which holds documents rather than rows.
/// Empty for anything but a credit note (type 61).
pub fn credit_note_targets(note: &crate::Invoice) -> Vec<crate::InvoiceId> {
    if note.key.tipo_dte != crate::DteType::NOTA_CREDITO {
        return Vec::new();
    }
    let own = note.id();
    note.referencias
        .iter()
        .filter_map(|r| {
            let tipo: u16 = r.tipo.parse().ok()?;
            let folio: u64 = r.folio.parse().ok()?;
            if tipo.to_string() != r.tipo || folio.to_string() != r.folio {
                return None;
            }
            let key = crate::NaturalKey {
                rut_emisor: note.key.rut_emisor,
                tipo_dte: crate::DteType::new(tipo).ok()?,
                folio: crate::Folio::new(folio).ok()?,
            };
            Some(key.id()).filter(|id| *id != own)
        })
        .collect()
}

/// Checks a new payment of `monto` against the balance and the invoice's status, and returns
/// the status the invoice moves to: `pagada` when it settles the balance, else
/// `parcialmente_pagada`. Nothing is ever paid twice: a payment above the balance is refused.
///
/// # Errors
/// [`CoreError::Invalid`] with the reason, in Spanish.
pub fn check_payment(estado: InvoiceStatus, saldo: Clp, monto: Clp) -> Result<InvoiceStatus> {
    if monto.pesos() <= 0 {
        return Err(CoreError::invalid(
            "monto",
            monto.to_string(),
            "el pago debe ser mayor que cero",
        ));
    }
    if !matches!(
        estado,
        InvoiceStatus::Aprobada | InvoiceStatus::ParcialmentePagada
    ) {
        return Err(CoreError::invalid(
            "estado",
            estado.label(),
            "solo se registran pagos de facturas aprobadas o parcialmente pagadas: apruébela primero",
        ));
    }
    if saldo.pesos() <= 0 {
        return Err(CoreError::invalid(
            "monto",
            monto.to_string(),
            "la factura no tiene saldo por pagar",
        ));
    }
    if monto > saldo {
        return Err(CoreError::invalid(
            "monto",
            monto.to_string(),
            format!("supera el saldo de la factura ({saldo}); registre a lo más el saldo"),
        ));
    }
    Ok(if monto == saldo {
        InvoiceStatus::Pagada
    } else {
        InvoiceStatus::ParcialmentePagada
    })
}

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Bank transfer (the payment run's).
    #[default]
    Transferencia,
    /// Cheque.
    Cheque,
    /// Vale vista.
    ValeVista,
    /// Offset against something the supplier owes.
    Compensacion,
    /// Anything else (say what in the reference).
    Otro,
}

impl PaymentMethod {
    /// Every method, in the order screens list them.
    pub const ALL: [PaymentMethod; 5] = [
        PaymentMethod::Transferencia,
        PaymentMethod::Cheque,
        PaymentMethod::ValeVista,
        PaymentMethod::Compensacion,
        PaymentMethod::Otro,
    ];

    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Transferencia => "transferencia",
            PaymentMethod::Cheque => "cheque",
            PaymentMethod::ValeVista => "vale_vista",
            PaymentMethod::Compensacion => "compensacion",
            PaymentMethod::Otro => "otro",
        }
    }
}

impl std::str::FromStr for PaymentMethod {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<PaymentMethod> {
        let t = s.trim().to_lowercase().replace([' ', '-'], "_");
        PaymentMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == t)
            .ok_or_else(|| {
                CoreError::invalid(
                    "medio de pago",
                    s.trim(),
                    "se espera transferencia, cheque, vale_vista, compensacion u otro",
                )
            })
    }
}

/// Kind of a destination bank account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// Cuenta corriente.
    Corriente,
    /// Cuenta vista.
    Vista,
    /// Cuenta de ahorro.
    Ahorro,
    /// Cuenta RUT (BancoEstado).
    Rut,
}

impl AccountType {
    /// Every type, in the order screens list them.
    pub const ALL: [AccountType; 4] = [
        AccountType::Corriente,
        AccountType::Vista,
        AccountType::Ahorro,
        AccountType::Rut,
    ];

    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Corriente => "corriente",
            AccountType::Vista => "vista",
            AccountType::Ahorro => "ahorro",
            AccountType::Rut => "rut",
        }
    }

    /// As bank templates write it.
    pub fn label(self) -> &'static str {
        match self {
            AccountType::Corriente => "Cuenta Corriente",
            AccountType::Vista => "Cuenta Vista",
            AccountType::Ahorro => "Cuenta de Ahorro",
            AccountType::Rut => "Cuenta RUT",
        }
    }
}

impl std::str::FromStr for AccountType {
    type Err = CoreError;
    /// Reads `corriente`, `Cuenta Corriente`, `cta. cte.`, `CC`, `vista`, `ahorro`,
    /// `Cuenta RUT`, ...
    fn from_str(s: &str) -> Result<AccountType> {
        let t = s.trim().to_lowercase().replace('.', " ");
        let words: Vec<&str> = t
            .split_whitespace()
            .filter(|w| !matches!(*w, "cuenta" | "cta" | "de"))
            .collect();
        Ok(match words.as_slice() {
            ["corriente"] | ["cte"] | ["cc"] => AccountType::Corriente,
            ["vista"] | ["cv"] => AccountType::Vista,
            ["ahorro"] | ["ahorros"] => AccountType::Ahorro,
            ["rut"] => AccountType::Rut,
            _ => {
                return Err(CoreError::invalid(
                    "tipo de cuenta",
                    s.trim(),
                    "se espera corriente, vista, ahorro o rut",
                ));
            }
        })
    }
}

/// A bank account number as banks take it: digits only. Spaces, dots and dashes people type
/// are dropped; anything else is refused.
///
/// # Errors
/// [`CoreError::Invalid`] when it is empty, has other characters, or is not 4–20 digits.
pub fn account_number(raw: &str) -> Result<String> {
    let t = raw.trim();
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !(4..=20).contains(&digits.len()) {
        return Err(CoreError::invalid(
            "número de cuenta",
            t,
            "se esperan entre 4 y 20 dígitos (puntos, guiones y espacios se ignoran)",
        ));
    }
    Ok(digits)
}

/// The number of a Cuenta RUT: the holder's RUT body, without check digit (`12345678`). Typed
/// with its check digit (`12.345.678-5`, `123456785`) it is taken as the holder's RUT, which
/// it must be; anything else is refused: the digits of a RUT with its check digit are another
/// body, another person's account.
///
/// # Errors
/// [`CoreError::Invalid`] when it is not the holder's RUT.
pub fn cuenta_rut_number(raw: &str, titular: &crate::Rut) -> Result<String> {
    let body = titular.body().to_string();
    // written as a RUT (`12.345.678-K`): it must be the holder's
    if raw.contains('-') || raw.trim().ends_with(['k', 'K']) {
        if raw.parse::<crate::Rut>().is_ok_and(|r| r == *titular) {
            return Ok(body);
        }
        return Err(CoreError::invalid(
            "número de cuenta",
            raw.trim(),
            format!(
                "una Cuenta RUT es el RUT del titular sin dígito verificador ({body}, titular {titular}); revise el número o el RUT del titular"
            ),
        ));
    }
    let digits = account_number(raw)?;
    let with_dv = format!("{body}{}", titular.dv());
    if digits.trim_start_matches('0') == body || digits.trim_start_matches('0') == with_dv {
        return Ok(body);
    }
    Err(CoreError::invalid(
        "número de cuenta",
        raw.trim(),
        format!(
            "una Cuenta RUT es el RUT del titular sin dígito verificador ({body}, titular {titular}); revise el número o el RUT del titular"
        ),
    ))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_credit_note_names_the_documents_of_its_issuer_written_as_numbers() {
        use crate::{DteType, Folio, Invoice, NaturalKey, Referencia, Rut};
        let rut = Rut::from_body(76_555_835).expect("rut");
        let key = |tipo: u16, folio: u64| NaturalKey {
            rut_emisor: rut,
            tipo_dte: DteType::new(tipo).expect("tipo"),
            folio: Folio::new(folio).expect("folio"),
        };
        let r = |tipo: &str, folio: &str| Referencia {
            tipo: tipo.into(),
            folio: folio.into(),
            fecha: None,
            codigo: Some(3),
            razon: None,
        };
        let doc: Invoice = serde_json::from_value(serde_json::json!({
            "key": {"rut_emisor": "76555835-2", "tipo_dte": 61, "folio": 9},
            "razon_social": "Hormigones Andinos SpA", "fecha_emision": "2026-03-05",
            "fecha_recepcion_sii": null, "fecha_vencimiento": null,
            "monto_neto": 100, "monto_exento": 0, "monto_iva": 19, "otros_impuestos": [],
            "monto_total": 119, "referencias": [], "obra": null, "centro_costo": null,
            "cuenta": null, "orden_compra": null, "glosa": null, "estado": "recibida",
            "motivo_rechazo": null, "source": "rcv", "external_id": null,
        }))
        .expect("note");
        let mut note = doc.clone();
        note.referencias = vec![
            r("801", "OC-12"), // an orden de compra: no document
            r("033", "1234"),  // not written as a number is
            r("33", "01234"),  // neither
            r("33", "1234"),
            r("61", "9"), // itself
            r("34", "77"),
        ];
        assert_eq!(
            credit_note_targets(&note),
            vec![key(33, 1234).id(), key(34, 77).id()]
        );
        let mut factura = note.clone();
        factura.key.tipo_dte = DteType::FACTURA;
        assert!(credit_note_targets(&factura).is_empty());
        assert!(credit_note_targets(&doc).is_empty());
    }
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn due_dates_follow_the_law_and_say_where_they_come_from() {
        let rec = |s: &str| Some(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap());
        // (acordada, recepción SII, importación, emisión) → (due, source)
        let cases = [
            (
                Some("2026-03-15"),
                rec("2026-01-02 10:00:00"),
                Some("2026-01-05"),
                "2026-01-01",
                "2026-03-15",
                DueSource::Acordada,
            ),
            (
                None,
                rec("2026-01-02 23:59:59"),
                Some("2026-01-05"),
                "2026-01-01",
                "2026-02-01",
                DueSource::RecepcionSii,
            ),
            (
                None,
                None,
                Some("2026-01-05"),
                "2026-01-01",
                "2026-02-04",
                DueSource::Importacion,
            ),
            (
                None,
                None,
                None,
                "2026-01-01",
                "2026-01-31",
                DueSource::Emision,
            ),
            // year end and leap years: calendar days, not months
            (
                None,
                rec("2026-12-15 09:00:00"),
                None,
                "2026-12-10",
                "2027-01-14",
                DueSource::RecepcionSii,
            ),
            (
                None,
                rec("2028-02-10 09:00:00"),
                None,
                "2028-02-01",
                "2028-03-11",
                DueSource::RecepcionSii,
            ),
            (
                None,
                None,
                Some("2026-12-31"),
                "2026-12-01",
                "2027-01-30",
                DueSource::Importacion,
            ),
        ];
        for (acordada, recepcion, importacion, emision, due, source) in cases {
            let got = legal_due_date(acordada.map(d), recepcion, importacion.map(d), d(emision));
            assert_eq!(
                got,
                DueDate {
                    date: d(due),
                    source
                },
                "{acordada:?} {recepcion:?} {importacion:?}"
            );
        }
    }

    #[test]
    fn the_cutoff_is_this_friday() {
        // 2026-12-04 is a Friday
        for (today, friday) in [
            ("2026-11-30", "2026-12-04"), // Monday
            ("2026-12-03", "2026-12-04"), // Thursday
            ("2026-12-04", "2026-12-04"), // Friday: today
            ("2026-12-05", "2026-12-11"), // Saturday: the coming Friday
            ("2026-12-06", "2026-12-11"), // Sunday
            ("2026-12-29", "2027-01-01"), // across the year end
        ] {
            assert_eq!(payment_cutoff(d(today)), d(friday), "{today}");
            assert_eq!(payment_cutoff(d(today)).weekday(), Weekday::Fri);
        }
    }

    #[test]
    fn late_interest_of_a_known_case() {
        // 10,000,000 due 2026-01-31, paid 2026-03-10: 28 days of February at 24.00 % and
        // 10 of March at 25.20 %, a year of 360 days:
        // 10,000,000 × (2400 × 28 + 2520 × 10) / (10,000 × 360) = 256,666.67 → 256,667
        let rates = [
            InterestRate {
                year: 2026,
                month: 2,
                annual_bp: 2_400,
            },
            InterestRate {
                year: 2026,
                month: 3,
                annual_bp: 2_520,
            },
        ];
        let li = late_interest(
            Clp::new(10_000_000),
            d("2026-01-31"),
            d("2026-03-10"),
            &rates,
        );
        assert_eq!(li.dias, 38);
        assert_eq!(li.interes, Clp::new(256_667));
        assert_eq!(li.cargo_cobranza, Clp::new(100_000));
        assert!(li.meses_sin_tasa.is_empty());
    }

    #[test]
    fn interest_is_nothing_on_time_and_says_which_rates_are_missing() {
        let rates = [InterestRate {
            year: 2026,
            month: 2,
            annual_bp: 3_600,
        }];
        let on_time = late_interest(
            Clp::new(1_000_000),
            d("2026-02-10"),
            d("2026-02-10"),
            &rates,
        );
        assert_eq!(
            (on_time.dias, on_time.interes, on_time.cargo_cobranza),
            (0, Clp::ZERO, Clp::ZERO)
        );
        let paid_off = late_interest(Clp::ZERO, d("2026-01-10"), d("2026-02-10"), &rates);
        assert_eq!(paid_off.interes, Clp::ZERO);
        // January has no rate: its 21 late days accrue nothing and are reported;
        // February's 10 at 36 % a year: 1,000,000 × 3600 × 10 / 3,600,000 = 10,000
        let li = late_interest(
            Clp::new(1_000_000),
            d("2026-01-10"),
            d("2026-02-10"),
            &rates,
        );
        assert_eq!(li.dias, 31);
        assert_eq!(li.interes, Clp::new(10_000));
        assert_eq!(li.meses_sin_tasa, vec!["2026-01".to_owned()]);
    }

    #[test]
    fn each_credit_note_counts_once() {
        let (n1, n2) = ("nc-1", "nc-2");
        let b = balance(
            Clp::new(1_190_000),
            [
                (&n1, Clp::new(119_000)),
                (&n2, Clp::new(11_900)),
                (&n1, Clp::new(119_000)),
            ],
            [Clp::new(500_000)],
        )
        .unwrap();
        assert_eq!(b.notas_credito, Clp::new(130_900));
        assert_eq!(b.pagado, Clp::new(500_000));
        assert_eq!(b.saldo, Clp::new(559_100));
    }

    #[test]
    fn payments_are_checked_against_status_and_balance() {
        use InvoiceStatus::*;
        let saldo = Clp::new(1_000);
        assert_eq!(
            check_payment(Aprobada, saldo, Clp::new(400)).unwrap(),
            ParcialmentePagada
        );
        assert_eq!(
            check_payment(ParcialmentePagada, saldo, Clp::new(1_000)).unwrap(),
            Pagada
        );
        for (estado, monto, needle) in [
            (Recibida, 400, "apruébela"),
            (Pagada, 400, "apruébela"),
            (Aprobada, 0, "mayor que cero"),
            (Aprobada, -5, "mayor que cero"),
            (Aprobada, 1_001, "supera el saldo"),
        ] {
            let e = check_payment(estado, saldo, Clp::new(monto))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{estado:?} {monto}: {e}");
        }
        let e = check_payment(Aprobada, Clp::ZERO, Clp::new(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no tiene saldo"), "{e}");
    }

    #[test]
    fn payment_methods_read_as_people_write_them() {
        assert_eq!(
            "Vale Vista".parse::<PaymentMethod>().unwrap(),
            PaymentMethod::ValeVista
        );
        assert_eq!(
            "CHEQUE".parse::<PaymentMethod>().unwrap(),
            PaymentMethod::Cheque
        );
        let e = "tarjeta".parse::<PaymentMethod>().unwrap_err().to_string();
        assert!(e.contains("tarjeta") && e.contains("transferencia"), "{e}");
    }

    #[test]
    fn account_types_and_numbers_read_as_people_write_them() {
        for (raw, t) in [
            ("Cuenta Corriente", AccountType::Corriente),
            ("cta. cte.", AccountType::Corriente),
            ("CC", AccountType::Corriente),
            ("Cuenta Vista", AccountType::Vista),
            ("Cuenta de Ahorro", AccountType::Ahorro),
            ("CUENTA RUT", AccountType::Rut),
        ] {
            assert_eq!(raw.parse::<AccountType>().unwrap(), t, "{raw}");
        }
        let e = "tarjeta".parse::<AccountType>().unwrap_err().to_string();
        assert!(e.contains("tarjeta") && e.contains("corriente"), "{e}");
        assert_eq!(account_number(" 00-123.456-7 ").unwrap(), "001234567");
        let k: crate::Rut = "9.876.545-K".parse().unwrap();
        assert_eq!(cuenta_rut_number("9.876.545-k", &k).unwrap(), "9876545");
        let titular: crate::Rut = "2.345.678-8".parse().unwrap();
        for typed in ["2345678", "2.345.678-8", "23456788", "02345678"] {
            assert_eq!(
                cuenta_rut_number(typed, &titular).unwrap(),
                "2345678",
                "{typed}"
            );
        }
        // another person's body, or the holder's with a wrong check digit
        for bad in ["23456785", "2.345.678-5", "9876543"] {
            let e = cuenta_rut_number(bad, &titular).unwrap_err().to_string();
            assert!(e.contains("sin dígito verificador (2345678"), "{bad}: {e}");
        }
        for bad in ["", "123", "12a456", "1".repeat(21).as_str(), "12_3456"] {
            let e = account_number(bad).unwrap_err().to_string();
            assert!(e.contains("número de cuenta"), "{bad}: {e}");
        }
    }

    proptest! {
        /// Whatever payments are attempted, in any order, the ones accepted never add up to
        /// more than the total minus the notes, and the status ends `pagada` exactly when
        /// the balance reaches 0.
        #[test]
        fn nothing_is_ever_paid_twice(
            total in 1i64..50_000_000,
            notes in proptest::collection::vec((0usize..4, 0i64..5_000_000), 0..5),
            attempts in proptest::collection::vec(-1_000i64..60_000_000, 0..12),
        ) {
            let notes: Vec<(usize, Clp)> = notes.into_iter().map(|(k, a)| (k, Clp::new(a))).collect();
            // a note's amount is its first listing's (the same note listed twice is one note)
            let mut firsts: Vec<(usize, Clp)> = Vec::new();
            for (k, a) in &notes {
                if !firsts.iter().any(|(f, _)| f == k) {
                    firsts.push((*k, *a));
                }
            }
            let note_sum: i64 = firsts.iter().map(|(_, a)| a.pesos()).sum();
            let mut estado = InvoiceStatus::Aprobada;
            let mut paid: Vec<Clp> = Vec::new();
            for m in attempts {
                let b = balance(Clp::new(total), notes.iter().map(|(k, a)| (k, *a)), paid.iter().copied()).unwrap();
                if let Ok(next) = check_payment(estado, b.saldo, Clp::new(m)) {
                    paid.push(Clp::new(m));
                    estado = next;
                }
            }
            let b = balance(Clp::new(total), notes.iter().map(|(k, a)| (k, *a)), paid.iter().copied()).unwrap();
            let sum: i64 = paid.iter().map(|p| p.pesos()).sum();
            prop_assert!(sum <= (total - note_sum).max(0));
            prop_assert_eq!(b.pagado.pesos(), sum);
            prop_assert_eq!(estado == InvoiceStatus::Pagada, !paid.is_empty() && b.saldo == Clp::ZERO);
        }
    }
}

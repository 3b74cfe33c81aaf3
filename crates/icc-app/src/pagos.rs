//! Payments of invoices: recording one (balance checked, status moved, audited), the balance
//! and late-payment interest shown with an invoice, and the monthly interest rates IT enters.
//! Permissions are decided here: `Pay` to record, `PaymentSettings` for the rates; an
//! `admin_obra` sees balances of its obras' invoices only (through `resolve_invoice`).

use chrono::NaiveDate;
use icc_core::pagos::{Balance, InterestRate, LateInterest, PaymentMethod, late_interest};
use icc_core::{Clp, InvoiceId, InvoiceStatus, Permission};
use icc_store::pagos::{NewPayment, PaymentRow};
use serde::Serialize;

use crate::{App, AppError, Result, Session};

/// A payment to record, as people type it.
#[derive(Debug, Clone, Default)]
pub struct PaymentRequest {
    /// Pesos.
    pub monto: i64,
    /// Day paid; today when absent.
    pub fecha: Option<NaiveDate>,
    /// How; a transfer when absent.
    pub medio: Option<PaymentMethod>,
    /// Bank reference, cheque number, ...
    pub referencia: Option<String>,
}

/// What recording a payment did (CLI `--json`: `factura`, `pago`, `estado`, `saldo`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PaymentReceipt {
    /// The invoice, `RUT:TIPO:FOLIO`.
    pub factura: String,
    /// The payment recorded.
    pub pago: PaymentRow,
    /// The invoice's status now (`parcialmente_pagada` or `pagada`).
    pub estado: String,
    /// Its balance now.
    pub saldo: Balance,
}

/// The money side of one invoice, for its detail.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InvoicePayments {
    /// Total, credit notes, paid, balance.
    pub saldo: Balance,
    /// Payments, oldest first.
    pub pagos: Vec<PaymentRow>,
    /// Late days and interest on the balance today; absent while nothing is owed.
    pub mora: Option<LateInterest>,
    /// Whether this user may record a payment of it now (its status takes payments, it
    /// has a balance, the role may pay).
    pub acepta_pago: bool,
}

/// Reads an amount of pesos as people type it: `1.500.000`, `1500000`, `$1.500.000`. No
/// decimals (pesos have none) and no sign (a payment is positive).
///
/// # Errors
/// What was wrong, in Spanish.
pub fn parse_monto(raw: &str) -> Result<i64> {
    let t = raw.trim().trim_start_matches('$').trim();
    let bad = || {
        AppError::Invalid(format!(
            "el monto «{}» no es válido; escriba pesos enteros, como 1.500.000 o 1500000",
            raw.trim()
        ))
    };
    let groups: Vec<&str> = t.split('.').collect();
    let grouped_ok = groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3));
    if t.is_empty() || !grouped_ok || !groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    groups.concat().parse().map_err(|_| bad())
}

/// Reads `MM-AAAA` (or `AAAA-MM`).
fn parse_month(raw: &str) -> Result<(i32, u32)> {
    let t = raw.trim();
    let bad = || {
        AppError::Invalid(format!(
            "el mes «{t}» no es válido; use MM-AAAA, por ejemplo 03-2026"
        ))
    };
    let (a, b) = t.split_once(['-', '/']).ok_or_else(bad)?;
    let (m, y) = if a.len() == 4 { (b, a) } else { (a, b) };
    let month: u32 = m.parse().map_err(|_| bad())?;
    let year: i32 = y.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || y.len() != 4 {
        return Err(bad());
    }
    Ok((year, month))
}

/// Reads an annual percentage as Chileans write it (`24,32`, `24.32`, `24,32 %`) into basis
/// points, exactly (no floats).
fn parse_rate(raw: &str) -> Result<u32> {
    let t = raw.trim().trim_end_matches('%').trim();
    let bad = || {
        AppError::Invalid(format!(
            "la tasa «{}» no es válida; escriba el porcentaje anual, por ejemplo 24,32",
            raw.trim()
        ))
    };
    let (int, frac) = t.split_once([',', '.']).unwrap_or((t, ""));
    if int.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let int: u32 = int.parse().map_err(|_| bad())?;
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    int.checked_mul(100)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(bad)
}

impl App {
    /// Records a payment of an invoice this user may see: refused above the balance or on an
    /// invoice not approved; `pagada` when it settles the balance. Audited.
    ///
    /// # Errors
    /// Forbidden for the role or the obra, unknown invoice, the checks above.
    pub async fn record_payment(
        &self,
        s: &Session,
        reference: &str,
        req: PaymentRequest,
    ) -> Result<PaymentReceipt> {
        s.require(Permission::Pay)?;
        let detail = self.resolve_invoice(s, reference).await?;
        let id: InvoiceId = detail.row.id.parse()?;
        let fecha = req.fecha.unwrap_or_else(crate::invoices::today);
        if fecha > crate::invoices::today() {
            return Err(AppError::Invalid(format!(
                "la fecha de pago {} es futura; registre el pago cuando se haya hecho",
                fecha.format("%d-%m-%Y")
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        let (pago, estado) = tx
            .record_payment(
                id,
                &NewPayment {
                    fecha,
                    monto: Clp::new(req.monto),
                    medio: req.medio.unwrap_or_default(),
                    referencia: req.referencia,
                    run_id: None,
                },
            )
            .await?;
        tx.commit().await?;
        tracing::info!(invoice = %id, user = %s.username, monto = req.monto, estado = %estado, "payment recorded");
        Ok(PaymentReceipt {
            factura: format!(
                "{}:{}:{}",
                detail.row.rut_emisor, detail.row.tipo_dte, detail.row.folio
            ),
            pago,
            estado: estado.as_str().to_owned(),
            saldo: self.store.balance(id).await?,
        })
    }

    /// Balance, payments and late interest of an invoice this user may see.
    ///
    /// # Errors
    /// As [`App::resolve_invoice`].
    pub async fn invoice_payments(&self, s: &Session, reference: &str) -> Result<InvoicePayments> {
        let detail = self.resolve_invoice(s, reference).await?;
        self.payments_of(s, &detail).await
    }

    pub(crate) async fn payments_of(
        &self,
        s: &Session,
        detail: &icc_store::InvoiceDetail,
    ) -> Result<InvoicePayments> {
        let id: InvoiceId = detail.row.id.parse()?;
        let saldo = self.store.balance(id).await?;
        let pagos = self.store.payments(id).await?;
        let payable = detail
            .row
            .estado
            .parse::<InvoiceStatus>()
            .is_ok_and(InvoiceStatus::is_payable);
        let mora = match detail.row.vence.parse::<NaiveDate>() {
            Ok(due) if payable && saldo.saldo.pesos() > 0 => {
                let rates = self.store.interest_rates().await?;
                Some(late_interest(
                    saldo.saldo,
                    due,
                    crate::invoices::today(),
                    &rates,
                ))
            }
            _ => None,
        };
        let estado = detail.row.estado.parse::<InvoiceStatus>().ok();
        let acepta_pago = s.may(Permission::Pay)
            && estado.is_some_and(|e| {
                icc_core::pagos::check_payment(e, saldo.saldo, Clp::new(1)).is_ok()
            });
        Ok(InvoicePayments {
            saldo,
            pagos,
            mora,
            acepta_pago,
        })
    }

    /// Sets the CMF *interés corriente* of a month (`MM-AAAA`, annual percent as `24,32`).
    ///
    /// # Errors
    /// Forbidden unless the role may change payment settings; a malformed month or rate.
    pub async fn set_interest_rate(
        &self,
        s: &Session,
        month: &str,
        rate: &str,
    ) -> Result<InterestRate> {
        s.require(Permission::PaymentSettings)?;
        let (year, month) = parse_month(month)?;
        let r = InterestRate {
            year,
            month,
            annual_bp: parse_rate(rate)?,
        };
        let mut tx = self.store.write(&s.username).await?;
        tx.set_interest_rate(r).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The interest-rate table, oldest month first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn interest_rates(&self, _s: &Session) -> Result<Vec<InterestRate>> {
        Ok(self.store.interest_rates().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_pesos() {
        for (raw, n) in [
            ("1.500.000", 1_500_000),
            ("1500000", 1_500_000),
            ("$ 15.000", 15_000),
            ("7", 7),
        ] {
            assert_eq!(parse_monto(raw).unwrap(), n, "{raw}");
        }
        for bad in [
            "",
            "1,5",
            "1.50",
            "-100",
            "15.0000",
            ".100",
            "1e6",
            "99999999999999999999",
        ] {
            let e = parse_monto(bad).unwrap_err().to_string();
            assert!(
                e.contains("no es válido") && e.contains("pesos enteros"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rates_and_months_read_as_people_write_them() {
        for (raw, bp) in [
            ("24,32", 2432),
            ("24.32", 2432),
            ("24,3", 2430),
            ("24", 2400),
            (" 24,32 % ", 2432),
            ("0,05", 5),
        ] {
            assert_eq!(parse_rate(raw).unwrap(), bp, "{raw}");
        }
        for bad in ["", "abc", "24,321", "-3", "24,3x", "99999999999"] {
            let e = parse_rate(bad).unwrap_err().to_string();
            assert!(e.contains("no es válida"), "{bad}: {e}");
        }
        assert_eq!(parse_month("03-2026").unwrap(), (2026, 3));
        assert_eq!(parse_month("2026-03").unwrap(), (2026, 3));
        assert_eq!(parse_month("3/2026").unwrap(), (2026, 3));
        for bad in ["13-2026", "2026", "03-26", "marzo"] {
            let e = parse_month(bad).unwrap_err().to_string();
            assert!(e.contains("MM-AAAA"), "{bad}: {e}");
        }
    }
}

//! Payments, balances and the interest-rate table (migration 0007, `docs/pagos.md`).
//!
//! A payment belongs to one invoice; the balance is derived from the invoice's total, the
//! credit notes that reference it and its payments, inside the transaction that records a
//! payment, so two payments can never both take the same balance.

use chrono::NaiveDate;
use icc_core::pagos::{Balance, InterestRate, PaymentMethod, balance, check_payment};
use icc_core::{Clp, InvoiceId, InvoiceStatus};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::error::{Result, StoreError};
use crate::{Store, WriteTx};

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PaymentRow {
    /// Its id (UUID).
    pub id: String,
    /// The invoice it pays.
    pub invoice_id: String,
    /// Day paid, `AAAA-MM-DD`.
    pub fecha: String,
    /// Pesos.
    pub monto: i64,
    /// `transferencia`, `cheque`, `vale_vista`, `compensacion` or `otro`.
    pub medio: String,
    /// Bank reference, cheque number, ...
    pub referencia: Option<String>,
    /// The payment run it came from.
    pub run_id: Option<String>,
    /// When it was recorded (UTC).
    pub created_at: String,
    /// Who recorded it.
    pub created_by: String,
}

/// A payment to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// Day paid.
    pub fecha: NaiveDate,
    /// Amount.
    pub monto: Clp,
    /// How.
    pub medio: PaymentMethod,
    /// Bank reference, cheque number, ...
    pub referencia: Option<String>,
    /// The payment run it came from.
    pub run_id: Option<String>,
}

/// The credit notes that reduce an invoice's balance: notes (type 61) of the same issuer that
/// reference it, neither voided nor rejected, each once. A note that references several
/// documents of the register is credited to the first of them it lists (its lowest
/// reference position), so it is never counted twice across invoices.
///
/// A reference names a document when its type and folio are that document's, written as
/// numbers are (`33`, `1234`; `033` names nothing), here and in [`CREDITS_SQL`] alike.
const NOTES_SQL: &str = "\
SELECT DISTINCT n.id, n.monto_total FROM invoices i \
JOIN invoice_references r ON r.tipo = CAST(i.tipo_dte AS TEXT) AND r.folio = CAST(i.folio AS TEXT) \
JOIN invoices n ON n.id = r.invoice_id AND n.rut_emisor = i.rut_emisor \
WHERE i.id = ?1 AND n.tipo_dte = 61 AND n.estado NOT IN ('anulada', 'rechazada') \
  AND NOT EXISTS ( \
    SELECT 1 FROM invoice_references r0 \
    JOIN invoices i0 ON i0.rut_emisor = n.rut_emisor AND i0.tipo_dte = CAST(r0.tipo AS INTEGER) \
      AND i0.folio = CAST(r0.folio AS INTEGER) \
    WHERE r0.invoice_id = n.id AND r0.pos < r.pos AND i0.id <> i.id AND i0.id <> n.id \
      AND r0.tipo = CAST(i0.tipo_dte AS TEXT) AND r0.folio = CAST(i0.folio AS TEXT))";

/// Every credited note with the document it is credited to, for all documents at once (the
/// same rule as [`NOTES_SQL`]): rows by note and reference position; the first row of each
/// note is where it is credited.
const CREDITS_SQL: &str = "\
SELECT n.id, n.monto_total, i.id FROM invoices n \
JOIN invoice_references r ON r.invoice_id = n.id \
JOIN invoices i ON i.rut_emisor = n.rut_emisor AND i.tipo_dte = CAST(r.tipo AS INTEGER) \
  AND i.folio = CAST(r.folio AS INTEGER) \
WHERE n.tipo_dte = 61 AND n.estado NOT IN ('anulada', 'rechazada') AND i.id <> n.id \
  AND r.tipo = CAST(i.tipo_dte AS TEXT) AND r.folio = CAST(i.folio AS TEXT) \
ORDER BY n.id, r.pos";

/// Credits and payments of every document, for reports over many (one pass instead of
/// three queries a document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoneyMaps {
    /// Invoice id → credit notes credited to it.
    pub credited: std::collections::HashMap<String, i64>,
    /// Ids of the notes credited to some document.
    pub applied_notes: std::collections::HashSet<String>,
    /// Invoice id → payments recorded.
    pub paid: std::collections::HashMap<String, i64>,
}

/// The balance of an invoice and its status, read on `conn` (inside a transaction when
/// recording a payment).
pub(crate) async fn balance_on(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<(InvoiceStatus, Balance)> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT estado, monto_total FROM invoices WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let (estado, total) = row.ok_or_else(|| StoreError::NotFound {
        what: "factura",
        key: id.to_owned(),
    })?;
    let estado: InvoiceStatus = estado.parse().map_err(|_| StoreError::Corrupt {
        column: "invoices.estado",
        value: estado.clone(),
    })?;
    let notes: Vec<(String, i64)> = sqlx::query_as(NOTES_SQL)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let paid: Vec<i64> = sqlx::query_scalar("SELECT monto FROM payments WHERE invoice_id = ?")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let b = balance(
        Clp::new(total),
        notes.iter().map(|(k, a)| (k, Clp::new(*a))),
        paid.into_iter().map(Clp::new),
    )?;
    Ok((estado, b))
}

impl Store {
    /// The payments of an invoice, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn payments(&self, id: InvoiceId) -> Result<Vec<PaymentRow>> {
        Ok(sqlx::query_as(
            "SELECT id, invoice_id, fecha, monto, medio, referencia, run_id, created_at, created_by \
             FROM payments WHERE invoice_id = ? ORDER BY fecha, created_at, id",
        )
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?)
    }

    /// An invoice's balance: total − credit notes − payments.
    ///
    /// # Errors
    /// Unknown invoice, database errors.
    pub async fn balance(&self, id: InvoiceId) -> Result<Balance> {
        let mut conn = self.pool().acquire().await?;
        Ok(balance_on(&mut conn, &id.to_string()).await?.1)
    }

    /// Credits and payments of every document (see [`MoneyMaps`]).
    ///
    /// # Errors
    /// Database errors.
    pub async fn money_maps(&self) -> Result<MoneyMaps> {
        let mut maps = MoneyMaps::default();
        let credits: Vec<(String, i64, String)> =
            sqlx::query_as(CREDITS_SQL).fetch_all(self.pool()).await?;
        for (note, amount, invoice) in credits {
            if maps.applied_notes.insert(note) {
                *maps.credited.entry(invoice).or_default() += amount.saturating_abs();
            }
        }
        let paid: Vec<(String, i64)> =
            sqlx::query_as("SELECT invoice_id, SUM(monto) FROM payments GROUP BY invoice_id")
                .fetch_all(self.pool())
                .await?;
        maps.paid.extend(paid);
        Ok(maps)
    }

    /// The interest-rate table, oldest month first.
    ///
    /// # Errors
    /// Database errors, a month the schema should not have let in.
    pub async fn interest_rates(&self) -> Result<Vec<InterestRate>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT month, annual_bp FROM interest_rates ORDER BY month")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(month, bp)| {
                let bad = || StoreError::Corrupt {
                    column: "interest_rates.month",
                    value: month.clone(),
                };
                let (y, m) = month.split_once('-').ok_or_else(bad)?;
                Ok(InterestRate {
                    year: y.parse().map_err(|_| bad())?,
                    month: m.parse().map_err(|_| bad())?,
                    annual_bp: u32::try_from(bp).map_err(|_| bad())?,
                })
            })
            .collect()
    }
}

impl WriteTx {
    /// Records a payment of an invoice and moves it to `pagada` when it settles the balance,
    /// else to `parcialmente_pagada`, through the status machine. The balance is read in
    /// this transaction: a payment above it is refused, so nothing is paid twice. Returns
    /// the payment and the invoice's new status.
    ///
    /// # Errors
    /// Unknown invoice; an invoice not approved; an amount of 0, negative or above the
    /// balance ([`StoreError::Core`], in Spanish); database errors.
    pub async fn record_payment(
        &mut self,
        id: InvoiceId,
        p: &NewPayment,
    ) -> Result<(PaymentRow, InvoiceStatus)> {
        let ids = id.to_string();
        let (estado, b) = balance_on(self.conn(), &ids).await?;
        let to = check_payment(estado, b.saldo, p.monto)?;
        let row = PaymentRow {
            id: uuid::Uuid::new_v4().to_string(),
            invoice_id: ids.clone(),
            fecha: p.fecha.to_string(),
            monto: p.monto.pesos(),
            medio: p.medio.as_str().to_owned(),
            referencia: p
                .referencia
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            run_id: p.run_id.clone(),
            created_at: self.now().to_owned(),
            created_by: self.actor().to_owned(),
        };
        sqlx::query(
            "INSERT INTO payments (id, invoice_id, fecha, monto, medio, referencia, run_id, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.invoice_id)
        .bind(&row.fecha)
        .bind(row.monto)
        .bind(&row.medio)
        .bind(&row.referencia)
        .bind(&row.run_id)
        .bind(&row.created_at)
        .bind(&row.created_by)
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "payment",
            row.id.clone(),
            "create",
            None,
            None,
            Some(format!(
                "factura {ids}: {} el {} por {}{}",
                p.monto,
                p.fecha.format("%d-%m-%Y"),
                p.medio.as_str(),
                row.referencia
                    .as_deref()
                    .map_or_else(String::new, |r| format!(" ({r})"))
            )),
        );
        if to != estado {
            self.set_status(id, to, None).await?;
        }
        Ok((row, to))
    }

    /// Sets the CMF rate of a month (annual, basis points), replacing what was there;
    /// audited.
    ///
    /// # Errors
    /// A rate above [`icc_core::pagos::MAX_ANNUAL_BP`] or a month outside 1–12; database
    /// errors.
    pub async fn set_interest_rate(&mut self, rate: InterestRate) -> Result<()> {
        if !(1..=12).contains(&rate.month) || !(1900..=9999).contains(&rate.year) {
            return Err(icc_core::CoreError::invalid(
                "mes",
                format!("{:02}-{}", rate.month, rate.year),
                "se espera MM-AAAA, por ejemplo 03-2026",
            )
            .into());
        }
        if rate.annual_bp > icc_core::pagos::MAX_ANNUAL_BP {
            return Err(icc_core::CoreError::invalid(
                "tasa",
                format!("{},{:02} %", rate.annual_bp / 100, rate.annual_bp % 100),
                "la tasa anual no puede superar 100 %",
            )
            .into());
        }
        let month = format!("{:04}-{:02}", rate.year, rate.month);
        let old: Option<i64> =
            sqlx::query_scalar("SELECT annual_bp FROM interest_rates WHERE month = ?")
                .bind(&month)
                .fetch_optional(&mut *self.conn())
                .await?;
        sqlx::query(
            "INSERT INTO interest_rates (month, annual_bp, updated_at, updated_by) VALUES (?, ?, ?, ?) \
             ON CONFLICT (month) DO UPDATE SET annual_bp = excluded.annual_bp, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(&month)
        .bind(i64::from(rate.annual_bp))
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "interest_rate",
            month,
            "update",
            Some("annual_bp"),
            old.map(|o| o.to_string()),
            Some(rate.annual_bp.to_string()),
        );
        Ok(())
    }
}

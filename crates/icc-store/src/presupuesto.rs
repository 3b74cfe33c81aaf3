//! What obra budgets and the treasury keep (migration 0011): their documents, whole, in
//! `plan_docs`, and the invoices, payments and payment runs the grids read
//! (docs/presupuesto.md). The rules and the grids are `icc_core::presupuesto`.

use chrono::NaiveDate;
use icc_core::DteType;
use icc_core::presupuesto::{Movement, PLAN_ENTITIES, RunOutflow};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Result, Store, StoreError, WriteTx};

/// A spend row: cuenta, centro de costo, emission date, DTE type, pesos.
type SpendRow = (Option<String>, Option<String>, String, i64, i64);

fn decode<T: DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        column: "plan_docs.doc",
        value: format!("{e}: {json}"),
    })
}

fn date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").map_err(|_| {
        StoreError::Corrupt {
            column: "fecha",
            value: s.to_owned(),
        }
    })
}

impl Store {
    /// Every document of `entity` (one of `PLAN_ENTITIES`), of one obra when `obra` is given.
    ///
    /// # Errors
    /// Database errors; a stored document that does not read as `T`.
    pub async fn plan_docs<T: DeserializeOwned>(
        &self,
        entity: &str,
        obra: Option<&str>,
    ) -> Result<Vec<T>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM plan_docs WHERE entity = ? AND (?2 IS NULL OR obra = ?2) ORDER BY updated_at, id",
        )
        .bind(entity)
        .bind(obra)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| decode(r)).collect()
    }

    /// One document, when it is here.
    ///
    /// # Errors
    /// Database errors; a stored document that does not read as `T`.
    pub async fn plan_doc<T: DeserializeOwned>(&self, entity: &str, id: &str) -> Result<Option<T>> {
        let row: Option<String> =
            sqlx::query_scalar("SELECT doc FROM plan_docs WHERE entity = ? AND id = ?")
                .bind(entity)
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        row.as_deref().map(decode).transpose()
    }

    /// An obra's spend from `desde` to `hasta` (emission dates, inclusive): its invoices
    /// neither void nor rejected, neto plus exento with the document's sign, summed per
    /// cuenta, centro de costo and day; and the payments of its invoices in that range.
    ///
    /// # Errors
    /// Database errors.
    pub async fn obra_movements(
        &self,
        obra: &str,
        desde: NaiveDate,
        hasta: NaiveDate,
    ) -> Result<(Vec<Movement>, Vec<Movement>)> {
        let (d, h) = (desde.to_string(), hasta.to_string());
        let rows: Vec<SpendRow> = sqlx::query_as(
            "SELECT i.cuenta, i.centro_costo, i.fecha_emision, i.tipo_dte, \
                 SUM(i.monto_neto + i.monto_exento) \
             FROM invoices i JOIN obras o ON o.id = i.obra_id \
             WHERE o.codigo = ? AND i.estado NOT IN ('anulada', 'rechazada') \
               AND i.fecha_emision BETWEEN ? AND ? \
             GROUP BY i.cuenta, i.centro_costo, i.fecha_emision, i.tipo_dte",
        )
        .bind(obra)
        .bind(&d)
        .bind(&h)
        .fetch_all(self.pool())
        .await?;
        let mut spend = Vec::with_capacity(rows.len());
        for (cuenta, centro, fecha, tipo, monto) in rows {
            let sign = u16::try_from(tipo)
                .ok()
                .and_then(|t| DteType::new(t).ok())
                .map_or(1, DteType::total_sign);
            spend.push(Movement {
                cuenta,
                centro,
                fecha: date(&fecha)?,
                monto: monto.saturating_mul(sign),
            });
        }
        let rows: Vec<(Option<String>, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT i.cuenta, i.centro_costo, p.fecha, SUM(p.monto) \
             FROM payments p JOIN invoices i ON i.id = p.invoice_id JOIN obras o ON o.id = i.obra_id \
             WHERE o.codigo = ? AND i.estado NOT IN ('anulada', 'rechazada') AND p.fecha BETWEEN ? AND ? \
             GROUP BY i.cuenta, i.centro_costo, p.fecha",
        )
        .bind(obra)
        .bind(&d)
        .bind(&h)
        .fetch_all(self.pool())
        .await?;
        let mut paid = Vec::with_capacity(rows.len());
        for (cuenta, centro, fecha, monto) in rows {
            paid.push(Movement {
                cuenta,
                centro,
                fecha: date(&fecha)?,
                monto,
            });
        }
        Ok((spend, paid))
    }

    /// The approved payment runs (approved, sent or paid) with what they pay: a paid run on
    /// the payment date it was marked paid with, others on their cut-off date.
    ///
    /// # Errors
    /// Database errors.
    pub async fn run_outflows(&self) -> Result<Vec<RunOutflow>> {
        // numero, corte, paid_at, the payments' date, what the included lines pay
        type Row = (i64, String, Option<String>, Option<String>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT r.numero, r.corte, r.paid_at, \
                 (SELECT MIN(p.fecha) FROM payments p WHERE p.run_id = r.id), \
                 coalesce((SELECT SUM(monto) FROM payment_run_lines l WHERE l.run_id = r.id AND l.incluida), 0) \
             FROM payment_runs r WHERE r.estado IN ('aprobada', 'enviada', 'pagada') ORDER BY r.numero",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(numero, corte, paid_at, paid_on, monto)| {
                // a paid run on the payment date given when it was marked paid (its
                // payments'), else on the day it was marked, in Chile (paid_at is UTC)
                let fecha = match (paid_on, paid_at) {
                    (Some(d), _) => date(&d)?,
                    (None, Some(at)) => {
                        icc_core::santiago_date(&at).ok_or(StoreError::Corrupt {
                            column: "paid_at",
                            value: at,
                        })?
                    }
                    (None, None) => date(&corte)?,
                };
                Ok(RunOutflow {
                    numero,
                    fecha,
                    monto,
                })
            })
            .collect()
    }
}

impl WriteTx {
    /// Stores a budget or treasury document made here, with its audit row (which queues
    /// it for the server when the laptop is linked). `before` is the document it replaces.
    ///
    /// # Errors
    /// Database errors; an entity that is not one of `PLAN_ENTITIES`.
    pub async fn put_plan_doc<T: Serialize>(
        &mut self,
        entity: &'static str,
        id: &str,
        doc: &T,
        before: Option<&T>,
        action: &'static str,
    ) -> Result<()> {
        if !PLAN_ENTITIES.contains(&entity) {
            return Err(StoreError::Invalid(format!(
                "«{entity}» no es un documento de presupuesto"
            )));
        }
        let value = serde_json::to_value(doc).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.store_plan_doc(entity, id, &value).await?;
        self.audit(
            entity,
            id,
            action,
            None,
            before.and_then(|b| serde_json::to_string(b).ok()),
            Some(value.to_string()),
        );
        Ok(())
    }
}

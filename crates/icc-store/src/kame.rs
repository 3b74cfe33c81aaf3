//! What posting to Kame keeps (migration 0010): the accountant's templates per concepto,
//! the suppliers' fichas, the centro → unidad de negocio map, and one voucher record per
//! invoice written before and after each request (docs/kame.md).

use icc_core::kame::{Plantilla, TipoComprobante};
use icc_core::{Invoice, Rut};
use serde::Serialize;

use crate::{Result, Store, StoreError, WriteTx};

/// A supplier's ficha as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Ficha {
    /// Canonical RUT.
    pub rut: String,
    /// Name.
    pub nombre: Option<String>,
    /// Concepto de compra.
    pub concepto: Option<String>,
    /// Kame's flag.
    pub proveedor: bool,
    /// Kame's flag.
    pub honorario: bool,
    /// `kame` or `local` (a local edit, kept when Kame's copy is pulled again).
    pub origen: String,
}

/// A ficha to store.
#[derive(Debug, Clone)]
pub struct NewFicha {
    /// RUT.
    pub rut: Rut,
    /// Name.
    pub nombre: Option<String>,
    /// Concepto de compra.
    pub concepto: Option<String>,
    /// Kame's flag.
    pub proveedor: bool,
    /// Kame's flag.
    pub honorario: bool,
}

/// What storing a pull of fichas did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FichasStored {
    /// New fichas.
    pub nuevas: usize,
    /// Fichas whose data changed.
    pub actualizadas: usize,
    /// Fichas edited here, left as they are.
    pub locales_conservadas: usize,
}

/// An invoice's voucher record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Envio {
    /// Invoice id.
    pub invoice_id: String,
    /// `RUT:TIPO:FOLIO`.
    pub documento: String,
    /// `enviando`, `publicado`, `rechazado`, `no_enviado`.
    pub estado: String,
    /// The voucher as sent (JSON).
    pub comprobante: String,
    /// Kame's number.
    pub kame_id: Option<String>,
    /// Requests made.
    pub intentos: i64,
    /// Last error.
    pub error: Option<String>,
    /// Found in Kame after its answer was lost.
    pub recuperado: bool,
    /// Last change (UTC).
    pub updated_at: String,
    /// Who.
    pub updated_by: String,
}

/// What posting one invoice needs.
#[derive(Debug, Clone)]
pub struct KameInvoice {
    /// The invoice.
    pub invoice: Invoice,
    /// Its due date.
    pub vence: chrono::NaiveDate,
    /// Its supplier's concepto de compra (from the ficha), if any.
    pub concepto: Option<String>,
    /// Its voucher record, if any.
    pub envio: Option<Envio>,
}

#[derive(sqlx::FromRow)]
struct PlantillaRow {
    concepto: String,
    cuenta_neto: String,
    cuenta_exento: Option<String>,
    cuenta_iva: String,
    cuenta_otros: Option<String>,
    cuenta_proveedor: String,
    tipo: String,
    misma_cuenta: bool,
}

impl PlantillaRow {
    fn into_plantilla(self) -> Result<Plantilla> {
        Ok(Plantilla {
            tipo: self
                .tipo
                .parse::<TipoComprobante>()
                .map_err(|_| StoreError::Corrupt {
                    column: "kame_plantillas.tipo",
                    value: self.tipo.clone(),
                })?,
            concepto: self.concepto,
            cuenta_neto: self.cuenta_neto,
            cuenta_exento: self.cuenta_exento,
            cuenta_iva: self.cuenta_iva,
            cuenta_otros: self.cuenta_otros,
            cuenta_proveedor: self.cuenta_proveedor,
            misma_cuenta: self.misma_cuenta,
        })
    }
}

const PLANTILLA_SELECT: &str = "SELECT concepto, cuenta_neto, cuenta_exento, cuenta_iva, cuenta_otros, \
     cuenta_proveedor, tipo, misma_cuenta FROM kame_plantillas";
const ENVIO_SELECT: &str = "SELECT e.invoice_id, \
     i.rut_emisor || ':' || i.tipo_dte || ':' || i.folio AS documento, e.estado, e.comprobante, \
     e.kame_id, e.intentos, e.error, e.recuperado, e.updated_at, e.updated_by \
     FROM kame_envios e JOIN invoices i ON i.id = e.invoice_id";

fn blank_to_none(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Store {
    /// Makes every committed transaction durable now: a checkpoint, which syncs the WAL
    /// before copying it (with `synchronous=NORMAL` a commit alone survives a crash of the
    /// program but not of the machine). Called after recording a voucher as `enviando`, so
    /// a power cut cannot forget that it may have been sent.
    ///
    /// # Errors
    /// Database errors.
    pub async fn make_durable(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The predecessor's archived records from `source` (`cuentas.xlsx`, …) as
    /// `(legacy_id, JSON of the values)`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn legacy_records(&self, source: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT legacy_id, data FROM legacy_records WHERE source = ? ORDER BY legacy_id",
        )
        .bind(source)
        .fetch_all(self.pool())
        .await?)
    }

    /// The invoice of each iConstruye document id (`external_id`) that is stored.
    ///
    /// # Errors
    /// Database errors.
    pub async fn invoices_by_external_id(
        &self,
        external_ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT external_id, id FROM invoices WHERE external_id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(external_ids).unwrap_or_default())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Every template, by concepto.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_plantillas(&self) -> Result<Vec<Plantilla>> {
        let rows: Vec<PlantillaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PLANTILLA_SELECT} ORDER BY concepto"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(PlantillaRow::into_plantilla).collect()
    }

    /// Which of the invoices `ids` no accounting template reaches: no ficha with a concepto
    /// for their supplier, or a concepto without a template (what Kame posting refuses as
    /// «sin cuenta»).
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_unmapped(&self, ids: &[&str]) -> Result<std::collections::HashSet<String>> {
        if ids.is_empty() {
            return Ok(std::collections::HashSet::new());
        }
        let json = serde_json::to_string(ids).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT j.value FROM json_each(?) j WHERE NOT EXISTS ( \
                 SELECT 1 FROM invoices i JOIN kame_fichas f ON f.rut = i.rut_emisor \
                 JOIN kame_plantillas p ON p.concepto = trim(f.concepto) WHERE i.id = j.value)",
        )
        .bind(json)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The suppliers of the invoices `ids` that are stored, each once by RUT, with the
    /// name of its newest invoice among them, and how many of `ids` were found.
    ///
    /// # Errors
    /// Database errors.
    pub async fn suppliers_of_invoices(
        &self,
        ids: &[String],
    ) -> Result<(Vec<(String, String)>, u64)> {
        let json = serde_json::to_string(ids).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut conn = self.pool().acquire().await?;
        let suppliers: Vec<(String, String)> = sqlx::query_as(
            "SELECT rut_emisor, razon_social FROM ( \
                 SELECT rut_emisor, razon_social, row_number() OVER ( \
                     PARTITION BY rut_emisor ORDER BY fecha_emision DESC, seq DESC) AS n \
                 FROM invoices WHERE id IN (SELECT value FROM json_each(?1))) \
             WHERE n = 1 ORDER BY rut_emisor",
        )
        .bind(&json)
        .fetch_all(&mut *conn)
        .await?;
        let found: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invoices WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&json)
        .fetch_one(&mut *conn)
        .await?;
        Ok((suppliers, u64::try_from(found).unwrap_or(0)))
    }

    /// The fichas, by RUT.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_fichas(&self) -> Result<Vec<Ficha>> {
        Ok(sqlx::query_as(
            "SELECT rut, nombre, concepto, proveedor, honorario, origen FROM kame_fichas ORDER BY rut",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// One supplier's ficha.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_ficha(&self, rut: &Rut) -> Result<Option<Ficha>> {
        Ok(sqlx::query_as(
            "SELECT rut, nombre, concepto, proveedor, honorario, origen FROM kame_fichas WHERE rut = ?",
        )
        .bind(rut.to_string())
        .fetch_optional(self.pool())
        .await?)
    }

    /// The centro → unidad de negocio map.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_unidades(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT centro, unidad FROM kame_unidades ORDER BY centro")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The template of `concepto` (case-insensitive).
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_plantilla(&self, concepto: &str) -> Result<Option<Plantilla>> {
        let row: Option<PlantillaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PLANTILLA_SELECT} WHERE concepto = ?"
        )))
        .bind(concepto.trim())
        .fetch_optional(self.pool())
        .await?;
        row.map(PlantillaRow::into_plantilla).transpose()
    }

    /// The unidad de negocio of a centro de costo (by its first 4 characters).
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_unidad(&self, centro_costo: &str) -> Result<Option<String>> {
        let prefix: String = centro_costo.trim().chars().take(4).collect();
        if prefix.is_empty() {
            return Ok(None);
        }
        Ok(
            sqlx::query_scalar("SELECT unidad FROM kame_unidades WHERE centro = ?")
                .bind(prefix)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Voucher records, optionally only in `estado`, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_envios(&self, estado: Option<&str>) -> Result<Vec<Envio>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENVIO_SELECT} WHERE ?1 IS NULL OR e.estado = ?1 ORDER BY e.updated_at DESC, e.invoice_id"
        )))
        .bind(estado)
        .fetch_all(self.pool())
        .await?)
    }

    /// The voucher record of invoice `id`, if it was ever sent.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_envio(&self, id: &str) -> Result<Option<Envio>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENVIO_SELECT} WHERE e.invoice_id = ?"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// What posting invoice `id` needs; `None` when there is no such invoice.
    ///
    /// # Errors
    /// Database errors, a corrupt row.
    pub async fn kame_invoice(&self, id: &str) -> Result<Option<KameInvoice>> {
        let mut conn = self.pool().acquire().await?;
        let head: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT i.vence, f.concepto FROM invoices i LEFT JOIN kame_fichas f ON f.rut = i.rut_emisor \
             WHERE i.id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((vence, concepto)) = head else {
            return Ok(None);
        };
        let invoice = crate::sync::load_invoice(&mut conn, id).await?;
        let envio: Option<Envio> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENVIO_SELECT} WHERE invoice_id = ?"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(Some(KameInvoice {
            invoice,
            vence: icc_core::parse_date("vence", &vence).map_err(|_| StoreError::Corrupt {
                column: "invoices.vence",
                value: vence.clone(),
            })?,
            concepto: blank_to_none(concepto.as_deref()),
            envio,
        }))
    }
}

impl WriteTx {
    /// Creates or replaces the template of `p.concepto`; audited.
    ///
    /// # Errors
    /// A template with an empty account ([`StoreError::Invalid`]), database errors.
    pub async fn set_kame_plantilla(&mut self, p: &Plantilla) -> Result<()> {
        p.validate().map_err(StoreError::Invalid)?;
        let (now, actor) = (self.now().to_owned(), self.actor().to_owned());
        sqlx::query(
            "INSERT INTO kame_plantillas (concepto, cuenta_neto, cuenta_exento, cuenta_iva, cuenta_otros, \
             cuenta_proveedor, tipo, misma_cuenta, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (concepto) DO UPDATE SET cuenta_neto = excluded.cuenta_neto, \
             cuenta_exento = excluded.cuenta_exento, cuenta_iva = excluded.cuenta_iva, \
             cuenta_otros = excluded.cuenta_otros, cuenta_proveedor = excluded.cuenta_proveedor, \
             tipo = excluded.tipo, misma_cuenta = excluded.misma_cuenta, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(p.concepto.trim())
        .bind(p.cuenta_neto.trim())
        .bind(blank_to_none(p.cuenta_exento.as_deref()))
        .bind(p.cuenta_iva.trim())
        .bind(blank_to_none(p.cuenta_otros.as_deref()))
        .bind(p.cuenta_proveedor.trim())
        .bind(p.tipo.as_str())
        .bind(p.misma_cuenta)
        .bind(&now)
        .bind(&actor)
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "kame_plantilla",
            p.concepto.trim(),
            "update",
            Some("plantilla"),
            None,
            serde_json::to_string(p).ok(),
        );
        Ok(())
    }

    /// Stores fichas. From Kame (`local = false`) a ficha edited here is left alone; a local
    /// edit (`local = true`) replaces whatever is stored and is kept from then on. One audit
    /// row for the batch.
    ///
    /// # Errors
    /// Database errors.
    pub async fn store_kame_fichas(
        &mut self,
        fichas: &[NewFicha],
        local: bool,
    ) -> Result<FichasStored> {
        let (now, actor) = (self.now().to_owned(), self.actor().to_owned());
        let mut out = FichasStored::default();
        for f in fichas {
            let rut = f.rut.to_string();
            let stored: Option<Ficha> = sqlx::query_as(
                "SELECT rut, nombre, concepto, proveedor, honorario, origen FROM kame_fichas WHERE rut = ?",
            )
            .bind(&rut)
            .fetch_optional(&mut *self.conn())
            .await?;
            let new = Ficha {
                rut: rut.clone(),
                nombre: blank_to_none(f.nombre.as_deref()),
                concepto: blank_to_none(f.concepto.as_deref()),
                proveedor: f.proveedor,
                honorario: f.honorario,
                origen: if local { "local" } else { "kame" }.into(),
            };
            match &stored {
                Some(s) if s.origen == "local" && !local => {
                    out.locales_conservadas += 1;
                    continue;
                }
                Some(s) if *s == new => continue,
                Some(_) => out.actualizadas += 1,
                None => out.nuevas += 1,
            }
            sqlx::query(
                "INSERT INTO kame_fichas (rut, nombre, concepto, proveedor, honorario, origen, updated_at, updated_by) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rut) DO UPDATE SET nombre = excluded.nombre, \
                 concepto = excluded.concepto, proveedor = excluded.proveedor, honorario = excluded.honorario, \
                 origen = excluded.origen, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(&new.rut)
            .bind(&new.nombre)
            .bind(&new.concepto)
            .bind(new.proveedor)
            .bind(new.honorario)
            .bind(&new.origen)
            .bind(&now)
            .bind(&actor)
            .execute(&mut *self.conn())
            .await?;
            if local {
                // one audit row per field changed here (a new ficha: every field set)
                let yes_no = |b: bool| if b { "sí" } else { "no" }.to_owned();
                let (old_concepto, old_proveedor, old_honorario) = match &stored {
                    Some(s) => (
                        s.concepto.clone(),
                        Some(yes_no(s.proveedor)),
                        Some(yes_no(s.honorario)),
                    ),
                    None => (None, None, None),
                };
                let changes = [
                    ("concepto", old_concepto, new.concepto.clone()),
                    ("proveedor", old_proveedor, Some(yes_no(new.proveedor))),
                    ("honorario", old_honorario, Some(yes_no(new.honorario))),
                ];
                for (field, old, value) in changes {
                    if old != value {
                        self.audit("kame_ficha", rut.clone(), "update", Some(field), old, value);
                    }
                }
            }
        }
        if !local && out.nuevas + out.actualizadas > 0 {
            self.audit(
                "kame_fichas",
                "kame",
                "update",
                Some("fichas"),
                None,
                Some(format!(
                    "{} nuevas, {} actualizadas",
                    out.nuevas, out.actualizadas
                )),
            );
        }
        Ok(out)
    }

    /// Maps a centro (its first 4 characters) to a unidad de negocio; audited. Returns
    /// the centro and unidad as stored.
    ///
    /// # Errors
    /// An empty centro or unidad, database errors.
    pub async fn set_kame_unidad(
        &mut self,
        centro: &str,
        unidad: &str,
    ) -> Result<(String, String)> {
        let centro: String = centro.trim().chars().take(4).collect();
        let unidad = unidad.trim();
        if centro.is_empty() || unidad.is_empty() {
            return Err(StoreError::Invalid(
                "centro y unidad de negocio no pueden estar vacíos".into(),
            ));
        }
        let (now, actor) = (self.now().to_owned(), self.actor().to_owned());
        sqlx::query(
            "INSERT INTO kame_unidades (centro, unidad, updated_at, updated_by) VALUES (?, ?, ?, ?) \
             ON CONFLICT (centro) DO UPDATE SET unidad = excluded.unidad, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(&centro)
        .bind(unidad)
        .bind(&now)
        .bind(&actor)
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "kame_unidad",
            centro.clone(),
            "update",
            Some("unidad"),
            None,
            Some(unidad.to_owned()),
        );
        Ok((centro, unidad.to_owned()))
    }

    /// Records that `comprobante` is about to be sent for `invoice_id` (estado `enviando`,
    /// one more attempt). Compare-and-swap: it succeeds only from no record, `rechazado`,
    /// `no_enviado`, or an `enviando` whose attempts are still `seen_attempts` (the one the
    /// caller checked in Kame); so two runs can never both send. Commit (and make durable)
    /// before sending.
    ///
    /// # Errors
    /// The record changed since it was read ([`StoreError::Refused`]), database errors.
    pub async fn kame_sending(
        &mut self,
        invoice_id: &str,
        comprobante: &str,
        seen_attempts: Option<i64>,
    ) -> Result<()> {
        let (now, actor) = (self.now().to_owned(), self.actor().to_owned());
        let done = sqlx::query(
            "INSERT INTO kame_envios (invoice_id, estado, comprobante, intentos, updated_at, updated_by) \
             VALUES (?1, 'enviando', ?2, 1, ?3, ?4) ON CONFLICT (invoice_id) DO UPDATE SET \
             estado = 'enviando', comprobante = ?2, intentos = kame_envios.intentos + 1, error = NULL, \
             updated_at = ?3, updated_by = ?4 \
             WHERE kame_envios.estado IN ('rechazado', 'no_enviado') \
                OR (kame_envios.estado = 'enviando' AND kame_envios.intentos = ?5)",
        )
        .bind(invoice_id)
        .bind(comprobante)
        .bind(&now)
        .bind(&actor)
        .bind(seen_attempts)
        .execute(&mut *self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Refused(format!(
                "la factura {invoice_id} ya está contabilizada en Kame o la está enviando otra contabilización"
            )));
        }
        Ok(())
    }

    /// Records an invoice the predecessor already sent to Kame (its upload log) as
    /// `publicado`, unless it has a record. Returns whether it was recorded now.
    ///
    /// # Errors
    /// Database errors.
    pub async fn kame_posted_before(&mut self, invoice_id: &str) -> Result<bool> {
        let (now, actor) = (self.now().to_owned(), self.actor().to_owned());
        let done = sqlx::query(
            "INSERT INTO kame_envios (invoice_id, estado, comprobante, intentos, error, updated_at, updated_by) \
             VALUES (?, 'publicado', '{\"origen\":\"aplicación anterior\"}', 0, NULL, ?, ?) \
             ON CONFLICT (invoice_id) DO NOTHING",
        )
        .bind(invoice_id)
        .bind(&now)
        .bind(&actor)
        .execute(&mut *self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how a voucher's request ended: `publicado` (with Kame's number; `recuperado`
    /// when found in Kame after a lost answer), `rechazado` or `no_enviado` (with the error),
    /// or `enviando` again with the error (the answer was lost). Audited when posted.
    ///
    /// # Errors
    /// An unknown estado, no record, database errors.
    pub async fn kame_sent(
        &mut self,
        invoice_id: &str,
        estado: &str,
        kame_id: Option<&str>,
        error: Option<&str>,
        recuperado: bool,
    ) -> Result<()> {
        if !matches!(
            estado,
            "enviando" | "publicado" | "rechazado" | "no_enviado"
        ) {
            return Err(StoreError::Invalid(format!("estado de envío «{estado}»")));
        }
        let (now, actor) = (self.now().to_owned(), self.actor().to_owned());
        let done = sqlx::query(
            "UPDATE kame_envios SET estado = ?, kame_id = coalesce(?, kame_id), error = ?, recuperado = ?, \
             updated_at = ?, updated_by = ? WHERE invoice_id = ? AND estado <> 'publicado'",
        )
        .bind(estado)
        .bind(kame_id)
        .bind(error)
        .bind(recuperado)
        .bind(&now)
        .bind(&actor)
        .bind(invoice_id)
        .execute(&mut *self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "envío a Kame",
                key: invoice_id.to_owned(),
            });
        }
        if estado == "publicado" {
            self.audit(
                "invoice",
                invoice_id,
                "kame",
                Some("kame"),
                None,
                Some(kame_id.unwrap_or("publicado").to_owned()),
            );
        }
        Ok(())
    }
}

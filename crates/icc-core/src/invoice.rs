//! The supplier invoice: natural key, deterministic id, amounts, dates, references and
//! the assignment fields (obra, centro de costo, cuenta).

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clp::Clp;
use crate::dte::DteType;
use crate::error::{CoreError, Result};
use crate::rut::Rut;
use crate::status::InvoiceStatus;

/// Namespace for invoice ids (UUIDv5 over the canonical natural key). Never change it: two
/// laptops that import the same document offline must compute the same id.
const INVOICE_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a3e_9b4d_5e07_8a11_c0ff_ee1c_c2a0);

/// Largest folio the SII issues (DOMAIN.md §2).
pub const MAX_FOLIO: u64 = 10_000_000_000;

/// A document number, `1..=10^10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Folio(u64);

impl Folio {
    /// Wraps a folio.
    ///
    /// # Errors
    /// When it is 0 or above 10^10.
    pub fn new(n: u64) -> Result<Folio> {
        if n == 0 || n > MAX_FOLIO {
            return Err(CoreError::invalid(
                "folio",
                n.to_string(),
                "debe estar entre 1 y 10.000.000.000",
            ));
        }
        Ok(Folio(n))
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Folio {
    type Error = CoreError;
    fn try_from(n: u64) -> Result<Folio> {
        Folio::new(n)
    }
}

impl From<Folio> for u64 {
    fn from(f: Folio) -> u64 {
        f.0
    }
}

impl FromStr for Folio {
    type Err = CoreError;

    /// Reads `123`, ` 123 `, and `123.0` (a folio that went through a spreadsheet as a
    /// float; the predecessor's duplicate check was defeated by exactly this).
    fn from_str(raw: &str) -> Result<Folio> {
        let t = raw.trim();
        let digits = match t.split_once('.') {
            Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
            _ => t,
        };
        let n: u64 = digits.parse().map_err(|_| {
            CoreError::invalid(
                "folio",
                t,
                "se espera un número entero entre 1 y 10.000.000.000",
            )
        })?;
        Folio::new(n)
            .map_err(|_| CoreError::invalid("folio", t, "debe estar entre 1 y 10.000.000.000"))
    }
}

impl fmt::Display for Folio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The invoice id: a UUIDv5 derived from the natural key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InvoiceId(pub Uuid);

impl fmt::Display for InvoiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for InvoiceId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<InvoiceId> {
        Uuid::parse_str(s.trim()).map(InvoiceId).map_err(|_| {
            CoreError::invalid(
                "id de factura",
                s.trim(),
                "se espera un UUID o RUT:TIPO:FOLIO",
            )
        })
    }
}

/// What identifies a tax document: (RUT emisor, tipo DTE, folio). Folio alone is not unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NaturalKey {
    /// Issuer.
    pub rut_emisor: Rut,
    /// Document type.
    pub tipo_dte: DteType,
    /// Document number.
    pub folio: Folio,
}

impl NaturalKey {
    /// The deterministic id of the document.
    pub fn id(&self) -> InvoiceId {
        InvoiceId(Uuid::new_v5(
            &INVOICE_NAMESPACE,
            self.to_string().as_bytes(),
        ))
    }
}

impl fmt::Display for NaturalKey {
    /// `RUT:TIPO:FOLIO` with the canonical RUT, e.g. `76123456-0:33:1234`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.rut_emisor,
            self.tipo_dte.code(),
            self.folio
        )
    }
}

impl FromStr for NaturalKey {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<NaturalKey> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [rut, tipo, folio] = parts.as_slice() else {
            return Err(CoreError::invalid(
                "documento",
                s.trim(),
                "se espera RUT:TIPO:FOLIO, por ejemplo 76123456-0:33:1234",
            ));
        };
        Ok(NaturalKey {
            rut_emisor: rut.parse()?,
            tipo_dte: DteType::parse(tipo)?,
            folio: folio.parse()?,
        })
    }
}

/// An "otro impuesto" line (código, tasa, valor); a document may have several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OtroImpuesto {
    /// SII tax code (e.g. 28 diésel, 271 bebidas azucaradas).
    pub codigo: u16,
    /// Rate in percent, when stated.
    pub tasa: Option<f64>,
    /// Amount in pesos.
    pub valor: Clp,
}

/// A reference to another document (up to 40 per document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Referencia {
    /// Referenced document type: a DTE code, `801` orden de compra, `802` nota de pedido.
    pub tipo: String,
    /// Referenced folio; alphanumeric, up to 18 characters (`AS-334455` is legal).
    pub folio: String,
    /// Date of the referenced document.
    pub fecha: Option<NaiveDate>,
    /// On 56/61: 1 anula, 2 corrige texto, 3 corrige montos.
    pub codigo: Option<u8>,
    /// Free-text reason.
    pub razon: Option<String>,
}

/// Where an invoice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// iConstruye API.
    Iconstruye,
    /// SII purchase register file.
    Rcv,
    /// A spreadsheet or CSV.
    Excel,
    /// Typed in by a person.
    Manual,
    /// Generated development data (`icc dev seed`).
    Seed,
}

impl Source {
    /// Stable lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Iconstruye => "iconstruye",
            Source::Rcv => "rcv",
            Source::Excel => "excel",
            Source::Manual => "manual",
            Source::Seed => "seed",
        }
    }
}

impl FromStr for Source {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Source> {
        Ok(match s {
            "iconstruye" => Source::Iconstruye,
            "rcv" => Source::Rcv,
            "excel" => Source::Excel,
            "manual" => Source::Manual,
            "seed" => Source::Seed,
            other => {
                return Err(CoreError::invalid(
                    "origen",
                    other,
                    "se espera iconstruye, rcv, excel o manual",
                ));
            }
        })
    }
}

/// A supplier invoice (or credit/debit note, or any DTE received).
///
/// Amounts are the document's own, positive as printed; credit notes become negative only
/// in totals (see [`Invoice::signed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// Issuer, type and folio.
    pub key: NaturalKey,
    /// Issuer's name.
    pub razon_social: String,
    /// Fecha de emisión.
    pub fecha_emision: NaiveDate,
    /// Reception at the SII, America/Santiago local time; `None` when unknown.
    pub fecha_recepcion_sii: Option<NaiveDateTime>,
    /// Stated due date, if any.
    pub fecha_vencimiento: Option<NaiveDate>,
    /// Monto neto (afecto).
    pub monto_neto: Clp,
    /// Monto exento.
    pub monto_exento: Clp,
    /// IVA.
    pub monto_iva: Clp,
    /// Other taxes.
    pub otros_impuestos: Vec<OtroImpuesto>,
    /// Monto total as stated by the document.
    pub monto_total: Clp,
    /// References to other documents.
    pub referencias: Vec<Referencia>,
    /// Obra code (`OB-2026-017`) it is charged to.
    pub obra: Option<String>,
    /// Centro de costo.
    pub centro_costo: Option<String>,
    /// Cuenta contable.
    pub cuenta: Option<String>,
    /// Orden de compra number.
    pub orden_compra: Option<String>,
    /// Free text.
    pub glosa: Option<String>,
    /// Status.
    pub estado: InvoiceStatus,
    /// Why it was rejected (required when `estado` is rechazada).
    pub motivo_rechazo: Option<String>,
    /// Origin.
    pub source: Source,
    /// Id in the origin system (iConstruye `idDocumento`, RCV `Nro`, ...).
    pub external_id: Option<String>,
    /// The day it was first imported (America/Santiago), set where it was imported and
    /// carried in the synced document: with no SII reception the legal 30 days run from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fecha_importacion: Option<NaiveDate>,
}

impl Invoice {
    /// The deterministic id.
    pub fn id(&self) -> InvoiceId {
        self.key.id()
    }

    /// Sum of the other taxes.
    pub fn otros_total(&self) -> Clp {
        self.otros_impuestos.iter().map(|o| o.valor).sum()
    }

    /// An amount with this document's sign in totals: credit notes subtract, dispatch
    /// guides count zero (they are not tax documents).
    pub fn signed(&self, amount: Clp) -> Clp {
        Clp::new(
            amount
                .pesos()
                .saturating_mul(self.key.tipo_dte.total_sign()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> NaturalKey {
        s.parse().unwrap()
    }

    #[test]
    fn the_id_is_derived_from_the_natural_key_only() {
        let a = key("76.123.456-0:33:1234");
        let b = key("76123456-0:33:1234.0");
        assert_eq!(
            a, b,
            "float-looking folios and dotted RUTs are the same document"
        );
        assert_eq!(a.id(), b.id());
        assert_ne!(
            a.id(),
            key("76123456-0:61:1234").id(),
            "type is part of the key"
        );
        assert_eq!(a.to_string(), "76123456-0:33:1234");
    }

    #[test]
    fn folio_range_is_enforced() {
        assert!("0".parse::<Folio>().is_err());
        assert!("10000000001".parse::<Folio>().is_err());
        assert!("10000000000".parse::<Folio>().is_ok());
        assert!("12.5".parse::<Folio>().is_err());
        assert!("-3".parse::<Folio>().is_err());
        let e = "abc".parse::<Folio>().unwrap_err().to_string();
        assert!(e.contains("folio") && e.contains("abc"), "{e}");
    }

    #[test]
    fn malformed_keys_say_what_is_expected() {
        let e = "76123456-0:33"
            .parse::<NaturalKey>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("RUT:TIPO:FOLIO"), "{e}");
    }
}

//! The invoice filters as people type them: in CLI flags and in the desktop's filter bar.

use icc_core::{InvoiceStatus, Rut};
use icc_store::InvoiceFilter;
use serde::{Deserialize, Serialize};

/// Invoice filters as text, parsed into an [`InvoiceFilter`] here, once, for every caller.
/// Empty strings mean "no filter" (what an emptied input field sends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ListFilter {
    /// Obra code.
    pub obra: Option<String>,
    /// Status name (`aprobada`, `en_revision`, ...).
    pub estado: Option<String>,
    /// Supplier RUT, any common spelling.
    pub proveedor: Option<String>,
    /// Emitted on or after (`dd-mm-aaaa` or `aaaa-mm-dd`).
    pub desde: Option<String>,
    /// Emitted on or before.
    pub hasta: Option<String>,
    /// Only payable invoices past their due date.
    pub vencidas: bool,
    /// Only claimable documents whose deadline falls within this many days.
    pub plazo_por_vencer: Option<u32>,
    /// Search text.
    pub q: Option<String>,
    /// Only these invoices (ids or `RUT:TIPO:FOLIO` are not accepted here: ids from the
    /// list), for exporting a selection; at most 5,000.
    pub ids: Option<Vec<String>>,
}

/// Most invoices a selection may name.
const MAX_SELECTION: usize = 5000;

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ListFilter {
    /// The store filter, with every value checked.
    ///
    /// # Errors
    /// A malformed status, RUT or date, named with the flag it came from.
    pub fn parse(&self) -> Result<InvoiceFilter, icc_core::CoreError> {
        Ok(InvoiceFilter {
            obra: given(&self.obra).map(str::to_owned),
            estado: given(&self.estado)
                .map(str::parse::<InvoiceStatus>)
                .transpose()?,
            proveedor: given(&self.proveedor).map(str::parse::<Rut>).transpose()?,
            desde: given(&self.desde)
                .map(|d| icc_core::parse_date("--desde", d))
                .transpose()?,
            hasta: given(&self.hasta)
                .map(|d| icc_core::parse_date("--hasta", d))
                .transpose()?,
            vencidas: self.vencidas,
            plazo_por_vencer: self.plazo_por_vencer,
            q: given(&self.q).map(str::to_owned),
            ids: match &self.ids {
                Some(ids) if ids.len() > MAX_SELECTION => {
                    return Err(icc_core::CoreError::invalid(
                        "selección",
                        ids.len().to_string(),
                        "exporte a lo más 5.000 facturas seleccionadas; para más, use los filtros",
                    ));
                }
                Some(ids) => Some(
                    ids.iter()
                        .map(|id| id.parse::<icc_core::InvoiceId>().map(|i| i.to_string()))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => None,
            },
            ..InvoiceFilter::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_no_filter_and_bad_values_are_named() {
        let f = ListFilter {
            obra: Some(" ".into()),
            estado: Some("".into()),
            proveedor: Some("76.555.835-2".into()),
            desde: Some("01-10-2026".into()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(f.obra, None);
        assert_eq!(f.estado, None);
        assert_eq!(f.proveedor.unwrap().to_string(), "76555835-2");
        assert_eq!(f.desde.unwrap().to_string(), "2026-10-01");
        let e = ListFilter {
            hasta: Some("31-02-2026".into()),
            ..Default::default()
        }
        .parse()
        .unwrap_err()
        .to_string();
        assert!(e.contains("--hasta"), "{e}");
        assert!(
            ListFilter {
                estado: Some("pendiente".into()),
                ..Default::default()
            }
            .parse()
            .is_err()
        );
        let bad_id = ListFilter {
            ids: Some(vec!["no-es-un-id".into()]),
            ..Default::default()
        };
        assert!(bad_id.parse().is_err());
        let too_many = ListFilter {
            ids: Some(vec![uuid_like(); MAX_SELECTION + 1]),
            ..Default::default()
        };
        assert!(too_many.parse().unwrap_err().to_string().contains("5.000"));
    }

    fn uuid_like() -> String {
        "6f1c2a9e-4b7d-5c3e-9a1b-2d3e4f5a6b7c".into()
    }
}

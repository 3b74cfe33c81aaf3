//! SII document types (tipo DTE) with their Spanish labels (DOMAIN.md §2).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Known codes and labels. Electronic ones, the paper ones the RCV still reports, export and
/// import documents.
const LABELS: &[(u16, &str)] = &[
    (29, "Factura de inicio"),
    (30, "Factura"),
    (
        32,
        "Factura de venta de bienes y servicios no afectos o exentos de IVA",
    ),
    (33, "Factura electrónica"),
    (34, "Factura no afecta o exenta electrónica"),
    (35, "Boleta"),
    (38, "Boleta exenta"),
    (39, "Boleta electrónica"),
    (40, "Liquidación factura"),
    (41, "Boleta exenta electrónica"),
    (43, "Liquidación-factura electrónica"),
    (45, "Factura de compra"),
    (46, "Factura de compra electrónica"),
    (48, "Comprobante de pago electrónico"),
    (50, "Guía de despacho"),
    (52, "Guía de despacho electrónica"),
    (55, "Nota de débito"),
    (56, "Nota de débito electrónica"),
    (60, "Nota de crédito"),
    (61, "Nota de crédito electrónica"),
    (101, "Factura de exportación"),
    (102, "Factura de venta exenta a zona franca primaria"),
    (103, "Liquidación"),
    (104, "Nota de débito de exportación"),
    (106, "Nota de crédito de exportación"),
    (108, "Solicitud de registro de factura (SRF)"),
    (109, "Factura a turista"),
    (110, "Factura de exportación electrónica"),
    (111, "Nota de débito de exportación electrónica"),
    (112, "Nota de crédito de exportación electrónica"),
    (911, "Declaración de ingreso a zona franca primaria"),
    (914, "Declaración de ingreso (DIN)"),
];

/// An SII document type code. Any code in `1..=9999` is kept: an unknown one is not an
/// error (the RCV reports codes that change over time), [`DteType::is_known`] tells and
/// validation warns about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DteType(u16);

impl DteType {
    /// Factura electrónica.
    pub const FACTURA: DteType = DteType(33);
    /// Factura no afecta o exenta electrónica.
    pub const FACTURA_EXENTA: DteType = DteType(34);
    /// Liquidación-factura electrónica (its total may be negative).
    pub const LIQUIDACION_FACTURA: DteType = DteType(43);
    /// Factura de compra electrónica.
    pub const FACTURA_COMPRA: DteType = DteType(46);
    /// Guía de despacho electrónica (not a tax document in totals).
    pub const GUIA_DESPACHO: DteType = DteType(52);
    /// Nota de débito electrónica.
    pub const NOTA_DEBITO: DteType = DteType(56);
    /// Nota de crédito electrónica.
    pub const NOTA_CREDITO: DteType = DteType(61);

    /// Wraps a code.
    ///
    /// # Errors
    /// When the code is 0 or above 9999.
    pub fn new(code: u16) -> Result<DteType> {
        if code == 0 || code > 9999 {
            return Err(CoreError::invalid(
                "tipo de documento",
                code.to_string(),
                "se espera un código SII entre 1 y 9999",
            ));
        }
        Ok(DteType(code))
    }

    /// Reads a code written as a number (`33`, ` 61 `, `33.0` from spreadsheets).
    ///
    /// # Errors
    /// When the text is not a whole number in range.
    pub fn parse(raw: &str) -> Result<DteType> {
        let t = raw.trim();
        let t = t.strip_suffix(".0").unwrap_or(t);
        let code: u16 = t.parse().map_err(|_| {
            CoreError::invalid(
                "tipo de documento",
                raw.trim(),
                "se espera un código SII numérico como 33 o 61",
            )
        })?;
        DteType::new(code)
    }

    /// Reads a type written as a label, as iConstruye and spreadsheets do
    /// (`"Factura Electrónica   "`, `"NOTA DE CREDITO ELECTRONICA"`, `"Factura exenta"`), or as
    /// a code. Case, accents and padding are ignored.
    ///
    /// # Errors
    /// When the text is neither a known label nor a code.
    pub fn from_label(raw: &str) -> Result<DteType> {
        if let Ok(t) = DteType::parse(raw) {
            return Ok(t);
        }
        let norm = |s: &str| -> String {
            s.chars()
                .flat_map(char::to_lowercase)
                .map(|c| match c {
                    'á' => 'a',
                    'é' => 'e',
                    'í' => 'i',
                    'ó' => 'o',
                    'ú' => 'u',
                    c if c.is_alphanumeric() => c,
                    _ => ' ',
                })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let n = norm(raw);
        const ALIASES: &[(&str, u16)] = &[
            ("factura", 33),
            ("factura afecta", 33),
            ("factura afecta electronica", 33),
            ("factura exenta", 34),
            ("factura exenta electronica", 34),
            ("factura no afecta", 34),
            ("nota de credito", 61),
            ("nota credito", 61),
            ("nota de credito electronica", 61),
            ("nota de debito", 56),
            ("nota debito", 56),
            ("nota de debito electronica", 56),
            ("guia de despacho", 52),
            ("factura de compra", 46),
            ("liquidacion factura", 43),
        ];
        if let Some((_, code)) = ALIASES.iter().find(|(a, _)| *a == n) {
            return DteType::new(*code);
        }
        LABELS
            .iter()
            .find(|(_, l)| norm(l) == n)
            .map(|(c, _)| DteType(*c))
            .ok_or_else(|| CoreError::invalid("tipo de documento", raw.trim(), "no es un código SII ni un tipo conocido (por ejemplo 33 o «Factura Electrónica»)"))
    }

    /// The numeric SII code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// The Spanish label, when the code is known.
    pub fn label(self) -> Option<&'static str> {
        LABELS.iter().find(|(c, _)| *c == self.0).map(|(_, l)| *l)
    }

    /// Whether the code is in the label table.
    pub fn is_known(self) -> bool {
        self.label().is_some()
    }

    /// Credit notes subtract in every total.
    pub fn is_credit_note(self) -> bool {
        matches!(self.0, 60 | 61 | 106 | 112)
    }

    /// Sign applied to this document's amounts in totals: -1 for credit notes, 0 for
    /// dispatch guides (not tax documents), 1 otherwise.
    pub fn total_sign(self) -> i64 {
        if self.is_credit_note() {
            -1
        } else if matches!(self.0, 50 | 52) {
            0
        } else {
            1
        }
    }

    /// Only these types can be accepted or claimed at the SII (Ley 19.983 art. 3).
    pub fn is_claimable(self) -> bool {
        matches!(self.0, 33 | 34 | 43 | 46 | 56 | 61)
    }

    /// All known codes, in code order.
    pub fn known() -> impl Iterator<Item = (DteType, &'static str)> {
        LABELS.iter().map(|(c, l)| (DteType(*c), *l))
    }
}

impl fmt::Display for DteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.label() {
            Some(l) => write!(f, "{l} ({})", self.0),
            None => write!(f, "Documento tipo {} (código desconocido)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_code_has_a_spanish_label() {
        for code in [
            29, 30, 32, 33, 34, 35, 38, 39, 40, 41, 43, 45, 46, 52, 55, 56, 60, 61, 110, 111, 112,
            914,
        ] {
            assert!(
                DteType::new(code).unwrap().label().is_some(),
                "code {code} must have a label"
            );
        }
        assert_eq!(DteType::FACTURA.label(), Some("Factura electrónica"));
    }

    #[test]
    fn labels_as_iconstruye_writes_them_map_to_codes() {
        for (l, c) in [
            ("Factura Electrónica   ", 33),
            ("FACTURA ELECTRONICA", 33),
            ("Nota de Crédito Electrónica", 61),
            ("Factura no afecta o exenta electrónica", 34),
            ("Factura exenta", 34),
            (" 56 ", 56),
        ] {
            assert_eq!(DteType::from_label(l).unwrap().code(), c, "{l}");
        }
        assert!(DteType::from_label("Boleta de honorarios rara").is_err());
    }

    #[test]
    fn unknown_codes_are_kept_not_rejected() {
        let t = DteType::parse("999").unwrap();
        assert_eq!(t.code(), 999);
        assert!(!t.is_known());
        assert!(t.to_string().contains("desconocido"));
    }

    #[test]
    fn credit_notes_subtract_and_guides_do_not_count() {
        assert_eq!(DteType::NOTA_CREDITO.total_sign(), -1);
        assert_eq!(DteType::FACTURA.total_sign(), 1);
        assert_eq!(DteType::GUIA_DESPACHO.total_sign(), 0);
        assert!(DteType::NOTA_CREDITO.is_claimable());
        assert!(!DteType::GUIA_DESPACHO.is_claimable());
    }

    #[test]
    fn malformed_codes_name_the_field_and_value() {
        for bad in ["", "abc", "0", "-33", "100000", "33.5"] {
            let e = DteType::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("tipo de documento") && e.contains(bad.trim()),
                "{e}"
            );
        }
        assert_eq!(DteType::parse(" 33.0 ").unwrap(), DteType::FACTURA);
    }
}

//! Validation of an invoice into errors (unusable) and warnings (usable but suspicious).
//! Amounts are never "fixed": a mismatch is reported, not corrected.

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::clp::Clp;
use crate::invoice::Invoice;

/// How serious an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The document cannot be stored.
    Error,
    /// The document is stored, but someone should look.
    Warning,
}

/// One finding about one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// The field, as users know it.
    pub field: &'static str,
    /// The value found.
    pub value: String,
    /// What is wrong, in Spanish.
    pub message: String,
}

/// All findings about one invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// Findings, errors and warnings mixed, in rule order.
    pub issues: Vec<Issue>,
}

impl Validation {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }

    fn push(
        &mut self,
        severity: Severity,
        field: &'static str,
        value: impl ToString,
        message: impl Into<String>,
    ) {
        self.issues.push(Issue {
            severity,
            field,
            value: value.to_string(),
            message: message.into(),
        });
    }
}

/// IVA rate in percent.
pub const IVA_PERCENT: i64 = 19;

/// Checks an invoice as of `today`.
///
/// Errors: negative amounts (except a type 43 total), a total that is not
/// neto + exento + IVA + otros, an emission date before 1990 or more than a year ahead.
/// Warnings: unknown DTE code, IVA off 19 % of neto by more than 1 peso, IVA on an exempt
/// document, emission date in the future, reception or due date before emission, empty
/// razón social.
pub fn validate(inv: &Invoice, today: NaiveDate) -> Validation {
    use Severity::*;
    let mut v = Validation::default();
    let tipo = inv.key.tipo_dte;

    if !tipo.is_known() {
        v.push(
            Warning,
            "tipo de documento",
            tipo.code(),
            format!(
                "código SII {} desconocido; se conserva tal cual",
                tipo.code()
            ),
        );
    }
    if inv.razon_social.trim().is_empty() {
        v.push(
            Warning,
            "razón social",
            "",
            "la razón social del proveedor está vacía",
        );
    }

    for (field, amount) in [
        ("monto neto", inv.monto_neto),
        ("monto exento", inv.monto_exento),
        ("IVA", inv.monto_iva),
    ] {
        if amount.pesos() < 0 {
            v.push(Error, field, amount.pesos(), "no puede ser negativo (las notas de crédito se restan en los totales, no en el documento)");
        }
    }
    for o in &inv.otros_impuestos {
        if o.valor.pesos() < 0 {
            v.push(
                Error,
                "otros impuestos",
                o.valor.pesos(),
                format!("el impuesto código {} no puede ser negativo", o.codigo),
            );
        }
    }
    if inv.monto_total.pesos() < 0 && tipo != crate::dte::DteType::LIQUIDACION_FACTURA {
        v.push(
            Error,
            "monto total",
            inv.monto_total.pesos(),
            "solo una liquidación-factura (43) puede tener total negativo",
        );
    }

    let sum = [
        inv.monto_neto,
        inv.monto_exento,
        inv.monto_iva,
        inv.otros_total(),
    ]
    .into_iter()
    .try_fold(Clp::ZERO, |acc, x| acc.checked_add(x, "el total"));
    match sum {
        Ok(sum) if sum != inv.monto_total && tipo != crate::dte::DteType::LIQUIDACION_FACTURA => v.push(
            Error,
            "monto total",
            inv.monto_total.pesos(),
            format!(
                "no cuadra: neto {} + exento {} + IVA {} + otros {} = {}, pero el documento dice {}",
                inv.monto_neto, inv.monto_exento, inv.monto_iva, inv.otros_total(), sum, inv.monto_total
            ),
        ),
        Ok(_) => {}
        Err(e) => v.push(Error, "monto total", inv.monto_total.pesos(), e.to_string()),
    }

    let expected_iva = inv.monto_neto.percent(IVA_PERCENT);
    if matches!(tipo.code(), 34 | 41 | 38 | 32) {
        if inv.monto_iva.pesos() != 0 {
            v.push(
                Warning,
                "IVA",
                inv.monto_iva.pesos(),
                "un documento exento no debería tener IVA",
            );
        }
    } else if inv.monto_neto.pesos() > 0 && (inv.monto_iva.pesos() - expected_iva.pesos()).abs() > 1
    {
        v.push(
            Warning,
            "IVA",
            inv.monto_iva.pesos(),
            format!("el IVA debería ser 19% del neto ({expected_iva}), con tolerancia de $1; el documento dice {}", inv.monto_iva),
        );
    }

    let e = inv.fecha_emision;
    if e.year() < 1990
        || today
            .checked_add_days(Days::new(366))
            .is_some_and(|limit| e > limit)
    {
        v.push(
            Error,
            "fecha emisión",
            e.format("%d-%m-%Y"),
            "la fecha de emisión no es plausible",
        );
    } else if e > today {
        v.push(
            Warning,
            "fecha emisión",
            e.format("%d-%m-%Y"),
            "la fecha de emisión está en el futuro",
        );
    }
    if let Some(r) = inv.fecha_recepcion_sii
        && r.date() < e
    {
        v.push(
            Warning,
            "fecha recepción SII",
            r.format("%d-%m-%Y %H:%M:%S"),
            "es anterior a la fecha de emisión",
        );
    }
    if let Some(d) = inv.fecha_vencimiento
        && d < e
    {
        v.push(
            Warning,
            "fecha vencimiento",
            d.format("%d-%m-%Y"),
            "es anterior a la fecha de emisión",
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InvoiceStatus, NaturalKey, OtroImpuesto, Source};

    fn invoice(key: &str, neto: i64, exento: i64, iva: i64, total: i64) -> Invoice {
        Invoice {
            key: key.parse::<NaturalKey>().unwrap(),
            razon_social: "Ferretería Ñuñoa Ltda.".into(),
            fecha_emision: "2026-10-01".parse().unwrap(),
            fecha_recepcion_sii: "2026-10-02"
                .parse::<NaiveDate>()
                .unwrap()
                .and_hms_opt(10, 0, 0),
            fecha_vencimiento: None,
            monto_neto: Clp::new(neto),
            monto_exento: Clp::new(exento),
            monto_iva: Clp::new(iva),
            otros_impuestos: vec![],
            monto_total: Clp::new(total),
            referencias: vec![],
            obra: None,
            centro_costo: None,
            cuenta: None,
            orden_compra: None,
            glosa: None,
            estado: InvoiceStatus::Recibida,
            motivo_rechazo: None,
            source: Source::Manual,
            external_id: None,
            fecha_importacion: None,
        }
    }

    fn today() -> NaiveDate {
        "2026-11-28".parse().unwrap()
    }

    #[test]
    fn a_correct_invoice_has_no_findings() {
        let v = validate(&invoice("76123456-0:33:1", 1000, 0, 190, 1190), today());
        assert!(v.issues.is_empty(), "{v:?}");
    }

    #[test]
    fn iva_within_one_peso_is_accepted_beyond_is_a_warning() {
        assert!(
            validate(&invoice("76123456-0:33:1", 1000, 0, 191, 1191), today())
                .issues
                .is_empty()
        );
        let v = validate(&invoice("76123456-0:33:1", 1000, 0, 192, 1192), today());
        assert!(!v.has_errors());
        assert_eq!(v.warnings().next().unwrap().field, "IVA");
    }

    #[test]
    fn a_total_that_does_not_add_up_is_an_error_naming_the_parts() {
        let v = validate(&invoice("76123456-0:33:1", 1000, 0, 190, 1200), today());
        let e = v.errors().next().unwrap();
        assert_eq!(e.field, "monto total");
        assert!(
            e.message.contains("$1.190") && e.message.contains("$1.200"),
            "{}",
            e.message
        );
    }

    #[test]
    fn otros_impuestos_count_in_the_total() {
        let mut inv = invoice("76123456-0:33:1", 1000, 0, 190, 1290);
        inv.otros_impuestos.push(OtroImpuesto {
            codigo: 28,
            tasa: None,
            valor: Clp::new(100),
        });
        assert!(!validate(&inv, today()).has_errors());
    }

    #[test]
    fn negative_document_amounts_are_errors_even_for_credit_notes() {
        let v = validate(&invoice("76123456-0:61:1", -1000, 0, -190, -1190), today());
        assert!(v.has_errors());
    }

    #[test]
    fn credit_notes_subtract_in_totals() {
        let nc = invoice("76123456-0:61:1", 1000, 0, 190, 1190);
        assert_eq!(nc.signed(nc.monto_total), Clp::new(-1190));
        let f = invoice("76123456-0:33:1", 1000, 0, 190, 1190);
        assert_eq!(f.signed(f.monto_total), Clp::new(1190));
    }

    #[test]
    fn unknown_types_and_odd_dates_are_warnings() {
        let mut inv = invoice("76123456-0:999:1", 1000, 0, 190, 1190);
        inv.fecha_vencimiento = Some("2026-09-01".parse().unwrap());
        let v = validate(&inv, today());
        assert!(!v.has_errors());
        let fields: Vec<_> = v.warnings().map(|w| w.field).collect();
        assert_eq!(fields, ["tipo de documento", "fecha vencimiento"]);
        inv.fecha_emision = "1985-01-01".parse().unwrap();
        assert!(validate(&inv, today()).has_errors());
    }
}

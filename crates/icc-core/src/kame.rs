//! Accounting vouchers for the Kame ERP (DOMAIN.md §6.4): which accounts an invoice is
//! posted to, as the office's accountant configures them per concepto de compra, and the
//! balanced voucher that results. Pure: sending it is icc-kame's job, remembering what was
//! sent is the store's.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Invoice, InvoiceStatus};

/// Kame's voucher kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "UPPERCASE")]
pub enum TipoComprobante {
    /// A transfer between accounts: the usual kind for a purchase invoice.
    #[default]
    Traspaso,
    /// Income.
    Ingreso,
    /// Expense paid out.
    Egreso,
}

impl TipoComprobante {
    /// As Kame spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TipoComprobante::Traspaso => "TRASPASO",
            TipoComprobante::Ingreso => "INGRESO",
            TipoComprobante::Egreso => "EGRESO",
        }
    }
}

impl std::str::FromStr for TipoComprobante {
    type Err = String;

    fn from_str(s: &str) -> Result<TipoComprobante, String> {
        match s.trim().to_uppercase().as_str() {
            "TRASPASO" => Ok(TipoComprobante::Traspaso),
            "INGRESO" => Ok(TipoComprobante::Ingreso),
            "EGRESO" => Ok(TipoComprobante::Egreso),
            other => Err(format!(
                "tipo de comprobante «{other}» no válido: use TRASPASO, INGRESO o EGRESO"
            )),
        }
    }
}

/// The accounts one concepto de compra posts to, as the accountant set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Plantilla {
    /// Concepto de compra (Kame's `ConceptoCompras` of the supplier's ficha).
    pub concepto: String,
    /// Debit for the net amount (the expense or asset account).
    pub cuenta_neto: String,
    /// Debit for the exempt amount; the net account when empty.
    pub cuenta_exento: Option<String>,
    /// Debit for the IVA (crédito fiscal).
    pub cuenta_iva: String,
    /// Debit for other taxes (specific taxes); an invoice that has them cannot be posted
    /// without it.
    pub cuenta_otros: Option<String>,
    /// Credit for the total: the supplier payable (proveedores por pagar).
    pub cuenta_proveedor: String,
    /// Voucher kind.
    #[serde(default)]
    pub tipo: TipoComprobante,
    /// Whether the payable account may also be one of the debit accounts. Off unless the
    /// accountant says so: the predecessor posted the same account on both sides by mistake.
    #[serde(default)]
    pub misma_cuenta: bool,
}

impl Plantilla {
    /// Checks the accounts are filled in.
    ///
    /// # Errors
    /// A Spanish message naming the empty field.
    pub fn validate(&self) -> Result<(), String> {
        for (label, v) in [
            ("concepto", self.concepto.as_str()),
            ("cuenta de neto", self.cuenta_neto.as_str()),
            ("cuenta de IVA", self.cuenta_iva.as_str()),
            ("cuenta de proveedores", self.cuenta_proveedor.as_str()),
        ] {
            if v.trim().is_empty() {
                return Err(format!(
                    "plantilla contable «{}»: falta la {label}",
                    self.concepto.trim()
                ));
            }
        }
        Ok(())
    }
}

/// One voucher line. Exactly one of `debe` and `haber` is positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linea {
    /// Account code.
    pub cuenta: String,
    /// Debit, pesos.
    pub debe: i64,
    /// Credit, pesos.
    pub haber: i64,
    /// Line comment.
    pub comentario: String,
    /// Supplier RUT as Kame writes it (`76.123.456-7`), on the payable line.
    pub rut_ficha: Option<String>,
    /// Document kind, on the payable line.
    pub documento: Option<String>,
    /// Document folio, on the payable line.
    pub folio_documento: Option<String>,
    /// Business unit (from the centro de costo), on the expense lines.
    pub unidad_negocio: Option<String>,
    /// Due date, on the payable line.
    pub fecha_vencimiento: Option<NaiveDate>,
}

/// A voucher for one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comprobante {
    /// Kind.
    pub tipo: TipoComprobante,
    /// Accounting date: the invoice's emission date.
    pub fecha: NaiveDate,
    /// Voucher comment; names the document, so a person finds it in Kame.
    pub comentario: String,
    /// Lines; debits equal credits.
    pub lineas: Vec<Linea>,
}

impl Comprobante {
    /// Sum of debits and sum of credits.
    pub fn totales(&self) -> (i64, i64) {
        self.lineas
            .iter()
            .fold((0, 0), |(d, h), l| (d + l.debe, h + l.haber))
    }
}

/// Why an invoice cannot be posted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// Void or rejected invoices are never posted.
    #[error("la factura está {0}: no se contabiliza")]
    Estado(&'static str),
    /// Other taxes and no account for them.
    #[error(
        "la factura tiene otros impuestos ({0}) y la plantilla «{1}» no tiene cuenta para ellos"
    )]
    SinCuentaOtros(i64, String),
    /// The template would put the payable account on both sides.
    #[error(
        "la plantilla «{concepto}» usa la cuenta {cuenta} al debe y al haber; corríjala o marque que lo permite"
    )]
    MismaCuenta {
        /// Concepto.
        concepto: String,
        /// The account on both sides.
        cuenta: String,
    },
    /// The invoice's amounts do not add up, so no balanced voucher exists.
    #[error(
        "neto {neto} + exento {exento} + IVA {iva} + otros {otros} no suman el total {total}; corrija la factura antes de contabilizarla"
    )]
    Descuadre {
        /// Net.
        neto: i64,
        /// Exempt.
        exento: i64,
        /// IVA.
        iva: i64,
        /// Other taxes.
        otros: i64,
        /// Total.
        total: i64,
    },
    /// Nothing to post.
    #[error("la factura tiene total 0: no hay nada que contabilizar")]
    Cero,
}

/// The comment that names an invoice's voucher in Kame: `ICC <tipo> <folio> <RUT>`.
pub fn comentario(inv: &Invoice) -> String {
    format!(
        "ICC {} {} {}",
        inv.key.tipo_dte.code(),
        inv.key.folio.get(),
        inv.key.rut_emisor
    )
}

/// The voucher for `inv` with the accounts of `p`: debits for neto, exento, IVA and other
/// taxes, one credit for the total on the payable account with the supplier's RUT, the
/// document and its due date `vence`; a credit note (61) the other way round. `unidad` is the
/// business unit of the invoice's centro de costo.
///
/// # Errors
/// See [`VoucherError`].
pub fn comprobante(
    inv: &Invoice,
    p: &Plantilla,
    unidad: Option<&str>,
    vence: NaiveDate,
) -> Result<Comprobante, VoucherError> {
    if matches!(
        inv.estado,
        InvoiceStatus::Anulada | InvoiceStatus::Rechazada
    ) {
        return Err(VoucherError::Estado(inv.estado.label()));
    }
    let neto = inv.monto_neto.pesos().abs();
    let exento = inv.monto_exento.pesos().abs();
    let iva = inv.monto_iva.pesos().abs();
    let otros = inv.otros_total().pesos().abs();
    let total = inv.monto_total.pesos().abs();
    if total == 0 {
        return Err(VoucherError::Cero);
    }
    if neto + exento + iva + otros != total {
        return Err(VoucherError::Descuadre {
            neto,
            exento,
            iva,
            otros,
            total,
        });
    }
    let cuenta_otros = match (&p.cuenta_otros, otros) {
        (_, 0) => None,
        (Some(c), _) if !c.trim().is_empty() => Some(c.trim().to_owned()),
        _ => return Err(VoucherError::SinCuentaOtros(otros, p.concepto.clone())),
    };
    let cuenta_exento = p
        .cuenta_exento
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(p.cuenta_neto.trim());
    let glosa = comentario(inv);
    let unidad = unidad.map(str::trim).filter(|u| !u.is_empty());
    let gasto = |cuenta: &str, monto: i64, que: &str| Linea {
        cuenta: cuenta.to_owned(),
        debe: monto,
        haber: 0,
        comentario: format!("{que} {glosa}"),
        rut_ficha: None,
        documento: None,
        folio_documento: None,
        unidad_negocio: unidad.map(str::to_owned),
        fecha_vencimiento: None,
    };
    let mut lineas = Vec::with_capacity(5);
    for (cuenta, monto, que) in [
        (p.cuenta_neto.trim(), neto, "Neto"),
        (cuenta_exento, exento, "Exento"),
        (p.cuenta_iva.trim(), iva, "IVA"),
        (
            cuenta_otros.as_deref().unwrap_or(""),
            otros,
            "Otros impuestos",
        ),
    ] {
        if monto > 0 {
            lineas.push(gasto(cuenta, monto, que));
        }
    }
    let proveedor = p.cuenta_proveedor.trim();
    if !p.misma_cuenta && lineas.iter().any(|l| l.cuenta == proveedor) {
        return Err(VoucherError::MismaCuenta {
            concepto: p.concepto.clone(),
            cuenta: proveedor.to_owned(),
        });
    }
    lineas.push(Linea {
        cuenta: proveedor.to_owned(),
        debe: 0,
        haber: total,
        comentario: format!("Proveedor {glosa}"),
        rut_ficha: Some(inv.key.rut_emisor.display()),
        documento: Some(inv.key.tipo_dte.code().to_string()),
        folio_documento: Some(inv.key.folio.get().to_string()),
        unidad_negocio: None,
        fecha_vencimiento: Some(vence),
    });
    if inv.key.tipo_dte.is_credit_note() {
        for l in &mut lineas {
            std::mem::swap(&mut l.debe, &mut l.haber);
        }
    }
    Ok(Comprobante {
        tipo: p.tipo,
        fecha: inv.fecha_emision,
        comentario: glosa,
        lineas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clp, NaturalKey, Source};

    fn plantilla() -> Plantilla {
        Plantilla {
            concepto: "MATERIALES".into(),
            cuenta_neto: "5101001".into(),
            cuenta_exento: None,
            cuenta_iva: "1109001".into(),
            cuenta_otros: None,
            cuenta_proveedor: "2101001".into(),
            tipo: TipoComprobante::Traspaso,
            misma_cuenta: false,
        }
    }

    fn invoice(tipo: u16, neto: i64, exento: i64, iva: i64, total: i64) -> Invoice {
        Invoice {
            key: format!("76369187-K:{tipo}:123")
                .parse::<NaturalKey>()
                .unwrap(),
            razon_social: "Ferretería Uno".into(),
            fecha_emision: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            fecha_recepcion_sii: None,
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

    fn vence() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
    }

    #[test]
    fn an_invoice_debits_expense_and_iva_and_credits_the_supplier() {
        let c = comprobante(
            &invoice(33, 100_000, 5_000, 19_000, 124_000),
            &plantilla(),
            Some("OB01"),
            vence(),
        )
        .unwrap();
        assert_eq!(c.totales(), (124_000, 124_000));
        let by: Vec<(&str, i64, i64)> = c
            .lineas
            .iter()
            .map(|l| (l.cuenta.as_str(), l.debe, l.haber))
            .collect();
        assert_eq!(
            by,
            [
                ("5101001", 100_000, 0),
                ("5101001", 5_000, 0),
                ("1109001", 19_000, 0),
                ("2101001", 0, 124_000)
            ]
        );
        let pay = c.lineas.last().unwrap();
        assert_eq!(pay.rut_ficha.as_deref(), Some("76.369.187-K"));
        assert_eq!(pay.folio_documento.as_deref(), Some("123"));
        assert_eq!(pay.fecha_vencimiento, Some(vence()));
        assert_eq!(c.lineas[0].unidad_negocio.as_deref(), Some("OB01"));
        assert_eq!(c.comentario, "ICC 33 123 76369187-K");
    }

    #[test]
    fn a_credit_note_goes_the_other_way() {
        let c = comprobante(
            &invoice(61, 10_000, 0, 1_900, 11_900),
            &plantilla(),
            None,
            vence(),
        )
        .unwrap();
        assert_eq!(c.totales(), (11_900, 11_900));
        let pay = c.lineas.last().unwrap();
        assert_eq!((pay.debe, pay.haber), (11_900, 0));
        assert!(c.lineas[..2].iter().all(|l| l.debe == 0 && l.haber > 0));
    }

    #[test]
    fn refusals_say_why() {
        let mut inv = invoice(33, 100, 0, 19, 119);
        inv.estado = InvoiceStatus::Anulada;
        assert!(matches!(
            comprobante(&inv, &plantilla(), None, vence()),
            Err(VoucherError::Estado(_))
        ));
        inv.estado = InvoiceStatus::Rechazada;
        assert!(comprobante(&inv, &plantilla(), None, vence()).is_err());
        assert!(matches!(
            comprobante(&invoice(33, 100, 0, 19, 120), &plantilla(), None, vence()),
            Err(VoucherError::Descuadre { total: 120, .. })
        ));
        assert_eq!(
            comprobante(&invoice(33, 0, 0, 0, 0), &plantilla(), None, vence()),
            Err(VoucherError::Cero)
        );
        let mut same = plantilla();
        same.cuenta_proveedor = same.cuenta_iva.clone();
        let e = comprobante(&invoice(33, 100, 0, 19, 119), &same, None, vence()).unwrap_err();
        assert!(e.to_string().contains("al debe y al haber"), "{e}");
        same.misma_cuenta = true;
        let c = comprobante(&invoice(33, 100, 0, 19, 119), &same, None, vence()).unwrap();
        assert_eq!(c.totales(), (119, 119));
    }

    #[test]
    fn other_taxes_need_their_account() {
        let mut inv = invoice(33, 100, 0, 19, 129);
        inv.otros_impuestos.push(crate::OtroImpuesto {
            codigo: 271,
            tasa: None,
            valor: Clp::new(10),
        });
        assert!(matches!(
            comprobante(&inv, &plantilla(), None, vence()),
            Err(VoucherError::SinCuentaOtros(10, _))
        ));
        let mut p = plantilla();
        p.cuenta_otros = Some("1109002".into());
        let c = comprobante(&inv, &p, None, vence()).unwrap();
        assert_eq!(c.totales(), (129, 129));
    }

    #[test]
    fn templates_need_their_accounts() {
        let mut p = plantilla();
        assert!(p.validate().is_ok());
        p.cuenta_iva = " ".into();
        assert!(p.validate().unwrap_err().contains("cuenta de IVA"));
        assert_eq!(
            "egreso".parse::<TipoComprobante>(),
            Ok(TipoComprobante::Egreso)
        );
        assert!("otro".parse::<TipoComprobante>().is_err());
    }

    proptest::proptest! {
        #[test]
        fn every_voucher_balances(
            neto in 0i64..10_000_000_000,
            exento in 0i64..1_000_000_000,
            otros in 0i64..1_000_000,
            nota in proptest::bool::ANY,
        ) {
            let iva = neto * 19 / 100;
            let mut inv = invoice(if nota { 61 } else { 33 }, neto, exento, iva, neto + exento + iva + otros);
            if otros > 0 {
                inv.otros_impuestos.push(crate::OtroImpuesto { codigo: 271, tasa: None, valor: Clp::new(otros) });
            }
            let mut p = plantilla();
            p.cuenta_otros = Some("1109002".into());
            match comprobante(&inv, &p, None, vence()) {
                Ok(c) => {
                    let (d, h) = c.totales();
                    proptest::prop_assert_eq!(d, h);
                    proptest::prop_assert_eq!(d, inv.monto_total.pesos());
                    proptest::prop_assert!(c.lineas.iter().all(|l| (l.debe > 0) != (l.haber > 0)));
                }
                Err(e) => proptest::prop_assert_eq!(e, VoucherError::Cero),
            }
        }
    }
}

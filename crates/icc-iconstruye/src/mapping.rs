//! From iConstruye's documents to [`Invoice`]s (DOMAIN.md §4).
//!
//! * `tipoFactura` is a label → DTE code ([`DteType::from_label`]).
//! * Neto, exento and total come from the detail; IVA is what remains of the total
//!   (`total − neto − exento`). Never `total × 100/119`, the predecessor's defect.
//! * `fechaPago` of the detail is the due date; `fechaRecepcion` the reception (its claim
//!   deadline counts from it).
//! * The centro de gestión becomes the centro de costo; every OC number a reference of
//!   type 801 (the first one also the invoice's orden de compra); a note's `factAsociada`
//!   a reference to the corrected invoice.
//! * `estadoDoc` / `estadoPago` map to the status ([`map_estado`]); `idDocumento` is the
//!   external id; the raw search row and detail are kept together.

use icc_core::{
    Clp, DteType, Invoice, InvoiceStatus, NaturalKey, Referencia, Rut, Source, parse_date,
    parse_datetime,
};
use serde_json::json;

use crate::wire::{Detalle, Resumen, pesos};

/// Which search a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `Factura/Buscar`.
    Factura,
    /// `NotasCorreccion/Buscar` (credit and debit notes).
    Nota,
}

/// A mapped document.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The invoice.
    pub invoice: Invoice,
    /// `{"resumen": …, "detalle": …}` as received, for the `raw` column.
    pub raw: String,
    /// A note's corrected invoice folio (`factAsociada`), to link once stored.
    pub fact_asociada: Option<String>,
}

/// Reference type of a purchase order (SII code 801).
pub const TIPO_REF_ORDEN_COMPRA: &str = "801";

/// Maps iConstruye's status words to ours. iConstruye publishes no list; these are the words
/// seen in public client code and their obvious variants. Payment wins over the document
/// state; unknown or empty words mean `recibida`.
pub fn map_estado(estado_doc: Option<&str>, estado_pago: Option<&str>) -> InvoiceStatus {
    let norm = |s: Option<&str>| s.unwrap_or("").trim().to_lowercase();
    let pago = norm(estado_pago);
    let doc = norm(estado_doc);
    let unpaid = pago.contains("no pagad") || pago.contains("impag") || pago.contains("pendiente");
    if !unpaid && pago.contains("parcial") {
        return InvoiceStatus::ParcialmentePagada;
    }
    if !unpaid && (pago.contains("pagad") || pago.contains("pagado")) {
        return InvoiceStatus::Pagada;
    }
    if doc.contains("anulad") {
        InvoiceStatus::Anulada
    } else if doc.contains("rechaz") {
        InvoiceStatus::Rechazada
    } else if doc.contains("aprob") || doc.contains("acept") || doc.contains("contabiliz") {
        InvoiceStatus::Aprobada
    } else if doc.contains("revisi") || doc.contains("pendiente") {
        InvoiceStatus::EnRevision
    } else {
        InvoiceStatus::Recibida
    }
}

/// Motivo recorded when iConstruye says a document was rejected.
pub const MOTIVO_RECHAZO_ICONSTRUYE: &str = "Rechazada en iConstruye";

/// Maps one document. Every problem is a Spanish message naming the field and the value.
///
/// # Errors
/// When a required field is missing or unreadable: RUT, folio, type, emission date,
/// neto (unless the document is exempt), total, or an IVA that comes out negative.
pub fn map_document(kind: DocKind, r: &Resumen, d: &Detalle) -> Result<Mapped, String> {
    let need = |v: &Option<String>, what: &str| -> Result<String, String> {
        v.clone().ok_or_else(|| format!("falta {what}"))
    };
    let rut: Rut = need(&r.rut_proveedor, "rutProveedor")?
        .parse()
        .map_err(|e: icc_core::CoreError| format!("rutProveedor: {e}"))?;
    let tipo_raw = need(&r.tipo, "tipoFactura")?;
    let tipo = DteType::from_label(&tipo_raw).map_err(|e| format!("tipoFactura: {e}"))?;
    if kind == DocKind::Nota && !matches!(tipo.code(), 55 | 56 | 60 | 61) {
        return Err(format!(
            "tipoFactura: «{}» llegó como nota de corrección pero no es nota de crédito ni de débito",
            tipo_raw.trim()
        ));
    }
    let folio = need(&r.folio, "folioUnico")?
        .parse()
        .map_err(|e: icc_core::CoreError| format!("folioUnico: {e}"))?;
    let key = NaturalKey {
        rut_emisor: rut,
        tipo_dte: tipo,
        folio,
    };
    let fecha_emision = parse_date("fechaEmision", &need(&r.fecha_emision, "fechaEmision")?)
        .map_err(|e| e.to_string())?;
    let fecha_recepcion_sii = r
        .fecha_recepcion
        .as_deref()
        .map(|f| parse_datetime("fechaRecepcion", f))
        .transpose()
        .map_err(|e| e.to_string())?;
    let fecha_vencimiento = d
        .fecha_pago
        .as_deref()
        .map(|f| parse_date("fechaPago", f))
        .transpose()
        .map_err(|e| e.to_string())?;

    let amount = |v: &Option<serde_json::Value>, what: &str| -> Result<Option<i64>, String> {
        v.as_ref()
            .map(|v| pesos(v).map_err(|e| format!("{what}: {e}")))
            .transpose()
    };
    let total = match amount(&d.monto_total, "montoTotal del detalle")? {
        Some(t) => t,
        None => amount(&r.monto_total, "montoTotal")?
            .ok_or_else(|| "falta montoTotal (ni en la búsqueda ni en el detalle)".to_owned())?,
    };
    let exento = amount(&d.monto_exento, "montoNoAfectoOExento")?.unwrap_or(0);
    let neto = match amount(&d.monto_neto, "montoNeto")? {
        Some(n) => n,
        // an exempt document has no afecto amount: everything is exento
        None if tipo == DteType::FACTURA_EXENTA => 0,
        None => {
            return Err(
                "el detalle no trae montoNeto; no se calcula desde el total (total × 100/119 sería inventarlo)"
                    .into(),
            );
        }
    };
    let (exento, neto) = if tipo == DteType::FACTURA_EXENTA && neto == 0 && exento == 0 {
        (total, 0)
    } else {
        (exento, neto)
    };
    if total < 0 || neto < 0 || exento < 0 {
        return Err(format!(
            "montos negativos (neto {neto}, exento {exento}, total {total}): iConstruye informa las notas en positivo"
        ));
    }
    let iva = total
        .checked_sub(neto)
        .and_then(|x| x.checked_sub(exento))
        .filter(|iva| *iva >= 0)
        .ok_or_else(|| {
            format!(
                "el total ({}) es menor que neto ({}) + exento ({})",
                Clp::new(total),
                Clp::new(neto),
                Clp::new(exento)
            )
        })?;

    let mut referencias: Vec<Referencia> = d
        .ordenes
        .iter()
        .map(|oc| Referencia {
            tipo: TIPO_REF_ORDEN_COMPRA.into(),
            folio: oc.num_oc.chars().take(18).collect(),
            fecha: None,
            codigo: None,
            razon: Some("Orden de compra en iConstruye".into()),
        })
        .collect();
    referencias.dedup_by(|a, b| a.folio == b.folio);
    let fact_asociada = r.fact_asociada.clone().filter(|_| kind == DocKind::Nota);
    if let Some(f) = &fact_asociada {
        referencias.push(Referencia {
            tipo: DteType::FACTURA.code().to_string(),
            folio: f.chars().take(18).collect(),
            fecha: None,
            codigo: None,
            razon: Some("Factura asociada en iConstruye".into()),
        });
    }
    let centro_costo = r.centro_gestion.clone().or_else(|| {
        d.ordenes
            .iter()
            .flat_map(|o| o.centros.iter())
            .find_map(|(id, desc)| desc.clone().or_else(|| id.clone()))
    });
    let estado = map_estado(r.estado_doc.as_deref(), r.estado_pago.as_deref());
    let razon_social = d
        .razon_social
        .clone()
        .or_else(|| r.nom_proveedor.clone())
        .ok_or_else(|| "falta nomProveedor (razón social)".to_owned())?;
    let invoice = Invoice {
        key,
        razon_social,
        fecha_emision,
        fecha_recepcion_sii,
        fecha_vencimiento,
        monto_neto: Clp::new(neto),
        monto_exento: Clp::new(exento),
        monto_iva: Clp::new(iva),
        otros_impuestos: vec![],
        monto_total: Clp::new(total),
        orden_compra: d.ordenes.first().map(|o| o.num_oc.clone()),
        referencias,
        obra: None,
        centro_costo,
        cuenta: None,
        glosa: None,
        estado,
        motivo_rechazo: (estado == InvoiceStatus::Rechazada)
            .then(|| MOTIVO_RECHAZO_ICONSTRUYE.to_owned()),
        source: Source::Iconstruye,
        external_id: Some(r.id_documento.clone()),
    };
    let raw = json!({"resumen": r.raw, "detalle": d.raw}).to_string();
    Ok(Mapped {
        invoice,
        raw,
        fact_asociada,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn resumen(v: Value) -> Resumen {
        Resumen::from_value(v).unwrap()
    }

    fn base() -> Value {
        json!({
            "idDocumento": 555, "folioUnico": "1234", "tipoFactura": "Factura Electrónica     ",
            "nomProveedor": "Ferretería Sur", "rutProveedor": "76.123.456-0",
            "fechaEmision": "2026-03-02 00:00:00", "fechaRecepcion": "2026-03-03 14:05:00",
            "montoTotal": 1190, "estadoDoc": "Ingresada", "estadoPago": "No Pagada",
            "centroGestion": "OB01 Edificio Los Robles"
        })
    }

    fn detalle(neto: Value, exento: Value, total: Value) -> Detalle {
        Detalle::from_answer(json!([{
            "cabecera": {
                "fecha": {"fechaPago": "2026-04-02 00:00:00"},
                "totales": {"neto": {"montoNeto": neto, "montoNoAfectoOExento": exento}, "total": {"montoTotal": total}}
            },
            "detalle": {"documentosRelacionados": {"ordenCompra": [{"idOc": 1, "numOC": "OC-77"}]}}
        }]))
        .unwrap()
    }

    #[test]
    fn an_invoice_takes_its_amounts_from_the_detail() {
        let m = map_document(
            DocKind::Factura,
            &resumen(base()),
            &detalle(json!(900), json!(100), json!(1171)),
        )
        .unwrap();
        let i = &m.invoice;
        assert_eq!(i.key.to_string(), "76123456-0:33:1234");
        assert_eq!(
            (
                i.monto_neto.pesos(),
                i.monto_exento.pesos(),
                i.monto_iva.pesos(),
                i.monto_total.pesos()
            ),
            (900, 100, 171, 1171),
            "IVA is what the total leaves, not total × 19/119"
        );
        assert_eq!(i.fecha_vencimiento.unwrap().to_string(), "2026-04-02");
        assert_eq!(
            i.fecha_recepcion_sii.unwrap().to_string(),
            "2026-03-03 14:05:00"
        );
        assert_eq!(i.orden_compra.as_deref(), Some("OC-77"));
        assert_eq!(i.referencias[0].tipo, "801");
        assert_eq!(i.centro_costo.as_deref(), Some("OB01 Edificio Los Robles"));
        assert_eq!(i.external_id.as_deref(), Some("555"));
        assert_eq!(i.source, Source::Iconstruye);
        assert_eq!(i.estado, InvoiceStatus::Recibida);
        let raw: Value = serde_json::from_str(&m.raw).unwrap();
        assert_eq!(raw["resumen"]["idDocumento"], 555);
        assert!(raw["detalle"]["cabecera"].is_object());
    }

    #[test]
    fn a_missing_neto_is_an_error_never_derived_from_the_total() {
        let d = Detalle::from_answer(
            json!([{"cabecera": {"totales": {"total": {"montoTotal": 1190}}}}]),
        )
        .unwrap();
        let e = map_document(DocKind::Factura, &resumen(base()), &d).unwrap_err();
        assert!(e.contains("montoNeto"), "{e}");
    }

    #[test]
    fn an_exempt_invoice_without_neto_is_all_exento() {
        let mut r = base();
        r["tipoFactura"] = json!("Factura Exenta Electrónica");
        let d = Detalle::from_answer(
            json!([{"cabecera": {"totales": {"total": {"montoTotal": 5000}}}}]),
        )
        .unwrap();
        let i = map_document(DocKind::Factura, &resumen(r), &d)
            .unwrap()
            .invoice;
        assert_eq!(i.key.tipo_dte.code(), 34);
        assert_eq!(
            (
                i.monto_neto.pesos(),
                i.monto_exento.pesos(),
                i.monto_iva.pesos()
            ),
            (0, 5000, 0)
        );
    }

    #[test]
    fn a_credit_note_links_to_its_invoice() {
        let mut r = base();
        r["tipoFactura"] = json!("Nota de Crédito Electrónica");
        r["factAsociada"] = json!(1200);
        let m = map_document(
            DocKind::Nota,
            &resumen(r),
            &detalle(json!(100), json!(0), json!(119)),
        )
        .unwrap();
        assert_eq!(m.invoice.key.tipo_dte.code(), 61);
        assert_eq!(m.fact_asociada.as_deref(), Some("1200"));
        let link = m
            .invoice
            .referencias
            .iter()
            .find(|r| r.tipo == "33")
            .unwrap();
        assert_eq!(link.folio, "1200");
    }

    #[test]
    fn an_invoice_label_in_the_notes_search_is_refused() {
        let e = map_document(
            DocKind::Nota,
            &resumen(base()),
            &detalle(json!(1000), json!(0), json!(1190)),
        )
        .unwrap_err();
        assert!(e.contains("nota"), "{e}");
    }

    #[test]
    fn bad_fields_are_named_in_the_error() {
        for (field, value, expect) in [
            ("rutProveedor", json!("76123456-1"), "rutProveedor"),
            ("rutProveedor", Value::Null, "rutProveedor"),
            ("folioUnico", json!("abc"), "folio"),
            (
                "tipoFactura",
                json!("Boleta de honorarios rara"),
                "tipoFactura",
            ),
            ("fechaEmision", json!("31/02/2026"), "fechaEmision"),
            ("fechaRecepcion", json!("ayer"), "fechaRecepcion"),
        ] {
            let mut r = base();
            r[field] = value;
            let e = map_document(
                DocKind::Factura,
                &resumen(r),
                &detalle(json!(1000), json!(0), json!(1190)),
            )
            .unwrap_err();
            assert!(e.contains(expect), "{field}: {e}");
        }
        let e = map_document(
            DocKind::Factura,
            &resumen(base()),
            &detalle(json!(1000), json!(0), json!("mil")),
        )
        .unwrap_err();
        assert!(e.contains("montoTotal") && e.contains("mil"), "{e}");
        let e = map_document(
            DocKind::Factura,
            &resumen(base()),
            &detalle(json!(1000), json!(500), json!(1190)),
        )
        .unwrap_err();
        assert!(e.contains("menor"), "{e}");
    }

    #[test]
    fn estados_map_payment_first() {
        use InvoiceStatus::*;
        for (doc, pago, want) in [
            (Some("Ingresada"), Some("No Pagada"), Recibida),
            (Some("Aprobada"), Some("Pendiente"), Aprobada),
            (Some("Aprobada"), Some("Pagada"), Pagada),
            (Some("Aprobada"), Some("Pago Parcial"), ParcialmentePagada),
            (Some("Rechazada"), None, Rechazada),
            (Some("ANULADA"), None, Anulada),
            (Some("En revisión"), None, EnRevision),
            (None, None, Recibida),
            (Some("algo nuevo"), Some(""), Recibida),
        ] {
            assert_eq!(map_estado(doc, pago), want, "{doc:?} {pago:?}");
        }
    }
}

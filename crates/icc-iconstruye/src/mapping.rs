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
use std::collections::BTreeMap;

use serde_json::{Value, json};

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
        fecha_importacion: None,
    };
    let raw = json!({"resumen": r.raw, "detalle": d.raw}).to_string();
    Ok(Mapped {
        invoice,
        raw,
        fact_asociada,
    })
}

/// A folio as the predecessor's pandas may have written it: `"123.0"` is `"123"` (a numeric
/// column with a blank read as float). Anything else is returned trimmed, unchanged.
pub fn folio_text(raw: &str) -> String {
    let t = raw.trim();
    if let Some((int, frac)) = t.split_once('.')
        && !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b == b'0')
    {
        return int.to_owned();
    }
    t.to_owned()
}

/// Maps a flat record holding `Factura/Buscar` fields plus the detail's `montoNeto` and
/// `montoNoAfectoOExento` (and `fechaEstimadaPago` as the due date): the rows the predecessor
/// app saved in `facturas.csv`. The folio is read as text (`123.0` is `123`); `numDoc` (the
/// centre's own sequence) never stands in for a missing `folioUnico`.
///
/// # Errors
/// As [`map_document`], plus a missing `folioUnico`.
pub fn map_flat(fields: &BTreeMap<String, String>) -> Result<Mapped, String> {
    let get = |k: &str| fields.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let folio = get("folioUnico").ok_or_else(|| "falta folioUnico".to_owned())?;
    let mut obj = serde_json::Map::new();
    for (k, v) in fields {
        if k != "numDoc" {
            obj.insert(k.clone(), Value::String(v.clone()));
        }
    }
    obj.insert("folioUnico".into(), Value::String(folio_text(folio)));
    let r = Resumen::from_value(Value::Object(obj))?;
    let mut neto = serde_json::Map::new();
    if let Some(v) = get("montoNeto") {
        neto.insert("montoNeto".into(), json!(v));
    }
    if let Some(v) = get("montoNoAfectoOExento") {
        neto.insert("montoNoAfectoOExento".into(), json!(v));
    }
    let mut cabecera = json!({"totales": {"neto": neto}});
    if let Some(v) = get("montoTotal") {
        cabecera["totales"]["total"] = json!({"montoTotal": v});
    }
    if let Some(v) = get("fechaEstimadaPago") {
        cabecera["fecha"] = json!({"fechaPago": v});
    }
    let d = Detalle::from_answer(json!({"cabecera": cabecera}))?;
    map_document(DocKind::Factura, &r, &d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn flat(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn legacy_row() -> Vec<(&'static str, &'static str)> {
        vec![
            ("idDocumento", "31002659"),
            ("numDoc", "1420-49"),
            ("folioUnico", "3482819.0"),
            ("tipoFactura", "Factura Electrónica "),
            ("nomProveedor", "FERRETERIA   T?CNICA SPA"),
            ("rutProveedor", "81293200-4"),
            ("centroGestion", "1420-Edificio Norte"),
            ("fechaEmision", "2025-07-10T00:00:00"),
            ("fechaEstimadaPago", "2025-08-09T00:00:00"),
            ("fechaRecepcion", "2025-07-11T00:00:00"),
            ("fechaRecepSII", "No disponible"),
            ("montoTotal", "245048.0"),
            ("montoNeto", "205923.0"),
            ("montoNoAfectoOExento", "0.0"),
            ("estadoDoc", "Aprobada"),
            ("estadoPago", "Sin Pagos"),
        ]
    }

    #[test]
    fn a_predecessor_row_maps_with_text_folio_and_real_amounts() {
        let m = map_flat(&flat(&legacy_row())).unwrap();
        let i = &m.invoice;
        assert_eq!(i.key.folio.to_string(), "3482819");
        assert_eq!(i.key.tipo_dte, DteType::FACTURA);
        assert_eq!(i.monto_total.pesos(), 245_048);
        assert_eq!(i.monto_neto.pesos(), 205_923);
        assert_eq!(i.monto_iva.pesos(), 245_048 - 205_923);
        assert_eq!(i.fecha_vencimiento.unwrap().to_string(), "2025-08-09");
        assert_eq!(i.estado, InvoiceStatus::Aprobada);
        assert_eq!(i.external_id.as_deref(), Some("31002659"));
        assert_eq!(folio_text(" 123.00 "), "123");
        assert_eq!(folio_text("BH 14"), "BH 14");
        assert_eq!(folio_text("1.5"), "1.5");
    }

    #[test]
    fn predecessor_rows_with_problems_say_what_is_wrong() {
        let without = |k: &str| {
            let mut r = legacy_row();
            r.retain(|(f, _)| *f != k);
            map_flat(&flat(&r)).unwrap_err()
        };
        assert!(without("folioUnico").contains("folioUnico"));
        assert!(without("montoNeto").contains("montoNeto"));
        let with = |k: &'static str, v: &'static str| {
            let mut r = legacy_row();
            r.retain(|(f, _)| *f != k);
            r.push((k, v));
            map_flat(&flat(&r))
        };
        assert!(with("tipoFactura", "Boleta Honorarios").is_err());
        assert!(
            with("folioUnico", "BH 14")
                .unwrap_err()
                .contains("folioUnico")
        );
        assert!(with("montoTotal", "245048.5").is_err());
        assert!(with("rutProveedor", "81293200-5").is_err());
        assert!(with("fechaEmision", "mañana").is_err());
    }

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

//! The shapes iConstruye answers with (DOMAIN.md §4), read leniently: keys match whatever
//! their casing (`idDocumento`, `IdDocumento`, `iddocumento`), known spelling variants are
//! aliases (`idCentroCosto` / `idCentCosto`), any field may be missing, numbers may come as
//! numbers or as text. The raw JSON of every document is kept beside what is read from it.

use serde_json::{Map, Value};

/// The object's value under the first of `names` present, keys compared ignoring ASCII
/// case. `null` counts as absent.
pub fn field<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let map: &Map<String, Value> = obj.as_object()?;
    names.iter().find_map(|n| {
        map.get(*n)
            .or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
    })
}

/// Follows a path of objects (each step ignoring case). An array met on the way is read
/// through its first element, as iConstruye wraps single objects in arrays at times.
pub fn path<'a>(obj: &'a Value, steps: &[&[&str]]) -> Option<&'a Value> {
    let mut cur = obj;
    for names in steps {
        if let Some(first) = cur.as_array().and_then(|a| a.first()) {
            cur = first;
        }
        cur = field(cur, names)?;
    }
    Some(cur)
}

/// A value as trimmed text: strings as they are, numbers in their JSON form. Empty text is
/// absent.
pub fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// An amount in whole pesos from a JSON number (`1234`, `1234.0`) or text (`"1234"`,
/// `"1.234.567"`, `"$ 1.234"`, `"1234,00"`).
///
/// # Errors
/// A description of what was found when it is not a whole number of pesos.
pub fn pesos(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(i);
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                _ => Err(format!("«{n}» no es un monto entero en pesos")),
            }
        }
        Value::String(s) => parse_pesos_text(s),
        other => Err(format!("se esperaba un monto y llegó {}", kind(other))),
    }
}

fn parse_pesos_text(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("«{t}» no es un monto entero en pesos");
    let body = t.trim_start_matches('$').trim();
    let (neg, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest.trim()),
        None => (false, body),
    };
    // Chilean style: dots group thousands, a comma starts decimals (which must be zero)
    let int_part = match body.split_once(',') {
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return Err(bad()),
        None => body,
    };
    let int_part = match int_part.split_once('.') {
        // a plain "1234.0" from a float printed as text
        Some((int, frac)) if !frac.contains('.') && frac.len() != 3 => {
            if frac.bytes().all(|b| b == b'0') {
                int.to_owned()
            } else {
                return Err(bad());
            }
        }
        _ => int_part.replace('.', ""),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = int_part.parse().map_err(|_| bad())?;
    Ok(if neg { -n } else { n })
}

/// What kind of JSON value this is, in Spanish, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "un valor vacío",
        Value::Bool(_) => "un valor lógico",
        Value::Number(_) => "un número",
        Value::String(_) => "un texto",
        Value::Array(_) => "una lista",
        Value::Object(_) => "un objeto",
    }
}

/// One row of `Factura/Buscar` or `NotasCorreccion/Buscar`.
#[derive(Debug, Clone)]
pub struct Resumen {
    /// `idDocumento`: iConstruye's id, the key of the detail call.
    pub id_documento: String,
    /// `folioUnico` (or `numDoc`).
    pub folio: Option<String>,
    /// `tipoFactura`: a label such as `"Factura Electrónica   "`.
    pub tipo: Option<String>,
    /// `rutProveedor`.
    pub rut_proveedor: Option<String>,
    /// `nomProveedor`.
    pub nom_proveedor: Option<String>,
    /// `fechaEmision`.
    pub fecha_emision: Option<String>,
    /// `fechaRecepcion`.
    pub fecha_recepcion: Option<String>,
    /// `montoTotal`, as sent.
    pub monto_total: Option<Value>,
    /// `estadoDoc`.
    pub estado_doc: Option<String>,
    /// `estadoPago`.
    pub estado_pago: Option<String>,
    /// `centroGestion`.
    pub centro_gestion: Option<String>,
    /// `factAsociada` (notes only): folio of the corrected invoice.
    pub fact_asociada: Option<String>,
    /// The row as received.
    pub raw: Value,
}

impl Resumen {
    /// Reads a row; only `idDocumento` is required here (without it there is no detail to
    /// ask for). The other fields are checked when the document is mapped.
    ///
    /// # Errors
    /// A Spanish description of what is wrong with the row.
    pub fn from_value(raw: Value) -> Result<Resumen, String> {
        if !raw.is_object() {
            return Err(format!(
                "se esperaba un documento (objeto) y llegó {}",
                kind(&raw)
            ));
        }
        let t = |names: &[&str]| text(field(&raw, names));
        let id_documento = t(&["idDocumento", "idDoc", "id"])
            .ok_or_else(|| "la fila no trae idDocumento".to_owned())?;
        Ok(Resumen {
            id_documento,
            folio: t(&["folioUnico", "folio", "numDoc"]),
            tipo: t(&["tipoFactura", "tipoDocumento", "tipoNota", "tipo"]),
            rut_proveedor: t(&["rutProveedor", "rutEmisor"]),
            nom_proveedor: t(&["nomProveedor", "nombreProveedor", "razonSocial"]),
            fecha_emision: t(&["fechaEmision", "fechaEmis"]),
            fecha_recepcion: t(&["fechaRecepcion", "fechaRecep"]),
            monto_total: field(&raw, &["montoTotal", "total"]).cloned(),
            estado_doc: t(&["estadoDoc", "estadoDocumento"]),
            estado_pago: t(&["estadoPago"]),
            centro_gestion: t(&["centroGestion", "centroDeGestion"]),
            fact_asociada: t(&["factAsociada", "facturaAsociada", "folioAsociado"]),
            raw,
        })
    }
}

/// A purchase order referenced by a document's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdenRef {
    /// `numOC`, the number people use.
    pub num_oc: String,
    /// `idOc`.
    pub id_oc: Option<String>,
    /// Cost centres the reception distributed the cost to: (`idCentroCosto`,
    /// `descripcioncentcosto`).
    pub centros: Vec<(Option<String>, Option<String>)>,
}

/// The detail (`PorId`) of a document.
#[derive(Debug, Clone)]
pub struct Detalle {
    /// `cabecera.fecha.fechaCreacion`.
    pub fecha_creacion: Option<String>,
    /// `cabecera.fecha.fechaPago`.
    pub fecha_pago: Option<String>,
    /// `cabecera.totales.neto.montoNeto`.
    pub monto_neto: Option<Value>,
    /// `cabecera.totales.neto.montoNoAfectoOExento`.
    pub monto_exento: Option<Value>,
    /// `cabecera.totales.total.montoTotal`.
    pub monto_total: Option<Value>,
    /// `cabecera.emisor.razonsocialEmisor`.
    pub razon_social: Option<String>,
    /// `detalle.documentosRelacionados.ordenCompra[]`.
    pub ordenes: Vec<OrdenRef>,
    /// The detail object as received.
    pub raw: Value,
}

impl Detalle {
    /// Reads a `PorId` answer: an array with one detail object (a bare object is accepted
    /// too).
    ///
    /// # Errors
    /// A Spanish description when the answer holds no detail object.
    pub fn from_answer(answer: Value) -> Result<Detalle, String> {
        let raw = match answer {
            Value::Array(mut items) => {
                if items.is_empty() {
                    return Err("el detalle llegó vacío ([])".into());
                }
                items.swap_remove(0)
            }
            v @ Value::Object(_) => v,
            other => {
                return Err(format!(
                    "se esperaba el detalle del documento y llegó {}",
                    kind(&other)
                ));
            }
        };
        if !raw.is_object() {
            return Err(format!(
                "se esperaba el detalle del documento y llegó {}",
                kind(&raw)
            ));
        }
        let cab: &[&str] = &["cabecera", "encabezado"];
        let ordenes = path(
            &raw,
            &[
                &["detalle"],
                &["documentosRelacionados"],
                &["ordenCompra", "ordenesCompra"],
            ],
        )
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(orden_ref).collect())
        .unwrap_or_default();
        Ok(Detalle {
            fecha_creacion: text(path(&raw, &[cab, &["fecha"], &["fechaCreacion"]])),
            fecha_pago: text(path(&raw, &[cab, &["fecha"], &["fechaPago"]])),
            monto_neto: path(&raw, &[cab, &["totales"], &["neto"], &["montoNeto"]]).cloned(),
            monto_exento: path(
                &raw,
                &[
                    cab,
                    &["totales"],
                    &["neto"],
                    &["montoNoAfectoOExento", "montoExento"],
                ],
            )
            .cloned(),
            monto_total: path(&raw, &[cab, &["totales"], &["total"], &["montoTotal"]]).cloned(),
            razon_social: text(path(
                &raw,
                &[cab, &["emisor"], &["razonsocialEmisor", "razonSocial"]],
            )),
            ordenes,
            raw,
        })
    }
}

fn orden_ref(oc: &Value) -> Option<OrdenRef> {
    let num_oc = text(field(oc, &["numOC", "numOc", "numeroOC"]))?;
    let mut centros = Vec::new();
    let recepciones = field(oc, &["recepcion", "recepciones"]).and_then(Value::as_array);
    for rec in recepciones.into_iter().flatten() {
        let detalles = field(rec, &["detalleRecepcion"]).and_then(Value::as_array);
        for det in detalles.into_iter().flatten() {
            let dist = field(det, &["distribucionCosto"]).and_then(Value::as_array);
            for d in dist.into_iter().flatten() {
                let c = (
                    text(field(d, &["idCentroCosto", "idCentCosto"])),
                    text(field(
                        d,
                        &["descripcioncentcosto", "descripcionCentroCosto"],
                    )),
                );
                if !centros.contains(&c) {
                    centros.push(c);
                }
            }
        }
    }
    Some(OrdenRef {
        num_oc,
        id_oc: text(field(oc, &["idOc", "idOC"])),
        centros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_whatever_their_case_and_null_is_absent() {
        let v = json!({"IdDocumento": 77, "FOLIOUNICO": " 123 ", "rutProveedor": null});
        let r = Resumen::from_value(v).unwrap();
        assert_eq!(r.id_documento, "77");
        assert_eq!(r.folio.as_deref(), Some("123"));
        assert_eq!(r.rut_proveedor, None);
    }

    #[test]
    fn a_row_without_id_or_not_an_object_is_refused_with_a_reason() {
        assert!(
            Resumen::from_value(json!({"folioUnico": 1}))
                .unwrap_err()
                .contains("idDocumento")
        );
        assert!(
            Resumen::from_value(json!("x"))
                .unwrap_err()
                .contains("un texto")
        );
        assert!(
            Resumen::from_value(json!({"idDocumento": ""}))
                .unwrap_err()
                .contains("idDocumento")
        );
    }

    #[test]
    fn pesos_accepts_numbers_and_chilean_text() {
        for (v, want) in [
            (json!(1234), 1234),
            (json!(1234.0), 1234),
            (json!("1234"), 1234),
            (json!("1.234.567"), 1_234_567),
            (json!("$ 1.234"), 1234),
            (json!("1234,00"), 1234),
            (json!("1234.0"), 1234),
            (json!("-500"), -500),
        ] {
            assert_eq!(pesos(&v), Ok(want), "{v}");
        }
        for v in [
            json!(12.5),
            json!("12,5"),
            json!("abc"),
            json!(""),
            json!([1]),
            json!(true),
            json!("1.2.3,4"),
        ] {
            assert!(pesos(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn detail_reads_amounts_dates_and_cost_centres_in_either_spelling() {
        let d = Detalle::from_answer(json!([{
            "cabecera": {
                "fecha": {"fechaCreacion": "2026-03-01 10:00:00", "fechaPago": "2026-04-01 00:00:00"},
                "totales": {"neto": {"montoNeto": 1000, "montoNoAfectoOExento": 50}, "total": {"montoTotal": 1240}},
                "emisor": {"razonsocialEmisor": "Áridos Ltda."}
            },
            "detalle": {"documentosRelacionados": {"ordenCompra": [
                {"idOc": 9, "numOC": "4500-12", "recepcion": [{"detalleRecepcion": [
                    {"distribucionCosto": [{"idCentCosto": "C1", "descripcioncentcosto": "Obra gruesa"}]},
                    {"distribucionCosto": [{"idCentroCosto": "C1", "descripcioncentcosto": "Obra gruesa"}]}
                ]}]},
                {"idOc": 10}
            ]}}
        }]))
        .unwrap();
        assert_eq!(pesos(d.monto_neto.as_ref().unwrap()), Ok(1000));
        assert_eq!(pesos(d.monto_exento.as_ref().unwrap()), Ok(50));
        assert_eq!(pesos(d.monto_total.as_ref().unwrap()), Ok(1240));
        assert_eq!(d.fecha_pago.as_deref(), Some("2026-04-01 00:00:00"));
        assert_eq!(d.razon_social.as_deref(), Some("Áridos Ltda."));
        assert_eq!(d.ordenes.len(), 1, "an OC without numOC is skipped");
        assert_eq!(
            d.ordenes[0].centros,
            vec![(Some("C1".into()), Some("Obra gruesa".into()))]
        );
    }

    #[test]
    fn empty_or_odd_detail_answers_are_errors() {
        assert!(
            Detalle::from_answer(json!([]))
                .unwrap_err()
                .contains("vacío")
        );
        assert!(Detalle::from_answer(json!(3)).is_err());
        assert!(Detalle::from_answer(json!([3])).is_err());
        let d = Detalle::from_answer(json!({"cabecera": 5})).unwrap();
        assert!(d.monto_neto.is_none() && d.ordenes.is_empty());
    }
}

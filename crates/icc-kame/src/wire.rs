//! Kame's request and answer shapes (DOMAIN.md §6.4), read leniently: keys in any casing,
//! numbers as text, missing optional fields.

use icc_core::Rut;
use icc_core::kame::Comprobante;
use serde_json::{Value, json};

/// The `addComprobante` body for `c`, written by Kame user `usuario`. `folio` is empty:
/// Kame numbers vouchers itself.
pub fn comprobante_body(c: &Comprobante, usuario: &str) -> Value {
    let detalle: Vec<Value> = c
        .lineas
        .iter()
        .map(|l| {
            json!({
                "cuenta": l.cuenta,
                "debe": l.debe,
                "haber": l.haber,
                "comentario": l.comentario,
                "rutFicha": l.rut_ficha.clone().unwrap_or_default(),
                "documento": l.documento.clone().unwrap_or_default(),
                "folioDocumento": l.folio_documento.clone().unwrap_or_default(),
                "unidadNegocio": l.unidad_negocio.clone().unwrap_or_default(),
                "fechaVencimiento": l.fecha_vencimiento.map(|d| d.to_string()).unwrap_or_default(),
                "tipoMovimiento": "",
                "numeroMovimiento": "",
            })
        })
        .collect();
    json!({
        "usuario": usuario,
        "tipoComprobante": c.tipo.as_str(),
        "folio": "",
        "fecha": c.fecha.to_string(),
        "comentario": c.comentario,
        "detalle": detalle,
    })
}

/// A key of `v` in any casing.
pub fn field<'v>(v: &'v Value, names: &[&str]) -> Option<&'v Value> {
    let m = v.as_object()?;
    names.iter().find_map(|n| {
        m.get(*n).or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v)
        })
    })
}

/// A value as text (numbers written out); `None` for null, empty or other kinds.
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What a JSON value is, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "un booleano",
        Value::Number(_) => "un número",
        Value::String(_) => "un texto",
        Value::Array(_) => "una lista",
        Value::Object(_) => "un objeto",
    }
}

/// Kame's error messages from `{"Estado":"Error","Error":[{"MemberNames":[…],"ErrorMessage":…}]}`,
/// joined; the body itself (shortened) when it is not that shape.
pub fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let from_list = parsed.as_ref().and_then(|v| {
        let list = field(v, &["Error", "errors"])?.as_array()?;
        let msgs: Vec<String> = list
            .iter()
            .filter_map(|e| {
                let msg = text(field(e, &["ErrorMessage", "message"]))?;
                let members: Vec<String> = field(e, &["MemberNames"])
                    .and_then(Value::as_array)
                    .map(|m| m.iter().filter_map(|x| text(Some(x))).collect())
                    .unwrap_or_default();
                Some(if members.is_empty() {
                    msg
                } else {
                    format!("{} ({})", msg, members.join(", "))
                })
            })
            .collect();
        (!msgs.is_empty()).then(|| msgs.join("; "))
    });
    let msg = from_list
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| text(field(v, &["message", "Mensaje"])))
        })
        .unwrap_or_else(|| body.trim().to_owned());
    let mut s: String = msg.chars().take(300).collect();
    if s.is_empty() {
        s = "sin detalle".into();
    }
    s
}

/// A supplier's ficha in Kame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ficha {
    /// RUT.
    pub rut: Rut,
    /// Name, when Kame sends one.
    pub nombre: Option<String>,
    /// `ConceptoCompras`: which template the supplier's invoices post with.
    pub concepto: Option<String>,
    /// `Proveedor` = 'S'.
    pub proveedor: bool,
    /// `Honorario` = 'S'.
    pub honorario: bool,
}

/// One page of `getListFicha`.
#[derive(Debug, Clone, Default)]
pub struct FichaPage {
    /// The readable fichas.
    pub fichas: Vec<Ficha>,
    /// Items that could not be read (no or bad RUT), with why.
    pub rejected: Vec<String>,
    /// Items on this page as sent.
    pub items: usize,
    /// Page size Kame uses.
    pub per_page: usize,
    /// Total items across pages.
    pub total: usize,
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_uppercase().as_str(),
            "S" | "SI" | "SÍ" | "TRUE" | "1"
        ),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// Reads a `getListFicha` answer.
///
/// # Errors
/// Not an object with an `items` list.
pub fn ficha_page(v: &Value) -> Result<FichaPage, String> {
    let items = field(v, &["items"])
        .and_then(Value::as_array)
        .ok_or_else(|| format!("se esperaba un objeto con «items» y llegó {}", kind(v)))?;
    let mut page = FichaPage {
        items: items.len(),
        per_page: integer(field(v, &["per_page", "perPage"]))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(items.len()),
        total: integer(field(v, &["total"]))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(items.len()),
        ..FichaPage::default()
    };
    for (i, item) in items.iter().enumerate() {
        let Some(raw) = text(field(item, &["Rut", "rut"])) else {
            page.rejected.push(format!("ficha {}: sin RUT", i + 1));
            continue;
        };
        let rut = match raw.parse::<Rut>() {
            Ok(r) => r,
            Err(e) => {
                page.rejected.push(format!("ficha {} ({raw}): {e}", i + 1));
                continue;
            }
        };
        page.fichas.push(Ficha {
            rut,
            nombre: text(field(item, &["RazonSocial", "Nombre", "nombre"])),
            concepto: text(field(item, &["ConceptoCompras", "conceptoCompras"])),
            proveedor: flag(field(item, &["Proveedor"])),
            honorario: flag(field(item, &["Honorario"])),
        });
    }
    Ok(page)
}

/// What `addComprobante` answered on success.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Posted {
    /// Kame's id or number of the voucher, when it sends one.
    pub id: Option<String>,
}

/// Reads a successful `addComprobante` answer (any JSON, or nothing).
pub fn posted(body: &[u8]) -> Posted {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    Posted {
        id: v
            .as_ref()
            .and_then(|v| text(field(v, &["Id", "idComprobante", "folio", "numero"]))),
    }
}

/// Kame's error messages when a 2xx answer has its error shape (`"Estado": "Error"` or a
/// non-empty `Error` list); `None` for anything else.
pub fn error_in_success(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let estado_error =
        text(field(&v, &["Estado"])).is_some_and(|e| e.eq_ignore_ascii_case("error"));
    let list = field(&v, &["Error", "errors"])
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    (estado_error || list).then(|| error_message(&String::from_utf8_lossy(body)))
}

/// One line of `getCuentaxPagar`: a document owed to a supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuentaPorPagar {
    /// Supplier RUT, as Kame writes it.
    pub rut_ficha: String,
    /// Document kind (code or name, as Kame writes it).
    pub documento: String,
    /// Document folio, as Kame writes it.
    pub folio_documento: String,
}

fn folio_number(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    t.parse().ok()
}

impl CuentaPorPagar {
    /// Whether this is the document `rut`, DTE `tipo`, `folio`: RUTs by value, folios as
    /// numbers (`123`, `"000123"`, `123.0`), the document kind when Kame writes it as a code.
    pub fn is(&self, rut: &Rut, tipo: u16, folio: u64) -> bool {
        let doc = self.documento.trim();
        let tipo_ok = doc.is_empty() || doc.parse::<u16>().map_or(true, |d| d == tipo);
        self.rut_ficha.parse::<Rut>().is_ok_and(|r| &r == rut)
            && folio_number(&self.folio_documento) == Some(folio)
            && tipo_ok
    }
}

/// One page of `getCuentaxPagar`.
#[derive(Debug, Clone, Default)]
pub struct PorPagarPage {
    /// The lines.
    pub items: Vec<CuentaPorPagar>,
    /// Page size, when Kame says it.
    pub per_page: Option<usize>,
    /// Total lines, when Kame says it.
    pub total: Option<usize>,
}

/// Reads a `getCuentaxPagar` answer: a list, or an object with `items` (and paging).
///
/// # Errors
/// Neither shape, or an item without a RUT or folio (an answer half understood must not
/// pass for "the document is not there").
pub fn cuentas_por_pagar(v: &Value) -> Result<PorPagarPage, String> {
    let (list, per_page, total) = match v {
        Value::Array(a) => (a, None, None),
        Value::Object(_) => (
            field(v, &["items"])
                .and_then(Value::as_array)
                .ok_or_else(|| "se esperaba una lista o un objeto con «items»".to_owned())?,
            integer(field(v, &["per_page", "perPage"])).and_then(|n| usize::try_from(n).ok()),
            integer(field(v, &["total"])).and_then(|n| usize::try_from(n).ok()),
        ),
        Value::Null => return Ok(PorPagarPage::default()),
        other => return Err(format!("se esperaba una lista y llegó {}", kind(other))),
    };
    let mut items = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let (Some(rut), Some(folio)) = (
            text(field(item, &["rutFicha", "Rut", "rut"])),
            text(field(item, &["folioDocumento", "Folio", "folio"])),
        ) else {
            return Err(format!("la línea {} no trae RUT y folio", i + 1));
        };
        items.push(CuentaPorPagar {
            rut_ficha: rut,
            documento: text(field(item, &["documento", "Documento"])).unwrap_or_default(),
            folio_documento: folio,
        });
    }
    Ok(PorPagarPage {
        items,
        per_page,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fichas_are_read_leniently_and_bad_ones_reported() {
        let v = json!({"items": [
            {"Rut": "76.369.187-K", "ConceptoCompras": "MATERIALES", "Proveedor": "S", "Honorario": "N"},
            {"rut": "12.345.678-5", "conceptocompras": null, "Honorario": "S"},
            {"Rut": "12.345.678-9"},
            {"Nombre": "sin rut"},
            "no es objeto"
        ], "per_page": "50", "total": 120});
        let p = ficha_page(&v).unwrap();
        assert_eq!(p.fichas.len(), 2);
        assert_eq!(p.fichas[0].concepto.as_deref(), Some("MATERIALES"));
        assert!(p.fichas[0].proveedor && !p.fichas[0].honorario);
        assert!(p.fichas[1].honorario && p.fichas[1].concepto.is_none());
        assert_eq!(p.rejected.len(), 3, "{:?}", p.rejected);
        assert_eq!((p.items, p.per_page, p.total), (5, 50, 120));
        assert!(ficha_page(&json!([1, 2])).is_err());
        assert!(ficha_page(&json!({"items": "x"})).is_err());
    }

    #[test]
    fn errors_are_read_from_kames_shape() {
        let body = r#"{"Estado":"Error","Id":0,"Fecha":"2026-12-01","Error":[{"MemberNames":["detalle"],"ErrorMessage":"El comprobante no cuadra"}]}"#;
        assert_eq!(error_message(body), "El comprobante no cuadra (detalle)");
        assert_eq!(error_message("  "), "sin detalle");
        assert_eq!(error_message("<html>oops</html>"), "<html>oops</html>");
        assert_eq!(error_message(&"x".repeat(1000)).len(), 300);
    }

    #[test]
    fn payables_match_by_value_and_half_read_answers_fail() {
        let p = cuentas_por_pagar(&json!({"items": [
            {"rutFicha": "76.369.187-K", "documento": "33", "folioDocumento": 12},
            {"rutFicha": "76369187-k", "documento": "FACTURA ELECTRONICA", "folioDocumento": "000013"},
            {"rutFicha": "76369187-k", "folioDocumento": "14.0"}
        ], "total": 3})).unwrap();
        let rut: Rut = "76369187-k".parse().unwrap();
        assert!(p.items[0].is(&rut, 33, 12));
        assert!(!p.items[0].is(&rut, 61, 12));
        assert!(!p.items[0].is(&rut, 33, 13));
        assert!(
            p.items[1].is(&rut, 33, 13),
            "a kind written as a name still matches"
        );
        assert!(p.items[2].is(&rut, 33, 14));
        assert_eq!(p.total, Some(3));
        assert!(cuentas_por_pagar(&json!({"items": [{"rutFicha": "1-9"}]})).is_err());
        assert!(cuentas_por_pagar(&json!("x")).is_err());
        assert!(cuentas_por_pagar(&Value::Null).unwrap().items.is_empty());
        assert!(
            error_in_success(br#"{"Estado":"Error","Error":[{"ErrorMessage":"no"}]}"#).is_some()
        );
        assert!(error_in_success(br#"{"Estado":"OK","Id":3}"#).is_none());
        assert!(error_in_success(b"").is_none());
        assert_eq!(posted(br#"{"Id": 991}"#).id.as_deref(), Some("991"));
        assert_eq!(posted(b"").id, None);
    }
}

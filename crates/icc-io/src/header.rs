//! Column headers: normalisation, the synonyms users and systems write, detection of the
//! header row (even below title rows), and mappings given by the user.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::source::{Row, Sheet};

/// A field an import can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// RCV `Nro` (row counter; tells continuation rows apart).
    Nro,
    /// RUT of the issuer.
    Rut,
    /// Issuer name.
    RazonSocial,
    /// Document type (code or label).
    Tipo,
    /// Folio.
    Folio,
    /// Emission date.
    FechaEmision,
    /// SII reception.
    FechaRecepcion,
    /// Due date.
    FechaVencimiento,
    /// Neto.
    Neto,
    /// Exento.
    Exento,
    /// IVA (recuperable, in the RCV).
    Iva,
    /// IVA no recuperable (RCV).
    IvaNoRecuperable,
    /// IVA uso común (RCV).
    IvaUsoComun,
    /// Total.
    Total,
    /// Obra code.
    Obra,
    /// Centro de costo.
    CentroCosto,
    /// Cuenta contable.
    Cuenta,
    /// Orden de compra.
    OrdenCompra,
    /// Glosa.
    Glosa,
    /// Otro impuesto: código.
    OtroCodigo,
    /// Otro impuesto: valor.
    OtroValor,
    /// Otro impuesto: tasa.
    OtroTasa,
}

/// Lower case, no accents, punctuation as spaces, single spaces: `" N° Folio "` → `n folio`.
pub fn normalize(h: &str) -> String {
    let mut out = String::with_capacity(h.len());
    for c in h.chars().flat_map(char::to_lowercase) {
        if matches!(c, 'º' | 'ª') {
            continue; // "Nº" is "N"
        }
        let c = match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Synonyms per field, normalised. Spanish as Chilean offices write it, the SII's RCV
/// headers, iConstruye's exports, and English.
const SYNONYMS: &[(Field, &[&str])] = &[
    (Field::Nro, &["nro", "n", "no", "numero linea", "linea"]),
    (
        Field::Rut,
        &[
            "rut",
            "r u t",
            "rut proveedor",
            "rut emisor",
            "rut del proveedor",
            "rut empresa",
            "rutproveedor",
            "rut prov",
            "supplier id",
            "tax id",
        ],
    ),
    (
        Field::RazonSocial,
        &[
            "razon social",
            "proveedor",
            "nombre proveedor",
            "nom proveedor",
            "nomproveedor",
            "emisor",
            "razon social emisor",
            "razon social proveedor",
            "nombre",
            "supplier",
            "supplier name",
            "vendor",
        ],
    ),
    (
        Field::Tipo,
        &[
            "tipo",
            "tipo doc",
            "tipo docto",
            "tipo documento",
            "tipo de documento",
            "tipo dte",
            "tipo factura",
            "tipofactura",
            "td",
            "document type",
            "doc type",
        ],
    ),
    (
        Field::Folio,
        &[
            "folio",
            "n folio",
            "no folio",
            "nro folio",
            "numero folio",
            "folio unico",
            "foliounico",
            "numero",
            "n documento",
            "nro documento",
            "numero documento",
            "n doc",
            "nro doc",
            "num doc",
            "numdoc",
            "invoice number",
            "invoice no",
            "number",
        ],
    ),
    (
        Field::FechaEmision,
        &[
            "fecha",
            "fecha emision",
            "fecha de emision",
            "fecha docto",
            "fecha documento",
            "fecha doc",
            "emision",
            "fechaemision",
            "issue date",
            "date",
            "invoice date",
        ],
    ),
    (
        Field::FechaRecepcion,
        &[
            "fecha recepcion",
            "fecha recepcion sii",
            "recepcion",
            "recepcion sii",
            "fecharecepcion",
            "fecha de recepcion",
        ],
    ),
    (
        Field::FechaVencimiento,
        &[
            "fecha vencimiento",
            "vencimiento",
            "fecha de vencimiento",
            "vence",
            "fecha pago",
            "fecha de pago",
            "due date",
        ],
    ),
    (
        Field::Neto,
        &[
            "neto",
            "monto neto",
            "afecto",
            "monto afecto",
            "net",
            "net amount",
            "subtotal",
        ],
    ),
    (
        Field::Exento,
        &[
            "exento",
            "monto exento",
            "no afecto",
            "monto no afecto o exento",
            "exempt",
        ],
    ),
    (
        Field::Iva,
        &[
            "iva",
            "monto iva",
            "iva recuperable",
            "monto iva recuperable",
            "iva 19",
            "vat",
            "tax",
        ],
    ),
    (
        Field::IvaNoRecuperable,
        &["monto iva no recuperable", "iva no recuperable"],
    ),
    (Field::IvaUsoComun, &["iva uso comun"]),
    (
        Field::Total,
        &[
            "total",
            "monto total",
            "total documento",
            "total factura",
            "monto",
            "total amount",
            "amount",
        ],
    ),
    (
        Field::Obra,
        &["obra", "codigo obra", "cod obra", "proyecto", "project"],
    ),
    (
        Field::CentroCosto,
        &[
            "centro de costo",
            "centro costo",
            "centro de costos",
            "cc",
            "c costo",
            "centro gestion",
            "centro de gestion",
            "centrogestion",
            "cost center",
        ],
    ),
    (
        Field::Cuenta,
        &["cuenta", "cuenta contable", "cta", "account"],
    ),
    (
        Field::OrdenCompra,
        &[
            "oc",
            "orden de compra",
            "orden compra",
            "n oc",
            "nro oc",
            "numero oc",
            "num oc",
            "purchase order",
            "po",
        ],
    ),
    (
        Field::Glosa,
        &[
            "glosa",
            "descripcion",
            "detalle",
            "concepto",
            "observacion",
            "observaciones",
            "description",
        ],
    ),
    (Field::OtroCodigo, &["codigo otro impuesto"]),
    (Field::OtroValor, &["valor otro impuesto"]),
    (Field::OtroTasa, &["tasa otro impuesto"]),
];

/// The field a header names, if any.
pub fn field_of(header: &str) -> Option<Field> {
    let n = normalize(header);
    if n.is_empty() {
        return None;
    }
    SYNONYMS
        .iter()
        .find(|(_, names)| names.contains(&n.as_str()))
        .map(|(f, _)| *f)
}

/// Where each field is: column index, and the header as written (for messages).
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    columns: BTreeMap<Field, (usize, String)>,
}

impl Mapping {
    /// Column of a field.
    pub fn col(&self, f: Field) -> Option<usize> {
        self.columns.get(&f).map(|(c, _)| *c)
    }

    /// Whether the field is mapped.
    pub fn has(&self, f: Field) -> bool {
        self.columns.contains_key(&f)
    }

    /// `Header (C)` of a field, for messages.
    pub fn label(&self, f: Field) -> Option<String> {
        self.columns
            .get(&f)
            .map(|(c, h)| format!("{} ({})", h.trim(), column_letter(*c)))
    }

    /// Field → header, for reports.
    pub fn describe(&self) -> BTreeMap<Field, String> {
        self.columns
            .iter()
            .map(|(f, (c, h))| (*f, format!("{} ({})", h.trim(), column_letter(*c))))
            .collect()
    }

    /// Field → column letter (`C`), the form a [`MappingSpec`] accepts.
    pub fn letters(&self) -> BTreeMap<Field, String> {
        self.columns
            .iter()
            .map(|(f, (c, _))| (*f, column_letter(*c)))
            .collect()
    }

    fn insert(&mut self, f: Field, col: usize, header: String) {
        self.columns.entry(f).or_insert((col, header));
    }
}

/// `0` → `A`, `27` → `AB`.
pub fn column_letter(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// A mapping given by the user: field → header text or column letter.
pub type MappingSpec = BTreeMap<Field, String>;

/// Rows examined when looking for the header.
const HEADER_SCAN_ROWS: usize = 50;
/// Columns examined per row (a 10 000-column sheet must not make detection quadratic).
const HEADER_SCAN_COLS: usize = 256;

fn automatic(row: Row<'_>) -> Mapping {
    let mut m = Mapping::default();
    for c in 0..row.len().min(HEADER_SCAN_COLS) {
        if let Some(h) = row.get(c).text()
            && let Some(f) = field_of(&h)
        {
            m.insert(f, c, h);
        }
    }
    m
}

fn required_ok(m: &Mapping) -> bool {
    m.has(Field::Rut)
        && (m.has(Field::Folio) || m.has(Field::Nro))
        && (m.has(Field::Total) || m.has(Field::Neto) || m.has(Field::Exento))
}

fn letter_index(s: &str) -> Option<usize> {
    let t = s.trim();
    if t.is_empty() || t.len() > 3 || !t.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(
        t.bytes()
            .fold(0usize, |acc, b| acc * 26 + usize::from(b - b'A' + 1))
            - 1,
    )
}

/// Finds the header row: the first of the first 50 rows that maps RUT, folio and an amount
/// (automatically, or every column of `spec` when given). Returns the 0-based row index and
/// the mapping.
///
/// # Errors
/// What was found (for the "no header" message), or a spec column that no row has.
pub fn detect(sheet: &Sheet, spec: Option<&MappingSpec>) -> Result<(usize, Mapping), String> {
    let mut best: Option<(usize, Mapping)> = None;
    for i in 0..sheet.len().min(HEADER_SCAN_ROWS) {
        let Some(row) = sheet.row(i) else { break };
        let m = match spec {
            None => automatic(row),
            Some(spec) => {
                let mut m = automatic(row);
                let mut all = true;
                for (field, want) in spec {
                    let by_header = (0..row.len().min(HEADER_SCAN_COLS)).find(|&c| {
                        row.get(c)
                            .text()
                            .is_some_and(|h| normalize(&h) == normalize(want))
                    });
                    match by_header.or_else(|| letter_index(want)) {
                        Some(c) => {
                            m.columns.insert(
                                *field,
                                (c, row.get(c).text().unwrap_or_else(|| want.clone())),
                            );
                        }
                        None => all = false,
                    }
                }
                if !all {
                    continue;
                }
                m
            }
        };
        if required_ok(&m) {
            return Ok((i, m));
        }
        if best
            .as_ref()
            .is_none_or(|(_, b)| m.columns.len() > b.columns.len())
        {
            best = Some((i, m));
        }
    }
    let found = best
        .filter(|(_, m)| !m.columns.is_empty())
        .map(|(i, m)| {
            let names: Vec<String> = m
                .columns
                .values()
                .map(|(_, h)| h.trim().to_owned())
                .collect();
            format!(
                "; la fila {} más parecida tiene: {}",
                sheet.row_number(i),
                names.join(", ")
            )
        })
        .unwrap_or_default();
    Err(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recognised_in_their_usual_spellings() {
        for (h, f) in [
            ("RUT", Field::Rut),
            ("R.U.T.", Field::Rut),
            ("Rut proveedor", Field::Rut),
            (" RUT Proveedor", Field::Rut),
            ("Razón social", Field::RazonSocial),
            ("Proveedor", Field::RazonSocial),
            ("Tipo Doc", Field::Tipo),
            ("N° folio", Field::Folio),
            ("Nº Folio", Field::Folio),
            ("Número", Field::Folio),
            ("Fecha Emisión", Field::FechaEmision),
            ("Fecha Docto", Field::FechaEmision),
            (" Monto IVA Recuperable", Field::Iva),
            ("Monto Iva No Recuperable", Field::IvaNoRecuperable),
            ("Centro de Costo", Field::CentroCosto),
            ("OC", Field::OrdenCompra),
            ("Total", Field::Total),
        ] {
            assert_eq!(field_of(h), Some(f), "{h}");
        }
        assert_eq!(field_of("Tabacos Puros"), None);
    }

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(letter_index("AB"), Some(27));
        assert_eq!(letter_index("C"), Some(2));
    }
}

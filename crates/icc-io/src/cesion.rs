//! Cesiones (factoring) from the files the office receives (`DOMAIN.md` §6.2): the SII's
//! AEC XML (the signed cesión file, every cesión of the chain) and the SII's "cesiones en
//! período" text file (a deudor's query). Each is told apart by content, never by extension.
//! Signatures are not verified: the files are read for their data, the SII registry is the
//! authority.

use chrono::{NaiveDate, NaiveDateTime};
use icc_core::{DteType, NaturalKey, Rut};
use quick_xml::events::Event;
use std::collections::HashMap;

use crate::source::{decode_text, looks_binary};

/// What kind of cesión file a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CesionFileKind {
    /// The AEC XML (Archivo Electrónico de Cesión).
    Aec,
    /// The SII "consulta de cesiones en período" text file.
    SiiTxt,
    /// A registry certificate or notification: a PDF with a text layer, or the e-mail's text.
    Certificado,
}

impl CesionFileKind {
    /// The `source` a cesión read from it is stored with.
    pub fn source(self) -> &'static str {
        match self {
            CesionFileKind::Aec => "aec",
            CesionFileKind::SiiTxt => "sii_txt",
            CesionFileKind::Certificado => "certificado",
        }
    }
}

/// One cesión read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCesion {
    /// The assigned document.
    pub documento: NaturalKey,
    /// Its receptor (the debtor), when the file says.
    pub receptor: Option<Rut>,
    /// Sequence in the chain (1 for the first cesión).
    pub seq: u32,
    /// Who assigned it.
    pub cedente_rut: Rut,
    /// Their name.
    pub cedente_nombre: Option<String>,
    /// Who holds it after this cesión.
    pub cesionario_rut: Rut,
    /// Their name.
    pub cesionario_nombre: String,
    /// Amount assigned.
    pub monto_cedido: i64,
    /// The document's total, when the file says.
    pub monto_total: Option<i64>,
    /// When it was recorded (Chile time).
    pub fecha: NaiveDateTime,
    /// The document's last due date as the cesión states it.
    pub ultimo_vencimiento: Option<NaiveDate>,
    /// The SII's identifier of the cesión, when the source gives it.
    pub identificador: Option<String>,
    /// Where in the file (1-based line of the text file; `None` in XML).
    pub line: Option<u64>,
    /// The page of a certificate it was read from.
    pub page: Option<u32>,
}

/// Something of a cesión file that could not be read: where and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CesionIssue {
    /// 1-based line (text files), when it is about one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based page (certificates), when it is about one page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// What is wrong and what to do, in Spanish.
    pub message: String,
}

/// A cesión file read: its kind, the cesiones understood and what was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CesionFile {
    /// AEC or SII text file.
    pub kind: CesionFileKind,
    /// The cesiones, in chain order per document.
    pub cesiones: Vec<ParsedCesion>,
    /// Lines or cesiones that could not be read (the rest is kept).
    pub errors: Vec<CesionIssue>,
}

/// Why a whole file could not be read as cesiones (nothing of it is used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CesionFileError(pub String);

fn refuse(m: impl Into<String>) -> CesionFileError {
    CesionFileError(m.into())
}

/// The kind of cesión file `bytes` hold, by content: an XML whose root is `AEC`, or text
/// with the SII query's header. `None` for anything else (an invoice file, a PDF).
pub fn detect(bytes: &[u8]) -> Option<CesionFileKind> {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with('<') {
        return (t.contains("<AEC") || t.contains(":AEC")).then_some(CesionFileKind::Aec);
    }
    if bytes.starts_with(b"%PDF") {
        return Some(CesionFileKind::Certificado);
    }
    let upper = t.to_uppercase();
    if upper.starts_with("DATOS_CONSULTA") || upper.contains("VENDEDOR;ESTADO_CESION") {
        return Some(CesionFileKind::SiiTxt);
    }
    let plain = fold(&upper);
    (plain.contains("CEDIDO A") && plain.contains("SEQ")).then_some(CesionFileKind::Certificado)
}

/// Reads a cesión file of either kind.
///
/// # Errors
/// A file that is neither, or that cannot be read as its kind at all.
pub fn parse(bytes: &[u8]) -> Result<CesionFile, CesionFileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(refuse("el archivo está vacío"));
    }
    match detect(bytes) {
        Some(CesionFileKind::Aec) => parse_aec(bytes),
        Some(CesionFileKind::SiiTxt) => parse_sii_txt(bytes),
        Some(CesionFileKind::Certificado) if bytes.starts_with(b"%PDF") => {
            parse_certificate_pdf(bytes)
        }
        Some(CesionFileKind::Certificado) => {
            let (text, _) = decode_text(bytes);
            Ok(parse_certificate_text(&[(None, text)]))
        }
        None => Err(refuse(
            "no es un archivo de cesiones: se esperaba el AEC (XML) o la consulta de cesiones del SII (texto separado por ;)",
        )),
    }
}

/// The XML's text in UTF-8: the encoding its declaration names (ISO-8859-1 is usual for
/// the SII), else UTF-8.
fn xml_text(bytes: &[u8]) -> Result<String, CesionFileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_lowercase();
    // the declaration `<?xml … encoding = "…" ?>`: XML allows blanks around `=` and either
    // quote; anything after `?>` is the document, not the declaration
    let decl = head
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|d| d.split("?>").next())
        .unwrap_or("");
    let label = decl
        .split_once("encoding")
        .and_then(|(_, r)| {
            let r = r.trim_start().strip_prefix('=')?.trim_start();
            // the quote that opens the value closes it
            let q = r.chars().next().filter(|c| matches!(c, '"' | '\''))?;
            r[q.len_utf8()..].split(q).next().map(str::to_owned)
        })
        .unwrap_or_else(|| "utf-8".into());
    let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        refuse(format!(
            "el XML declara la codificación «{label}», que no se conoce"
        ))
    })?;
    let (text, _, bad) = enc.decode(bytes);
    if bad {
        return Err(refuse(format!(
            "el XML no está en la codificación que declara ({label}): ¿se guardó con otro programa?"
        )));
    }
    Ok(text.into_owned())
}

/// The fields of one `DocumentoCesion` as text, by path below it.
#[derive(Default)]
struct RawCesion {
    fields: Vec<(String, String)>,
}

impl RawCesion {
    fn get(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Deepest nesting read in an AEC (the SII's schema nests about a dozen levels; the signed
/// invoice inside adds a few): deeper is refused before each field's path grows with it.
const MAX_AEC_DEPTH: usize = 64;

/// Reads an AEC XML: every `Cesion/DocumentoCesion` of the chain.
///
/// # Errors
/// Not well-formed XML, another root, no cesión at all.
pub fn parse_aec(bytes: &[u8]) -> Result<CesionFile, CesionFileError> {
    let text = xml_text(bytes)?;
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut root: Option<String> = None;
    let mut raws: Vec<RawCesion> = Vec::new();
    // the path below the current DocumentoCesion, when inside one
    let mut inside: Option<usize> = None;
    let mut text_buf = String::new();
    let bad = |reader: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| {
        refuse(format!(
            "el XML está mal formado cerca del byte {}: {e}; el archivo puede estar cortado o dañado",
            reader.buffer_position()
        ))
    };
    loop {
        let event = reader.read_event().map_err(|e| bad(&reader, &e))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if root.is_none() {
                    root = Some(name.clone());
                }
                if path.len() >= MAX_AEC_DEPTH {
                    return Err(refuse(format!(
                        "el XML anida más de {MAX_AEC_DEPTH} elementos uno dentro de otro cerca del byte {}: \
                         un AEC no llega a la mitad; el archivo no es un AEC o está dañado",
                        reader.buffer_position()
                    )));
                }
                path.push(name.clone());
                if name == "DocumentoCesion" && inside.is_none() {
                    inside = Some(path.len());
                    raws.push(RawCesion::default());
                }
                text_buf.clear();
            }
            Event::Empty(e) if root.is_none() => {
                root = Some(e.local_name().as_ref().to_owned());
            }
            Event::Text(t) => text_buf.push_str(&t.into_inner()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text_buf.push(c);
                } else {
                    text_buf.push_str(match r.into_inner().as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::CData(c) => text_buf.push_str(&c.into_inner()),
            Event::End(_) => {
                if let (Some(depth), Some(raw)) = (inside, raws.last_mut())
                    && path.len() > depth
                {
                    let below = path[depth..].join("/");
                    raw.fields.push((below, std::mem::take(&mut text_buf)));
                }
                if inside == Some(path.len()) {
                    inside = None;
                }
                path.pop();
                text_buf.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(refuse(
            "el XML termina antes de cerrar sus elementos: el archivo está cortado",
        ));
    }
    match root.as_deref() {
        Some("AEC") => {}
        Some(other) => {
            return Err(refuse(format!(
                "el XML es un «{other}», no un AEC (archivo electrónico de cesión)"
            )));
        }
        None => return Err(refuse("el archivo no trae ningún elemento XML")),
    }
    if raws.is_empty() {
        return Err(refuse("el AEC no trae ninguna cesión (DocumentoCesion)"));
    }
    let mut out = CesionFile {
        kind: CesionFileKind::Aec,
        cesiones: Vec::new(),
        errors: Vec::new(),
    };
    for (i, raw) in raws.iter().enumerate() {
        match aec_cesion(raw) {
            Ok(c) => out.cesiones.push(c),
            Err(m) => out.errors.push(CesionIssue {
                line: None,
                page: None,
                message: format!("cesión {} del AEC: {m}", i + 1),
            }),
        }
    }
    out.cesiones.sort_by_key(|c| (c.documento, c.seq));
    Ok(out)
}

fn need<'a>(raw: &'a RawCesion, path: &str) -> Result<&'a str, String> {
    raw.get(path)
        .ok_or_else(|| format!("falta {}", path.replace('/', " › ")))
}

fn rut_of(what: &str, v: &str) -> Result<Rut, String> {
    v.parse::<Rut>().map_err(|e| format!("{what}: {e}"))
}

fn int_of(what: &str, v: &str) -> Result<i64, String> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| format!("{what} «{v}» no es un número entero"))
}

fn date_of(what: &str, v: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{what} «{v}» no es una fecha AAAA-MM-DD"))
}

fn datetime_of(what: &str, v: &str) -> Result<NaiveDateTime, String> {
    let v = v.trim();
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
    .ok_or_else(|| format!("{what} «{v}» no es una fecha y hora AAAA-MM-DD HH:MM"))
}

fn document(rut: &str, tipo: &str, folio: &str) -> Result<NaturalKey, String> {
    let key: NaturalKey = format!("{}:{}:{}", rut.trim(), tipo.trim(), folio.trim())
        .parse()
        .map_err(|e: icc_core::CoreError| format!("el documento cedido: {e}"))?;
    if !icc_core::records::assignable(key.tipo_dte) {
        return Err(format!(
            "el documento {key} es de tipo {} ({}), que no se puede ceder (solo 33, 34, 43 y 46)",
            key.tipo_dte.code(),
            DteType::label(key.tipo_dte).unwrap_or("documento")
        ));
    }
    Ok(key)
}

fn aec_cesion(raw: &RawCesion) -> Result<ParsedCesion, String> {
    let seq = int_of("SeqCesion", need(raw, "SeqCesion")?)?;
    let seq = u32::try_from(seq)
        .ok()
        .filter(|s| (1..=40).contains(s))
        .ok_or_else(|| format!("SeqCesion {seq} está fuera de 1 a 40"))?;
    let documento = document(
        need(raw, "IdDTE/RUTEmisor")?,
        need(raw, "IdDTE/TipoDTE")?,
        need(raw, "IdDTE/Folio")?,
    )?;
    let monto_cedido = int_of("MontoCesion", need(raw, "MontoCesion")?)?;
    if monto_cedido <= 0 {
        return Err(format!("MontoCesion {monto_cedido} no es mayor que cero"));
    }
    Ok(ParsedCesion {
        documento,
        receptor: raw
            .get("IdDTE/RUTReceptor")
            .map(|r| rut_of("RUTReceptor", r))
            .transpose()?,
        seq,
        cedente_rut: rut_of("el RUT del cedente", need(raw, "Cedente/RUT")?)?,
        cedente_nombre: raw.get("Cedente/RazonSocial").map(str::to_owned),
        cesionario_rut: rut_of("el RUT del cesionario", need(raw, "Cesionario/RUT")?)?,
        cesionario_nombre: need(raw, "Cesionario/RazonSocial")?.to_owned(),
        monto_cedido,
        monto_total: raw
            .get("IdDTE/MntTotal")
            .map(|m| int_of("MntTotal", m))
            .transpose()?,
        fecha: datetime_of("TmstCesion", need(raw, "TmstCesion")?)?,
        ultimo_vencimiento: raw
            .get("UltimoVencimiento")
            .map(|d| date_of("UltimoVencimiento", d))
            .transpose()?,
        identificador: None,
        line: None,
        page: None,
    })
}

/// The 18 columns of the SII's "cesiones en período" file, in order.
pub const SII_COLUMNS: [&str; 18] = [
    "VENDEDOR",
    "ESTADO_CESION",
    "DEUDOR",
    "MAIL_DEUDOR",
    "TIPO_DOC",
    "NOMBRE_DOC",
    "FOLIO_DOC",
    "FCH_EMIS_DTE",
    "MNT_TOTAL",
    "CEDENTE",
    "RZ_CEDENTE",
    "MAIL_CEDENTE",
    "CESIONARIO",
    "RZ_CESIONARIO",
    "MAIL_CESIONARIO",
    "FCH_CESION",
    "MNT_CESION",
    "FCH_VENCIMIENTO",
];

const MAIL_COLUMNS: [usize; 3] = [3, 11, 14];

/// Splits a data line into the 18 fields: an e-mail field may hold several addresses
/// separated by an unescaped `;`, so a field after an e-mail column that holds `@` joins
/// it while there are more pieces than columns left.
fn sii_fields(line: &str) -> Option<Vec<String>> {
    let pieces: Vec<&str> = line.split(';').collect();
    let mut out: Vec<String> = Vec::with_capacity(SII_COLUMNS.len());
    let mut i = 0;
    while i < pieces.len() {
        let col = out.len();
        let mut field = pieces[i].to_owned();
        i += 1;
        if MAIL_COLUMNS.contains(&col) {
            while i < pieces.len()
                && pieces.len() - i > SII_COLUMNS.len() - col - 1
                && pieces[i].contains('@')
            {
                field.push(';');
                field.push_str(pieces[i]);
                i += 1;
            }
        }
        out.push(field);
    }
    (out.len() == SII_COLUMNS.len()).then_some(out)
}

/// `''`, `null` and blanks are no value.
fn value(v: &str) -> Option<&str> {
    let v = v.trim().trim_matches('"').trim();
    (!(v.is_empty() || v == "''" || v.eq_ignore_ascii_case("null"))).then_some(v)
}

/// Reads the SII "cesiones en período" text file; a chain is ordered by `FCH_CESION`.
///
/// # Errors
/// Binary content, no header with the 18 columns.
pub fn parse_sii_txt(bytes: &[u8]) -> Result<CesionFile, CesionFileError> {
    let (text, _) = decode_text(bytes);
    if looks_binary(&text) {
        return Err(refuse("el archivo no es de texto"));
    }
    let mut lines = text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l));
    let mut header: Option<Vec<String>> = None;
    for (_, l) in lines.by_ref() {
        let t = l.trim().trim_start_matches('\u{feff}');
        if t.is_empty() || t.to_uppercase().starts_with("DATOS_CONSULTA") {
            continue;
        }
        header = Some(t.split(';').map(|h| h.trim().to_uppercase()).collect());
        break;
    }
    let Some(header) = header else {
        return Err(refuse(
            "el archivo no trae el encabezado de la consulta de cesiones",
        ));
    };
    if header != SII_COLUMNS {
        let missing: Vec<&str> = SII_COLUMNS
            .iter()
            .filter(|c| !header.iter().any(|h| h == *c))
            .copied()
            .collect();
        return Err(refuse(format!(
            "el encabezado no es el de la consulta de cesiones del SII (18 columnas, de VENDEDOR a FCH_VENCIMIENTO){}",
            if missing.is_empty() {
                String::new()
            } else {
                format!("; faltan: {}", missing.join(", "))
            }
        )));
    }
    let mut out = CesionFile {
        kind: CesionFileKind::SiiTxt,
        cesiones: Vec::new(),
        errors: Vec::new(),
    };
    for (n, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let Some(f) = sii_fields(l.trim_end_matches('\r')) else {
            out.errors.push(CesionIssue {
                line: Some(n),
                page: None,
                message: format!(
                    "la línea {n} no tiene las 18 columnas de la consulta de cesiones"
                ),
            });
            continue;
        };
        match sii_cesion(&f, n) {
            Ok(c) => out.cesiones.push(c),
            Err(m) => out.errors.push(CesionIssue {
                line: Some(n),
                page: None,
                message: format!("línea {n}: {m}"),
            }),
        }
    }
    // one row per cesión and no sequence: a chain is ordered by the date of each cesión
    out.cesiones.sort_by_key(|c| (c.documento, c.fecha, c.line));
    let mut prev: Option<NaturalKey> = None;
    let mut seq = 0;
    for c in &mut out.cesiones {
        seq = if prev == Some(c.documento) {
            seq + 1
        } else {
            1
        };
        prev = Some(c.documento);
        c.seq = seq;
    }
    // the SII allows 40 cesiones of a document; more rows than that are not a chain
    let (kept, beyond): (Vec<ParsedCesion>, Vec<ParsedCesion>) =
        out.cesiones.into_iter().partition(|c| c.seq <= 40);
    out.cesiones = kept;
    for c in beyond {
        out.errors.push(CesionIssue {
            line: c.line,
            page: None,
            message: format!(
                "línea {}: el documento {} tiene más de 40 cesiones en el archivo; revise que no se repitan filas",
                c.line.unwrap_or(0),
                c.documento
            ),
        });
    }
    Ok(out)
}

fn sii_cesion(f: &[String], line: u64) -> Result<ParsedCesion, String> {
    let get = |i: usize| value(&f[i]).ok_or_else(|| format!("falta {}", SII_COLUMNS[i]));
    if let Some(estado) = value(&f[1]) {
        let e = fold(estado);
        if e.contains("ANUL") || e.contains("RECHAZ") || e.contains("REVOC") {
            return Err(format!(
                "la cesión está «{estado}» en el SII: no se importa"
            ));
        }
    }
    let documento = document(get(0)?, get(4)?, get(6)?)?;
    let monto_cedido = int_of("MNT_CESION", get(16)?)?;
    if monto_cedido <= 0 {
        return Err(format!("MNT_CESION {monto_cedido} no es mayor que cero"));
    }
    Ok(ParsedCesion {
        documento,
        receptor: value(&f[2]).map(|r| rut_of("DEUDOR", r)).transpose()?,
        seq: 0,
        cedente_rut: rut_of("CEDENTE", get(9)?)?,
        cedente_nombre: value(&f[10]).map(str::to_owned),
        cesionario_rut: rut_of("CESIONARIO", get(12)?)?,
        cesionario_nombre: get(13)?.to_owned(),
        monto_cedido,
        monto_total: value(&f[8]).map(|m| int_of("MNT_TOTAL", m)).transpose()?,
        fecha: datetime_of("FCH_CESION", get(15)?)?,
        ultimo_vencimiento: value(&f[17])
            .map(|d| date_of("FCH_VENCIMIENTO", d))
            .transpose()?,
        identificador: None,
        line: Some(line),
        page: None,
    })
}

/// Uppercase without accents, one char for one char (so positions stay aligned).
fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let c = match c {
        'á' | 'à' | 'ä' | 'Á' | 'À' | 'Ä' => 'A',
        'é' | 'è' | 'ë' | 'É' | 'È' | 'Ë' => 'E',
        'í' | 'ì' | 'ï' | 'Í' | 'Ì' | 'Ï' => 'I',
        'ó' | 'ò' | 'ö' | 'Ó' | 'Ò' | 'Ö' => 'O',
        'ú' | 'ù' | 'ü' | 'Ú' | 'Ù' | 'Ü' => 'U',
        'ñ' | 'Ñ' => 'N',
        'º' | '°' => 'O',
        c => c,
    };
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// A certificate's text as chars, with a folded copy of the same length to find labels in.
struct Labels {
    text: Vec<char>,
    folded: Vec<char>,
}

impl Labels {
    fn new(s: &str) -> Labels {
        let text: Vec<char> = s.chars().collect();
        let folded = text.iter().map(|c| fold_char(*c)).collect();
        Labels { text, folded }
    }

    /// Where `label` (folded) ends, searching it whole within `from..to`.
    fn after(&self, label: &str, from: usize, to: usize) -> Option<usize> {
        let l: Vec<char> = label.chars().collect();
        let to = to.min(self.folded.len());
        (from..(to + 1).saturating_sub(l.len()))
            .find(|&i| self.folded[i..].starts_with(&l))
            .map(|i| i + l.len())
    }

    /// The rest of the line after `label` within `from..to`, trimmed of `:` and blanks.
    fn line_after(&self, label: &str, from: usize, to: usize) -> Option<String> {
        let start = self.after(label, from, to)?;
        let end = (start..to.min(self.text.len()))
            .find(|&i| self.text[i] == '\n')
            .unwrap_or(to.min(self.text.len()));
        let v: String = self.text[start..end].iter().collect();
        let v = v.trim().trim_start_matches(':').trim().to_owned();
        (!v.is_empty()).then_some(v)
    }
}

/// The first RUT written in `s` (`12.345.678-9`, `12345678-K`): a run of digits and dots
/// followed by `-` and a check digit, or the tail of such a run after one of its dots. One
/// pass: only the last few characters of a run can start a RUT (a body has at most 8
/// digits), so a long run of digits and dots costs its length, not its square.
fn first_rut(s: &str) -> Option<Rut> {
    /// `12.345.678` is the longest body as written.
    const LONGEST_BODY: usize = 10;
    let chars: Vec<char> = s.chars().collect();
    let mut start = 0;
    while start < chars.len() {
        if !chars[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
            end += 1;
        }
        if end + 1 < chars.len()
            && chars[end] == '-'
            && (chars[end + 1].is_ascii_digit() || matches!(chars[end + 1], 'k' | 'K'))
        {
            // the run from its start, else from a digit after one of its dots, leftmost first
            let tails = std::iter::once(start).chain(
                (start + 1..end).filter(|&i| chars[i - 1] == '.' && chars[i].is_ascii_digit()),
            );
            for from in tails.filter(|&i| end - i <= LONGEST_BODY) {
                let candidate: String = chars[from..end + 2].iter().collect();
                if let Ok(r) = candidate.parse::<Rut>() {
                    return Some(r);
                }
            }
        }
        start = end.max(start + 1);
    }
    None
}

/// The name before the RUT in `Cedido a FACTORING UNO S.A., RUT N° 76.086.428-5`.
fn name_before_rut(s: &str) -> Option<String> {
    let folded = fold(s);
    let cut = folded.find("RUT").unwrap_or(folded.len());
    let name: String = s.chars().take(folded[..cut].chars().count()).collect();
    let name = name
        .trim()
        .trim_end_matches([',', ';', '-'])
        .trim()
        .to_owned();
    (!name.is_empty()).then_some(name)
}

fn digits(s: &str) -> Option<i64> {
    let d: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ','))
        .filter(char::is_ascii_digit)
        .collect();
    d.parse().ok()
}

/// The document type a certificate names, by code or by name.
fn tipo_in(l: &Labels, from: usize, to: usize) -> Option<u16> {
    for label in ["TIPO DTE", "TIPO DOCUMENTO", "TIPO DE DOCUMENTO", "TIPO"] {
        if let Some(v) = l.line_after(label, from, to)
            && let Some(n) = digits(&v).and_then(|n| u16::try_from(n).ok())
        {
            return Some(n);
        }
    }
    let text: String = l.folded[from..to.min(l.folded.len())].iter().collect();
    [
        ("FACTURA DE COMPRA", 46),
        ("LIQUIDACION", 43),
        ("EXENTA", 34),
        ("NO AFECTA", 34),
        ("FACTURA ELECTRONICA", 33),
    ]
    .into_iter()
    .find(|(n, _)| text.contains(n))
    .map(|(_, t)| t)
}

/// Reads the cesiones of a registry certificate or notification, page by page (`None`:
/// text that has no pages, an e-mail). Each block from a `Seq:` label on is a cesión; the
/// document (emisor, type, folio) may be named once before the first block. What is not
/// understood is reported with its page and what was missing; nothing is guessed.
pub fn parse_certificate_text(pages: &[(Option<u32>, String)]) -> CesionFile {
    let mut out = CesionFile {
        kind: CesionFileKind::Certificado,
        cesiones: Vec::new(),
        errors: Vec::new(),
    };
    for (page, text) in pages {
        let l = Labels::new(text);
        let mut starts = Vec::new();
        let mut at = 0;
        while let Some(e) = l.after("SEQ", at, l.folded.len()) {
            // `Seq:` or `Seq :`, not a word that merely starts with it
            let rest: String = l.folded[e..l.folded.len().min(e + 3)].iter().collect();
            if rest.trim_start().starts_with(':') {
                starts.push(e - 3);
            }
            at = e;
        }
        if starts.is_empty() {
            if !text.trim().is_empty() {
                out.errors.push(CesionIssue {
                    line: None,
                    page: *page,
                    message: format!(
                        "{}no se encontró ninguna cesión (falta «Seq:»)",
                        page.map(|p| format!("página {p}: ")).unwrap_or_default()
                    ),
                });
            }
            continue;
        }
        let preamble = Preamble::new(&l, starts[0]);
        for (i, &from) in starts.iter().enumerate() {
            let to = starts.get(i + 1).copied().unwrap_or(l.text.len());
            match certificate_cesion(&l, from, to, &preamble) {
                Ok(mut c) => {
                    c.page = *page;
                    out.cesiones.push(c);
                }
                Err(m) => out.errors.push(CesionIssue {
                    line: None,
                    page: *page,
                    message: format!(
                        "{}cesión {}: {m}",
                        page.map(|p| format!("página {p}, ")).unwrap_or_default(),
                        i + 1
                    ),
                }),
            }
        }
    }
    out.cesiones.sort_by_key(|c| (c.documento, c.seq));
    out
}

/// The labels a certificate's cesión blocks read, looked for in order.
const CERTIFICATE_LABELS: [&str; 13] = [
    "SEQ",
    "RUT EMISOR",
    "EMISOR",
    "FOLIO NO",
    "FOLIO N",
    "FOLIO",
    "CEDIDO A",
    "CEDIDO POR",
    "MONTO CEDIDO",
    "FECHA DE LA CESION",
    "ULTIMO VENCIMIENTO",
    "IDENTIFICADOR DE CESION",
    "TIPO",
];

/// What the text before a page's first block says, read once for every block of the page
/// (a block looking through the preamble itself made a page of many blocks quadratic).
struct Preamble {
    labels: HashMap<&'static str, Option<String>>,
    tipo: Option<u16>,
}

impl Preamble {
    fn new(l: &Labels, end: usize) -> Preamble {
        Preamble {
            labels: CERTIFICATE_LABELS
                .iter()
                .map(|label| (*label, l.line_after(label, 0, end)))
                .collect(),
            tipo: tipo_in(l, 0, end),
        }
    }

    fn get(&self, label: &str) -> Option<String> {
        self.labels.get(label).cloned().flatten()
    }
}

fn certificate_cesion(
    l: &Labels,
    from: usize,
    to: usize,
    preamble: &Preamble,
) -> Result<ParsedCesion, String> {
    // a label of the block, else of the text before the first block
    let find = |label: &str| {
        l.line_after(label, from, to)
            .or_else(|| preamble.get(label))
    };
    let seq = find("SEQ")
        .and_then(|v| digits(&v))
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=40).contains(n))
        .ok_or("falta la secuencia («Seq:») o no está entre 1 y 40")?;
    let emisor = ["RUT EMISOR", "EMISOR"]
        .iter()
        .find_map(|label| find(label).and_then(|v| first_rut(&v)))
        .ok_or("falta el RUT del emisor del documento")?;
    let folio = ["FOLIO NO", "FOLIO N", "FOLIO"]
        .iter()
        .find_map(|label| find(label).and_then(|v| digits(&v)))
        .ok_or("falta el folio del documento")?;
    let tipo = tipo_in(l, from, to)
        .or(preamble.tipo)
        .ok_or("no dice de qué tipo de documento es (33, 34, 43 o 46)")?;
    let documento = document(&emisor.to_string(), &tipo.to_string(), &folio.to_string())?;
    let cesionario = find("CEDIDO A").ok_or("falta «Cedido a»")?;
    let cesionario_rut =
        first_rut(&cesionario).ok_or("«Cedido a» no trae el RUT del cesionario")?;
    let cesionario_nombre =
        name_before_rut(&cesionario).ok_or("«Cedido a» no trae el nombre del cesionario")?;
    let cedente = find("CEDIDO POR");
    let cedente_rut = cedente
        .as_deref()
        .and_then(first_rut)
        .ok_or("falta «Cedido por» con el RUT del cedente")?;
    let monto_cedido = find("MONTO CEDIDO")
        .and_then(|v| digits(&v))
        .filter(|m| *m > 0)
        .ok_or("falta «Monto Cedido»")?;
    let fecha = find("FECHA DE LA CESION")
        .ok_or_else(|| "falta «Fecha de la Cesion»".to_owned())
        .and_then(|v| datetime_of("la fecha de la cesión", &v))?;
    Ok(ParsedCesion {
        documento,
        receptor: None,
        seq,
        cedente_rut,
        cedente_nombre: cedente.as_deref().and_then(name_before_rut),
        cesionario_rut,
        cesionario_nombre,
        monto_cedido,
        monto_total: None,
        fecha,
        ultimo_vencimiento: find("ULTIMO VENCIMIENTO")
            .map(|v| date_of("el último vencimiento", &v))
            .transpose()?,
        identificador: find("IDENTIFICADOR DE CESION"),
        line: None,
        page: None,
    })
}

/// Reads a certificate PDF's text layer page by page (no external program). A PDF without
/// text (a scan) is refused: nothing is read from images.
///
/// # Errors
/// Not a PDF that can be read, encrypted, or without text.
pub fn parse_certificate_pdf(bytes: &[u8]) -> Result<CesionFile, CesionFileError> {
    let pages = pdf_pages(bytes)?;
    if pages.is_empty() {
        return Err(refuse("el PDF no tiene páginas"));
    }
    if pages.iter().all(|(_, t)| t.trim().is_empty()) {
        return Err(refuse(format!(
            "el PDF no tiene texto en sus {} página(s): es una imagen escaneada; pida el AEC (XML) o el certificado con texto",
            pages.len()
        )));
    }
    let mut f = parse_certificate_text(&pages);
    if f.cesiones.is_empty() && f.errors.is_empty() {
        f.errors.push(CesionIssue {
            line: None,
            page: None,
            message: "el PDF no trae ninguna cesión".into(),
        });
    }
    Ok(f)
}

/// A PDF's text, page by page.
fn pdf_pages(bytes: &[u8]) -> Result<Vec<(Option<u32>, String)>, CesionFileError> {
    // lopdf is third-party code reading untrusted bytes: a panic in it is a refused file,
    // not a crash of the import
    std::panic::catch_unwind(|| -> Result<Vec<(Option<u32>, String)>, String> {
        let doc = lopdf::Document::load_mem(bytes).map_err(|e| e.to_string())?;
        let mut pages = Vec::new();
        for (n, _) in doc.get_pages() {
            pages.push((Some(n), doc.extract_text(&[n]).unwrap_or_default()));
        }
        Ok(pages)
    })
    .map_err(|_| refuse("el PDF está dañado y no se pudo leer"))?
    .map_err(|e| refuse(format!("el PDF no se pudo leer ({e})")))
}

/// Whether a PDF dropped among invoice files is a cesión certificate: its text names a
/// cesión as certificates do (`Seq:` and `Cedido a`). An invoice's PDF, a scan or a PDF
/// that cannot be read is not (it goes where invoice files go, and is told apart there).
pub fn pdf_is_certificate(bytes: &[u8]) -> bool {
    bytes.starts_with(b"%PDF")
        && pdf_pages(bytes).is_ok_and(|pages| {
            let text = fold(
                &pages
                    .iter()
                    .map(|(_, t)| t.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
                    .to_uppercase(),
            );
            text.contains("SEQ") && text.contains("CEDIDO A")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_field_with_several_addresses_is_one_field() {
        let line = "76555835-2;Cesion Vigente;77777777-7;a@x.cl;a2@x.cl;33;Factura;10;2026-10-01;1190000;76555835-2;Hormigones;h@x.cl;76086428-5;Factoring SpA;f@x.cl;f2@x.cl;2026-10-05 10:18;1190000;2026-11-01";
        let f = sii_fields(line).unwrap();
        assert_eq!(f.len(), 18);
        assert_eq!(f[3], "a@x.cl;a2@x.cl");
        assert_eq!(f[14], "f@x.cl;f2@x.cl");
        assert_eq!(f[15], "2026-10-05 10:18");
        assert!(sii_fields("a;b;c").is_none());
    }

    #[test]
    fn a_rut_is_found_in_the_forms_certificates_write_it() {
        let rut = |s: &str| first_rut(s).map(|r| r.to_string());
        assert_eq!(
            rut("FACTORING UNO S.A., RUT N° 76.086.428-5").as_deref(),
            Some("76086428-5")
        );
        assert_eq!(rut("76086428-5").as_deref(), Some("76086428-5"));
        assert_eq!(rut("rut 9.876.545-k fin").as_deref(), Some("9876545-K"));
        // a tail after a dot when the whole run is no RUT
        assert_eq!(rut("Folio 1.76.086.428-5").as_deref(), Some("76086428-5"));
        assert_eq!(rut("sin rut 76.086.428"), None);
        assert_eq!(rut("76.086.428-"), None);
    }

    #[test]
    fn long_runs_of_digits_and_dots_cost_their_length() {
        // quadratic before: every digit after a dot started a scan to the end of the run
        let hostile = format!("{}-5", "1.".repeat(200_000));
        assert_eq!(first_rut(&hostile), None);
        let hostile = "9".repeat(300_000);
        assert_eq!(first_rut(&hostile), None);
    }
}

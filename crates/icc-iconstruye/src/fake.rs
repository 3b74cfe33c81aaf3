//! A fake iConstruye: a real HTTP server on 127.0.0.1 that answers in exactly the shape of
//! DOMAIN.md §4 with generated data, behind the same key check as APIM, and with the
//! misbehaviour a client must survive: 429 bursts with `Retry-After`, 500s, slow answers,
//! malformed rows, casing variants, empty windows. Used by the tests of this crate, of
//! icc-app and of the CLI, and by the `icc-iconstruye-fake` dev binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use icc_core::Rut;
use serde_json::{Map, Value, json};

/// A burst of 429s: every `every` requests, `len` in a row are refused.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// Period, in requests.
    pub every: u64,
    /// Refused requests per burst.
    pub len: u64,
}

/// How a generated document is broken, for the malformed-row cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformation {
    /// The search row has a RUT whose check digit is wrong.
    BadRut,
    /// The search row has no `idDocumento`.
    MissingId,
    /// The detail's `montoTotal` is text that is not a number.
    GarbageTotal,
    /// The detail call answers `[]`.
    EmptyDetail,
    /// The detail has no `montoNeto`.
    MissingNeto,
}

const MALFORMATIONS: [Malformation; 5] = [
    Malformation::BadRut,
    Malformation::MissingId,
    Malformation::GarbageTotal,
    Malformation::EmptyDetail,
    Malformation::MissingNeto,
];

/// What the fake serves and how it misbehaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Seed of the generated data (same seed, same data).
    pub seed: u64,
    /// Invoices to generate.
    pub invoices: usize,
    /// Credit notes per 100 invoices.
    pub notes_per_100: usize,
    /// First reception day.
    pub from: NaiveDate,
    /// Reception days are spread over `from .. from + days`.
    pub days: u32,
    /// Day offsets `[a, b)` in which nothing is received (empty windows).
    pub empty_days: Option<(u32, u32)>,
    /// Keys accepted for `cvbf` (facturas and notas).
    pub facturas_keys: Vec<String>,
    /// Keys accepted for `ordencompra`.
    pub ordenes_keys: Vec<String>,
    /// 429 bursts.
    pub burst_429: Option<Burst>,
    /// `Retry-After` seconds sent with every 429.
    pub retry_after_secs: u64,
    /// Every this many requests, one 500.
    pub error_500_every: Option<u64>,
    /// Every this many requests, a slow answer of `slow_ms`.
    pub slow_every: Option<u64>,
    /// How slow.
    pub slow_ms: u64,
    /// Every this many documents, one malformed (cycling through [`Malformation`]s).
    pub malformed_every: Option<usize>,
    /// Send every third document with other key casings (`IdDocumento`, `idCentCosto`).
    pub casing_variants: bool,
    /// Longest search window accepted (longer ones get a 400).
    pub max_window_days: i64,
}

impl FakeConfig {
    /// Well-behaved data: `invoices` invoices received over 90 days from `from`, keys
    /// `facturas_key` for both products. Turn the faults on field by field.
    pub fn new(seed: u64, invoices: usize, from: NaiveDate, key: &str) -> FakeConfig {
        FakeConfig {
            seed,
            invoices,
            notes_per_100: 5,
            from,
            days: 90,
            empty_days: None,
            facturas_keys: vec![key.to_owned()],
            ordenes_keys: vec![key.to_owned()],
            burst_429: None,
            retry_after_secs: 1,
            error_500_every: None,
            slow_every: None,
            slow_ms: 0,
            malformed_every: None,
            casing_variants: false,
            max_window_days: 31,
        }
    }
}

/// A generated document (invoice or note).
#[derive(Debug, Clone)]
pub struct FakeDoc {
    /// `idDocumento`.
    pub id: u64,
    /// Note (from `NotasCorreccion`) rather than invoice.
    pub nota: bool,
    /// `tipoFactura` label, padded as iConstruye sends it.
    pub tipo_label: &'static str,
    /// DTE code that label means.
    pub tipo_code: u16,
    /// `folioUnico`.
    pub folio: u64,
    /// Supplier RUT (canonical).
    pub rut: String,
    /// Supplier name.
    pub nombre: String,
    /// `fechaEmision`.
    pub emision: NaiveDate,
    /// `fechaRecepcion`.
    pub recepcion: NaiveDateTime,
    /// Neto.
    pub neto: i64,
    /// Exento.
    pub exento: i64,
    /// IVA (what the total leaves).
    pub iva: i64,
    /// Total.
    pub total: i64,
    /// `estadoDoc`.
    pub estado_doc: String,
    /// `estadoPago`.
    pub estado_pago: String,
    /// `centroGestion`.
    pub centro: String,
    /// Purchase order number.
    pub oc: Option<String>,
    /// `fechaPago`.
    pub fecha_pago: NaiveDate,
    /// A note's corrected invoice folio.
    pub fact_asociada: Option<u64>,
    /// How it is broken, if it is.
    pub malformed: Option<Malformation>,
    /// Sent with other key casings.
    pub casing: bool,
}

impl FakeDoc {
    /// `RUT:TIPO:FOLIO`, as icc-core writes natural keys.
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.rut, self.tipo_code, self.folio)
    }

    /// Total with the sign it has in sums (notes of credit subtract).
    pub fn signed_total(&self) -> i64 {
        if self.tipo_code == 61 {
            -self.total
        } else {
            self.total
        }
    }
}

/// One request the fake saw (the key itself is never recorded).
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path.
    pub path: String,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// Index of the accepted key used, or `None` when refused.
    pub key_index: Option<usize>,
    /// Status answered.
    pub status: u16,
}

struct Shared {
    cfg: Mutex<FakeConfig>,
    docs: Mutex<Vec<FakeDoc>>,
    seen: Mutex<Vec<Seen>>,
    counter: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Generates the data and serves it on `127.0.0.1:port` (0 picks a free port).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(cfg: FakeConfig, port: u16) -> std::io::Result<FakeServer> {
        let docs = generate(&cfg);
        let shared = Arc::new(Shared {
            cfg: Mutex::new(cfg),
            docs: Mutex::new(docs),
            seen: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("fake iconstruye stopped: {e}");
            }
        });
        Ok(FakeServer { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every document served (valid or not).
    pub fn docs(&self) -> Vec<FakeDoc> {
        lock(&self.shared.docs).clone()
    }

    /// The well-formed documents received in `desde..=hasta`: what a pull must store.
    pub fn expected(&self, desde: NaiveDate, hasta: NaiveDate) -> Vec<FakeDoc> {
        lock(&self.shared.docs)
            .iter()
            .filter(|d| d.malformed.is_none() && (desde..=hasta).contains(&d.recepcion.date()))
            .cloned()
            .collect()
    }

    /// Changes the served documents (a payment registered, an amount corrected, ...).
    pub fn edit_docs(&self, f: impl FnOnce(&mut Vec<FakeDoc>)) {
        f(&mut lock(&self.shared.docs));
    }

    /// Changes the configuration while running (rotate keys, start failing, ...).
    pub fn edit_config(&self, f: impl FnOnce(&mut FakeConfig)) {
        f(&mut lock(&self.shared.cfg));
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }
}

/// A tiny deterministic generator (SplitMix64), so the data depends on the seed only.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const NOMBRES: [&str; 12] = [
    "Ferretería Sur SpA",
    "Áridos del Maipo Ltda.",
    "Hormigones Andinos S.A.",
    "Maderas Ñuble Ltda.",
    "Transportes Quilicura SpA",
    "Eléctrica Los Andes Ltda.",
    "Arriendo de Maquinaria Biobío S.A.",
    "Aceros Cordillera SpA",
    "Pinturas Pacífico Ltda.",
    "Sanitarios Maule SpA",
    "Ingeniería Geotécnica Norte Ltda.",
    "Servicios de Aseo Araucanía SpA",
];

const CENTROS: [&str; 4] = [
    "OB01 Edificio Los Robles",
    "OB02 Condominio Alto Maipo",
    "OB03 Planta Quilicura",
    "ADM Oficina central",
];

const ESTADOS: [(&str, &str, u64); 5] = [
    ("Ingresada", "No Pagada", 50),
    ("Aprobada", "No Pagada", 25),
    ("Aprobada", "Pagada", 15),
    ("Rechazada", "No Pagada", 5),
    ("Aprobada", "Pago Parcial", 5),
];

/// Generates the documents of `cfg`.
pub fn generate(cfg: &FakeConfig) -> Vec<FakeDoc> {
    let mut rng = Rng(cfg.seed ^ 0x1CC0_FAC7);
    let suppliers: Vec<(String, String)> = (0..NOMBRES.len())
        .map(|i| {
            let body = 76_000_000 + (rng.below(900_000) as u32) * 10 + i as u32;
            let rut = Rut::from_body(body)
                .map(|r| r.to_string())
                .unwrap_or_default();
            (rut, NOMBRES[i].to_owned())
        })
        .collect();
    let live_days: Vec<u32> = (0..cfg.days.max(1))
        .filter(|d| !cfg.empty_days.is_some_and(|(a, b)| (a..b).contains(d)))
        .collect();
    let notes = cfg.invoices * cfg.notes_per_100 / 100;
    let mut docs = Vec::with_capacity(cfg.invoices + notes);
    for i in 0..cfg.invoices + notes {
        let nota = i >= cfg.invoices;
        let (rut, nombre, fact_asociada) = if nota && cfg.invoices > 0 {
            let target = rng.below(cfg.invoices as u64) as usize;
            let t: &FakeDoc = &docs[target];
            (t.rut.clone(), t.nombre.clone(), Some(t.folio))
        } else {
            let s = &suppliers[rng.below(suppliers.len() as u64) as usize];
            (s.0.clone(), s.1.clone(), None)
        };
        let day = live_days
            .get(rng.below(live_days.len() as u64) as usize)
            .copied()
            .unwrap_or(0);
        let recepcion_day = cfg.from + chrono::Days::new(u64::from(day));
        let recepcion = recepcion_day.and_time(
            NaiveTime::from_hms_opt(8 + rng.below(10) as u32, rng.below(60) as u32, 0)
                .unwrap_or(NaiveTime::MIN),
        );
        let emision = recepcion_day - chrono::Days::new(rng.below(4));
        let exenta = !nota && rng.below(20) == 0;
        let neto = if exenta {
            0
        } else if nota {
            1_000 + rng.below(500_000) as i64
        } else {
            10_000 + rng.below(30_000_000) as i64
        };
        let exento = if exenta {
            50_000 + rng.below(2_000_000) as i64
        } else if rng.below(10) == 0 {
            rng.below(100_000) as i64
        } else {
            0
        };
        let iva = (neto * 19 + 50) / 100;
        let (estado_doc, estado_pago) = {
            let mut roll = rng.below(100);
            let mut pick = ESTADOS[0];
            for e in ESTADOS {
                if roll < e.2 {
                    pick = e;
                    break;
                }
                roll -= e.2;
            }
            (pick.0.to_owned(), pick.1.to_owned())
        };
        let (tipo_label, tipo_code) = if nota {
            ("Nota de Crédito Electrónica   ", 61)
        } else if exenta {
            ("Factura Exenta Electrónica    ", 34)
        } else {
            ("Factura Electrónica           ", 33)
        };
        let malformed = cfg
            .malformed_every
            .filter(|n| *n > 0 && (i + 1) % n == 0)
            .map(
                |n| match MALFORMATIONS[((i + 1) / n) % MALFORMATIONS.len()] {
                    // an exempt invoice has no neto to miss: break its total instead
                    Malformation::MissingNeto if exenta => Malformation::GarbageTotal,
                    m => m,
                },
            );
        docs.push(FakeDoc {
            id: 3_000_000 + i as u64,
            nota,
            tipo_label,
            tipo_code,
            folio: if nota {
                500 + i as u64
            } else {
                10_000 + i as u64
            },
            rut,
            nombre,
            emision,
            recepcion,
            neto,
            exento,
            iva,
            total: neto + exento + iva,
            estado_doc,
            estado_pago,
            centro: CENTROS[rng.below(CENTROS.len() as u64) as usize].to_owned(),
            oc: (!nota && rng.below(3) != 0).then(|| format!("4500-{}", 100_000 + i)),
            fecha_pago: recepcion_day + chrono::Days::new(30),
            fact_asociada,
            malformed,
            casing: cfg.casing_variants && i % 3 == 1,
        });
    }
    docs
}

fn recase(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let k = match c.next() {
                        Some(f) => f.to_uppercase().chain(c).collect(),
                        None => k,
                    };
                    (k, recase(v))
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(recase).collect()),
        other => other,
    }
}

fn stamp(d: NaiveDateTime) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn search_row(d: &FakeDoc) -> Value {
    let rut = if d.malformed == Some(Malformation::BadRut) {
        // same body, wrong check digit
        let (body, dv) = d.rut.split_once('-').unwrap_or((&d.rut, "0"));
        let wrong = if dv == "1" { "2" } else { "1" };
        format!("{body}-{wrong}")
    } else {
        d.rut.clone()
    };
    let mut v = json!({
        "idDocumento": d.id,
        "folioUnico": d.folio.to_string(),
        "tipoFactura": d.tipo_label,
        "nomProveedor": d.nombre,
        "rutProveedor": rut,
        "fechaEmision": stamp(d.emision.and_time(NaiveTime::MIN)),
        "fechaRecepcion": stamp(d.recepcion),
        "montoTotal": d.total,
        "estadoDoc": d.estado_doc,
        "estadoPago": d.estado_pago,
        "estadoAsociacion": if d.oc.is_some() { "Asociada" } else { "Sin asociar" },
        "centroGestion": d.centro,
        "numDoc": d.folio,
    });
    if let Some(f) = d.fact_asociada {
        v["factAsociada"] = json!(f.to_string());
    }
    if d.malformed == Some(Malformation::MissingId)
        && let Some(m) = v.as_object_mut()
    {
        m.remove("idDocumento");
    }
    if d.casing { recase(v) } else { v }
}

fn detail(d: &FakeDoc) -> Value {
    if d.malformed == Some(Malformation::EmptyDetail) {
        return json!([]);
    }
    let total = if d.malformed == Some(Malformation::GarbageTotal) {
        json!("N/D")
    } else {
        json!(d.total)
    };
    let mut neto = json!({"montoNeto": d.neto, "montoNoAfectoOExento": d.exento});
    if d.malformed == Some(Malformation::MissingNeto)
        && let Some(m) = neto.as_object_mut()
    {
        m.remove("montoNeto");
    }
    let centro_key = if d.casing {
        "idCentCosto"
    } else {
        "idCentroCosto"
    };
    let ordenes: Vec<Value> = d
        .oc
        .iter()
        .map(|num| {
            json!({
                "idOc": d.id + 7_000_000,
                "numOC": num,
                "montoTotal": d.total,
                "recepcion": [{"detalleRecepcion": [{
                    "descripcion": "Materiales",
                    "distribucionCosto": [{centro_key: 100 + d.id % 7, "descripcioncentcosto": d.centro}]
                }]}]
            })
        })
        .collect();
    json!([{
        "cabecera": {
            "fecha": {
                "fechaCreacion": stamp(d.recepcion),
                "fechaPago": stamp(d.fecha_pago.and_time(NaiveTime::MIN)),
            },
            "totales": {"neto": neto, "total": {"montoTotal": total}},
            "emisor": {"rutEmisor": d.rut, "razonsocialEmisor": d.nombre},
        },
        "detalle": {"documentosRelacionados": {"ordenCompra": ordenes}}
    }])
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn apim_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        json!({"statusCode": status.as_u16(), "message": message}),
    )
}

fn parse_day(q: &HashMap<String, String>, name: &str) -> Option<NaiveDate> {
    let v = q.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?.1;
    icc_core::parse_date("fecha", v).ok()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path().to_owned();
    let resp = answer(&shared, &path, &headers, &query).await;
    let key_index = {
        let cfg = lock(&shared.cfg);
        let keys = if path.to_lowercase().starts_with("/ordencompra") {
            &cfg.ordenes_keys
        } else {
            &cfg.facturas_keys
        };
        headers
            .get("Ocp-Apim-Subscription-Key")
            .and_then(|v| v.to_str().ok())
            .and_then(|k| keys.iter().position(|x| x == k))
    };
    lock(&shared.seen).push(Seen {
        path,
        query,
        key_index,
        status: resp.status().as_u16(),
    });
    resp
}

async fn answer(
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    let cfg = lock(&shared.cfg).clone();
    let lower = path.to_lowercase();
    let keys = if lower.starts_with("/ordencompra") {
        &cfg.ordenes_keys
    } else {
        &cfg.facturas_keys
    };
    match headers
        .get("Ocp-Apim-Subscription-Key")
        .and_then(|v| v.to_str().ok())
    {
        None => {
            return apim_error(
                StatusCode::UNAUTHORIZED,
                "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
            );
        }
        Some(k) if !keys.iter().any(|x| x == k) => {
            return apim_error(
                StatusCode::UNAUTHORIZED,
                "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.",
            );
        }
        Some(_) => {}
    }
    let n = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(b) = cfg.burst_429
        && b.every > 0
        && n % b.every < b.len
    {
        let mut r = apim_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Rate limit is exceeded. Try again in {} seconds.",
                cfg.retry_after_secs
            ),
        );
        if let Ok(v) = cfg.retry_after_secs.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if cfg.error_500_every.is_some_and(|e| e > 0 && n % e == e / 2) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    }
    if cfg.slow_every.is_some_and(|e| e > 0 && n.is_multiple_of(e)) {
        tokio::time::sleep(Duration::from_millis(cfg.slow_ms)).await;
    }
    if q.get("api-version").map(String::as_str) != Some("1.0") {
        return apim_error(
            StatusCode::NOT_FOUND,
            "Resource not found (api-version 1.0 is required)",
        );
    }
    let docs = lock(&shared.docs).clone();
    let window = |desde: &str, hasta: &str| -> Result<(NaiveDate, NaiveDate), Box<Response>> {
        let (Some(a), Some(b)) = (parse_day(q, desde), parse_day(q, hasta)) else {
            return Err(Box::new(apim_error(
                StatusCode::BAD_REQUEST,
                &format!("{desde} y {hasta} son obligatorios (AAAA-MM-DD)"),
            )));
        };
        if (b - a).num_days() + 1 > cfg.max_window_days || b < a {
            return Err(Box::new(apim_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "El rango de fechas no puede superar {} días",
                    cfg.max_window_days
                ),
            )));
        }
        Ok((a, b))
    };
    let by_id = |nota: bool| -> Response {
        let id: Option<u64> = q
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("IdDoc"))
            .and_then(|(_, v)| v.parse().ok());
        match docs.iter().find(|d| Some(d.id) == id && d.nota == nota) {
            Some(d) => json_response(StatusCode::OK, detail(d)),
            None => apim_error(StatusCode::NOT_FOUND, "Documento no encontrado"),
        }
    };
    let search = |nota: bool| -> Response {
        match window("FechaRecepDesde", "FechaRecepHasta") {
            Err(r) => *r,
            Ok((a, b)) => {
                let rows: Vec<Value> = docs
                    .iter()
                    .filter(|d| d.nota == nota && (a..=b).contains(&d.recepcion.date()))
                    .map(search_row)
                    .collect();
                json_response(StatusCode::OK, Value::Array(rows))
            }
        }
    };
    match lower.as_str() {
        "/cvbf/api/factura/buscar" => search(false),
        "/cvbf/api/factura/porid" => by_id(false),
        "/cvbf/api/notascorreccion/buscar" => search(true),
        "/cvbf/api/notascorreccion/porid" => by_id(true),
        "/ordencompra/api/conectorbuscarordencompra" => {
            match window("FechaCreacionDesde", "FechaCreacionHasta") {
                Err(r) => *r,
                Ok((a, b)) => json_response(
                    StatusCode::OK,
                    Value::Array(
                        docs.iter()
                            .filter(|d| d.oc.is_some() && (a..=b).contains(&d.recepcion.date()))
                            .map(|d| {
                                json!({
                                    "idOc": d.id + 7_000_000,
                                    "numOC": d.oc,
                                    "nomProveedor": d.nombre,
                                    "rutProveedor": d.rut,
                                    "fechaCreacion": stamp(d.recepcion),
                                    "montoTotal": d.total,
                                    "centroGestion": d.centro,
                                })
                            })
                            .collect(),
                    ),
                ),
            }
        }
        "/ordencompra/api/conectorordencompracreada" => {
            let id: Option<u64> = q
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("IdDoc"))
                .and_then(|(_, v)| v.parse().ok());
            match docs
                .iter()
                .find(|d| d.oc.is_some() && Some(d.id + 7_000_000) == id)
            {
                Some(d) => json_response(
                    StatusCode::OK,
                    json!([{"idOc": d.id + 7_000_000, "numOC": d.oc, "montoTotal": d.total,
                            "proveedor": {"rut": d.rut, "razonSocial": d.nombre},
                            "centroGestion": d.centro}]),
                ),
                None => apim_error(StatusCode::NOT_FOUND, "Orden de compra no encontrada"),
            }
        }
        "/ordencompra/api/conectorconsultarcentrogestion" => json_response(
            StatusCode::OK,
            Value::Array(
                CENTROS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let (code, name) = c.split_once(' ').unwrap_or((c, c));
                        json!({"idCentroGestion": 100 + i, "codigo": code, "nombre": name})
                    })
                    .collect(),
            ),
        ),
        _ => apim_error(StatusCode::NOT_FOUND, "Resource not found"),
    }
}

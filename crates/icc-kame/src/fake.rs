//! A fake Kame: a real HTTP server on 127.0.0.1 speaking the shapes of DOMAIN.md §6.4, with
//! Kame's rules (client credentials, bearer tokens that expire, 180 requests a minute,
//! balanced vouchers, no duplicate protection) and the faults a client must survive:
//! injected 429s, and vouchers recorded whose answer is lost (a 500 after the work is
//! done). It counts what it received, so tests can check that every invoice was posted
//! exactly once and the token asked for once per expiry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use icc_core::Rut;
use serde_json::{Value, json};

use crate::wire::{field, text};

/// What the fake accepts and how it misbehaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The client id it accepts.
    pub client_id: String,
    /// The client secret it accepts.
    pub client_secret: String,
    /// Seconds a token lives (`expires_in`).
    pub token_ttl_secs: u64,
    /// Requests allowed in any 60 seconds before answering 429 (Kame: 180).
    pub per_minute: u32,
    /// Every this many API requests, one 429 (with `Retry-After: 1`) regardless of pace.
    pub inject_429_every: Option<u64>,
    /// Every this many vouchers, record it and then answer 500 (the answer "lost").
    pub lose_answer_every: Option<u64>,
    /// Every this many reads (GET), a 503 before doing anything (an overloaded Kame).
    pub fail_read_every: Option<u64>,
    /// The supplier fichas `getListFicha` serves.
    pub fichas: Vec<Value>,
    /// Page size of `getListFicha`.
    pub per_page: usize,
}

impl FakeConfig {
    /// Accepts `client_id` / `client_secret`, Kame's pace, tokens of a day, no faults.
    pub fn new(client_id: &str, client_secret: &str) -> FakeConfig {
        FakeConfig {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_ttl_secs: 86_400,
            per_minute: crate::REQUESTS_PER_MINUTE,
            inject_429_every: None,
            lose_answer_every: None,
            fail_read_every: None,
            fichas: Vec::new(),
            per_page: 50,
        }
    }

    /// `n` generated supplier fichas (RUTs from 76.000.000 on, concepto cycling through
    /// MATERIALES, SUBCONTRATO, ARRIENDO, every seventh a honorario).
    pub fn with_fichas(mut self, n: usize) -> FakeConfig {
        const CONCEPTOS: [&str; 3] = ["MATERIALES", "SUBCONTRATO", "ARRIENDO"];
        self.fichas = (0..n)
            .filter_map(|i| {
                let rut = Rut::from_body(76_000_000 + i as u32 * 37).ok()?;
                Some(json!({
                    "Rut": rut.display(),
                    "FechaIngreso": "2024-03-01",
                    "ConceptoCompras": CONCEPTOS[i % CONCEPTOS.len()],
                    "Cliente": "N",
                    "Proveedor": "S",
                    "Honorario": if i % 7 == 6 { "S" } else { "N" },
                    "Empleado": "N",
                }))
            })
            .collect();
        self
    }
}

/// A voucher the fake recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Kame's number for it.
    pub numero: u64,
    /// The body as received.
    pub body: Value,
}

impl Recorded {
    /// The voucher's `comentario`.
    pub fn comentario(&self) -> String {
        text(field(&self.body, &["comentario"])).unwrap_or_default()
    }
}

struct Shared {
    cfg: Mutex<FakeConfig>,
    tokens: Mutex<HashMap<String, Instant>>,
    recent: Mutex<Vec<Instant>>,
    vouchers: Mutex<Vec<Recorded>>,
    api_requests: AtomicU64,
    token_requests: AtomicU64,
    voucher_requests: AtomicU64,
    refused_429: AtomicU64,
    reads: AtomicU64,
    failed_reads: AtomicU64,
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
    /// Serves on `127.0.0.1:port` (0 picks a free port).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(cfg: FakeConfig, port: u16) -> std::io::Result<FakeServer> {
        let shared = Arc::new(Shared {
            cfg: Mutex::new(cfg),
            tokens: Mutex::new(HashMap::new()),
            recent: Mutex::new(Vec::new()),
            vouchers: Mutex::new(Vec::new()),
            api_requests: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            voucher_requests: AtomicU64::new(0),
            refused_429: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            failed_reads: AtomicU64::new(0),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("fake kame stopped: {e}");
            }
        });
        Ok(FakeServer { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every voucher recorded, in order.
    pub fn vouchers(&self) -> Vec<Recorded> {
        lock(&self.shared.vouchers).clone()
    }

    /// How many vouchers carry each comentario.
    pub fn voucher_counts(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for v in lock(&self.shared.vouchers).iter() {
            *out.entry(v.comentario()).or_insert(0) += 1;
        }
        out
    }

    /// Tokens handed out (successful `/oauth/token` calls).
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::Relaxed)
    }

    /// `addComprobante` calls received, recorded or not.
    pub fn voucher_requests(&self) -> u64 {
        self.shared.voucher_requests.load(Ordering::Relaxed)
    }

    /// Requests answered 429.
    pub fn refused_429(&self) -> u64 {
        self.shared.refused_429.load(Ordering::Relaxed)
    }

    /// Reads answered 503 by `fail_read_every`.
    pub fn failed_reads(&self) -> u64 {
        self.shared.failed_reads.load(Ordering::Relaxed)
    }

    /// Forgets every token handed out (as when Kame revokes them).
    pub fn revoke_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Changes the behaviour.
    pub fn configure(&self, f: impl FnOnce(&mut FakeConfig)) {
        f(&mut lock(&self.shared.cfg));
    }
}

fn error(status: StatusCode, member: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "Estado": "Error",
            "Id": 0,
            "Fecha": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "Error": [{"MemberNames": [member], "ErrorMessage": message}],
        })),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let cfg = lock(&shared.cfg).clone();
    // Kame's pace applies to every request, the token's included
    {
        let now = Instant::now();
        let mut recent = lock(&shared.recent);
        recent.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        if recent.len() >= cfg.per_minute as usize {
            shared.refused_429.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "Too Many Requests",
            )
                .into_response();
        }
        recent.push(now);
    }
    if path == "/oauth/token" && method == Method::POST {
        return token(&shared, &cfg, &body);
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| {
            lock(&shared.tokens)
                .get(t)
                .is_some_and(|until| Instant::now() < *until)
        });
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization",
            "token inválido o vencido",
        );
    }
    let n = shared.api_requests.fetch_add(1, Ordering::Relaxed) + 1;
    if cfg
        .inject_429_every
        .is_some_and(|e| e > 0 && n.is_multiple_of(e))
    {
        shared.refused_429.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "Too Many Requests",
        )
            .into_response();
    }
    if method == Method::GET {
        let r = shared.reads.fetch_add(1, Ordering::Relaxed) + 1;
        if cfg
            .fail_read_every
            .is_some_and(|e| e > 0 && r.is_multiple_of(e))
        {
            shared.failed_reads.fetch_add(1, Ordering::Relaxed);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "servicio",
                "servicio no disponible, intente más tarde",
            );
        }
    }
    match (method, path.as_str()) {
        (Method::GET, "/api/Maestro/getListFicha") => fichas(&cfg, &query),
        (Method::POST, "/api/Contabilidad/addComprobante") => comprobante(&shared, &cfg, &body),
        (Method::GET, "/api/Contabilidad/getCuentaxPagar") => por_pagar(&shared, &cfg, &query),
        _ => error(StatusCode::NOT_FOUND, "ruta", "recurso no encontrado"),
    }
}

fn token(shared: &Shared, cfg: &FakeConfig, body: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "body", "JSON inválido");
    };
    let s = |k: &str| text(field(&v, &[k])).unwrap_or_default();
    if s("grant_type") != "client_credentials" || s("audience") != crate::AUDIENCE {
        return error(
            StatusCode::BAD_REQUEST,
            "grant_type",
            "solicitud de token inválida",
        );
    }
    if s("client_id") != cfg.client_id || s("client_secret") != cfg.client_secret {
        return error(
            StatusCode::UNAUTHORIZED,
            "client_id",
            "credenciales inválidas",
        );
    }
    let n = shared.token_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let tok = format!("tok-{n}-{:x}", {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.finish()
    });
    lock(&shared.tokens).insert(
        tok.clone(),
        Instant::now() + Duration::from_secs(cfg.token_ttl_secs),
    );
    axum::Json(json!({
        "access_token": tok,
        "token_type": "Bearer",
        "expires_in": cfg.token_ttl_secs,
    }))
    .into_response()
}

fn fichas(cfg: &FakeConfig, q: &HashMap<String, String>) -> Response {
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per = cfg.per_page.max(1);
    let items: Vec<Value> = cfg
        .fichas
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect();
    axum::Json(json!({"items": items, "per_page": per, "total": cfg.fichas.len()})).into_response()
}

/// Kame's checks of a voucher; `Err((member, message))` when it is refused.
fn check_voucher(v: &Value) -> Result<(), (&'static str, String)> {
    let s = |k: &str| text(field(v, &[k])).unwrap_or_default();
    if s("usuario").is_empty() {
        return Err(("usuario", "el usuario es obligatorio".into()));
    }
    if !matches!(
        s("tipoComprobante").as_str(),
        "TRASPASO" | "INGRESO" | "EGRESO"
    ) {
        return Err(("tipoComprobante", "tipo de comprobante inválido".into()));
    }
    if chrono::NaiveDate::parse_from_str(&s("fecha"), "%Y-%m-%d").is_err() {
        return Err(("fecha", "la fecha debe ser AAAA-MM-DD".into()));
    }
    let Some(lines) = field(v, &["detalle"]).and_then(Value::as_array) else {
        return Err(("detalle", "el detalle es obligatorio".into()));
    };
    if lines.len() < 2 {
        return Err((
            "detalle",
            "el comprobante necesita al menos dos líneas".into(),
        ));
    }
    let (mut debe, mut haber) = (0i64, 0i64);
    for (i, l) in lines.iter().enumerate() {
        let amount = |k: &str| field(l, &[k]).and_then(Value::as_i64);
        let (Some(d), Some(h)) = (amount("debe"), amount("haber")) else {
            return Err((
                "detalle",
                format!("línea {}: debe y haber deben ser enteros", i + 1),
            ));
        };
        if d < 0 || h < 0 || (d > 0) == (h > 0) {
            return Err(("detalle", format!("línea {}: va al debe o al haber", i + 1)));
        }
        if text(field(l, &["cuenta"])).is_none() {
            return Err(("cuenta", format!("línea {}: falta la cuenta", i + 1)));
        }
        debe += d;
        haber += h;
    }
    if debe != haber {
        return Err((
            "detalle",
            format!("el comprobante no cuadra: debe {debe}, haber {haber}"),
        ));
    }
    Ok(())
}

fn comprobante(shared: &Shared, cfg: &FakeConfig, body: &[u8]) -> Response {
    let n = shared.voucher_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "body", "JSON inválido");
    };
    if let Err((member, msg)) = check_voucher(&v) {
        return error(StatusCode::BAD_REQUEST, member, &msg);
    }
    let numero = {
        let mut all = lock(&shared.vouchers);
        let numero = all.len() as u64 + 1;
        all.push(Recorded { numero, body: v });
        numero
    };
    if cfg
        .lose_answer_every
        .is_some_and(|e| e > 0 && n.is_multiple_of(e))
    {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "servidor",
            "error interno",
        );
    }
    axum::Json(json!({"Estado": "OK", "Id": numero})).into_response()
}

fn por_pagar(shared: &Shared, cfg: &FakeConfig, q: &HashMap<String, String>) -> Response {
    let day = |k: &str| {
        q.get(k)
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let (Some(desde), Some(hasta)) = (day("fechaVencimientoDesde"), day("fechaVencimientoHasta"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "fechaVencimientoDesde",
            "fechas de vencimiento obligatorias (AAAA-MM-DD)",
        );
    };
    let mut items = Vec::new();
    for r in lock(&shared.vouchers).iter() {
        for l in field(&r.body, &["detalle"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(rut) = text(field(l, &["rutFicha"])) else {
                continue;
            };
            let Some(due) = text(field(l, &["fechaVencimiento"]))
                .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            if (desde..=hasta).contains(&due) {
                items.push(json!({
                    "rutFicha": rut,
                    "documento": text(field(l, &["documento"])).unwrap_or_default(),
                    "folioDocumento": text(field(l, &["folioDocumento"])).unwrap_or_default(),
                    "fechaVencimiento": due.to_string(),
                    "comprobante": r.numero,
                }));
            }
        }
    }
    // paged like getListFicha
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per = cfg.per_page.max(1);
    let total = items.len();
    let items: Vec<Value> = items.into_iter().skip((page - 1) * per).take(per).collect();
    axum::Json(json!({"items": items, "per_page": per, "total": total})).into_response()
}

//! The HTTP client: every call a GET with the product's subscription key in
//! `Ocp-Apim-Subscription-Key` and `api-version=1.0`; a client-side pace between requests;
//! retries with exponential backoff honouring `Retry-After` on 429 and 5xx; the secondary
//! key tried once on 401 (APIM keys come in pairs and get rotated); timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::error::{IconstruyeError, Result};
use crate::secret::ApiKey;

/// Default base address of the API.
pub const DEFAULT_BASE_URL: &str = "https://api.iconstruye.com";
/// The header APIM reads the key from.
pub const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";
/// The API version every call names.
pub const API_VERSION: &str = "1.0";
/// Longest date window one search may ask for (the API has no pagination).
pub const MAX_WINDOW_DAYS: i64 = 30;

/// An API product; each has its own subscription keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// `cvbf`: facturas and notas de corrección.
    Facturas,
    /// `ordencompra`: purchase orders and centros de gestión.
    OrdenesCompra,
}

impl Product {
    /// Spanish name.
    pub fn label(self) -> &'static str {
        match self {
            Product::Facturas => "facturas",
            Product::OrdenesCompra => "órdenes de compra",
        }
    }

    /// Name of the primary key's credential (`icc credentials set NAME`).
    pub fn credential(self) -> &'static str {
        match self {
            Product::Facturas => "iconstruye-facturas",
            Product::OrdenesCompra => "iconstruye-ordenes",
        }
    }

    /// Name of the secondary key's credential.
    pub fn secondary_credential(self) -> &'static str {
        match self {
            Product::Facturas => "iconstruye-facturas-secundaria",
            Product::OrdenesCompra => "iconstruye-ordenes-secundaria",
        }
    }
}

/// A product's primary key and, optionally, its secondary.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// Primary key.
    pub primary: ApiKey,
    /// Secondary key, tried once when the primary gets a 401.
    pub secondary: Option<ApiKey>,
}

/// Keys per product; a product without keys fails with a message saying how to set them.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// For `cvbf`.
    pub facturas: Option<KeyPair>,
    /// For `ordencompra`.
    pub ordenes: Option<KeyPair>,
}

/// How the client paces and retries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base address (`https://api.iconstruye.com`).
    pub base_url: String,
    /// Least time between two requests (iConstruye answers 429 when called faster).
    pub min_interval: Duration,
    /// Retries of one request after a 429, a 5xx or a network error.
    pub max_retries: u32,
    /// First backoff; doubles at every retry.
    pub backoff_base: Duration,
    /// Longest wait between attempts, also the cap on `Retry-After`.
    pub backoff_max: Duration,
    /// Time allowed for a whole request.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.into(),
            min_interval: Duration::from_millis(500),
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

struct KeyState {
    pair: KeyPair,
    on_secondary: AtomicBool,
}

/// The iConstruye client. Cheap to share behind an `Arc`; requests are paced across all
/// callers.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    cfg: ClientConfig,
    facturas: Option<KeyState>,
    ordenes: Option<KeyState>,
    last_request: tokio::sync::Mutex<Option<Instant>>,
    cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `cfg.base_url` with `keys`. `cancel`, once set, stops the work at the
    /// next request or wait.
    ///
    /// # Errors
    /// [`IconstruyeError::BadUrl`], or a TLS setup failure as [`IconstruyeError::Network`].
    pub fn new(cfg: ClientConfig, keys: Keys, cancel: Arc<AtomicBool>) -> Result<Client> {
        let mut base = Url::parse(cfg.base_url.trim())
            .map_err(|_| IconstruyeError::BadUrl(cfg.base_url.clone()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(IconstruyeError::BadUrl(cfg.base_url.clone()));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("icc-facturas/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IconstruyeError::Network {
                base: base.to_string(),
                endpoint: String::new(),
                detail: e.to_string(),
            })?;
        let state = |p: Option<KeyPair>| {
            p.map(|pair| KeyState {
                pair,
                on_secondary: AtomicBool::new(false),
            })
        };
        Ok(Client {
            http,
            base,
            cfg,
            facturas: state(keys.facturas),
            ordenes: state(keys.ordenes),
            last_request: tokio::sync::Mutex::new(None),
            cancel,
        })
    }

    /// The base address in use.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `Factura/Buscar` over received dates `desde..=hasta` (at most 30 days).
    ///
    /// # Errors
    /// See [`IconstruyeError`]; a window too long is a programming error reported as `Http`.
    pub async fn buscar_facturas(&self, desde: NaiveDate, hasta: NaiveDate) -> Result<Vec<Value>> {
        self.buscar_recibidos("cvbf/api/Factura/Buscar", desde, hasta)
            .await
    }

    /// A `cvbf` search by reception dates (`Factura` and `NotasCorreccion` take the same
    /// query).
    async fn buscar_recibidos(
        &self,
        endpoint: &str,
        desde: NaiveDate,
        hasta: NaiveDate,
    ) -> Result<Vec<Value>> {
        self.search(
            endpoint,
            &[
                ("IdOrgc", "-1".into()),
                ("FechaRecepDesde", desde.to_string()),
                ("FechaRecepHasta", hasta.to_string()),
            ],
            desde,
            hasta,
        )
        .await
    }

    /// `Factura/PorId`.
    ///
    /// # Errors
    /// See [`IconstruyeError`].
    pub async fn factura_por_id(&self, id: &str) -> Result<Value> {
        self.get(
            Product::Facturas,
            "cvbf/api/Factura/PorId",
            &[("IdDoc", id.into())],
        )
        .await
    }

    /// `NotasCorreccion/Buscar` over received dates `desde..=hasta`.
    ///
    /// # Errors
    /// See [`IconstruyeError`].
    pub async fn buscar_notas(&self, desde: NaiveDate, hasta: NaiveDate) -> Result<Vec<Value>> {
        self.buscar_recibidos("cvbf/api/NotasCorreccion/Buscar", desde, hasta)
            .await
    }

    /// `NotasCorreccion/PorId`.
    ///
    /// # Errors
    /// See [`IconstruyeError`].
    pub async fn nota_por_id(&self, id: &str) -> Result<Value> {
        self.get(
            Product::Facturas,
            "cvbf/api/NotasCorreccion/PorId",
            &[("IdDoc", id.into())],
        )
        .await
    }

    /// `ConectorBuscarOrdenCompra` over creation dates `desde..=hasta`.
    ///
    /// # Errors
    /// See [`IconstruyeError`].
    pub async fn buscar_ordenes(&self, desde: NaiveDate, hasta: NaiveDate) -> Result<Vec<Value>> {
        self.search(
            "ordencompra/api/ConectorBuscarOrdenCompra",
            &[
                ("IdOrgcOC", "-1".into()),
                ("FechaCreacionDesde", desde.to_string()),
                ("FechaCreacionHasta", hasta.to_string()),
            ],
            desde,
            hasta,
        )
        .await
    }

    /// `ConectorOrdenCompraCreada`: one purchase order's detail.
    ///
    /// # Errors
    /// See [`IconstruyeError`].
    pub async fn orden_detalle(&self, id: &str) -> Result<Value> {
        self.get(
            Product::OrdenesCompra,
            "ordencompra/api/ConectorOrdenCompraCreada",
            &[("IdDoc", id.into())],
        )
        .await
    }

    /// `ConectorConsultarCentroGestion`: the organisation's centros de gestión.
    ///
    /// # Errors
    /// See [`IconstruyeError`].
    pub async fn centros_gestion(&self) -> Result<Vec<Value>> {
        let v = self
            .get(
                Product::OrdenesCompra,
                "ordencompra/api/ConectorConsultarCentroGestion",
                &[],
            )
            .await?;
        as_list("ordencompra/api/ConectorConsultarCentroGestion", v)
    }

    async fn search(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
        desde: NaiveDate,
        hasta: NaiveDate,
    ) -> Result<Vec<Value>> {
        let days = (hasta - desde).num_days() + 1;
        if !(1..=MAX_WINDOW_DAYS).contains(&days) {
            return Err(IconstruyeError::Http {
                endpoint: endpoint.into(),
                status: 400,
                message: format!(
                    "ventana de {days} días ({desde} a {hasta}); se consulta en ventanas de 1 a {MAX_WINDOW_DAYS} días"
                ),
            });
        }
        let product = if endpoint.starts_with("ordencompra") {
            Product::OrdenesCompra
        } else {
            Product::Facturas
        };
        let v = self.get(product, endpoint, query).await?;
        as_list(endpoint, v)
    }

    fn keys(&self, p: Product) -> Result<&KeyState> {
        match p {
            Product::Facturas => self.facturas.as_ref(),
            Product::OrdenesCompra => self.ordenes.as_ref(),
        }
        .ok_or_else(|| IconstruyeError::missing(p))
    }

    fn cancelled(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(IconstruyeError::Cancelled)
        } else {
            Ok(())
        }
    }

    async fn sleep(&self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        loop {
            self.cancelled()?;
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        }
    }

    async fn pace(&self) -> Result<()> {
        let mut last = self.last_request.lock().await;
        if let Some(t) = *last {
            let wait = (t + self.cfg.min_interval).saturating_duration_since(Instant::now());
            self.sleep(wait).await?;
        }
        *last = Some(Instant::now());
        Ok(())
    }

    fn backoff(&self, retry: u32, headers: Option<&HeaderMap>) -> Duration {
        icc_core::retry::backoff(
            self.cfg.backoff_base,
            self.cfg.backoff_max,
            retry,
            headers.and_then(retry_after),
        )
    }

    /// One GET with pacing, retries and key rotation; the answer parsed as JSON.
    async fn get(
        &self,
        product: Product,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> Result<Value> {
        let keys = self.keys(product)?;
        let mut url = self
            .base
            .join(endpoint)
            .map_err(|_| IconstruyeError::BadUrl(self.base.to_string()))?;
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION)
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        let mut retry = 0u32;
        loop {
            self.pace().await?;
            let secondary = keys.on_secondary.load(Ordering::Relaxed);
            let key = if secondary {
                keys.pair.secondary.as_ref().unwrap_or(&keys.pair.primary)
            } else {
                &keys.pair.primary
            };
            let mut value =
                HeaderValue::from_str(key.expose()).map_err(|_| IconstruyeError::KeyRefused {
                    product: product.label(),
                    credential: product.credential(),
                    second: "",
                })?;
            value.set_sensitive(true);
            let sent = self
                .http
                .get(url.clone())
                .header(KEY_HEADER, value)
                .send()
                .await;
            let failure = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    tracing::debug!(endpoint, status = status.as_u16(), retry, "iconstruye");
                    if status.is_success() {
                        let body = match resp.bytes().await {
                            Ok(b) => b,
                            Err(e) => {
                                self.retry_or(&mut retry, None, || self.network(endpoint, &e))
                                    .await?;
                                continue;
                            }
                        };
                        if body.iter().all(u8::is_ascii_whitespace) {
                            return Ok(Value::Array(vec![]));
                        }
                        return serde_json::from_slice(&body).map_err(|e| {
                            IconstruyeError::Malformed {
                                endpoint: endpoint.into(),
                                detail: format!("no es JSON válido ({e})"),
                            }
                        });
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        if !secondary && keys.pair.secondary.is_some() {
                            tracing::warn!(
                                endpoint,
                                "iconstruye refused the primary key; trying the secondary"
                            );
                            keys.on_secondary.store(true, Ordering::Relaxed);
                            continue;
                        }
                        return Err(IconstruyeError::KeyRefused {
                            product: product.label(),
                            credential: if secondary {
                                product.secondary_credential()
                            } else {
                                product.credential()
                            },
                            second: if secondary {
                                ", también la secundaria"
                            } else {
                                ""
                            },
                        });
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        let headers = resp.headers().clone();
                        let attempts = retry + 1;
                        self.retry_or(&mut retry, Some(&headers), || IconstruyeError::GaveUp {
                            endpoint: endpoint.into(),
                            status: status.as_u16(),
                            attempts,
                        })
                        .await?;
                        continue;
                    }
                    let text = resp.text().await.unwrap_or_default();
                    return Err(IconstruyeError::Http {
                        endpoint: endpoint.into(),
                        status: status.as_u16(),
                        message: short_message(&text),
                    });
                }
                Err(e) => self.network(endpoint, &e),
            };
            self.retry_or(&mut retry, None, || failure).await?;
        }
    }

    fn network(&self, endpoint: &str, e: &reqwest::Error) -> IconstruyeError {
        let detail = if e.is_timeout() {
            format!("no respondió en {} s", self.cfg.timeout.as_secs())
        } else if e.is_connect() {
            "no se pudo abrir la conexión".to_owned()
        } else {
            // reqwest's text names the URL (never the key, which is only in a header)
            e.to_string()
        };
        IconstruyeError::Network {
            base: self.base.to_string(),
            endpoint: endpoint.into(),
            detail,
        }
    }

    /// Waits for the next attempt, or fails with `give_up()` when retries are spent.
    async fn retry_or(
        &self,
        retry: &mut u32,
        headers: Option<&HeaderMap>,
        give_up: impl FnOnce() -> IconstruyeError,
    ) -> Result<()> {
        if *retry >= self.cfg.max_retries {
            return Err(give_up());
        }
        let wait = self.backoff(*retry, headers);
        *retry += 1;
        tracing::info!(
            retry = *retry,
            wait_ms = wait.as_millis() as u64,
            "iconstruye: retrying"
        );
        self.sleep(wait).await
    }
}

fn as_list(endpoint: &str, v: Value) -> Result<Vec<Value>> {
    match v {
        Value::Array(items) => Ok(items),
        // an empty window sometimes comes back as null or {}
        Value::Null => Ok(vec![]),
        Value::Object(m) if m.is_empty() => Ok(vec![]),
        other => Err(IconstruyeError::Malformed {
            endpoint: endpoint.into(),
            detail: format!(
                "se esperaba una lista y llegó {}",
                crate::wire::kind(&other)
            ),
        }),
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    icc_core::retry::retry_after(h.get(RETRY_AFTER)?.to_str().ok()?, chrono::Utc::now())
}

fn short_message(body: &str) -> String {
    let msg = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| crate::wire::text(crate::wire::field(&v, &["message", "mensaje", "error"])))
        .unwrap_or_else(|| body.trim().to_owned());
    let mut s: String = msg.chars().take(200).collect();
    if s.is_empty() {
        s = "sin detalle".into();
    }
    s
}

/// Splits `desde..=hasta` into consecutive windows of at most [`MAX_WINDOW_DAYS`] days.
/// Empty when `hasta` is before `desde`.
pub fn windows(desde: NaiveDate, hasta: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = desde;
    while start <= hasta {
        let end = (start + chrono::Days::new((MAX_WINDOW_DAYS - 1) as u64)).min(hasta);
        out.push((start, end));
        match end.succ_opt() {
            Some(n) => start = n,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn windows_cover_the_range_without_gaps_or_overlap() {
        let w = windows(d("2026-01-01"), d("2026-03-31"));
        assert_eq!(w.len(), 3, "90 days, three windows of 30");
        assert_eq!(w[0], (d("2026-01-01"), d("2026-01-30")));
        assert_eq!(w[2].1, d("2026-03-31"));
        assert_eq!(windows(d("2026-01-01"), d("2026-04-01")).len(), 4);
        for pair in w.windows(2) {
            assert_eq!(pair[0].1.succ_opt().unwrap(), pair[1].0);
        }
        assert!(
            w.iter()
                .all(|(a, b)| (*b - *a).num_days() < MAX_WINDOW_DAYS)
        );
        assert_eq!(windows(d("2026-01-05"), d("2026-01-05")).len(), 1);
        assert!(windows(d("2026-01-05"), d("2026-01-04")).is_empty());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("pronto"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_bad_base_url_is_refused_in_spanish() {
        for url in ["", "api.iconstruye.com", "ftp://x", "http://"] {
            let cfg = ClientConfig {
                base_url: url.into(),
                ..ClientConfig::default()
            };
            let e = Client::new(cfg, Keys::default(), Arc::default()).unwrap_err();
            assert!(matches!(e, IconstruyeError::BadUrl(_)), "{url}: {e}");
        }
    }

    #[test]
    fn error_messages_are_short_and_from_the_json_message() {
        assert_eq!(
            short_message(r#"{"statusCode": 400, "message": "Bad date"}"#),
            "Bad date"
        );
        assert_eq!(short_message(""), "sin detalle");
        assert_eq!(short_message(&"x".repeat(500)).len(), 200);
    }
}

//! The HTTP client: the bearer token from `/oauth/token` kept until shortly before it
//! expires, a pace under Kame's request limit shared by every caller, retries with backoff
//! on 429 (and, for reads, on 5xx and network errors), timeouts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use icc_core::Secret;
use icc_core::kame::Comprobante;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use crate::error::{KameError, Result};
use crate::wire::{self, CuentaPorPagar, FichaPage, Posted};

/// Default base address of the API.
pub const DEFAULT_BASE_URL: &str = "https://api.kameone.cl";
/// The audience every token is asked for.
pub const AUDIENCE: &str = "https://api.kameone.cl/api";
/// Kame's published limit.
pub const REQUESTS_PER_MINUTE: u32 = 180;
/// The least time between two requests that keeps under it.
const KAME_PACE: Duration = Duration::from_millis(60_000 / REQUESTS_PER_MINUTE as u64 + 1);

const TOKEN: &str = "oauth/token";
const FICHAS: &str = "api/Maestro/getListFicha";
const COMPROBANTE: &str = "api/Contabilidad/addComprobante";
const POR_PAGAR: &str = "api/Contabilidad/getCuentaxPagar";
/// Most pages one payables lookup reads.
const MAX_PAGES: u32 = 500;

/// How the client reaches Kame.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base address (`https://api.kameone.cl`).
    pub base_url: String,
    /// OAuth client id (not secret: it names the company's API client).
    pub client_id: String,
    /// OAuth client secret, from the keyring.
    pub client_secret: Secret,
    /// The Kame user vouchers are written as (`usuario`).
    pub usuario: String,
    /// Least time between two requests: 60 s / 180 by default, and never less against
    /// anything but a server on this machine (the fake, in tests and demos).
    pub min_interval: Duration,
    /// Retries of one request after a 429 (or, for reads, a 5xx or a network error).
    pub max_retries: u32,
    /// First backoff; doubles at every retry.
    pub backoff_base: Duration,
    /// Longest wait between attempts, also the cap on `Retry-After`.
    pub backoff_max: Duration,
    /// Time allowed for a whole request.
    pub timeout: Duration,
}

impl ClientConfig {
    /// Kame's public API with its published pace.
    pub fn new(client_id: &str, client_secret: Secret, usuario: &str) -> ClientConfig {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.into(),
            client_id: client_id.trim().to_owned(),
            client_secret,
            usuario: usuario.trim().to_owned(),
            min_interval: KAME_PACE,
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

struct Token {
    value: Secret,
    /// When to stop using it: a minute before Kame says it expires.
    until: Instant,
}

/// The Kame client. Share it behind an `Arc`: requests are paced and the token cached
/// across all callers.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    cfg: ClientConfig,
    token: tokio::sync::Mutex<Option<Token>>,
    last_request: tokio::sync::Mutex<Option<Instant>>,
    token_requests: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("client_id", &self.cfg.client_id)
            .finish_non_exhaustive()
    }
}

/// Whether a failed request may be sent again without risk of doing its work twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Reads and the token: repeat on 429, 5xx and network errors.
    Safe,
    /// A voucher: repeat only when Kame surely did not process it (429, no connection).
    OnlyIfUnsent,
}

impl Client {
    /// A client for `cfg`.
    ///
    /// # Errors
    /// [`KameError::MissingCredentials`] without a client id or secret,
    /// [`KameError::BadUrl`], or a TLS setup failure as [`KameError::Network`].
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        if cfg.client_id.is_empty() || cfg.client_secret.expose().trim().is_empty() {
            return Err(KameError::MissingCredentials);
        }
        let mut base =
            Url::parse(cfg.base_url.trim()).map_err(|_| KameError::BadUrl(cfg.base_url.clone()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(KameError::BadUrl(cfg.base_url.clone()));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let mut cfg = cfg;
        let local = base.host_str().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if !local {
            cfg.min_interval = cfg.min_interval.max(KAME_PACE);
        }
        // no redirects: a 301/302 would turn a voucher's POST into a GET that "succeeds",
        // and a 307 would carry the client secret elsewhere
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("icc-facturas/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KameError::Network {
                base: base.to_string(),
                endpoint: String::new(),
                detail: e.to_string(),
            })?;
        Ok(Client {
            http,
            base,
            cfg,
            token: tokio::sync::Mutex::new(None),
            last_request: tokio::sync::Mutex::new(None),
            token_requests: AtomicU64::new(0),
        })
    }

    /// The base address in use.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// How many tokens this client asked for.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// One page (from 1) of `getListFicha`.
    ///
    /// # Errors
    /// See [`KameError`].
    pub async fn fichas_page(&self, page: u32) -> Result<FichaPage> {
        let v = self.read(FICHAS, &[("page", page.to_string())]).await?;
        wire::ficha_page(&v).map_err(|detail| KameError::Malformed {
            endpoint: FICHAS.into(),
            detail,
        })
    }

    /// `addComprobante`: sends the voucher once. A 429 is retried (Kame did not take it);
    /// anything that leaves in doubt whether Kame recorded it is [`KameError::Uncertain`].
    ///
    /// # Errors
    /// See [`KameError`].
    pub async fn add_comprobante(&self, c: &Comprobante) -> Result<Posted> {
        let body = wire::comprobante_body(c, &self.cfg.usuario);
        // a success is a success whatever its body says: it is only read for Kame's number
        let bytes = self
            .call(
                Method::POST,
                COMPROBANTE,
                &[],
                Some(&body),
                Repeat::OnlyIfUnsent,
            )
            .await?;
        Ok(wire::posted(&bytes))
    }

    /// `getCuentaxPagar` for documents due in `desde..=hasta`, every page. Fails (rather
    /// than answering less) when an item cannot be read: callers decide from absence.
    ///
    /// # Errors
    /// See [`KameError`].
    pub async fn cuentas_por_pagar(
        &self,
        desde: NaiveDate,
        hasta: NaiveDate,
    ) -> Result<Vec<CuentaPorPagar>> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let v = self
                .read(
                    POR_PAGAR,
                    &[
                        ("fechaVencimientoDesde", desde.to_string()),
                        ("fechaVencimientoHasta", hasta.to_string()),
                        ("page", page.to_string()),
                    ],
                )
                .await?;
            let p = wire::cuentas_por_pagar(&v).map_err(|detail| KameError::Malformed {
                endpoint: POR_PAGAR.into(),
                detail,
            })?;
            let items = p.items.len();
            out.extend(p.items);
            let seen = out.len();
            let more = match (p.per_page, p.total) {
                (_, Some(total)) => seen < total && items > 0,
                (Some(per), None) => items >= per && items > 0,
                // a plain list is the whole answer
                (None, None) => false,
            };
            if !more {
                return Ok(out);
            }
        }
        Err(KameError::Malformed {
            endpoint: POR_PAGAR.into(),
            detail: format!("más de {MAX_PAGES} páginas de cuentas por pagar"),
        })
    }

    async fn pace(&self) {
        let mut last = self.last_request.lock().await;
        if let Some(t) = *last {
            tokio::time::sleep_until((t + self.cfg.min_interval).into()).await;
        }
        *last = Some(Instant::now());
    }

    async fn wait(&self, retry: u32, headers: Option<&HeaderMap>) {
        let after = headers
            .and_then(|h| h.get(RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| icc_core::retry::retry_after(v, chrono::Utc::now()));
        let d = icc_core::retry::backoff(self.cfg.backoff_base, self.cfg.backoff_max, retry, after);
        tracing::info!(retry, wait_ms = d.as_millis() as u64, "kame: retrying");
        tokio::time::sleep(d).await;
    }

    /// Waits before another attempt after `status` (429 or 5xx), or gives up when the
    /// retries are spent.
    async fn again(
        &self,
        retry: &mut u32,
        endpoint: &str,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<()> {
        if *retry >= self.cfg.max_retries {
            return Err(KameError::GaveUp {
                endpoint: endpoint.into(),
                status: status.as_u16(),
                attempts: *retry + 1,
            });
        }
        self.wait(*retry, Some(headers)).await;
        *retry += 1;
        Ok(())
    }

    fn network(&self, endpoint: &str, e: &reqwest::Error) -> KameError {
        let detail = if e.is_timeout() {
            format!("no respondió en {} s", self.cfg.timeout.as_secs())
        } else if e.is_connect() {
            "no se pudo abrir la conexión".to_owned()
        } else {
            // reqwest's text names the URL; the token is only in a sensitive header
            e.to_string()
        };
        KameError::Network {
            base: self.base.to_string(),
            endpoint: endpoint.into(),
            detail,
        }
    }

    /// The cached token, or a new one.
    async fn token(&self) -> Result<HeaderValue> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.until
        {
            return bearer(&t.value);
        }
        *slot = None;
        let url = self
            .base
            .join(TOKEN)
            .map_err(|_| KameError::BadUrl(self.base.to_string()))?;
        let body = json!({
            "client_id": self.cfg.client_id,
            "client_secret": self.cfg.client_secret.expose(),
            "audience": AUDIENCE,
            "grant_type": "client_credentials",
        });
        let mut retry = 0u32;
        loop {
            self.pace().await;
            self.token_requests.fetch_add(1, Ordering::Relaxed);
            let sent = self.http.post(url.clone()).json(&body).send().await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if retry < self.cfg.max_retries => {
                    tracing::warn!(error = %self.network(TOKEN, &e), "kame: token request failed");
                    self.wait(retry, None).await;
                    retry += 1;
                    continue;
                }
                Err(e) => return Err(self.network(TOKEN, &e)),
            };
            let status = resp.status();
            tracing::debug!(status = status.as_u16(), retry, "kame token");
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                self.again(&mut retry, TOKEN, status, resp.headers())
                    .await?;
                continue;
            }
            if matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                return Err(KameError::CredentialsRefused {
                    status: status.as_u16(),
                });
            }
            let bytes = resp.bytes().await.map_err(|e| self.network(TOKEN, &e))?;
            if !status.is_success() {
                return Err(KameError::Refused {
                    endpoint: TOKEN.into(),
                    status: status.as_u16(),
                    message: wire::error_message(&String::from_utf8_lossy(&bytes)),
                });
            }
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| KameError::Malformed {
                endpoint: TOKEN.into(),
                detail: format!("no es JSON válido ({e})"),
            })?;
            let value = wire::text(wire::field(&v, &["access_token"]))
                .map(Secret::new)
                .ok_or_else(|| KameError::Malformed {
                    endpoint: TOKEN.into(),
                    detail: "la respuesta no trae access_token".into(),
                })?;
            let secs = wire::field(&v, &["expires_in"])
                .and_then(|x| x.as_u64().or_else(|| x.as_str()?.trim().parse().ok()))
                .unwrap_or(3600);
            let header = bearer(&value)?;
            *slot = Some(Token {
                value,
                until: Instant::now() + Duration::from_secs(secs.saturating_sub(60).max(1)),
            });
            return Ok(header);
        }
    }

    /// One API call with the bearer token: paced, retried as `repeat` allows, a 401 answered
    /// by asking for a new token once.
    async fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Vec<u8>> {
        let mut url = self
            .base
            .join(endpoint)
            .map_err(|_| KameError::BadUrl(self.base.to_string()))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut retry = 0u32;
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            self.pace().await;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let unsent = e.is_connect();
                    if repeat == Repeat::OnlyIfUnsent && !unsent {
                        return Err(KameError::Uncertain {
                            detail: self.network(endpoint, &e).to_string(),
                        });
                    }
                    if retry >= self.cfg.max_retries {
                        return Err(self.network(endpoint, &e));
                    }
                    self.wait(retry, None).await;
                    retry += 1;
                    continue;
                }
            };
            let status = resp.status();
            tracing::debug!(endpoint, status = status.as_u16(), retry, "kame");
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // revoked or expired early: one new token, then the request again (Kame
                // refused it before doing anything)
                renewed = true;
                *self.token.lock().await = None;
                continue;
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS
                || (status.is_server_error() && repeat == Repeat::Safe);
            if retryable {
                self.again(&mut retry, endpoint, status, resp.headers())
                    .await?;
                continue;
            }
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) if repeat == Repeat::OnlyIfUnsent => {
                    return Err(KameError::Uncertain {
                        detail: self.network(endpoint, &e).to_string(),
                    });
                }
                Err(e) => return Err(self.network(endpoint, &e)),
            };
            if status.is_server_error() {
                return Err(KameError::Uncertain {
                    detail: format!(
                        "Kame respondió {} ({})",
                        status.as_u16(),
                        wire::error_message(&String::from_utf8_lossy(&bytes))
                    ),
                });
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(KameError::CredentialsRefused {
                    status: status.as_u16(),
                });
            }
            if !status.is_success() {
                return Err(KameError::Refused {
                    endpoint: endpoint.into(),
                    status: status.as_u16(),
                    message: wire::error_message(&String::from_utf8_lossy(&bytes)),
                });
            }
            return Ok(bytes.to_vec());
        }
    }

    /// [`Client::call`] for a read whose answer must be JSON (nothing is `null`).
    async fn read(&self, endpoint: &str, query: &[(&str, String)]) -> Result<Value> {
        let bytes = self
            .call(Method::GET, endpoint, query, None, Repeat::Safe)
            .await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| KameError::Malformed {
            endpoint: endpoint.into(),
            detail: format!("no es JSON válido ({e})"),
        })
    }
}

fn bearer(token: &Secret) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        KameError::Malformed {
            endpoint: TOKEN.into(),
            detail: "el token trae caracteres que no pueden ir en un encabezado".into(),
        }
    })?;
    v.set_sensitive(true);
    Ok(v)
}

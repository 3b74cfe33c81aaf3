//! The sync client: the HTTP half of offline-first sync (docs/sync.md). It speaks the
//! protocol of `icc_core::sync` to icc-server; reading the outbox and applying what is
//! pulled is icc-store's, orchestrating both is icc-app's.

use std::time::Duration;

use icc_core::Secret;
use icc_core::sync::{PROTOCOL_HEADER, PROTOCOL_VERSION, PullResponse, PushResponse, RawJson};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

/// What can go wrong talking to the server, in Spanish and saying what to do. Tokens and
/// passwords never appear in these messages.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Wrong credentials, or a token that is expired, revoked or reused.
    #[error("el servidor rechazó la sesión: {0}")]
    Unauthorized(String),
    /// The account may not do this (another obra).
    #[error("el servidor no lo permite: {0}")]
    Forbidden(String),
    /// The server refused some ops of a push and stored none: each is listed with its
    /// reason (a permission, an entity it does not hold, a value of the wrong type).
    #[error("{message}")]
    Refused {
        /// HTTP status (400, 403 or 409).
        status: u16,
        /// The server's summary.
        message: String,
        /// Every refused op.
        refused: Vec<icc_core::sync::Refusal>,
    },
    /// Client and server speak different protocol versions.
    #[error("{0}")]
    Outdated(String),
    /// This device's clock is too far off.
    #[error("{0}")]
    ClockSkew(String),
    /// Too many failed logins; wait.
    #[error("{message}")]
    RateLimited {
        /// Server's message.
        message: String,
        /// Seconds to wait.
        retry_after: Option<u64>,
    },
    /// Any other error answer.
    #[error("el servidor respondió {status}: {message}")]
    Server {
        /// Status.
        status: u16,
        /// Message.
        message: String,
    },
    /// The server could not be reached.
    #[error(
        "no se pudo conectar con el servidor de sincronización ({url}): {detail}; los cambios quedan guardados en este equipo y se enviarán en la próxima sincronización"
    )]
    Network {
        /// Server address.
        url: String,
        /// What failed.
        detail: String,
    },
    /// An address that cannot be used.
    #[error(
        "la dirección del servidor «{0}» no es válida: use https://servidor (o http://127.0.0.1:PUERTO en pruebas)"
    )]
    BadUrl(String),
}

/// Tokens from a login or a refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    /// Access token (Bearer).
    pub access_token: Secret,
    /// Seconds it lives.
    pub expires_in: u64,
    /// Refresh token (usable once).
    pub refresh_token: Secret,
    /// The account.
    pub user: Profile,
    /// The device id the server issued to this session (empty from a server older than
    /// device ids).
    #[serde(default)]
    pub device_id: String,
}

/// A server account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// User name.
    pub username: String,
    /// Role code.
    pub role: String,
    /// Obras.
    pub obras: Vec<String>,
}

/// What `/health` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// Server version.
    pub version: String,
    /// Protocol it speaks.
    pub protocol: u32,
    /// Its clock (Unix ms).
    pub server_ms: i64,
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    refused: Vec<icc_core::sync::Refusal>,
}

impl SyncClient {
    /// A client for `base` (`https://…`; plain `http://` only for this computer).
    ///
    /// # Errors
    /// [`SyncError::BadUrl`].
    pub fn new(base: &str) -> Result<SyncClient, SyncError> {
        let trimmed = base.trim().trim_end_matches('/');
        let url = Url::parse(&format!("{trimmed}/")).map_err(|_| SyncError::BadUrl(base.into()))?;
        let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && local)) {
            return Err(SyncError::BadUrl(base.into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("icc-facturas/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Network {
                url: base.into(),
                detail: e.to_string(),
            })?;
        Ok(SyncClient { http, base: url })
    }

    /// The server address.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    fn endpoint(&self, path: &str) -> Result<Url, SyncError> {
        self.base
            .join(path)
            .map_err(|_| SyncError::BadUrl(self.base.to_string()))
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Option<T>, SyncError> {
        let resp = req
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .send()
            .await
            .map_err(|e| SyncError::Network {
                url: self.base.to_string(),
                detail: if e.is_timeout() {
                    "no respondió a tiempo".into()
                } else if e.is_connect() {
                    "no se pudo abrir la conexión".into()
                } else {
                    "la conexión se cortó".into()
                },
            })?;
        let status = resp.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp.bytes().await.map_err(|_| SyncError::Network {
            url: self.base.to_string(),
            detail: "la respuesta se cortó".into(),
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| SyncError::Server {
                    status: status.as_u16(),
                    message: format!(
                        "respuesta inesperada ({e}); ¿es la dirección de un servidor ICC Facturas?"
                    ),
                });
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let (code, message, refused) = body.map_or_else(
            || (String::new(), format!("sin detalle ({status})"), Vec::new()),
            |b| (b.code, b.message, b.refused),
        );
        if !refused.is_empty() {
            return Err(SyncError::Refused {
                status: status.as_u16(),
                message,
                refused,
            });
        }
        Err(match (status.as_u16(), code.as_str()) {
            (401, _) => SyncError::Unauthorized(message),
            (403, _) => SyncError::Forbidden(message),
            (426, _) => SyncError::Outdated(message),
            (429, _) => SyncError::RateLimited {
                message,
                retry_after,
            },
            (413, "") => SyncError::Server {
                status: 413,
                message: "el envío es más grande de lo que el servidor acepta; actualice la aplicación o pida a TI que revise el límite del servidor".into(),
            },
            (_, "clock_skew") => SyncError::ClockSkew(message),
            (s, _) => SyncError::Server { status: s, message },
        })
    }

    /// The server's `/health`: version, protocol and clock (no account needed).
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn health(&self) -> Result<Health, SyncError> {
        let req = self
            .http
            .get(self.endpoint("health")?)
            .timeout(Duration::from_secs(10));
        self.send(req).await?.ok_or_else(|| empty(self))
    }

    /// Signs in. `device_id` is the id this laptop already has, if any: the server gives it
    /// back when it belongs to the same account, else issues a new one.
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn login(
        &self,
        username: &str,
        password: &Secret,
        device_id: Option<&str>,
    ) -> Result<Tokens, SyncError> {
        let req = self.http.post(self.endpoint("api/v1/auth/login")?).json(
            &serde_json::json!({"username": username, "password": password.expose(), "device_id": device_id}),
        );
        self.send(req).await?.ok_or_else(|| empty(self))
    }

    /// Exchanges a refresh token (usable once) for a new pair; with `new_device` the server
    /// also issues a new device id for the session (after a backup restore).
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        new_device: bool,
    ) -> Result<Tokens, SyncError> {
        let req = self.http.post(self.endpoint("api/v1/auth/refresh")?).json(
            &serde_json::json!({"refresh_token": refresh_token.expose(), "new_device": new_device}),
        );
        self.send(req).await?.ok_or_else(|| empty(self))
    }

    /// Revokes the session of `refresh_token`.
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn logout(&self, refresh_token: &Secret) -> Result<(), SyncError> {
        let req = self
            .http
            .post(self.endpoint("api/v1/auth/logout")?)
            .json(&serde_json::json!({"refresh_token": refresh_token.expose()}));
        self.send::<serde_json::Value>(req).await.map(|_| ())
    }

    /// Sends a batch of ops, already encoded as a JSON array (the `ops` of a
    /// `icc_core::sync::PushRequest`), without decoding it.
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn push_encoded(
        &self,
        access: &Secret,
        device_id: &str,
        sent_at_ms: i64,
        ops_json: &str,
    ) -> Result<PushResponse, SyncError> {
        let device = serde_json::Value::from(device_id);
        let mut body = Vec::with_capacity(ops_json.len() + device_id.len() + 64);
        body.extend_from_slice(
            format!("{{\"device_id\":{device},\"sent_at_ms\":{sent_at_ms},\"ops\":").as_bytes(),
        );
        body.extend_from_slice(ops_json.as_bytes());
        body.push(b'}');
        let req = self
            .http
            .post(self.endpoint("api/v1/sync/push")?)
            .bearer_auth(access.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(req).await?.ok_or_else(|| empty(self))
    }

    /// Ops and conflicts after `cursor`, except the ops `device` made itself (it has them).
    /// `scope` is what the device holds, as the last pull said (`*`: all obras; `None`:
    /// unknown), and `treasury` whether it holds the treasury: when the account sees more
    /// now, the server starts again from the beginning.
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn pull(
        &self,
        access: &Secret,
        device: &str,
        cursor: i64,
        limit: i64,
        scope: Option<&str>,
        treasury: Option<bool>,
    ) -> Result<PullResponse<RawJson>, SyncError> {
        let mut url = self.endpoint("api/v1/sync/pull")?;
        url.query_pairs_mut()
            .append_pair("cursor", &cursor.to_string())
            .append_pair("limit", &limit.to_string())
            .append_pair("device", device);
        if let Some(scope) = scope {
            url.query_pairs_mut().append_pair("scope", scope);
        }
        if let Some(t) = treasury {
            url.query_pairs_mut()
                .append_pair("treasury", if t { "true" } else { "false" });
        }
        let req = self.http.get(url).bearer_auth(access.expose());
        self.send(req).await?.ok_or_else(|| empty(self))
    }

    /// Marks a conflict resolved.
    ///
    /// # Errors
    /// [`SyncError`].
    pub async fn resolve(&self, access: &Secret, id: i64) -> Result<(), SyncError> {
        let req = self
            .http
            .post(self.endpoint(&format!("api/v1/conflicts/{id}/resolve"))?)
            .bearer_auth(access.expose())
            .json(&serde_json::json!({}));
        self.send::<serde_json::Value>(req).await.map(|_| ())
    }
}

fn empty(c: &SyncClient) -> SyncError {
    SyncError::Server {
        status: 204,
        message: format!(
            "{} respondió sin contenido donde se esperaba una respuesta",
            c.base
        ),
    }
}

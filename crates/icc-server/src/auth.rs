//! Accounts and tokens: argon2id passwords, HS256 access tokens of at most 15 minutes,
//! rotating refresh tokens stored hashed (reusing a rotated one revokes its whole family,
//! except a retry within [`REFRESH_GRACE`] whose answer was lost), device ids bound to
//! accounts, logout, and login limits kept in PostgreSQL so every instance shares them.
//!
//! Login limits count attempts before the password is checked, each with one atomic
//! `INSERT … ON CONFLICT DO UPDATE … RETURNING` (no read-then-write race): per account and
//! address (`acct:NAME@ADDR`) always; and, at an address the account never signed in from
//! (`known_addresses`), per address (`ip:ADDR`) and per account (`acct-all:NAME`). So
//! nobody else's failures lock an account out of the addresses it is used from, and its
//! own failures lock it out of that address only. A success takes its attempt back.
//! Hashes run under a semaphore of `Config::hash_concurrency` permits.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use icc_core::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Login attempts allowed per account and address (`acct:NAME@ADDR`) in one window.
pub const MAX_FAILURES: i32 = 10;
/// Login attempts allowed per address, whatever the account (`ip:ADDR`), in one window;
/// not applied to an account at an address it signed in from before.
pub const MAX_ADDRESS_FAILURES: i32 = 30;
/// Login attempts allowed per account from addresses it never signed in from
/// (`acct-all:NAME`), in one window; never applied to its known addresses.
pub const MAX_ACCOUNT_FAILURES: i32 = 100;
/// Length of the failure window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long after its rotation a refresh token may be presented again, while its
/// successor is unused, because the answer of the rotation was lost.
pub const REFRESH_GRACE: Duration = Duration::from_secs(2 * 60);
/// Longest user name (as `users add` allows).
const MAX_USERNAME_CHARS: usize = 64;

/// Hashes a password with argon2id and a random salt.
///
/// # Errors
/// Only if the OS random generator fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("no se pudo calcular el hash de la contraseña: {e}"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash to verify against when the user does not exist, so timing does not tell.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("contraseña de relleno para medir igual").unwrap_or_default())
}

/// What an access token says. Role and obras are informative: every request reads the
/// account's current ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User name.
    pub sub: String,
    /// Role code.
    pub role: String,
    /// Obras (site managers).
    pub obras: Vec<String>,
    /// Refresh-token family: logout revokes the access tokens of the family too.
    pub fam: uuid::Uuid,
    /// The family's device (absent in sessions opened before device ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires (unix seconds).
    pub exp: i64,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail
    <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Signs claims as a compact HS256 JWT.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = B64.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Checks a token's signature (constant time), algorithm and expiry.
///
/// # Errors
/// A Spanish reason: malformed, tampered, expired.
pub fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("el token no tiene la forma esperada");
    };
    let header: serde_json::Value = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("el token no tiene la forma esperada")?;
    if header["alg"] != "HS256" {
        return Err("el token usa un algoritmo no aceptado");
    }
    let sig = B64
        .decode(s)
        .map_err(|_| "la firma del token no es válida")?;
    let mut m = mac(secret);
    m.update(format!("{h}.{p}").as_bytes());
    m.verify_slice(&sig)
        .map_err(|_| "la firma del token no es válida")?;
    let claims: Claims = B64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("el contenido del token no es válido")?;
    if claims.exp <= now {
        return Err("el token venció; renuévelo");
    }
    Ok(claims)
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// Whether `id` may be a device id: 1 to 64 ASCII letters, digits or `_` (it ends the
/// ops' HLC, whose parts `-` separates).
pub fn valid_device_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A signed-in user, from a valid access token of a live family and an enabled account.
#[derive(Debug, Clone)]
pub struct Authed {
    /// User name (as the account spells it).
    pub username: String,
    /// Role, as the account has it now (not as the token says).
    pub role: Role,
    /// Obras (site managers), as the account has them now.
    pub obras: Vec<String>,
    /// The device the session's family is bound to (`None`: a session opened before device
    /// ids were issued).
    pub device: Option<String>,
}

impl Authed {
    /// The obras this user is limited to; `None` means all.
    pub fn scope(&self) -> Option<&[String]> {
        (self.role == Role::AdminObra).then_some(self.obras.as_slice())
    }

    /// Whether the user may see and change an entity of `obra`.
    pub fn sees(&self, obra: Option<&str>) -> bool {
        match self.scope() {
            None => true,
            Some(s) => obra.is_some_and(|o| s.iter().any(|x| x.eq_ignore_ascii_case(o))),
        }
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Authed, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "falta el token de acceso (Authorization: Bearer …); inicie sesión",
                )
            })?;
        let claims = verify(
            token.trim(),
            st.cfg.signing_secret.expose().as_bytes(),
            chrono::Utc::now().timestamp(),
        )
        .map_err(ApiError::unauthorized)?;
        // a successor withdrawn after a lost answer (`superseded`) is revoked alone
        let row: Option<(String, String, Vec<String>, bool, bool)> = sqlx::query_as(
            "SELECT u.username, u.role, u.obras, u.disabled, \
                    EXISTS (SELECT 1 FROM refresh_tokens t \
                            WHERE t.family = $2 AND t.revoked_at IS NOT NULL AND NOT t.superseded) \
             FROM users u WHERE lower(u.username) = lower($1)",
        )
        .bind(&claims.sub)
        .bind(claims.fam)
        .fetch_optional(&st.pool)
        .await?;
        let (username, role, obras) = match row {
            Some((username, role, obras, false, false)) => (username, role, obras),
            Some((_, _, _, true, _)) => {
                return Err(ApiError::unauthorized("la cuenta está deshabilitada"));
            }
            Some((_, _, _, _, true)) => {
                return Err(ApiError::unauthorized(
                    "la sesión fue cerrada; inicie sesión de nuevo",
                ));
            }
            None => return Err(ApiError::unauthorized("la cuenta no existe")),
        };
        let role: Role = role.parse().map_err(|_| {
            ApiError::internal(format!("account {username} has an unknown role {role}"))
        })?;
        Ok(Authed {
            username,
            role,
            obras,
            device: claims.dev,
        })
    }
}

/// Which of `devices` are bound to the account `username` (any order; unknown ids and
/// other accounts' ids are left out).
///
/// # Errors
/// Database errors.
pub async fn user_devices<'e, E>(
    ex: E,
    username: &str,
    devices: &[String],
) -> sqlx::Result<Vec<String>>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_scalar(
        "SELECT d.device_id FROM devices d JOIN users u ON u.id = d.user_id \
         WHERE lower(u.username) = lower($1) AND d.device_id = ANY($2)",
    )
    .bind(username)
    .bind(devices)
    .fetch_all(ex)
    .await
}

/// Whether no account has `device_id` (a legacy laptop's own id, never bound).
///
/// # Errors
/// Database errors.
pub async fn device_is_free<'e, E>(ex: E, device_id: &str) -> sqlx::Result<bool>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM devices WHERE device_id = $1)")
        .bind(device_id)
        .fetch_one(ex)
        .await
}

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The device id this laptop has, if any: kept when it is free or already this
    /// account's, otherwise a new one is issued.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// Tokens and who they are for.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Access token (Bearer), short-lived.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Refresh token: exchange it at `/auth/refresh` for a new pair; usable once.
    pub refresh_token: String,
    /// The account.
    pub user: Profile,
    /// The device id of this session: the laptop stamps its ops with it. Empty for a
    /// session opened before device ids were issued (until it asks for `new_device`).
    pub device_id: String,
}

/// An account as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// User name.
    pub username: String,
    /// Role code.
    pub role: String,
    /// Obras.
    pub obras: Vec<String>,
}

/// `POST /api/v1/auth/refresh` and `/logout` body.
#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
    /// Issue a new device id for this session (the laptop's database was restored from a
    /// backup, so its old id may have been used since): the family keeps it from then on.
    #[serde(default)]
    pub new_device: bool,
}

/// The client's address. With no trusted proxy, the connection's peer. With `trusted`
/// proxies in front, each appending the address it received from to `X-Forwarded-For`,
/// the `trusted`-th entry from the right: the rightmost one no trusted proxy wrote is
/// anybody's to forge, so the leftmost is never believed. With fewer entries than proxies
/// every entry came from a proxy, and the leftmost is the client.
pub fn client_addr(headers: &HeaderMap, peer: SocketAddr, trusted: usize) -> IpAddr {
    let peer_ip = peer.ip().to_canonical();
    if trusted == 0 {
        return peer_ip;
    }
    let hops: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|h| !h.is_empty())
        .collect();
    let hop = match hops.len().checked_sub(trusted) {
        Some(i) => hops.get(i),
        None => hops.first(),
    };
    hop.and_then(|h| std::str::from_utf8(h).ok())
        .and_then(parse_hop)
        .map_or(peer_ip, |ip| ip.to_canonical())
}

/// An `X-Forwarded-For` entry: an address, maybe with a port, IPv6 maybe in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
}

/// The address as limits and known addresses count it: IPv4 as is, IPv6 by its /64 (one
/// subscriber's network holds 2^64 addresses).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(net))
        }
    }
}

/// Counts one attempt for each of `keys` (with its limit) in one atomic statement, in a
/// fixed order (so concurrent logins never deadlock); the first key over its limit
/// answers 429 with how long to wait.
async fn count_attempt(st: &AppState, keys: &[(String, i32)]) -> ApiResult<()> {
    let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<(String, i32, f64)> = sqlx::query_as(
        "INSERT INTO login_failures (key, window_start, failures) \
         SELECT k, now(), 1 FROM unnest($1::text[]) AS k ORDER BY k \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN login_failures.window_start + make_interval(secs => $2) <= now() \
                           THEN 1 ELSE login_failures.failures + 1 END, \
           window_start = CASE WHEN login_failures.window_start + make_interval(secs => $2) <= now() \
                               THEN now() ELSE login_failures.window_start END \
         RETURNING key, failures, \
           EXTRACT(EPOCH FROM (window_start + make_interval(secs => $2) - now()))::float8",
    )
    .bind(&names)
    .bind(FAILURE_WINDOW.as_secs_f64())
    .fetch_all(&st.pool)
    .await?;
    let over = rows.iter().find_map(|(key, n, left)| {
        let limit = keys.iter().find(|(k, _)| k == key).map(|(_, l)| *l)?;
        (*n > limit).then_some(*left)
    });
    if let Some(left) = over {
        st.metrics.inc("icc_login_rate_limited_total");
        let wait = left.ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("demasiados intentos fallidos; espere {wait} s antes de volver a intentar"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    Ok(())
}

/// Takes back the attempts of a successful login: the account's at this address go, the
/// address's and the account's from unknown addresses lose one; windows long over are
/// dropped. Statements of one row each (the cleanup skips locked rows), so a success never
/// deadlocks with the attempts counted meanwhile.
async fn settle_attempt(pool: &PgPool, forget: &str, decrement: &[String]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(forget)
        .execute(pool)
        .await?;
    for key in decrement {
        sqlx::query(
            "UPDATE login_failures SET failures = GREATEST(failures - 1, 0) WHERE key = $1",
        )
        .bind(key)
        .execute(pool)
        .await?;
    }
    sqlx::query(
        "DELETE FROM login_failures WHERE key IN ( \
           SELECT key FROM login_failures \
           WHERE window_start + make_interval(secs => $1) <= now() \
           FOR UPDATE SKIP LOCKED)",
    )
    .bind(FAILURE_WINDOW.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Verifies a password under the hash semaphore. The permit travels with the blocking task,
/// so a cancelled request does not free it before the hash ends.
async fn verify_limited(st: &AppState, password: String, hash: String) -> ApiResult<bool> {
    let permit = Arc::clone(&st.hash_permits)
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let metrics = Arc::clone(&st.metrics);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _running = metrics.hash_started(); // dropped first: never more than the permits
        verify_password(&password, &hash)
    })
    .await
    .map_err(ApiError::internal)
}

fn hash_token(t: &str) -> Vec<u8> {
    Sha256::digest(t.as_bytes()).to_vec()
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64.encode(bytes)
}

/// A new device id, bound to `user_id`.
async fn new_device(conn: &mut PgConnection, user_id: i64) -> sqlx::Result<String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query("INSERT INTO devices (device_id, user_id) VALUES ($1, $2)")
        .bind(&id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(id)
}

/// The device of a new session: `wanted` when it is valid and free (then bound to this
/// account) or already this account's; otherwise a new one.
async fn login_device(
    conn: &mut PgConnection,
    user_id: i64,
    wanted: Option<&str>,
) -> sqlx::Result<String> {
    if let Some(d) = wanted.map(str::trim).filter(|d| valid_device_id(d)) {
        // one statement: binds a free id, or returns the owner of a taken one
        let owner: i64 = sqlx::query_scalar(
            "INSERT INTO devices (device_id, user_id) VALUES ($1, $2) \
             ON CONFLICT (device_id) DO UPDATE SET user_id = devices.user_id \
             RETURNING user_id",
        )
        .bind(d)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
        if owner == user_id {
            return Ok(d.to_owned());
        }
    }
    new_device(conn, user_id).await
}

/// Stores a new refresh token of `family` for `device`; returns its id and value.
async fn insert_refresh(
    conn: &mut PgConnection,
    st: &AppState,
    user_id: i64,
    family: uuid::Uuid,
    device: Option<&str>,
) -> sqlx::Result<(uuid::Uuid, String)> {
    let refresh = new_refresh_token();
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family, user_id, token_hash, expires_at, device_id) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)",
    )
    .bind(id)
    .bind(family)
    .bind(user_id)
    .bind(hash_token(&refresh))
    .bind(st.cfg.refresh_ttl.as_secs_f64())
    .bind(device)
    .execute(conn)
    .await?;
    Ok((id, refresh))
}

/// The answer: an access token for the family and device, and the refresh token.
fn tokens(
    st: &AppState,
    profile: Profile,
    family: uuid::Uuid,
    device: Option<String>,
    refresh: String,
) -> TokenResponse {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: profile.username.clone(),
        role: profile.role.clone(),
        obras: profile.obras.clone(),
        fam: family,
        dev: device.clone(),
        iat: now,
        exp: now + st.cfg.access_ttl.as_secs() as i64,
    };
    TokenResponse {
        access_token: sign(&claims, st.cfg.signing_secret.expose().as_bytes()),
        expires_in: st.cfg.access_ttl.as_secs(),
        refresh_token: refresh,
        user: profile,
        device_id: device.unwrap_or_default(),
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    obras: Vec<String>,
    disabled: bool,
    /// The account signed in from the request's address before (login only).
    #[sqlx(default)]
    known: bool,
}

impl UserRow {
    fn profile(&self) -> Profile {
        Profile {
            username: self.username.clone(),
            role: self.role.clone(),
            obras: self.obras.clone(),
        }
    }
}

fn wrong_credentials() -> ApiError {
    ApiError::unauthorized("usuario o contraseña incorrectos")
}

/// `POST /api/v1/auth/login`.
///
/// # Errors
/// 429 over a limit (the account at this address; at an address the account never
/// signed in from, also this address or the account from such addresses), 401 for a wrong
/// name or password (without saying which) or a disabled account.
pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let addr = address_key(client_addr(&headers, peer, st.cfg.trusted_proxies));
    let ip_key = format!("ip:{addr}");
    let name = req.username.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > MAX_USERNAME_CHARS {
        // no such account can exist: counted for the address alone
        count_attempt(&st, &[(ip_key, MAX_ADDRESS_FAILURES)]).await?;
        st.metrics.inc("icc_login_failures_total");
        return Err(wrong_credentials());
    }
    let found: Option<UserRow> = sqlx::query_as(
        "SELECT u.id, u.username, u.password_hash, u.role, u.obras, u.disabled, \
                EXISTS (SELECT 1 FROM known_addresses k \
                        WHERE k.user_id = u.id AND k.address = $2) AS known \
         FROM users u WHERE lower(u.username) = $1",
    )
    .bind(&name)
    .bind(&addr)
    .fetch_optional(&st.pool)
    .await?;
    // an account at an address it signed in from before is limited by its own failures
    // there only: nobody else's failures, from there or elsewhere, lock it out
    let known = found.as_ref().is_some_and(|u| u.known);
    let acct_key = format!("acct:{name}@{addr}");
    let all_key = format!("acct-all:{name}");
    let mut shared = Vec::new();
    if !known {
        // the address first, alone: over its limit, no row is written per account name
        count_attempt(&st, &[(ip_key.clone(), MAX_ADDRESS_FAILURES)]).await?;
        shared = vec![ip_key, all_key.clone()];
    }
    let mut keys = vec![(acct_key.clone(), MAX_FAILURES)];
    if !known {
        keys.push((all_key, MAX_ACCOUNT_FAILURES));
    }
    count_attempt(&st, &keys).await?;
    let hash = found
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let ok = verify_limited(&st, req.password, hash).await?;
    let Some(user) = found.filter(|_| ok) else {
        st.metrics.inc("icc_login_failures_total");
        tracing::warn!(user = %name, address = %addr, "login refused");
        return Err(wrong_credentials());
    };
    settle_attempt(&st.pool, &acct_key, &shared).await?;
    if user.disabled {
        return Err(ApiError::unauthorized(format!(
            "la cuenta «{}» está deshabilitada; pida a un administrador que la habilite",
            user.username
        )));
    }
    let mut tx = st.pool.begin().await?;
    sqlx::query(
        "INSERT INTO known_addresses (user_id, address) VALUES ($1, $2) \
         ON CONFLICT (user_id, address) DO UPDATE SET last_seen = now()",
    )
    .bind(user.id)
    .bind(&addr)
    .execute(&mut *tx)
    .await?;
    let device = login_device(&mut tx, user.id, req.device_id.as_deref()).await?;
    let family = uuid::Uuid::new_v4();
    let (_, refresh) = insert_refresh(&mut tx, &st, user.id, family, Some(&device)).await?;
    tx.commit().await?;
    tracing::info!(user = %user.username, address = %addr, device = %device, "login");
    Ok(Json(tokens(
        &st,
        user.profile(),
        family,
        Some(device),
        refresh,
    )))
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: uuid::Uuid,
    family: uuid::Uuid,
    user_id: i64,
    device_id: Option<String>,
    replaced_by: Option<uuid::Uuid>,
    used: bool,
    revoked: bool,
    expired: bool,
    /// Rotated less than [`REFRESH_GRACE`] ago.
    recent: bool,
}

/// Revokes every token of `family` and commits: a used token came back (copied).
async fn revoke_family(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    family: uuid::Uuid,
) -> ApiResult<ApiError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE family = $1",
    )
    .bind(family)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiError::unauthorized(
        "el token de renovación ya se usó o fue revocado; por seguridad se cerró esa sesión: inicie sesión de nuevo",
    ))
}

/// `POST /api/v1/auth/refresh`: the token is used up and the next one of its family issued.
/// A token used before means it was copied and the family is revoked, unless it comes back
/// within [`REFRESH_GRACE`] of its rotation while its successor was never used: then the
/// answer was lost, the unused successor is withdrawn and another one issued. With
/// `new_device` the family gets a new device id from then on.
///
/// # Errors
/// 401 for an unknown, expired, revoked or reused token, or a disabled account.
pub async fn refresh(
    State(st): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let mut tx = st.pool.begin().await?;
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT id, family, user_id, device_id, replaced_by, used_at IS NOT NULL AS used, \
                revoked_at IS NOT NULL AS revoked, expires_at < now() AS expired, \
                COALESCE(used_at > now() - make_interval(secs => $2), FALSE) AS recent \
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash_token(req.refresh_token.trim()))
    .bind(REFRESH_GRACE.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(t) = row else {
        return Err(ApiError::unauthorized(
            "el token de renovación no es válido; inicie sesión",
        ));
    };
    if t.revoked {
        return Err(revoke_family(tx, t.family).await?);
    }
    if t.used {
        // the successor is locked too: a refresh of it in flight decides first
        let lost_answer = match t.replaced_by {
            Some(next) if t.recent && !t.expired => sqlx::query_scalar::<_, bool>(
                "SELECT used_at IS NULL AND revoked_at IS NULL FROM refresh_tokens \
                 WHERE id = $1 FOR UPDATE",
            )
            .bind(next)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(false),
            _ => false,
        };
        let Some(next) = t.replaced_by.filter(|_| lost_answer) else {
            tracing::warn!(family = %t.family, "a rotated refresh token was reused; family revoked");
            return Err(revoke_family(tx, t.family).await?);
        };
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now(), superseded = TRUE WHERE id = $1",
        )
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tracing::info!(family = %t.family, "a refresh answer was lost; its unused successor withdrawn");
    } else if t.expired {
        return Err(ApiError::unauthorized(
            "la sesión venció; inicie sesión de nuevo",
        ));
    } else {
        sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
            .bind(t.id)
            .execute(&mut *tx)
            .await?;
    }
    let user: UserRow = sqlx::query_as(
        "SELECT id, username, password_hash, role, obras, disabled FROM users WHERE id = $1",
    )
    .bind(t.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if user.disabled {
        return Err(ApiError::unauthorized("la cuenta está deshabilitada"));
    }
    let device = if req.new_device {
        Some(new_device(&mut tx, user.id).await?)
    } else {
        t.device_id
    };
    let (next, refresh) =
        insert_refresh(&mut tx, &st, user.id, t.family, device.as_deref()).await?;
    sqlx::query("UPDATE refresh_tokens SET replaced_by = $2 WHERE id = $1")
        .bind(t.id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if req.new_device {
        tracing::info!(user = %user.username, family = %t.family, device = ?device, "new device id issued");
    }
    Ok(Json(tokens(&st, user.profile(), t.family, device, refresh)))
}

/// `POST /api/v1/auth/logout`: revokes the token's family (its access tokens stop working
/// at once).
///
/// # Errors
/// Database errors only; an unknown token is fine (already logged out).
pub async fn logout(
    State(st): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, now()) \
         WHERE family = (SELECT family FROM refresh_tokens WHERE token_hash = $1)",
    )
    .bind(hash_token(req.refresh_token.trim()))
    .execute(&st.pool)
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me`: the account as it is now.
pub async fn me(user: Authed) -> Json<Profile> {
    Json(Profile {
        username: user.username,
        role: user.role.as_str().to_owned(),
        obras: user.obras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "ana".into(),
            role: "admin".into(),
            obras: vec![],
            fam: uuid::Uuid::nil(),
            dev: None,
            iat: 0,
            exp,
        }
    }

    #[test]
    fn tokens_verify_and_refuse_tampering_and_expiry() {
        let k = b"0123456789abcdef0123456789abcdef-key";
        let t = sign(&claims(100), k);
        assert_eq!(verify(&t, k, 50).unwrap(), claims(100));
        assert!(verify(&t, k, 100).unwrap_err().contains("venció"));
        assert!(
            verify(&t, b"another key of the same length!!!!!!", 50)
                .unwrap_err()
                .contains("firma")
        );
        // change the payload, keep the signature
        let parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(
            serde_json::to_vec(&Claims {
                role: "admin".into(),
                sub: "root".into(),
                ..claims(100)
            })
            .unwrap(),
        );
        assert!(verify(&format!("{}.{forged}.{}", parts[0], parts[2]), k, 50).is_err());
        // alg none
        let none = B64.encode(br#"{"alg":"none"}"#);
        assert!(verify(&format!("{none}.{}.", parts[1]), k, 50).is_err());
        assert!(verify("a.b", k, 50).is_err());
    }

    #[test]
    fn tokens_without_a_device_still_verify() {
        let k = b"0123456789abcdef0123456789abcdef-key";
        let old = serde_json::json!({"sub": "ana", "role": "admin", "obras": [],
            "fam": uuid::Uuid::nil(), "iat": 0, "exp": 100});
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let input = format!("{header}.{}", B64.encode(old.to_string()));
        let mut m = mac(k);
        m.update(input.as_bytes());
        let t = format!("{input}.{}", B64.encode(m.finalize().into_bytes()));
        assert_eq!(verify(&t, k, 50).unwrap().dev, None);
        let with = Claims {
            dev: Some("pc1".into()),
            ..claims(100)
        };
        assert_eq!(verify(&sign(&with, k), k, 50).unwrap(), with);
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_wrote() {
        let peer: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // no proxy: the peer, whatever the header says
        assert_eq!(client_addr(&headers(&["1.1.1.1"]), peer, 0), ip("10.0.0.2"));
        // one proxy: the entry it appended, never the forged leftmost
        let h = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_addr(&h, peer, 1), ip("203.0.113.7"));
        // two proxies: the second from the right
        let h = headers(&["6.6.6.6, 203.0.113.7", "198.51.100.1"]);
        assert_eq!(client_addr(&h, peer, 2), ip("203.0.113.7"));
        assert_eq!(client_addr(&h, peer, 1), ip("198.51.100.1"));
        // fewer entries than proxies: all came from proxies, the leftmost is the client
        assert_eq!(
            client_addr(&headers(&["203.0.113.7"]), peer, 2),
            ip("203.0.113.7")
        );
        // no header, or garbage where the proxy's entry should be: the peer
        assert_eq!(client_addr(&HeaderMap::new(), peer, 1), ip("10.0.0.2"));
        assert_eq!(
            client_addr(&headers(&["203.0.113.7, basura"]), peer, 1),
            ip("10.0.0.2")
        );
        // ports, brackets and IPv4-mapped IPv6
        assert_eq!(
            client_addr(&headers(&["203.0.113.7:5555"]), peer, 1),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_addr(&headers(&["[2001:db8::1]:443"]), peer, 1),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_addr(&headers(&["::ffff:203.0.113.7"]), peer, 1),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key("203.0.113.7".parse().unwrap()), "203.0.113.7");
    }

    #[test]
    fn device_ids_and_secrets() {
        assert!(valid_device_id("a1b2_C3"));
        assert!(valid_device_id(&"x".repeat(64)));
        for bad in ["", "con-guion", "con espacio", "ñandú", &"x".repeat(65)] {
            assert!(!valid_device_id(bad), "{bad}");
        }
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd") && !same_secret("abc", "abcd"));
    }
}

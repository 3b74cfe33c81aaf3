//! `icc-server`: the central server of ICC Facturas. Accounts and tokens, and the meeting
//! point of offline-first sync; stateless, so any number of instances can run behind a load
//! balancer with PostgreSQL holding all state.
//!
//! Endpoints (`/api/v1`): `auth/login`, `auth/refresh`, `auth/logout`, `me`, `sync/push`,
//! `sync/pull`, `conflicts/{id}/resolve`; `/health`, `/ready`, `/api/v1/openapi.json` and its
//! page `/api/v1/docs`; `/metrics` behind a token or on its own listener
//! ([`metrics_router`]), never open on the public one.

pub mod auth;
pub mod config;
pub mod error;
mod http;
pub mod metrics;
mod records;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub use config::Config;
pub use http::{metrics_router, router};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// Configuration.
    pub cfg: Arc<Config>,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Password hashes that may run at once (`Config::hash_concurrency` permits).
    pub hash_permits: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// The state of a server on `pool` with `cfg`, its metrics starting at zero.
    pub fn new(pool: PgPool, cfg: Config) -> AppState {
        let permits = cfg.hash_concurrency.max(1);
        AppState {
            pool,
            cfg: Arc::new(cfg),
            metrics: Arc::default(),
            hash_permits: Arc::new(tokio::sync::Semaphore::new(permits)),
        }
    }
}

/// The embedded migrations (`migrations/postgres`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connects to PostgreSQL.
///
/// # Errors
/// When the database cannot be reached; the message never contains the URL's password.
pub async fn connect(cfg: &Config) -> Result<PgPool, String> {
    let mut opts = sqlx::postgres::PgConnectOptions::from_str(cfg.database_url.expose())
        .map_err(|_| {
            "DATABASE_URL no es una dirección de PostgreSQL válida; use postgres://USUARIO@SERVIDOR:5432/BASE".to_owned()
        })?;
    if let Some(pw) = &cfg.database_password {
        opts = opts.password(pw.expose());
    }
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(opts)
        .await
        .map_err(|e| {
            // sqlx errors can repeat the URL; keep only the kind of failure
            let kind = match &e {
                sqlx::Error::Io(io) => io.to_string(),
                sqlx::Error::Database(d) => d.message().to_owned(),
                sqlx::Error::PoolTimedOut => "tiempo de espera agotado".into(),
                sqlx::Error::Tls(_) => "error de TLS".into(),
                _ => "no se pudo conectar".into(),
            };
            format!("no se pudo conectar a PostgreSQL (DATABASE_URL): {kind}")
        })
}

/// Applies pending migrations.
///
/// # Errors
/// A migration failed, or the database is newer than this server.
pub async fn migrate(pool: &PgPool) -> Result<(), String> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| format!("no se pudieron aplicar las migraciones: {e}"))
}

/// Whether every embedded migration is applied (false when the database cannot tell).
pub async fn migrations_current(pool: &PgPool) -> bool {
    let applied: Result<Vec<i64>, _> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await;
    applied.is_ok_and(|applied| MIGRATOR.iter().all(|m| applied.contains(&m.version)))
}

//! A real server for other crates' tests and benchmarks (feature `testing`): a fresh
//! PostgreSQL database, migrated, with accounts, served over HTTP on 127.0.0.1.

use std::net::SocketAddr;

use icc_core::Role;
use sqlx::PgPool;

use crate::{AppState, Config};

/// The signing secret of test servers (strong enough for the check, public on purpose).
pub const TEST_SECRET: &str = "t3st-Sign1ng-K3y-9fQ2xLm7Rv4Zp8Wc6Yb";

/// `ICC_TEST_DATABASE_URL`, or the development machines' PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("ICC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of database `db` on the same server as [`admin_url`].
pub fn database_url(db: &str) -> String {
    let base = admin_url();
    let head = base.rsplit_once('/').map_or(base.as_str(), |(h, _)| h);
    format!("{head}/{db}")
}

/// The configuration of a test server on database `db`.
///
/// # Panics
/// Never: the test secret passes the check.
pub fn config(db: &str) -> Config {
    let url = database_url(db);
    Config::from_lookup(&|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "ICC_SERVER_SECRET" => Some(TEST_SECRET.into()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("test configuration: {e}"))
}

/// Serves `cfg` with `pool` on `listener` until the task is aborted.
pub fn serve(
    cfg: Config,
    pool: PgPool,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let app =
        crate::router(AppState::new(pool, cfg)).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("test server stopped: {e}");
        }
    })
}

/// A running test server and its database.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its database.
    pub pool: PgPool,
    /// The database's name.
    pub db: String,
    /// The serving task.
    pub task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Creates a fresh database, migrates it, adds `users` (name, role, obras) with
    /// `password`, and serves it.
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached or set up: tests fail loudly.
    pub async fn start(users: &[(&str, Role, &[&str])], password: &str) -> TestServer {
        TestServer::start_with(users, password, |_| {}).await
    }

    /// As [`TestServer::start`], with the configuration changed by `tweak` first (for
    /// example `cfg.trusted_proxies = 1`, so tests can set `X-Forwarded-For`).
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached or set up: tests fail loudly.
    pub async fn start_with(
        users: &[(&str, Role, &[&str])],
        password: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let db = format!("icc_test_{}", uuid::Uuid::new_v4().simple());
        let admin = PgPool::connect(&admin_url())
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at ICC_TEST_DATABASE_URL: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE: {e}"));
        admin.close().await;
        let mut cfg = config(&db);
        tweak(&mut cfg);
        let pool = crate::connect(&cfg).await.unwrap_or_else(|e| panic!("{e}"));
        crate::migrate(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, role, obras) in users {
            let obras: Vec<String> = obras.iter().map(|o| (*o).to_owned()).collect();
            crate::users::add(&pool, name, *role, &obras, password)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let task = serve(cfg, pool.clone(), listener);
        TestServer {
            url: format!("http://{addr}"),
            pool,
            db,
            task,
        }
    }

    /// Stops serving and drops the database.
    ///
    /// # Panics
    /// When the database cannot be dropped.
    pub async fn stop(self) {
        self.task.abort();
        self.pool.close().await;
        let admin = PgPool::connect(&admin_url())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.db
        )))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("DROP DATABASE: {e}"));
    }
}

//! The local SQLite database of ICC Facturas.
//!
//! [`Store::open`] creates or opens the file, sets the pragmas (WAL, `foreign_keys`,
//! `busy_timeout`, `synchronous=NORMAL`) and runs the embedded migrations of
//! `migrations/sqlite`. Every write goes through a [`WriteTx`], which records who made it and
//! writes its audit-log rows in the same transaction, so a crash never leaves a change without
//! its history nor half a change.
//!
//! ```no_run
//! # async fn demo() -> icc_store::Result<()> {
//! let store = icc_store::Store::open(std::path::Path::new("/tmp/icc.db")).await?;
//! assert_eq!(store.integrity_check().await?, vec!["ok".to_string()]);
//! # Ok(()) }
//! ```

mod attachments;
pub mod backup;
mod cipher;
mod closing;
pub mod cuentas;
mod error;
mod export;
mod invoices;
pub mod kame;
pub mod legacy;
pub mod nominas;
mod obras;
pub mod pagos;
mod presupuesto;
mod raw;
mod record_sync;
mod search;
pub mod sync;
mod users;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use attachments::{Attachment, SupplierRow};
pub use cipher::{
    DbKey, FileKind, encrypt_in_place, file_kind, key_opens, options as connect_options,
};
pub use error::{Result, StoreError};
pub use export::{
    ClaimGroup, DashboardGroups, DueGroup, EXPORT_CHUNK, ExportRow, ReportSet, SpendGroup,
};
pub use invoices::{AuditEntry, Cursor, InvoiceDetail, InvoiceFilter, InvoiceRow, Page};
pub use obras::Obra;
pub use sync::{Applied, LocalConflict, OutboxBatch, OutboxOp, RefusedChange, RemovedInvoice};
pub use users::{NewUser, User};
pub use write::{AssignmentChange, ImportBatch, InsertReport, WriteTx};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Current UTC time as stored: RFC 3339 with milliseconds.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An open local database. Clones share one pool; when the last one is dropped, the
/// process waits at exit for its connections to close (`closing.rs`).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    /// The SQLCipher key of an encrypted file.
    key: Option<DbKey>,
    _dropped: Arc<closing::OnDrop>,
}

impl Store {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened, [`StoreError::NewerSchema`] when
    /// a newer application wrote it, [`StoreError::Migrate`] when a migration fails (it is
    /// rolled back).
    pub async fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, None).await
    }

    /// Opens (creating if missing) the database at `path` encrypted with `key` (SQLCipher),
    /// as [`Store::open`] otherwise. A file encrypted with another key, or a plain one,
    /// fails with [`StoreError::Open`] ("file is not a database").
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_encrypted(path: &Path, key: DbKey) -> Result<Store> {
        Store::open_with(path, Some(key)).await
    }

    async fn open_with(path: &Path, key: Option<DbKey>) -> Result<Store> {
        let opts = cipher::options(path, key.as_ref())?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", write::NORMAL_CACHE_KIB.to_string());
        let (opts, token) = closing::track(opts);
        let pool = SqlitePoolOptions::new()
            // one writer and one reader: SQLite page caches are per connection, so fewer
            // connections keep the list's index pages warm (WAL lets the reader run during a write)
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        closing::wait_at_exit();
        let store = Store {
            _dropped: Arc::new(closing::OnDrop(token)),
            pool,
            path: path.to_owned(),
            key,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_optional(&self.pool)
                .await
                .ok()
                .flatten();
        if let Some(found) = applied
            && found > supported
        {
            return Err(StoreError::NewerSchema { found, supported });
        }
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is encrypted (opened with [`Store::open_encrypted`]).
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The key of an encrypted file, to open its snapshots.
    pub fn key(&self) -> Option<&DbKey> {
        self.key.as_ref()
    }

    /// The connection pool, for crates that add their own tables (sync, backups).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The applied schema version (the newest migration).
    ///
    /// # Errors
    /// On database errors.
    pub async fn schema_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// The newest schema version this build knows.
    pub fn supported_schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// `PRAGMA integrity_check`: `["ok"]` when the file is sound, otherwise the problems.
    ///
    /// # Errors
    /// On database errors.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`) on behalf of `actor`, the user name
    /// recorded in the audit log.
    ///
    /// # Errors
    /// On database errors (e.g. busy beyond the timeout).
    pub async fn write(&self, actor: &str) -> Result<WriteTx> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx::new(tx, actor))
    }

    /// Reads a non-secret setting.
    ///
    /// # Errors
    /// On database errors.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The keys of the settings that start with `prefix`, in order.
    ///
    /// # Errors
    /// On database errors.
    pub async fn setting_keys(&self, prefix: &str) -> Result<Vec<String>> {
        // a range on the primary key instead of LIKE, so `_` and `%` in names are plain text
        let end = format!("{prefix}\u{10FFFF}");
        Ok(
            sqlx::query_scalar("SELECT key FROM settings WHERE key >= ? AND key < ? ORDER BY key")
                .bind(prefix)
                .bind(end)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

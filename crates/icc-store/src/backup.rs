//! Consistent snapshots of the database and what a snapshot holds.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::error::{Result, StoreError};
use crate::{DbKey, MIGRATOR, Store};

/// What a database holds, to tell a sound backup from a broken one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Facts {
    /// Newest migration applied.
    pub schema_version: i64,
    /// Invoices.
    pub invoices: i64,
    /// Users.
    pub users: i64,
    /// Obras.
    pub obras: i64,
    /// Audit-log rows.
    pub audit: i64,
}

/// The newest schema this build knows.
pub fn supported_schema() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn facts_of(conn: &mut SqliteConnection) -> std::result::Result<Facts, sqlx::Error> {
    let count = |table: &'static str| format!("SELECT COUNT(*) FROM {table}");
    Ok(Facts {
        schema_version: sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&mut *conn)
        .await?,
        invoices: sqlx::query_scalar(sqlx::AssertSqlSafe(count("invoices")))
            .fetch_one(&mut *conn)
            .await?,
        users: sqlx::query_scalar(sqlx::AssertSqlSafe(count("users")))
            .fetch_one(&mut *conn)
            .await?,
        obras: sqlx::query_scalar(sqlx::AssertSqlSafe(count("obras")))
            .fetch_one(&mut *conn)
            .await?,
        audit: sqlx::query_scalar(sqlx::AssertSqlSafe(count("audit_log")))
            .fetch_one(&mut *conn)
            .await?,
    })
}

/// Page cache of the snapshot connection (negative = KiB): `VACUUM INTO` reads every page
/// once, so a small cache costs nothing.
const SNAPSHOT_CACHE_KIB: i64 = -2_000;

impl Store {
    /// Writes a consistent copy of the database to `dest` while it stays in use
    /// (`VACUUM INTO`: one read transaction, so the copy is one moment's state).
    ///
    /// # Errors
    /// `dest` exists or cannot be written, database errors.
    pub async fn snapshot_to(&self, dest: &Path) -> Result<()> {
        // A connection of its own, closed afterwards: on the pool's, the copy would read the
        // whole file through that connection's page cache, evicting the pages the invoice
        // list keeps warm and leaving the cache full for the rest of the run.
        let opts = crate::cipher::options(self.path(), self.key())?
            .busy_timeout(std::time::Duration::from_secs(10))
            .pragma("cache_size", SNAPSHOT_CACHE_KIB.to_string());
        let mut conn = SqliteConnection::connect_with(&opts).await?;
        let result = sqlx::query("VACUUM INTO ?")
            .bind(dest.display().to_string())
            .execute(&mut conn)
            .await;
        conn.close().await?;
        result?;
        Ok(())
    }

    /// What this database holds now.
    ///
    /// # Errors
    /// Database errors.
    pub async fn facts(&self) -> Result<Facts> {
        let mut conn = self.pool().acquire().await?;
        Ok(facts_of(&mut conn).await?)
    }
}

/// Checks a database file without changing it: `integrity_check` must say `ok`; returns what
/// it holds.
///
/// # Errors
/// [`StoreError::BadBackup`] naming the file when it cannot be read or fails the check.
pub async fn inspect(path: &Path, key: Option<&DbKey>) -> Result<Facts> {
    let broken = |reason: String| StoreError::BadBackup {
        path: path.to_path_buf(),
        reason,
    };
    let mut conn = SqliteConnection::connect_with(&read_only(path, key)?)
        .await
        .map_err(|e| broken(e.to_string()))?;
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| broken(e.to_string()))?;
    if check != ["ok"] {
        return Err(broken(check.join("; ")));
    }
    let facts = facts_of(&mut conn)
        .await
        .map_err(|e| broken(e.to_string()))?;
    conn.close().await.ok();
    Ok(facts)
}

/// An account as a database file (a backup) holds it, for a restore that cannot trust the
/// live database.
#[derive(Debug, Clone)]
pub struct StoredAccount {
    /// Argon2id PHC string (or a legacy hash, see `legacy`).
    pub password_hash: String,
    /// `admin`, `gerente`, `contabilidad` or `admin_obra`.
    pub role: String,
    /// Disabled accounts cannot act.
    pub disabled: bool,
    /// The predecessor's hash, not usable here.
    pub legacy: bool,
}

/// Options that open a database file without changing it (read-only, immutable).
pub(crate) fn read_only(path: &Path, key: Option<&DbKey>) -> Result<SqliteConnectOptions> {
    Ok(crate::cipher::options_for_file(path, key)
        .map_err(|e| StoreError::BadBackup {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .read_only(true)
        .immutable(true))
}

/// Reads one account from a database file without changing it.
///
/// # Errors
/// The file cannot be read.
pub async fn account_in(
    path: &Path,
    key: Option<&DbKey>,
    username: &str,
) -> Result<Option<StoredAccount>> {
    let mut conn = SqliteConnection::connect_with(&read_only(path, key)?).await?;
    let row: Option<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT password_hash, role, disabled, password_legacy FROM users WHERE username = ?",
    )
    .bind(username.trim())
    .fetch_optional(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(
        row.map(|(password_hash, role, disabled, legacy)| StoredAccount {
            password_hash,
            role,
            disabled,
            legacy,
        }),
    )
}

/// Reads one setting from a database file that may be damaged: any failure is `None`.
pub async fn setting_in(path: &Path, db_key: Option<&DbKey>, key: &str) -> Option<String> {
    let mut conn = SqliteConnection::connect_with(&read_only(path, db_key).ok()?)
        .await
        .ok()?;
    let v = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(key)
        .fetch_optional(&mut conn)
        .await
        .ok()
        .flatten();
    conn.close().await.ok();
    v
}

/// Settings key set on a restored copy of a linked database: its next sync asks the server
/// for a new device id and pulls everything again (see [`mark_restored`]).
pub const DEVICE_RESET_SETTING: &str = "sync.device_reset";

/// Prepares a restored copy of a database (not yet in place) for sync: if it is linked to a
/// server, its device id is to be replaced and its cursor starts over, so the server sends
/// back everything, including what this device did after the backup was made (a pull never
/// sends a device its own ops). Returns whether it was linked.
///
/// # Errors
/// The file cannot be opened or written.
pub async fn mark_restored(path: &Path, key: Option<&DbKey>) -> Result<bool> {
    let opts = crate::cipher::options_for_file(path, key)?.create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let linked: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(crate::sync::DEVICE_SETTING)
        .fetch_optional(&mut conn)
        .await?;
    if linked.is_some() {
        let mut tx = conn.begin().await?;
        for (key, value) in [
            (DEVICE_RESET_SETTING, "1"),
            (crate::sync::CURSOR_SETTING, "0"),
        ] {
            sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM settings WHERE key IN (?, ?)")
            .bind(crate::sync::SCOPE_SETTING)
            .bind(crate::sync::TREASURY_SETTING)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    conn.close().await?;
    Ok(linked.is_some())
}

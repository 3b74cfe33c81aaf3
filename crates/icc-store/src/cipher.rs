//! SQLCipher: the key a database file is encrypted with, the connection options that apply
//! it, and the one-time encryption of a plain database in place.
//!
//! Every connection to an encrypted file must run `PRAGMA key` before anything else; sqlx
//! orders the `key` pragma first. The key is a raw 256-bit key (`x'…'`), so SQLCipher skips
//! its passphrase derivation (PBKDF2) on every connection. Statement logging is off on these
//! connections: the `PRAGMA key` statement would otherwise reach a debug log.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::error::{Result, StoreError};

/// The 256-bit key of an encrypted database. Never printed (its `Debug` is redacted) and
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey([u8; 32]);

impl DbKey {
    /// Wraps raw key bytes.
    pub fn new(bytes: [u8; 32]) -> DbKey {
        DbKey(bytes)
    }

    /// The value of `PRAGMA key` (and of `ATTACH … KEY`): a raw key, no passphrase
    /// derivation.
    fn pragma_value(&self) -> String {
        format!("\"x'{}'\"", hex::encode(self.0))
    }
}

impl Drop for DbKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(***)")
    }
}

/// The first 16 bytes of every plain SQLite database file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a database file is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Missing or empty: opening it creates a new database.
    Absent,
    /// A plain SQLite database.
    Plain,
    /// Anything else: an encrypted database (SQLCipher starts with a random salt), or a
    /// file that is no database at all (opening it with the key tells).
    Encrypted,
}

/// Reads the first bytes of `path` to tell a plain database from an encrypted one.
///
/// # Errors
/// The file exists but cannot be read.
pub fn file_kind(path: &Path) -> std::io::Result<FileKind> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileKind::Absent),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(match n {
        0 => FileKind::Absent,
        _ if head[..n] == PLAIN_HEADER[..n] => FileKind::Plain,
        _ => FileKind::Encrypted,
    })
}

/// Connection options for `path`, with the key applied first when there is one (for tools
/// and tests that read a database file directly).
///
/// # Errors
/// Never in practice (the base URL is constant); typed for the options' constructor.
pub fn options(path: &Path, key: Option<&DbKey>) -> Result<SqliteConnectOptions> {
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?
        .filename(path);
    Ok(match key {
        // no statement of these connections is logged, not even a slow one: the first is
        // `PRAGMA key`
        Some(k) => opts
            .pragma("key", k.pragma_value())
            .disable_statement_logging(),
        None => opts,
    })
}

/// As [`options`], for a file that may be plain or encrypted (a backup taken before the
/// folder was encrypted): the key is applied only when the file is not plain SQLite.
pub(crate) fn options_for_file(path: &Path, key: Option<&DbKey>) -> Result<SqliteConnectOptions> {
    let plain = matches!(file_kind(path), Ok(FileKind::Plain));
    options(path, if plain { None } else { key })
}

/// Sidecar of an encryption in progress: the encrypted copy being written.
fn in_progress(path: &Path) -> PathBuf {
    sidecar(path, ".cifrando")
}

/// Encrypts the plain database at `path` with `key`, in place and crash-safe: the encrypted
/// copy is written beside it (`sqlcipher_export`), checked, synced, then renamed over the
/// plain file. A crash before the rename leaves the plain database as it was (the copy is
/// discarded on the next try); after it, the encrypted one whole.
///
/// Returns `false`, changing nothing, when another connection has the database open (it
/// would keep writing to the plain file): the caller tries again on a later start. The
/// caller must also keep other processes from opening the file until this returns (the
/// application holds a folder lock for that).
///
/// # Errors
/// The file cannot be read or the copy written (disk full, permissions), or the copy fails
/// its check.
pub async fn encrypt_in_place(path: &Path, key: &DbKey) -> Result<bool> {
    let tmp = in_progress(path);
    match std::fs::remove_file(&tmp) {
        Ok(()) => tracing::info!(file = %tmp.display(), "discarded an interrupted encryption"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("no se pudo borrar", &tmp, &e)),
    }
    // its ATTACH statement carries the key: never logged
    let opts = options(path, None)?
        .create_if_missing(false)
        .disable_statement_logging();
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    // Leaving WAL needs every other connection gone: the test that no one else is writing.
    // It also folds the WAL into the file, so the export reads everything.
    let mode: std::result::Result<String, sqlx::Error> =
        sqlx::query_scalar("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut conn)
            .await;
    match mode {
        Ok(m) if m.eq_ignore_ascii_case("delete") => {}
        Ok(m) => {
            conn.close().await.ok();
            tracing::warn!(file = %path.display(), mode = %m, "database in use by another process; encryption postponed");
            return Ok(false);
        }
        Err(e) => {
            conn.close().await.ok();
            tracing::warn!(file = %path.display(), error = %e, "could not leave WAL mode; encryption postponed");
            return Ok(false);
        }
    }
    let result = async {
        // Hold the plain file exclusively until this connection closes, after the rename: a
        // write in exclusive locking mode takes the lock and keeps it.
        sqlx::query("PRAGMA locking_mode = EXCLUSIVE")
            .execute(&mut conn)
            .await?;
        let version: i64 = sqlx::query_scalar("PRAGMA main.user_version")
            .fetch_one(&mut conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA main.user_version = {version}"
        )))
        .execute(&mut conn)
        .await?;
        // attached files open with the main connection's flags, which do not create: the
        // copy starts as an empty file (SQLite reads a 0-byte file as an empty database)
        std::fs::File::create(&tmp).map_err(|e| io_error("no se pudo crear", &tmp, &e))?;
        let attach = format!("ATTACH DATABASE ? AS cifrada KEY {}", key.pragma_value());
        sqlx::query(sqlx::AssertSqlSafe(attach))
            .bind(tmp.display().to_string())
            .execute(&mut conn)
            .await?;
        sqlx::query("SELECT sqlcipher_export('cifrada')")
            .execute(&mut conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA cifrada.user_version = {version}"
        )))
        .execute(&mut conn)
        .await?;
        sqlx::query("DETACH DATABASE cifrada")
            .execute(&mut conn)
            .await?;
        Ok::<_, StoreError>(())
    }
    .await;
    if let Err(e) = result {
        conn.close().await.ok();
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // the copy must open with the key and hold the same tables before it replaces anything
    let check = async {
        let mut enc =
            SqliteConnection::connect_with(&options(&tmp, Some(key))?.create_if_missing(false))
                .await?;
        let ok: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut enc)
            .await?;
        let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master")
            .fetch_one(&mut enc)
            .await?;
        enc.close().await?;
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master")
            .fetch_one(&mut conn)
            .await?;
        if ok != ["ok"] || tables != before {
            return Err(StoreError::Raw(format!(
                "la copia cifrada no quedó igual a la original ({}; {tables} de {before} objetos); la base sigue sin cifrar",
                ok.join("; ")
            )));
        }
        Ok(())
    }
    .await;
    if let Err(e) = check {
        conn.close().await.ok();
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("no se pudo escribir", &tmp, &e))?;
    // Closed before the rename: Windows cannot replace a file that is open. The caller's
    // folder lock keeps every other process of this application out meanwhile.
    conn.close().await.ok();
    // In exclusive locking mode SQLite zeroes a journal's header instead of deleting it, so
    // the journals would keep a plain page: remove them (a zeroed journal is never replayed).
    for journal in [sidecar(path, "-journal"), sidecar(&tmp, "-journal")] {
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("no se pudo borrar", &journal, &e)),
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| io_error("no se pudo reemplazar", path, &e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // make the rename durable (a no-op where directories cannot be synced)
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(true)
}

/// `path` with `suffix` appended to its file name.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Raw(format!(
        "{what} {}: {e}; revise el espacio libre y los permisos de la carpeta de datos (la base sigue sin cifrar)",
        path.display()
    ))
}

/// Whether `key` opens the database at `path` (an encrypted file read with the wrong key,
/// or a plain one, fails on its first read).
pub async fn key_opens(path: &Path, key: &DbKey) -> bool {
    let Ok(opts) = options(path, Some(key)) else {
        return false;
    };
    let Ok(mut conn) = SqliteConnection::connect_with(&opts.read_only(true)).await else {
        return false;
    };
    let ok = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_master")
        .fetch_one(&mut conn)
        .await
        .is_ok();
    conn.close().await.ok();
    ok
}

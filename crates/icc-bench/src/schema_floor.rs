//! The schema floor: what SQLite alone needs to store a set of invoices in the store's own
//! schema, measured in the same run as the product.
//!
//! The bare floors (`import_bench::floors`) write the rows into one table with no index and
//! their text into FTS5: they bound any store. The design adds what no implementation of it
//! can skip (DESIGN.md, "Local data model"): the natural key `UNIQUE(rut_emisor, tipo_dte,
//! folio)`, the UUID key that sync merges by, the foreign keys, the indexes that serve the
//! list's filters in keyset order, the full-text index, and for synced documents their
//! versions (`sync_docs`, what the sync protocol merges by). Here SQLite writes the very rows
//! the product stored (copied beforehand into a temporary table, so nothing is parsed or
//! bound from Rust) into a fresh database made by the store's migrations, as cheaply as
//! SQLite can: one transaction, the list indexes dropped and built after the rows (sorting
//! beats inserting at random), the full-text entries in one statement in key order. Once
//! into a plain file, and once into a file encrypted as the desktop keeps its folder
//! (SQLCipher, #22). The commit includes the checkpoint SQLite runs in it (a transaction
//! that leaves more than 1000 pages in the WAL copies them into the database file before
//! `COMMIT` returns), as the product's commit does. Left out, though the product pays them:
//! the search vocabulary, the per-day bounds, the segment merge, tax lines and references,
//! the audit and the outbox. So the product can come near it but never under it.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use sqlx::{Connection, SqliteConnection, SqlitePool};

/// One measurement, by phase (seconds), into a plain file; and the total into an
/// encrypted one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SchemaFloor {
    /// Suppliers, invoice rows (their keys and foreign keys checked) and document versions.
    pub(crate) rows: f64,
    /// The list indexes, built over the stored rows.
    pub(crate) indexes: f64,
    /// The full-text entries, in one statement.
    pub(crate) fts: f64,
    /// The commit: WAL frames written, then copied into the database file by SQLite's
    /// automatic checkpoint.
    pub(crate) commit: f64,
    /// All of it into an encrypted file.
    pub(crate) encrypted: f64,
}

impl SchemaFloor {
    pub(crate) fn total(&self) -> f64 {
        self.rows + self.indexes + self.fts + self.commit
    }
}

/// Copies the invoices of the store behind `pool` (encrypted or plain) and what they
/// reference into a new plain file `out`: the rows the floor then writes again.
pub(crate) async fn copy_rows(pool: &SqlitePool, out: &Path) -> Result<()> {
    let mut c = pool.acquire().await?;
    // SQLCipher: an attached file with an empty key is a plain file
    sqlx::query("ATTACH DATABASE ? AS floor_rows KEY ''")
        .bind(out.to_string_lossy().into_owned())
        .execute(&mut *c)
        .await?;
    for (table, _) in TABLES {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE floor_rows.{table} AS SELECT * FROM main.{table}"
        )))
        .execute(&mut *c)
        .await?;
    }
    sqlx::query("DETACH DATABASE floor_rows")
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// What [`copy_rows`] copies, in the order they are written, with their keys.
const TABLES: [(&str, &str); 4] = [
    ("obras", "id"),
    ("suppliers", "rut"),
    ("invoices", "seq"),
    ("sync_docs", "entity, entity_id"),
];

/// Median of three [`measure_once`] runs, phase by phase, plain and encrypted alternated.
pub(crate) async fn measure(rows: &Path) -> Result<SchemaFloor> {
    let mut runs = Vec::new();
    let mut encrypted = Vec::new();
    for _ in 0..3 {
        runs.push(measure_once(rows, None).await?);
        // a random 256-bit key, as `icc init` makes one
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let key = icc_store::DbKey::new(bytes);
        encrypted.push(measure_once(rows, Some(&key)).await?.total());
    }
    encrypted.sort_by(f64::total_cmp);
    let mid = |f: fn(&SchemaFloor) -> f64| {
        let mut xs: Vec<f64> = runs.iter().map(f).collect();
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    Ok(SchemaFloor {
        rows: mid(|r| r.rows),
        indexes: mid(|r| r.indexes),
        fts: mid(|r| r.fts),
        commit: mid(|r| r.commit),
        encrypted: encrypted[encrypted.len() / 2],
    })
}

/// Writes the rows of `rows` (made by [`copy_rows`]) into a fresh database with the store's
/// schema and pragmas, encrypted with `key` if given, timing each phase.
async fn measure_once(rows: &Path, key: Option<&icc_store::DbKey>) -> Result<SchemaFloor> {
    use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("schema-floor.db");
    // the schema exactly as the product makes it
    match key {
        None => icc_store::Store::open(&path).await?,
        Some(k) => icc_store::Store::open_encrypted(&path, k.clone()).await?,
    }
    .close()
    .await;
    let opts = icc_store::connect_options(&path, key)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        // the store's cache for bulk writes
        .pragma("cache_size", "-131072");
    let mut c = SqliteConnection::connect_with(&opts).await?;
    sqlx::query("ATTACH DATABASE ? AS src KEY ''")
        .bind(rows.to_string_lossy().into_owned())
        .execute(&mut c)
        .await?;
    // each in its key order, so the timed inserts below read them in the order they are
    // written, without a sort
    for (table, key) in TABLES {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TEMP TABLE floor_{table} AS SELECT * FROM src.{table} ORDER BY {key}"
        )))
        .execute(&mut c)
        .await?;
    }
    sqlx::query("DETACH DATABASE src").execute(&mut c).await?;
    // obras are the office's, there before any invoice: not timed
    sqlx::query("INSERT INTO main.obras SELECT * FROM temp.floor_obras")
        .execute(&mut c)
        .await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name = 'invoices' AND name LIKE 'invoices_by_%'",
    )
    .fetch_all(&mut c)
    .await?;
    anyhow::ensure!(
        !indexes.is_empty(),
        "the store's list indexes were not found"
    );

    let mut floor = SchemaFloor::default();
    let t = Instant::now();
    let mut tx = c.begin().await?;
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("INSERT INTO main.suppliers SELECT * FROM temp.floor_suppliers")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO main.invoices SELECT * FROM temp.floor_invoices")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO main.sync_docs SELECT * FROM temp.floor_sync_docs")
        .execute(&mut *tx)
        .await?;
    floor.rows = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (_, sql) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *tx)
            .await?;
    }
    floor.indexes = t.elapsed().as_secs_f64();
    let t = Instant::now();
    // the store's full-text key (migration 0004): the list's order, one statement
    sqlx::query(
        "INSERT INTO invoices_search (rowid, razon_social, rut_emisor, folio, glosa, obra) \
         SELECT -((CAST(julianday(fecha_emision) AS INTEGER) << 32) | seq), \
                razon_social, rut_emisor, folio, glosa, obra_id \
         FROM invoices ORDER BY 1",
    )
    .execute(&mut *tx)
    .await?;
    floor.fts = t.elapsed().as_secs_f64();
    let t = Instant::now();
    tx.commit().await?;
    floor.commit = t.elapsed().as_secs_f64();

    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
        .fetch_one(&mut c)
        .await?;
    let copied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM temp.floor_invoices")
        .fetch_one(&mut c)
        .await?;
    anyhow::ensure!(
        stored == copied && stored > 0,
        "schema floor stored {stored} of {copied} invoices"
    );
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_docs")
        .fetch_one(&mut c)
        .await?;
    eprintln!("schema floor: {stored} invoices, {versions} document versions");
    c.close().await?;
    Ok(floor)
}

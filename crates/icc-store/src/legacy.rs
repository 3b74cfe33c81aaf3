//! Reading the predecessor app's SQLite database (read-only) and archiving what this version
//! has no model for (`legacy_records`).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

use crate::error::{Result, StoreError};
use crate::write::WriteTx;

/// One row of a predecessor table: column → value as text (`None` for NULL).
pub type LegacyRow = BTreeMap<String, Option<String>>;

/// A predecessor table as read: its columns and rows in id order.
#[derive(Debug, Clone, Default)]
pub struct LegacyTable {
    /// Column names, in table order.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<LegacyRow>,
}

/// The predecessor's database, read whole (it is small: users, obras, budget tables).
#[derive(Debug, Clone, Default)]
pub struct LegacyDb {
    /// Table name → content; tables it does not have are absent.
    pub tables: BTreeMap<String, LegacyTable>,
}

impl LegacyDb {
    /// The rows of `table` (empty when the table is missing).
    pub fn rows(&self, table: &str) -> &[LegacyRow] {
        self.tables.get(table).map_or(&[], |t| t.rows.as_slice())
    }
}

/// Reads every table of the predecessor's database file, without changing it (read-only,
/// immutable). Values are read as text (`CAST … AS TEXT`), so REAL amounts keep the digits
/// SQLite stored and nothing is rounded here.
///
/// # Errors
/// [`StoreError::Legacy`] naming the file when it is not a SQLite database
/// or cannot be read.
pub async fn read_legacy_db(path: &Path) -> Result<LegacyDb> {
    let broken = |reason: String| StoreError::Legacy {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(broken("no existe o no es un archivo".into()));
    }
    let opts = crate::backup::read_only(path, None).map_err(|e| broken(e.to_string()))?;
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(|e| broken(e.to_string()))?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| broken(format!("no es una base de datos SQLite legible ({e})")))?;
    let mut db = LegacyDb::default();
    for name in names {
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(&name)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| broken(format!("tabla {name}: {e}")))?;
        if columns.is_empty() {
            continue;
        }
        let select = columns
            .iter()
            .map(|c| format!("CAST(\"{}\" AS TEXT)", c.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(", ");
        let order = if columns.iter().any(|c| c == "id") {
            "\"id\""
        } else {
            "rowid"
        };
        let sql = format!(
            "SELECT {select} FROM \"{}\" ORDER BY {order}",
            name.replace('"', "\"\"")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| broken(format!("tabla {name}: {e}")))?;
        let rows = rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), r.try_get::<Option<String>, _>(i).ok().flatten()))
                    .collect()
            })
            .collect();
        db.tables.insert(name, LegacyTable { columns, rows });
    }
    conn.close().await.ok();
    Ok(db)
}

impl WriteTx {
    /// Archives one predecessor record; `false` when it was already archived (a second run
    /// of the migration changes nothing).
    ///
    /// # Errors
    /// Database errors.
    pub async fn archive_legacy(
        &mut self,
        source: &str,
        legacy_id: &str,
        data: &serde_json::Value,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT OR IGNORE INTO legacy_records (source, legacy_id, data, migrated_at) VALUES (?, ?, ?, ?)",
        )
        .bind(source)
        .bind(legacy_id)
        .bind(data.to_string())
        .bind(self.now().to_owned())
        .execute(self.conn())
        .await?;
        Ok(res.rows_affected() == 1)
    }
}

/// The predecessor's schema, as its `init_db()` left it (its `users` table after the two
/// `ALTER TABLE … ADD COLUMN` it ran): for the fixture generator and tests.
pub const PREDECESSOR_SCHEMA: &str = r"
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL, is_admin BOOLEAN NOT NULL DEFAULT 0, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_manager BOOLEAN NOT NULL DEFAULT 0, is_admin_obra BOOLEAN NOT NULL DEFAULT 0);
CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, session_token TEXT UNIQUE NOT NULL,
    expires_at TIMESTAMP NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
CREATE TABLE obras (id INTEGER PRIMARY KEY AUTOINCREMENT, nombre_obra TEXT NOT NULL, centro_costo TEXT NOT NULL,
    administrador_obra_id INTEGER NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (administrador_obra_id) REFERENCES users (id));
CREATE TABLE obra_flujo_config (id INTEGER PRIMARY KEY AUTOINCREMENT, obra_id INTEGER NOT NULL, fecha_inicio DATE NOT NULL,
    fecha_fin DATE NOT NULL, FOREIGN KEY (obra_id) REFERENCES obras (id) ON DELETE CASCADE, UNIQUE(obra_id));
CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, codigo TEXT UNIQUE NOT NULL, nombre TEXT NOT NULL, tipo TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE flujo_cajas_items (id INTEGER PRIMARY KEY AUTOINCREMENT, obra_id INTEGER NOT NULL, codigo TEXT NOT NULL,
    nombre TEXT NOT NULL, presupuesto_inicial REAL NOT NULL DEFAULT 0, modificaciones REAL NOT NULL DEFAULT 0,
    gasto_real REAL NOT NULL DEFAULT 0, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (obra_id) REFERENCES obras (id) ON DELETE CASCADE);
CREATE TABLE flujo_cajas_semanal (id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER NOT NULL, semana DATE NOT NULL,
    valor REAL NOT NULL DEFAULT 0, FOREIGN KEY (item_id) REFERENCES flujo_cajas_items (id) ON DELETE CASCADE,
    UNIQUE(item_id, semana));
CREATE TABLE saldos_previos_bancos (id INTEGER PRIMARY KEY AUTOINCREMENT, banco TEXT NOT NULL, semana DATE NOT NULL,
    valor REAL DEFAULT 0, UNIQUE(banco, semana));
CREATE TABLE flujo_cajas_editable_ingresos (id INTEGER PRIMARY KEY AUTOINCREMENT, tipo_ingreso TEXT NOT NULL,
    semana DATE NOT NULL, valor REAL DEFAULT 0, UNIQUE(tipo_ingreso, semana));
CREATE TABLE creditos (id INTEGER PRIMARY KEY AUTOINCREMENT, nombre_credito TEXT NOT NULL, banco TEXT NOT NULL,
    cuotas_restantes INTEGER NOT NULL, valor_cuota REAL NOT NULL, fecha_pago DATE NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
";

/// Creates a predecessor-shaped database at `path` and runs `statements` (plain SQL, the
/// fixture's rows) in it. For the fixture generator.
///
/// # Errors
/// The file exists or cannot be written; bad SQL.
pub async fn write_predecessor_db(path: &Path, statements: &[String]) -> Result<()> {
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|e| StoreError::Legacy {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .filename(path)
        .create_if_missing(true)
        // the predecessor never enabled them: its orphans exist because of that
        .foreign_keys(false);
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(PREDECESSOR_SCHEMA.to_owned()))
        .execute(&mut conn)
        .await?;
    let mut tx = conn.begin().await?;
    for s in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

//! The store's error type.

use std::path::PathBuf;

use icc_core::CoreError;

/// What can go wrong in the local database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error(
        "no se pudo abrir la base de datos {path}: {source}; revise que la carpeta exista y tenga permisos de escritura"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: sqlx::Error,
    },
    /// The file was written by a newer version of the application.
    #[error(
        "la base de datos está en la versión de esquema {found}, más nueva que la que esta aplicación conoce ({supported}); actualice ICC Facturas"
    )]
    NewerSchema {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Applying migrations failed (the transaction was rolled back).
    #[error("no se pudo actualizar el esquema de la base de datos: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("error de la base de datos: {0}")]
    Db(#[from] sqlx::Error),
    /// A database error in a bulk write through a prepared-statement loop
    /// (`crate::raw`): SQLite's own message.
    #[error("error de la base de datos: {0}")]
    Raw(String),
    /// A domain rule refused the change.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// Lookup of something that does not exist.
    #[error("{what} «{key}» no existe")]
    NotFound {
        /// What was looked up (`factura`, `usuario`, `obra`).
        what: &'static str,
        /// The key used.
        key: String,
    },
    /// Creation of something that already exists.
    #[error("{what} «{key}» ya existe")]
    AlreadyExists {
        /// What (`usuario`, `obra`).
        what: &'static str,
        /// The key.
        key: String,
    },
    /// A stored value that does not parse back (the file was edited by hand or damaged).
    #[error(
        "valor almacenado inválido en {column}: «{value}»; ejecute `icc doctor` y restaure un respaldo si persiste"
    )]
    Corrupt {
        /// Table and column.
        column: &'static str,
        /// The stored text.
        value: String,
    },
    /// A backup that cannot be read or fails `integrity_check`.
    #[error("el respaldo {} está dañado o no es una base de ICC Facturas ({reason}); use otro respaldo", path.display())]
    BadBackup {
        /// The backup's database file.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
    },
    /// The predecessor's database cannot be read.
    #[error("la base de datos de la aplicación anterior {} no se pudo leer: {reason}; indique el archivo constructora_icc.db con --db", path.display())]
    Legacy {
        /// The file given.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
    },
    /// A rule of who may do what, checked inside the transaction (four eyes).
    #[error("{0}")]
    Refused(String),
    /// A value the store refuses (the message says which and why).
    #[error("{0}")]
    Invalid(String),
    /// The caller cancelled a long write; nothing was written.
    #[error("operación cancelada; no se guardó ningún cambio")]
    Cancelled,
}

/// Result with [`StoreError`].
pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

//! The use cases of ICC Facturas, shared by the `icc` CLI and the desktop shell.
//!
//! One [`App`] owns the local store (and, as later capabilities arrive, the keyring, the
//! clients and the configuration). Every use case takes the [`Session`] of the user who asks
//! and decides here, in Rust, whether that user may do it: a button hidden in the UI is only a
//! courtesy.
//!
//! ```no_run
//! # async fn demo() -> icc_app::Result<()> {
//! let app = icc_app::App::open(std::path::Path::new("/tmp/icc-datos")).await?;
//! let admin = app.init("admin", "caballo correcto batería grapa").await?;
//! let page = app.list_invoices(&admin, Default::default(), 50, None).await?;
//! println!("{} facturas", page.items.len());
//! # Ok(()) }
//! ```

mod attachments;
mod auth;
mod backup;
mod cesiones;
mod correo;
mod credentials;
mod cuentas;
mod dashboard;
mod doctor;
pub mod encryption;
mod error;
mod export;
mod filter;
mod iconstruye;
mod import;
mod invoices;
pub mod kame;
pub mod legacy;
pub mod legacy_fixture;
pub mod logging;
mod nominas;
mod pagos;
mod presupuesto;
mod seed;
mod settings;
mod sync;
mod users;

use std::path::{Path, PathBuf};

use icc_store::Store;

pub use attachments::{ATTACHMENTS_DIR, MAX_ATTACHMENT_BYTES};
pub use auth::{
    Permission, Session, check_password_policy, hash_password, lock_seconds, verify_password,
};
pub use backup::{BACKUPS_DIR, BackupInfo, keep_set, restore_without_live_db};
pub use cesiones::{COMPANY_RUT_SETTING, CesionFileReport, CesionImportReport};
pub use correo::{
    MailSettings, MailSettingsChange, RunEmail, SMTP_CREDENTIAL, escape_html, run_html,
};
pub use credentials::{CREDENTIALS, CredentialSpec, CredentialStatus, KEYRING_SERVICE};
pub use cuentas::{AccountImportReport, AccountRequest};
pub use dashboard::{AgingSlice, ClaimSlice, Dashboard, ObraSpend};
pub use doctor::{Check, DoctorReport, Level};
pub use error::{AppError, Result};
pub use export::{ExportOptions, ExportProgress, ExportReport, format_for_path, month_bounds};
pub use filter::ListFilter;
pub use icc_io::export::{ExportFormat, ReportKind};
pub use icc_io::{Field, Format, MappingSpec, RowIssue};
pub use icc_store::cuentas::{Bank, SupplierAccount};
pub use icc_store::nominas::{CesionRow, RunLine, RunRow};
pub use icc_store::{
    AssignmentChange, Attachment, AuditEntry, InvoiceFilter, InvoiceRow, Obra, Page, SupplierRow,
    User,
};
pub use icc_store::{LocalConflict, RefusedChange, RemovedInvoice};
pub use iconstruye::{
    INTERVAL_ENV, IconstruyeSettings, PullError, PullProgress, PullReport, URL_ENV,
};
pub use import::{
    Counts, FileReport, IMPORTS_DIR, ImportOptions, ImportProgress, ImportReport, OnDuplicate,
    PreviewRow, TotalReport, read_mapping_file,
};
pub use invoices::InvoiceView;
pub use nominas::{
    BankFileReport, CesionRequest, Payee, PaymentSettings, RunView, SPLIT_LIMIT_SETTING,
};
pub use pagos::{InvoicePayments, PaymentReceipt, PaymentRequest, parse_monto};
pub use presupuesto::{
    BudgetLineInput, LoanEdit, LoanInput, ObraBudgetView, TreasuryBankInput, TreasuryRowInput,
    TreasuryView, WeekInput,
};
pub use seed::SeedReport;
pub use settings::LOCK_MINUTES_RANGE;
pub use sync::{Keep, LinkReport, SyncReport, SyncStatus};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "icc.db";
/// Lock file taken exclusively, briefly, by whoever decides how to open the database
/// (create it, encrypt it in place, or open it as it is).
const DECIDE_LOCK_FILE: &str = "cifrado.lock";
/// Lock file every open `App` holds shared for its whole life: taking it exclusively proves
/// that no other process of this application has the folder open.
const IN_USE_LOCK_FILE: &str = "en-uso.lock";

/// Opens (creating) the lock file `name` of `data_dir` and waits for the lock: exclusive,
/// or shared when `shared`.
pub(crate) async fn lock_file(
    data_dir: &Path,
    name: &'static str,
    shared: bool,
) -> Result<std::fs::File> {
    let path = data_dir.join(name);
    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = open_lock_file(&path)?;
        if shared {
            f.lock_shared()?;
        } else {
            f.lock()?;
        }
        Ok(f)
    })
    .await
    .map_err(|e| AppError::Io(format!("no se pudo esperar {name}: {e}")))?
    .map_err(|e| lock_error(data_dir, name, &e))
}

/// [`lock_file`] (exclusive) without waiting: `None` when another process holds it.
pub(crate) fn try_lock_file(data_dir: &Path, name: &'static str) -> Result<Option<std::fs::File>> {
    let f = open_lock_file(&data_dir.join(name)).map_err(|e| lock_error(data_dir, name, &e))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(lock_error(data_dir, name, &e)),
    }
}

fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

fn lock_error(data_dir: &Path, name: &str, e: &std::io::Error) -> AppError {
    AppError::Io(format!(
        "no se pudo bloquear {name} en {}: {e}; revise los permisos de la carpeta de datos",
        data_dir.display()
    ))
}

/// The in-use lock of `data_dir`, held shared, and whether this process had the folder to
/// itself when it took it (only then may the database be created or encrypted in place).
/// Called under the decide lock, so no one else is between the two steps.
async fn take_in_use(data_dir: &Path) -> Result<(std::fs::File, bool)> {
    let path = data_dir.join(IN_USE_LOCK_FILE);
    let dir = data_dir.to_owned();
    tokio::task::spawn_blocking(move || -> Result<(std::fs::File, bool)> {
        let f = open_lock_file(&path).map_err(|e| lock_error(&dir, IN_USE_LOCK_FILE, &e))?;
        let alone = match f.try_lock() {
            Ok(()) => {
                // no one else holds it: from exclusive to shared (the decide lock keeps
                // everyone out of this gap)
                f.unlock()
                    .map_err(|e| lock_error(&dir, IN_USE_LOCK_FILE, &e))?;
                true
            }
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(lock_error(&dir, IN_USE_LOCK_FILE, &e));
            }
        };
        f.lock_shared()
            .map_err(|e| lock_error(&dir, IN_USE_LOCK_FILE, &e))?;
        Ok((f, alone))
    })
    .await
    .map_err(|e| AppError::Io(format!("no se pudo esperar {IN_USE_LOCK_FILE}: {e}")))?
}

/// Opens the database of `data_dir`: encrypted with the folder's key from the keyring, a new
/// one created encrypted, a plain one encrypted in place first (attachments too) when no
/// other process has the folder open. Plain only where no keyring answers. Returns the
/// in-use lock to hold for the life of the `App`.
async fn open_store(
    data_dir: &Path,
) -> Result<(Store, Option<encryption::MasterKey>, std::fs::File)> {
    let db = data_dir.join(DB_FILE);
    let decide = lock_file(data_dir, DECIDE_LOCK_FILE, false).await?;
    let (in_use, alone) = take_in_use(data_dir).await?;
    let kind = icc_store::file_kind(&db).map_err(|e| {
        AppError::Io(format!(
            "no se pudo leer {}: {e}; revise los permisos de la carpeta de datos",
            db.display()
        ))
    })?;
    let opened = match kind {
        icc_store::FileKind::Encrypted => open_encrypted(data_dir, &db).await,
        icc_store::FileKind::Absent => match encryption::key_for_plain(data_dir).await? {
            Some(key) => Ok((Store::open_encrypted(&db, key.db_key()).await?, Some(key))),
            None => {
                tracing::warn!(db = %db.display(), "no OS keyring: the new database is created unencrypted");
                Ok((Store::open(&db).await?, None))
            }
        },
        icc_store::FileKind::Plain if !alone => {
            tracing::info!("the folder is open elsewhere: its encryption waits for a later start");
            Ok((Store::open(&db).await?, None))
        }
        icc_store::FileKind::Plain => encrypt_plain(data_dir, &db).await,
    };
    drop(decide);
    let (store, key) = opened?;
    Ok((store, key, in_use))
}

/// A plain database with the folder to itself: encrypted in place when a keyring answers,
/// then its sealed folders. A failure leaves it plain, to be tried again at the next start
/// (the work goes on; doctor shows the folder unencrypted).
async fn encrypt_plain(
    data_dir: &Path,
    db: &Path,
) -> Result<(Store, Option<encryption::MasterKey>)> {
    let Some(key) = encryption::key_for_plain(data_dir).await? else {
        return Ok((Store::open(db).await?, None));
    };
    // bring the schema up to date first: the copy is then made of a current file
    Store::open(db).await?.close().await;
    if let Err(e) = encryption::mark_seal_pending(data_dir) {
        tracing::error!(error = %e, "could not prepare the encryption; the database stays plain until the next start");
        return Ok((Store::open(db).await?, None));
    }
    match icc_store::encrypt_in_place(db, &key.db_key()).await {
        Ok(true) => tracing::info!(db = %db.display(), "database encrypted in place"),
        Ok(false) => return Ok((Store::open(db).await?, None)),
        Err(e) => {
            tracing::error!(error = %e, "could not encrypt the database; it stays plain until the next start");
            return Ok((Store::open(db).await?, None));
        }
    }
    let sealed = encryption::seal_pending(data_dir, &key.file_key());
    tracing::info!(
        sealed,
        "attachments and imported originals encrypted in place"
    );
    Ok((Store::open_encrypted(db, key.db_key()).await?, Some(key)))
}

async fn open_encrypted(
    data_dir: &Path,
    db: &Path,
) -> Result<(Store, Option<encryption::MasterKey>)> {
    let key = encryption::key_for_encrypted(data_dir).await?;
    match Store::open_encrypted(db, key.db_key()).await {
        Ok(store) => {
            // files an encryption in place interrupted by a crash left plain (a no-op
            // unless its marker is there)
            encryption::seal_pending(data_dir, &key.file_key());
            Ok((store, Some(key)))
        }
        Err(e) if icc_store::key_opens(db, &key.db_key()).await => Err(e.into()),
        Err(_) => Err(AppError::KeyMissing(format!(
            "la clave del llavero no abre la base de datos {} (es de otra instalación, o el archivo está dañado). Si tiene la clave de recuperación de esta base, restáurela con `icc encryption recover`; si no, restaure un respaldo con `icc backup restore`",
            db.display()
        ))),
    }
}

/// The application: its data directory and the store in it.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    data_dir: PathBuf,
    /// One sync at a time in this process (the file lock in `sync.rs` covers other
    /// processes on the same data folder).
    sync_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The server's access token and when it stops being used, reused until then.
    access: std::sync::Arc<std::sync::Mutex<Option<(icc_core::Secret, std::time::Instant)>>>,
    /// The data folder's key when its database is encrypted (`None`: a plain database,
    /// created where no keyring answered).
    key: Option<std::sync::Arc<encryption::MasterKey>>,
    /// The folder's in-use lock, held shared while any clone of this `App` lives.
    _in_use: std::sync::Arc<std::fs::File>,
}

impl App {
    /// The OS's per-user data folder for ICC Facturas
    /// (`~/.local/share/iccfacturas` on Linux, `%APPDATA%\ICC\ICC Facturas\data` on
    /// Windows, `~/Library/Application Support/cl.ICC.ICC-Facturas` on macOS).
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("cl", "ICC", "ICC Facturas").map(|d| d.data_dir().to_owned())
    }

    /// Opens the data directory (creating it if needed) and its database.
    ///
    /// # Errors
    /// [`AppError::Io`] when the folder cannot be created, store errors when the database
    /// cannot be opened or migrated.
    pub async fn open(data_dir: &Path) -> Result<App> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            AppError::Io(format!(
                "no se pudo crear la carpeta de datos {}: {e}; elija otra con --data-dir o ICC_DATA_DIR",
                data_dir.display()
            ))
        })?;
        let (store, key, in_use) = open_store(data_dir).await?;
        Ok(App {
            store,
            data_dir: data_dir.to_owned(),
            sync_gate: std::sync::Arc::default(),
            access: std::sync::Arc::default(),
            key: key.map(std::sync::Arc::new),
            _in_use: std::sync::Arc::new(in_use),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The store (for sibling crates and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the database cleanly.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

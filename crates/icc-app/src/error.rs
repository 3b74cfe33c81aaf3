//! The use-case error type, with a closed set of codes the UI and the CLI switch on.

use icc_core::CoreError;
use icc_store::StoreError;

/// Why a use case refused or failed. Messages are Spanish and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A value given by the user is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A password does not meet the policy.
    #[error("contraseña rechazada: {0}")]
    WeakPassword(String),
    /// No administrator exists yet.
    #[error(
        "la base de datos en {0} no tiene usuarios todavía; cree el primer administrador con `icc init --admin-user NOMBRE --password-stdin`"
    )]
    NotInitialized(String),
    /// `init` on a database that already has users.
    #[error(
        "la base de datos ya fue inicializada (tiene usuarios); para agregar otro use `icc users add`"
    )]
    AlreadyInitialized,
    /// Wrong user name or password (deliberately not saying which).
    #[error("usuario o contraseña incorrectos")]
    BadCredentials,
    /// Too many failed logins; wait.
    #[error(
        "demasiados intentos fallidos para «{user}»; espere {seconds} s antes de volver a intentar"
    )]
    Locked {
        /// Account.
        user: String,
        /// Seconds left.
        seconds: i64,
    },
    /// The account is disabled.
    #[error("la cuenta «{0}» está deshabilitada; pida a un administrador que la habilite")]
    Disabled(String),
    /// The role does not allow it.
    #[error("permiso denegado: {0}")]
    Forbidden(String),
    /// Something looked up does not exist (or the user may not see it).
    #[error("{what} «{key}» no existe")]
    NotFound {
        /// What.
        what: &'static str,
        /// Key given.
        key: String,
    },
    /// Creation of something that exists.
    #[error("{0}")]
    Conflict(String),
    /// File-system trouble around the data directory.
    #[error("{0}")]
    Io(String),
    /// The user cancelled a long operation; nothing was written.
    #[error("operación cancelada; no se guardó ningún cambio")]
    Cancelled,
    /// The OS keyring could not be used.
    #[error("{0}")]
    Keyring(String),
    /// A credential is missing or was refused by the remote service; the user must act.
    #[error("{0}")]
    Credentials(String),
    /// A remote service (iConstruye, the sync server) failed.
    #[error("{0}")]
    Remote(String),
    /// The database failed.
    #[error("{0}")]
    Store(StoreError),
    /// The database is encrypted and its key is not in this keyring (or does not open it):
    /// the message gives the recovery path.
    #[error("{0}")]
    KeyMissing(String),
}

impl AppError {
    /// Closed set of codes for the UI (`{code, message}`) and exit-code mapping.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "invalid",
            AppError::WeakPassword(_) => "weak_password",
            AppError::NotInitialized(_) => "not_initialized",
            AppError::AlreadyInitialized => "already_initialized",
            AppError::BadCredentials => "bad_credentials",
            AppError::Locked { .. } => "locked",
            AppError::Disabled(_) => "disabled",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound { .. } => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Io(_) => "io",
            AppError::Cancelled => "cancelled",
            AppError::Keyring(_) => "keyring",
            AppError::KeyMissing(_) => "key_missing",
            AppError::Credentials(_) => "credentials",
            AppError::Remote(_) => "remote",
            AppError::Store(_) => "internal",
        }
    }
}

impl From<CoreError> for AppError {
    fn from(e: CoreError) -> AppError {
        AppError::Invalid(e.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::Core(c) => AppError::Invalid(c.to_string()),
            StoreError::Invalid(m) => AppError::Invalid(m),
            StoreError::NotFound { what, key } => AppError::NotFound { what, key },
            StoreError::AlreadyExists { .. } => AppError::Conflict(e.to_string()),
            StoreError::Cancelled => AppError::Cancelled,
            StoreError::Refused(m) => AppError::Forbidden(m),
            other => AppError::Store(other),
        }
    }
}

impl From<icc_iconstruye::IconstruyeError> for AppError {
    fn from(e: icc_iconstruye::IconstruyeError) -> AppError {
        use icc_iconstruye::IconstruyeError as E;
        match e {
            E::Cancelled => AppError::Cancelled,
            E::BadUrl(_) => AppError::Invalid(e.to_string()),
            e if e.is_credentials() => AppError::Credentials(e.to_string()),
            e => AppError::Remote(e.to_string()),
        }
    }
}

/// Result with [`AppError`].
pub type Result<T> = std::result::Result<T, AppError>;

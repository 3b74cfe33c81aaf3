//! What can go wrong talking to iConstruye. Messages are Spanish, say what to do, and never
//! carry a key: requests put it only in a header marked sensitive, and no variant holds
//! headers.

use crate::client::Product;

/// An iConstruye failure.
#[derive(Debug, thiserror::Error)]
pub enum IconstruyeError {
    /// No key stored for the product.
    #[error(
        "falta la clave de iConstruye para {product}: guárdela con `icc credentials set {credential}` (la clave se lee de la entrada estándar) o en Configuración › iConstruye"
    )]
    MissingKey {
        /// Product label.
        product: &'static str,
        /// Credential name to set.
        credential: &'static str,
    },
    /// 401 with every key we have.
    #[error(
        "iConstruye rechazó la clave de {product} (401 Unauthorized{second}): revise que la suscripción esté vigente y guarde la clave nueva con `icc credentials set {credential}`"
    )]
    KeyRefused {
        /// Product label.
        product: &'static str,
        /// Credential name to set.
        credential: &'static str,
        /// `", también la secundaria"` when a secondary key was tried too.
        second: &'static str,
    },
    /// Still 429 or 5xx after every retry.
    #[error(
        "iConstruye siguió respondiendo {status} en {endpoint} después de {attempts} intentos; intente más tarde (lo ya descargado quedó guardado)"
    )]
    GaveUp {
        /// Endpoint path.
        endpoint: String,
        /// Last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// Could not connect, or the answer did not arrive in time, after every retry.
    #[error(
        "no se pudo conectar con iConstruye ({base}) en {endpoint}: {detail}; revise la conexión a internet o la dirección en Configuración › iConstruye"
    )]
    Network {
        /// Base URL.
        base: String,
        /// Endpoint path.
        endpoint: String,
        /// What failed.
        detail: String,
    },
    /// Any other HTTP error status.
    #[error("iConstruye respondió {status} en {endpoint}: {message}")]
    Http {
        /// Endpoint path.
        endpoint: String,
        /// Status code.
        status: u16,
        /// The answer's message, shortened.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error(
        "iConstruye respondió algo inesperado en {endpoint}: {detail}; si se repite, avise a soporte con el registro de la aplicación"
    )]
    Malformed {
        /// Endpoint path.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// A base URL that cannot be used.
    #[error(
        "la dirección de iConstruye «{0}» no es válida: use por ejemplo https://api.iconstruye.com"
    )]
    BadUrl(String),
    /// Cancelled by the user.
    #[error("descarga cancelada")]
    Cancelled,
}

impl IconstruyeError {
    /// Whether the error is about the credentials (the user must act before retrying).
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            IconstruyeError::MissingKey { .. } | IconstruyeError::KeyRefused { .. }
        )
    }

    pub(crate) fn missing(p: Product) -> IconstruyeError {
        IconstruyeError::MissingKey {
            product: p.label(),
            credential: p.credential(),
        }
    }
}

/// Result with [`IconstruyeError`].
pub type Result<T, E = IconstruyeError> = std::result::Result<T, E>;

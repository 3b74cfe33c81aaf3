//! What can go wrong talking to Kame. Messages are Spanish, say what to do, and never carry
//! the client secret or the token: both travel only in bodies and headers no variant holds.

/// A Kame failure.
#[derive(Debug, thiserror::Error)]
pub enum KameError {
    /// No client id or secret configured.
    #[error(
        "falta la credencial de Kame: guarde el client_id en Configuración › Kame (o `icc kame configurar --client-id …`) y el secreto con `icc credentials set kame`"
    )]
    MissingCredentials,
    /// `/oauth/token` refused the client id and secret.
    #[error(
        "Kame rechazó las credenciales (HTTP {status}): revise el client_id y guarde el secreto vigente con `icc credentials set kame`"
    )]
    CredentialsRefused {
        /// Status answered.
        status: u16,
    },
    /// Still 429 or 5xx after every retry (only for requests that are safe to repeat).
    #[error(
        "Kame siguió respondiendo {status} en {endpoint} después de {attempts} intentos; intente más tarde"
    )]
    GaveUp {
        /// Endpoint path.
        endpoint: String,
        /// Last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// Could not reach Kame, before anything was sent.
    #[error(
        "no se pudo conectar con Kame ({base}) en {endpoint}: {detail}; revise la conexión a internet o la dirección en Configuración › Kame"
    )]
    Network {
        /// Base URL.
        base: String,
        /// Endpoint path.
        endpoint: String,
        /// What failed.
        detail: String,
    },
    /// Kame refused the request and said why (a voucher so refused was not recorded).
    #[error("Kame rechazó la solicitud en {endpoint} (HTTP {status}): {message}")]
    Refused {
        /// Endpoint path.
        endpoint: String,
        /// Status answered.
        status: u16,
        /// Kame's own messages, joined.
        message: String,
    },
    /// A voucher was sent and no clear answer came back: Kame may or may not have recorded
    /// it. It must not be sent again until checked.
    #[error(
        "no se sabe si Kame registró el comprobante ({detail}); se verificará antes de volver a enviarlo"
    )]
    Uncertain {
        /// What happened.
        detail: String,
    },
    /// The answer was not the JSON expected.
    #[error(
        "Kame respondió algo inesperado en {endpoint}: {detail}; si se repite, avise a soporte con el registro de la aplicación"
    )]
    Malformed {
        /// Endpoint path.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// A base URL that cannot be used.
    #[error("la dirección de Kame «{0}» no es válida: use por ejemplo https://api.kameone.cl")]
    BadUrl(String),
}

impl KameError {
    /// Whether the user must fix the credentials before anything else can work.
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            KameError::MissingCredentials | KameError::CredentialsRefused { .. }
        )
    }
}

/// Result with [`KameError`].
pub type Result<T, E = KameError> = std::result::Result<T, E>;

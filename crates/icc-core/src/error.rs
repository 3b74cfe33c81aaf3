//! The domain's error type. Messages are Spanish (they reach users) and always name the
//! field and the offending value.

/// A domain rule was broken by some input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A value could not be read as the field's type.
    #[error("{field}: el valor «{value}» no es válido: {reason}")]
    Invalid {
        /// The field, as users know it (`RUT`, `folio`, ...).
        field: &'static str,
        /// The raw value that was given.
        value: String,
        /// Why it is refused and, where possible, what is expected.
        reason: String,
    },
    /// A status change that the status machine does not allow.
    #[error("no se puede pasar una factura de «{from}» a «{to}»{hint}")]
    IllegalTransition {
        /// Current status label.
        from: &'static str,
        /// Requested status label.
        to: &'static str,
        /// Extra explanation, starting with `: ` when present.
        hint: String,
    },
    /// Arithmetic on pesos overflowed `i64`.
    #[error("el monto excede el rango permitido al calcular {0}")]
    Overflow(&'static str),
}

impl CoreError {
    /// Shorthand for [`CoreError::Invalid`].
    pub fn invalid(
        field: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        CoreError::Invalid {
            field,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Result with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;

//! The error every command returns: `{code, message}`, a closed code set the UI switches on
//! and a Spanish message it shows as is.

use serde::Serialize;

/// A command's failure as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct UiError {
    /// `invalid`, `forbidden`, `locked`, `not_signed_in`, `bad_credentials`, ...
    pub code: String,
    /// What happened and what to do, in Spanish.
    pub message: String,
}

impl UiError {
    /// An error with a code of the shell's own (session, lock).
    pub fn new(code: &str, message: &str) -> UiError {
        UiError {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<icc_app::AppError> for UiError {
    fn from(e: icc_app::AppError) -> UiError {
        if matches!(e, icc_app::AppError::Store(_)) {
            tracing::error!(error = %e, "command failed");
        }
        UiError {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

impl From<icc_core::CoreError> for UiError {
    fn from(e: icc_core::CoreError) -> UiError {
        UiError {
            code: "invalid".into(),
            message: e.to_string(),
        }
    }
}

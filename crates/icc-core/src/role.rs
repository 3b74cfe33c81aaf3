//! User roles (DOMAIN.md §1). What each may do is decided in icc-app.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, obras, settings; sees everything.
    Admin,
    /// Approves payments; sees all obras.
    Gerente,
    /// Imports, assigns accounts, exports, prepares payments; all obras.
    Contabilidad,
    /// Site manager: only the assigned obras.
    AdminObra,
}

impl Role {
    /// Stable name, as stored and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Gerente => "gerente",
            Role::Contabilidad => "contabilidad",
            Role::AdminObra => "admin_obra",
        }
    }

    /// Spanish label for people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrador",
            Role::Gerente => "Gerente",
            Role::Contabilidad => "Contabilidad",
            Role::AdminObra => "Administrador de obra",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Role> {
        Ok(match s.trim().to_lowercase().replace('-', "_").as_str() {
            "admin" | "administrador" => Role::Admin,
            "gerente" => Role::Gerente,
            "contabilidad" => Role::Contabilidad,
            "admin_obra" | "administrador_de_obra" => Role::AdminObra,
            _ => {
                return Err(CoreError::invalid(
                    "rol",
                    s.trim(),
                    "los roles son admin, gerente, contabilidad y admin_obra",
                ));
            }
        })
    }
}

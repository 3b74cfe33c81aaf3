//! Secrets in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager
//! on Windows) and nowhere else: not SQLite, not config files, not logs, not the UI after
//! entry. The set of names is closed; each database has its own entries (the service name
//! carries the installation id), so two data folders never share or overwrite keys.

use icc_core::Secret;
use serde::Serialize;

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// Settings key of this database's installation id (not a secret: it only names the
/// keyring entries).
const INSTALL_ID: &str = "install_id";
/// Prefix of the keyring service name.
pub const KEYRING_SERVICE: &str = "icc-facturas";

/// A credential the application knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialSpec {
    /// Name used by `icc credentials set NAME`.
    pub name: &'static str,
    /// Spanish description.
    pub label: &'static str,
    /// What a session must be allowed to set or delete it.
    pub permission: Permission,
}

/// Every credential name, in the order screens show them.
pub const CREDENTIALS: [CredentialSpec; 6] = [
    CredentialSpec {
        name: "iconstruye-facturas",
        label: "iConstruye: clave de suscripción de facturas (cvbf)",
        permission: Permission::Import,
    },
    CredentialSpec {
        name: "iconstruye-facturas-secundaria",
        label: "iConstruye: clave secundaria de facturas",
        permission: Permission::Import,
    },
    CredentialSpec {
        name: "iconstruye-ordenes",
        label: "iConstruye: clave de suscripción de órdenes de compra",
        permission: Permission::Import,
    },
    CredentialSpec {
        name: "iconstruye-ordenes-secundaria",
        label: "iConstruye: clave secundaria de órdenes de compra",
        permission: Permission::Import,
    },
    CredentialSpec {
        name: crate::kame::SECRET_CREDENTIAL,
        label: "Kame: client_secret de la API (OAuth)",
        permission: Permission::Accounting,
    },
    CredentialSpec {
        name: crate::correo::SMTP_CREDENTIAL,
        label: "Correo (SMTP): clave de la cuenta que envía las nóminas de pago",
        permission: Permission::Import,
    },
];

/// Whether a credential is stored; the value itself is never returned.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CredentialStatus {
    /// Name.
    pub name: String,
    /// Spanish description.
    pub label: String,
    /// Stored in the keyring.
    pub configured: bool,
}

fn spec(name: &str) -> Result<CredentialSpec> {
    CREDENTIALS
        .iter()
        .find(|c| c.name == name.trim())
        .copied()
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "la credencial «{}» no existe; las conocidas son: {}",
                name.trim(),
                CREDENTIALS.map(|c| c.name).join(", ")
            ))
        })
}

fn keyring_error(e: &keyring::Error) -> AppError {
    AppError::Keyring(format!(
        "no se pudo usar el llavero del sistema ({e}); en Linux se necesita un servicio Secret Service desbloqueado (GNOME Keyring o KWallet) en la sesión del usuario"
    ))
}

impl App {
    async fn keyring_service(&self) -> Result<String> {
        let id = match self.store.setting(INSTALL_ID).await? {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let mut tx = self.store.write("sistema").await?;
                tx.set_setting(INSTALL_ID, &id).await?;
                tx.commit().await?;
                // another process may have won the race: read back what is stored
                self.store.setting(INSTALL_ID).await?.unwrap_or(id)
            }
        };
        Ok(format!("{KEYRING_SERVICE}:{id}"))
    }

    async fn entry(&self, name: &str) -> Result<keyring::Entry> {
        let service = self.keyring_service().await?;
        keyring::Entry::new(&service, name).map_err(|e| keyring_error(&e))
    }

    /// Stores an internal secret (a token the app itself obtained) in the keyring.
    pub(crate) async fn store_secret(&self, name: &str, value: &Secret) -> Result<()> {
        let entry = self.entry(name).await?;
        let value = value.clone();
        tokio::task::spawn_blocking(move || entry.set_password(value.expose()))
            .await
            .map_err(|e| AppError::Keyring(format!("el llavero no respondió: {e}")))?
            .map_err(|e| keyring_error(&e))
    }

    /// Reads an internal secret.
    pub(crate) async fn secret(&self, name: &str) -> Result<Option<Secret>> {
        let entry = self.entry(name).await?;
        let got = tokio::task::spawn_blocking(move || entry.get_password())
            .await
            .map_err(|e| AppError::Keyring(format!("el llavero no respondió: {e}")))?;
        match got {
            Ok(v) => Ok(Some(Secret::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(&e)),
        }
    }

    /// Deletes an internal secret (absent is fine).
    pub(crate) async fn forget_secret(&self, name: &str) -> Result<()> {
        let entry = self.entry(name).await?;
        let gone = tokio::task::spawn_blocking(move || entry.delete_credential())
            .await
            .map_err(|e| AppError::Keyring(format!("el llavero no respondió: {e}")))?;
        match gone {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(&e)),
        }
    }

    /// Stores a secret under `name` in the OS keyring. From the desktop (and the CLI with
    /// `--user`) the session must have the credential's permission (import for iConstruye
    /// and mail, accounting for Kame); the CLI without `--user` acts with
    /// the authority of the OS account that owns the keyring.
    ///
    /// # Errors
    /// An unknown name, an empty secret, forbidden for the role, the keyring unusable.
    pub async fn set_credential(
        &self,
        s: Option<&Session>,
        name: &str,
        secret: impl Into<Secret>,
    ) -> Result<()> {
        let spec = spec(name)?;
        if let Some(s) = s {
            s.require(spec.permission)?;
        }
        let secret: Secret = secret.into();
        let secret = Secret::new(secret.expose().trim());
        if secret.is_empty() {
            return Err(AppError::Invalid(format!(
                "la credencial «{}» llegó vacía; envíela por la entrada estándar",
                spec.name
            )));
        }
        self.store_secret(spec.name, &secret).await?;
        self.audit_credential(s, spec.name, "guardada").await?;
        tracing::info!(
            credential = spec.name,
            "credential stored in the OS keyring"
        );
        Ok(())
    }

    /// Deletes a stored secret. Returns whether there was one.
    ///
    /// # Errors
    /// As [`App::set_credential`].
    pub async fn delete_credential(&self, s: Option<&Session>, name: &str) -> Result<bool> {
        let spec = spec(name)?;
        if let Some(s) = s {
            s.require(spec.permission)?;
        }
        let entry = self.entry(spec.name).await?;
        let gone = tokio::task::spawn_blocking(move || entry.delete_credential())
            .await
            .map_err(|e| AppError::Keyring(format!("el llavero no respondió: {e}")))?;
        let existed = match gone {
            Ok(()) => true,
            Err(keyring::Error::NoEntry) => false,
            Err(e) => return Err(keyring_error(&e)),
        };
        if existed {
            self.audit_credential(s, spec.name, "eliminada").await?;
        }
        Ok(existed)
    }

    /// A stored secret, for the clients in this crate only.
    pub(crate) async fn credential(&self, name: &'static str) -> Result<Option<Secret>> {
        self.secret(spec(name)?.name).await
    }

    /// Which credentials are stored (never their values).
    ///
    /// # Errors
    /// The keyring unusable.
    pub async fn credentials_status(&self) -> Result<Vec<CredentialStatus>> {
        let mut out = Vec::with_capacity(CREDENTIALS.len());
        for c in CREDENTIALS {
            out.push(CredentialStatus {
                name: c.name.into(),
                label: c.label.into(),
                configured: self.credential(c.name).await?.is_some(),
            });
        }
        Ok(out)
    }

    /// Whether the keyring answers (a read of an entry that may not exist).
    pub(crate) async fn keyring_reachable(&self) -> Result<()> {
        self.credential(CREDENTIALS[0].name).await.map(|_| ())
    }

    async fn audit_credential(
        &self,
        s: Option<&Session>,
        name: &str,
        what: &'static str,
    ) -> Result<()> {
        let who = s.map_or("sistema", |s| s.username.as_str());
        let mut tx = self.store.write(who).await?;
        // the audit row names the credential and what happened, never the value
        tx.audit("credential", name, what, None, None, None);
        tx.commit().await?;
        Ok(())
    }
}

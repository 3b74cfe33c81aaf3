//! First administrator, logins with back-off, users and obras.

use icc_core::{Role, Secret};
use icc_store::{NewUser, Obra, User};

use crate::App;
use crate::auth::{
    Permission, Session, check_password_policy, hash_password, lock_seconds, verify_password,
};
use crate::error::{AppError, Result};

/// Hash of a throw-away password, verified against when the user does not exist so that a
/// wrong name costs as much time as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Jm1Vf0k0lqCFPhQh3nZ2aF0b2n4N8J0R8bSx8Kx1qXo";

fn valid_username(name: &str) -> Result<String> {
    let n = name.trim();
    let ok = (2..=64).contains(&n.chars().count())
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(n.to_owned())
    } else {
        Err(AppError::Invalid(format!(
            "nombre de usuario: el valor «{n}» no es válido: use de 2 a 64 letras, números, punto, guion, guion bajo o @"
        )))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn hash_blocking(password: Secret) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(password.expose()))
        .await
        .map_err(|e| AppError::Io(format!("error interno al calcular el hash: {e}")))?
}

async fn verify_blocking(password: Secret, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(password.expose(), &hash))
        .await
        .unwrap_or(false)
}

impl App {
    /// Whether a first administrator exists.
    ///
    /// # Errors
    /// Store errors.
    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.store.user_count().await? > 0)
    }

    /// Creates the first administrator. There is no default account: until this runs, no
    /// one can log in.
    ///
    /// # Errors
    /// [`AppError::AlreadyInitialized`] when users exist, a weak password, a bad name.
    pub async fn init(&self, admin: &str, password: impl Into<Secret>) -> Result<Session> {
        let password: Secret = password.into();
        let username = valid_username(admin)?;
        check_password_policy(&username, password.expose())?;
        let hash = hash_blocking(password).await?;
        let mut tx = self.store.write(&username).await?;
        // checked inside the write transaction (BEGIN IMMEDIATE): two concurrent inits
        // cannot both create an administrator
        let users = tx.user_count().await?;
        if users > 0 {
            return Err(AppError::AlreadyInitialized);
        }
        tx.create_user(&NewUser {
            username: username.clone(),
            password_hash: hash,
            password_legacy: false,
            must_change_password: false,
            role: Role::Admin,
            obras: vec![],
        })
        .await?;
        tx.commit().await?;
        tracing::info!(user = %username, "first administrator created");
        Ok(Session::local(username, Role::Admin, vec![]))
    }

    /// Logs a user in. Failed attempts are counted in the database (so the count survives
    /// restarts) and, after three, lock the account for 2, 4, 8 … seconds (at most 15 min).
    ///
    /// # Errors
    /// [`AppError::NotInitialized`], [`AppError::BadCredentials`], [`AppError::Locked`],
    /// [`AppError::Disabled`].
    pub async fn login(&self, username: &str, password: impl Into<Secret>) -> Result<Session> {
        let password: Secret = password.into();
        if !self.is_initialized().await? {
            return Err(AppError::NotInitialized(
                self.data_dir.display().to_string(),
            ));
        }
        let Some(user) = self.store.user(username.trim()).await? else {
            let _ = verify_blocking(password.clone(), DUMMY_HASH.to_owned()).await;
            tracing::warn!(user = %username.trim(), "login refused: unknown user");
            return Err(AppError::BadCredentials);
        };
        let now = now_ms();
        if let Some(until) = user.locked_until_ms
            && until > now
        {
            return Err(AppError::Locked {
                user: user.username,
                seconds: (until - now + 999) / 1000,
            });
        }
        let ok = if user.password_legacy {
            crate::legacy::verify_legacy_hash(password.expose(), &user.password_hash)
        } else {
            verify_blocking(password.clone(), user.password_hash.clone()).await
        };
        if !ok {
            let failed = user.failed_logins + 1;
            let lock = lock_seconds(failed);
            let until = (lock > 0).then(|| now + lock * 1000);
            let mut tx = self.store.write(&user.username).await?;
            tx.record_failed_login(&user.username, failed, until)
                .await?;
            tx.commit().await?;
            tracing::warn!(user = %user.username, failed, lock_seconds = lock, "login refused: wrong password");
            return Err(AppError::BadCredentials);
        }
        if user.disabled {
            return Err(AppError::Disabled(user.username));
        }
        if user.password_legacy {
            // the predecessor's unsalted SHA-256 is replaced at the first good login
            let hash = hash_blocking(password).await?;
            let mut tx = self.store.write(&user.username).await?;
            tx.set_password(&user.username, &hash).await?;
            tx.commit().await?;
            tracing::info!(user = %user.username, "legacy password re-hashed with argon2id");
        } else if user.failed_logins > 0 {
            let mut tx = self.store.write(&user.username).await?;
            tx.reset_failed_logins(&user.username).await?;
            tx.commit().await?;
        }
        self.with_account(Session::local(user.username, user.role, user.obras))
            .await
    }

    /// `s` again as it stands now: the local user's role and obras as stored, and the linked
    /// server account's as the last sync kept them (a session held open, as the desktop's,
    /// follows a change IT made on the server).
    ///
    /// # Errors
    /// [`AppError::Disabled`] or [`AppError::BadCredentials`] when the user was disabled or
    /// removed meanwhile, database errors.
    pub async fn current_session(&self, s: &Session) -> Result<Session> {
        let Some(user) = self.store.user(&s.username).await? else {
            return Err(AppError::BadCredentials);
        };
        if user.disabled {
            return Err(AppError::Disabled(user.username));
        }
        self.with_account(Session::local(user.username, user.role, user.obras))
            .await
    }

    /// Creates a user. Admin only. An `admin_obra` needs at least one obra.
    ///
    /// # Errors
    /// Forbidden, invalid name or password, unknown obra, taken name.
    pub async fn add_user(
        &self,
        s: &Session,
        name: &str,
        role: Role,
        obras: &[String],
        password: impl Into<Secret>,
    ) -> Result<User> {
        let password: Secret = password.into();
        s.require(Permission::ManageUsers)?;
        let username = valid_username(name)?;
        needs_obras(role, obras)?;
        check_password_policy(&username, password.expose())?;
        let hash = hash_blocking(password).await?;
        let mut tx = self.store.write(&s.username).await?;
        tx.create_user(&NewUser {
            username: username.clone(),
            password_hash: hash,
            password_legacy: false,
            must_change_password: false,
            role,
            obras: obras
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        })
        .await?;
        tx.commit().await?;
        self.store.user(&username).await?.ok_or(AppError::NotFound {
            what: "usuario",
            key: username,
        })
    }

    /// All users. Admin only.
    ///
    /// # Errors
    /// Forbidden, store errors.
    pub async fn list_users(&self, s: &Session) -> Result<Vec<User>> {
        s.require(Permission::ManageUsers)?;
        Ok(self.store.users().await?)
    }

    async fn user_named(&self, name: &str) -> Result<User> {
        self.store
            .user(name.trim())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "usuario",
                key: name.trim().into(),
            })
    }

    /// Sets a new password: an admin for anyone, anyone for themselves.
    ///
    /// # Errors
    /// Forbidden, weak password, unknown user.
    pub async fn change_password(
        &self,
        s: &Session,
        target: &str,
        password: impl Into<Secret>,
    ) -> Result<()> {
        let password: Secret = password.into();
        let user = self.user_named(target).await?;
        if !user.username.eq_ignore_ascii_case(&s.username) {
            s.require(Permission::ManageUsers)?;
        }
        check_password_policy(&user.username, password.expose())?;
        let hash = hash_blocking(password).await?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_password(&user.username, &hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables a user. Admin only; the last enabled administrator cannot be disabled.
    ///
    /// # Errors
    /// Forbidden, unknown user, last administrator.
    pub async fn disable_user(&self, s: &Session, target: &str) -> Result<()> {
        s.require(Permission::ManageUsers)?;
        let user = self.user_named(target).await?;
        self.keep_an_administrator(&user).await?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_disabled(&user.username, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refuses to take away the last enabled administrator.
    async fn keep_an_administrator(&self, user: &User) -> Result<()> {
        if user.role == Role::Admin && !user.disabled {
            let admins = self
                .store
                .users()
                .await?
                .into_iter()
                .filter(|u| u.role == Role::Admin && !u.disabled)
                .count();
            if admins <= 1 {
                return Err(AppError::Conflict(format!(
                    "«{}» es el único administrador habilitado; cree otro administrador antes",
                    user.username
                )));
            }
        }
        Ok(())
    }

    /// Changes a user's role, obras and whether the account is enabled (administrators).
    ///
    /// # Errors
    /// Forbidden, unknown user or obra, a site manager without obras, the last
    /// administrator losing the role or the account.
    pub async fn update_user(
        &self,
        s: &Session,
        target: &str,
        role: Role,
        obras: &[String],
        disabled: bool,
    ) -> Result<User> {
        s.require(Permission::ManageUsers)?;
        let user = self.user_named(target).await?;
        needs_obras(role, obras)?;
        if role != Role::Admin || disabled {
            self.keep_an_administrator(&user).await?;
        }
        let obras: Vec<String> = if role == Role::AdminObra {
            obras.iter().map(|o| o.trim().to_owned()).collect()
        } else {
            Vec::new()
        };
        let mut tx = self.store.write(&s.username).await?;
        if role != user.role {
            tx.set_role(&user.username, role).await?;
        }
        if obras != user.obras {
            tx.set_user_obras(user.id, &user.username, &obras).await?;
        }
        if disabled != user.disabled {
            tx.set_disabled(&user.username, disabled).await?;
        }
        tx.commit().await?;
        self.user_named(&user.username).await
    }

    /// Renames an obra or (de)activates it (administrators).
    ///
    /// # Errors
    /// Forbidden, unknown obra, an empty name.
    pub async fn update_obra(
        &self,
        s: &Session,
        codigo: &str,
        nombre: &str,
        activa: bool,
    ) -> Result<Obra> {
        s.require(Permission::ManageObras)?;
        let code = codigo.trim();
        let nombre = nombre.trim();
        if nombre.is_empty() {
            return Err(AppError::Invalid(format!(
                "nombre de la obra «{code}»: no puede quedar vacío"
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        if !tx.update_obra(code, nombre, activa).await? {
            return Err(AppError::NotFound {
                what: "obra",
                key: code.into(),
            });
        }
        tx.commit().await?;
        self.store.obra(code).await?.ok_or(AppError::NotFound {
            what: "obra",
            key: code.into(),
        })
    }

    /// Creates an obra. Admin only. Codes are kept as typed, compared case-insensitively.
    ///
    /// # Errors
    /// Forbidden, invalid code, taken code.
    pub async fn add_obra(&self, s: &Session, codigo: &str, nombre: &str) -> Result<Obra> {
        s.require(Permission::ManageObras)?;
        let code = codigo.trim();
        check_obra_code(code)?;
        let nombre = if nombre.trim().is_empty() {
            code
        } else {
            nombre.trim()
        };
        let mut tx = self.store.write(&s.username).await?;
        tx.create_obra(code, nombre).await?;
        tx.commit().await?;
        self.store.obra(code).await?.ok_or(AppError::NotFound {
            what: "obra",
            key: code.into(),
        })
    }

    /// Creates the obras of `codes` that do not exist yet, named by their code (the import's
    /// «Crear obras»: a file names obras the office has not created); returns the ones
    /// created. Nothing is created when a code is malformed.
    ///
    /// # Errors
    /// Forbidden without `ManageObras`; a malformed code; store errors.
    pub async fn create_obras(&self, s: &Session, codes: &[String]) -> Result<Vec<String>> {
        s.require(Permission::ManageObras)?;
        let known = self.store.obra_codes().await?;
        let mut fresh: Vec<String> = Vec::new();
        for c in codes.iter().map(|c| c.trim()) {
            check_obra_code(c)?;
            if !known.contains(&c.to_uppercase())
                && !fresh.iter().any(|f| f.eq_ignore_ascii_case(c))
            {
                fresh.push(c.to_owned());
            }
        }
        if !fresh.is_empty() {
            let mut tx = self.store.write(&s.username).await?;
            for c in &fresh {
                tx.create_obra(c, c).await?;
            }
            tx.commit().await?;
        }
        Ok(fresh)
    }

    /// The obras this user may see.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_obras(&self, s: &Session) -> Result<Vec<Obra>> {
        let all = self.store.obras().await?;
        Ok(all
            .into_iter()
            .filter(|o| s.sees_obra(Some(&o.codigo)))
            .collect())
    }
}

/// A site manager sees only their obras, so they need at least one.
fn needs_obras(role: Role, obras: &[String]) -> Result<()> {
    if role == Role::AdminObra && obras.iter().all(|o| o.trim().is_empty()) {
        return Err(AppError::Invalid(
            "un administrador de obra necesita al menos una obra (--obras OB-1,OB-2)".into(),
        ));
    }
    Ok(())
}

/// An obra code people can type and read back: up to 32 letters, digits, `-`, `_` or `.`.
///
/// # Errors
/// What is wrong with it, in Spanish.
pub(crate) fn check_obra_code(code: &str) -> Result<()> {
    if code.is_empty()
        || code.len() > 32
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(AppError::Invalid(format!(
            "código de obra: el valor «{code}» no es válido: use hasta 32 letras, números o guiones, como OB-2026-017"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash_so_unknown_users_cost_the_same_time() {
        use argon2::password_hash::phc::PasswordHash;
        let parsed = PasswordHash::new(DUMMY_HASH);
        assert!(parsed.is_ok(), "{parsed:?}");
        assert!(!verify_password("anything", DUMMY_HASH));
    }
}

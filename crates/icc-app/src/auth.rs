//! Passwords, logins and permissions. Every permission is decided here, never in a UI.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use icc_core::Role;
use serde::Serialize;

use crate::error::{AppError, Result};

/// Failed logins allowed before the back-off starts.
pub const FREE_ATTEMPTS: i64 = 3;
/// Longest lock-out.
pub const MAX_LOCK_SECONDS: i64 = 15 * 60;

/// Checks the password policy ([`icc_core::password::check_password_policy`]).
///
/// # Errors
/// [`AppError::WeakPassword`] with the reason in Spanish.
pub fn check_password_policy(username: &str, password: &str) -> Result<()> {
    icc_core::password::check_password_policy(username, password).map_err(AppError::WeakPassword)
}

/// Hashes with argon2id (default parameters: 19 MiB, 2 passes) and a random salt.
///
/// # Errors
/// Only if the OS random generator fails.
pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::Io(format!("no se pudo calcular el hash de la contraseña: {e}")))
}

/// Verifies a password against a stored argon2 PHC string. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Lock-out after `failed` consecutive failures: none for the first three, then 2, 4, 8 …
/// seconds, at most 15 minutes.
pub fn lock_seconds(failed: i64) -> i64 {
    if failed < FREE_ATTEMPTS {
        0
    } else {
        let exp = (failed - FREE_ATTEMPTS + 1).min(20) as u32;
        2i64.pow(exp).min(MAX_LOCK_SECONDS)
    }
}

/// A logged-in user, as every use case sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Obra codes (meaningful for `admin_obra`).
    pub obras: Vec<String>,
}

pub use icc_core::Permission;

impl Session {
    /// Whether the role grants `p` (obra scope is checked separately).
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }

    /// Like [`Session::may`], as an error naming the role and the action.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub fn require(&self, p: Permission) -> Result<()> {
        if self.may(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "el rol {} no puede {}",
                self.role.label(),
                p.label()
            )))
        }
    }

    /// The obras this user is limited to; `None` means all.
    pub fn obra_scope(&self) -> Option<&[String]> {
        (self.role == Role::AdminObra).then_some(self.obras.as_slice())
    }

    /// Whether this user may see an invoice charged to `obra` (`None` = unassigned, which
    /// only roles with all obras see).
    pub fn sees_obra(&self, obra: Option<&str>) -> bool {
        match self.obra_scope() {
            None => true,
            Some(scope) => obra.is_some_and(|o| scope.iter().any(|s| s.eq_ignore_ascii_case(o))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_guessable_passwords_are_refused_with_a_reason() {
        let e = check_password_policy("ana", "corta")
            .unwrap_err()
            .to_string();
        assert!(e.contains("12"), "{e}");
        let e = check_password_policy("ana", "password1234")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fácil de adivinar"), "{e}");
        let e = check_password_policy("ana", "ana-Kx9#tQ2!pLmW")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nombre de usuario"), "{e}");
        assert!(check_password_policy("ana", "Fixture-Check-Pass-2026!").is_ok());
        assert!(check_password_policy("ana", "caballo correcto batería grapa").is_ok());
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = hash_password("caballo correcto batería grapa").unwrap();
        let b = hash_password("caballo correcto batería grapa").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password("caballo correcto batería grapa", &a));
        assert!(!verify_password("caballo correcto bateria grapa", &a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn back_off_grows_exponentially_and_is_capped() {
        assert_eq!(lock_seconds(1), 0);
        assert_eq!(lock_seconds(2), 0);
        assert_eq!(lock_seconds(3), 2);
        assert_eq!(lock_seconds(4), 4);
        assert_eq!(lock_seconds(5), 8);
        assert_eq!(lock_seconds(100), MAX_LOCK_SECONDS);
    }

    #[test]
    fn roles_grant_what_the_domain_says() {
        let s = |role| Session {
            username: "x".into(),
            role,
            obras: vec!["OB-1".into()],
        };
        assert!(s(Role::Admin).may(Permission::ManageUsers));
        assert!(!s(Role::Gerente).may(Permission::Import));
        assert!(s(Role::Contabilidad).may(Permission::Import));
        assert!(!s(Role::Contabilidad).may(Permission::Approve));
        assert!(s(Role::AdminObra).may(Permission::Approve));
        assert!(!s(Role::AdminObra).may(Permission::ManageUsers));
        assert!(s(Role::AdminObra).sees_obra(Some("ob-1")));
        assert!(!s(Role::AdminObra).sees_obra(Some("OB-2")));
        assert!(
            !s(Role::AdminObra).sees_obra(None),
            "unassigned invoices are not a site manager's"
        );
        assert!(s(Role::Gerente).sees_obra(None));
    }
}

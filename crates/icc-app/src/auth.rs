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
    /// The role that decides: on a laptop linked to a server, the server account's (its
    /// role and obras are kept at every sync and token refresh and applied, as the server
    /// would refuse anything beyond them); otherwise the local user's.
    pub role: Role,
    /// Obra codes (meaningful for `admin_obra`), from the same source as `role`.
    pub obras: Vec<String>,
    /// The server account whose role and obras apply, on a linked laptop.
    pub account: Option<String>,
    /// The local user's own role: it alone decides over this laptop's local users, which
    /// never leave it.
    pub local_role: Role,
}

pub use icc_core::Permission;

impl Session {
    /// A session of a local user on a laptop not linked to a server.
    pub fn local(username: impl Into<String>, role: Role, obras: Vec<String>) -> Session {
        Session {
            username: username.into(),
            role,
            obras,
            account: None,
            local_role: role,
        }
    }

    /// This session as the linked server account `account` allows it: its role and obras
    /// decide everything that reaches the server; local users stay the local role's.
    pub fn under_account(self, account: &str, role: Role, obras: Vec<String>) -> Session {
        Session {
            role,
            obras,
            account: Some(account.to_owned()),
            ..self
        }
    }

    /// Whether the role grants `p` (obra scope is checked separately).
    pub fn may(&self, p: Permission) -> bool {
        if p == Permission::ManageUsers {
            self.local_role.may(p)
        } else {
            self.role.may(p)
        }
    }

    /// Like [`Session::may`], as an error naming the role and the action.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub fn require(&self, p: Permission) -> Result<()> {
        if self.may(p) {
            return Ok(());
        }
        Err(AppError::Forbidden(match &self.account {
            Some(a) if p != Permission::ManageUsers => format!(
                "este equipo está vinculado a la cuenta del servidor «{a}», de rol {}, que no puede {}; si debe poder, pida a TI que cambie el rol de esa cuenta",
                self.role.label(),
                p.label()
            ),
            _ => format!("el rol {} no puede {}", self.local_role.label(), p.label()),
        }))
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
        let s = |role| Session::local("x", role, vec!["OB-1".into()]);
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

    #[test]
    fn a_linked_laptop_follows_its_server_account_but_keeps_its_local_users() {
        let admin = Session::local("ana", Role::Admin, vec![]);
        let site = admin.under_account("jperez", Role::AdminObra, vec!["OB-2".into()]);
        assert!(
            !site.may(Permission::Import),
            "the server account cannot import"
        );
        assert!(site.may(Permission::Approve));
        assert!(site.sees_obra(Some("ob-2")) && !site.sees_obra(Some("OB-1")));
        assert!(
            site.may(Permission::ManageUsers),
            "local users stay the local administrator's"
        );
        let e = site.require(Permission::Import).unwrap_err().to_string();
        assert!(
            e.contains("«jperez»") && e.contains("Administrador de obra"),
            "{e}"
        );
        let e = Session::local("x", Role::Gerente, vec![])
            .require(Permission::Import)
            .unwrap_err()
            .to_string();
        assert!(e.contains(": el rol Gerente no puede importar"), "{e}");
        let office = Session::local("x", Role::AdminObra, vec!["OB-1".into()]).under_account(
            "maria",
            Role::Contabilidad,
            vec![],
        );
        assert!(!office.may(Permission::ManageUsers));
        assert!(office.may(Permission::Import) && office.sees_obra(None));
    }
}

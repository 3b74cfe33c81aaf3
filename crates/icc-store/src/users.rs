//! Users as stored. Password hashing and policy live in icc-app.

use icc_core::Role;
use serde::Serialize;

use crate::Store;
use crate::error::{Result, StoreError};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name (case-insensitive unique).
    pub username: String,
    /// PHC string (argon2id), or the predecessor's SHA-256 hex when `password_legacy`.
    pub password_hash: String,
    /// Whether `password_hash` is a legacy unsalted SHA-256.
    pub password_legacy: bool,
    /// Whether the user must set a new password before working.
    pub must_change_password: bool,
    /// Role.
    pub role: Role,
    /// Obra codes (for `admin_obra`).
    pub obras: Vec<String>,
}

/// A stored user.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Assigned obra codes.
    pub obras: Vec<String>,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Whether a new password is required.
    pub must_change_password: bool,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Lock-out end (unix ms), if locked.
    pub locked_until_ms: Option<i64>,
    /// Creation time (UTC).
    pub created_at: String,
    #[serde(skip)]
    /// The stored hash (never serialised).
    pub password_hash: String,
    #[serde(skip)]
    /// Whether the hash is legacy SHA-256.
    pub password_legacy: bool,
}

/// The user columns in [`UserRow`] order, followed by `$tail`.
macro_rules! user_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, username, role, disabled, must_change_password, failed_logins, locked_until_ms, created_at, ",
            "password_hash, password_legacy FROM users ",
            $tail
        )
    };
}

type UserRow = (
    i64,
    String,
    String,
    bool,
    bool,
    i64,
    Option<i64>,
    String,
    String,
    bool,
);

impl Store {
    /// Number of users (0 before `init`).
    ///
    /// # Errors
    /// Database errors.
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    async fn user_from_row(&self, r: UserRow) -> Result<User> {
        let (
            id,
            username,
            role,
            disabled,
            must_change_password,
            failed_logins,
            locked_until_ms,
            created_at,
            password_hash,
            password_legacy,
        ) = r;
        let role: Role = role.parse().map_err(|_| StoreError::Corrupt {
            column: "users.role",
            value: role.clone(),
        })?;
        let obras: Vec<String> = sqlx::query_scalar(
            "SELECT o.codigo FROM user_obras uo JOIN obras o ON o.id = uo.obra_id WHERE uo.user_id = ? ORDER BY o.codigo",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(User {
            id,
            username,
            role,
            obras,
            disabled,
            must_change_password,
            failed_logins,
            locked_until_ms,
            created_at,
            password_hash,
            password_legacy,
        })
    }

    /// Looks a user up by name (case-insensitive).
    ///
    /// # Errors
    /// Database errors, a corrupt role.
    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(user_select!("WHERE username = ?"))
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(Some(self.user_from_row(r).await?)),
            None => Ok(None),
        }
    }

    /// All users, by name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(user_select!("ORDER BY username"))
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.user_from_row(r).await?);
        }
        Ok(out)
    }
}

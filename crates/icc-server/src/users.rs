//! Accounts, managed by IT from the command line (`icc-server user ...`); there is no open
//! registration and no default account.

use icc_core::Role;
use sqlx::PgPool;

/// An account as listed.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct UserInfo {
    /// Name.
    pub username: String,
    /// Role code.
    pub role: String,
    /// Obras.
    pub obras: Vec<String>,
    /// Disabled.
    pub disabled: bool,
}

fn obras_for(role: Role, obras: &[String]) -> Result<Vec<String>, String> {
    let obras: Vec<String> = obras
        .iter()
        .map(|o| o.trim().to_uppercase())
        .filter(|o| !o.is_empty())
        .collect();
    if role == Role::AdminObra && obras.is_empty() {
        return Err("un administrador de obra necesita al menos una obra: --obras A,B".into());
    }
    Ok(obras)
}

/// Creates an account.
///
/// # Errors
/// A weak password, a site manager without obras, a name in use.
pub async fn add(
    pool: &PgPool,
    name: &str,
    role: Role,
    obras: &[String],
    password: &str,
) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err("el nombre de usuario debe tener entre 1 y 64 caracteres".into());
    }
    icc_core::password::check_password_policy(name, password)
        .map_err(|e| format!("contraseña rechazada: {e}"))?;
    let obras = obras_for(role, obras)?;
    let hash = crate::auth::hash_password(password)?;
    sqlx::query("INSERT INTO users (username, password_hash, role, obras) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(hash)
        .bind(role.as_str())
        .bind(&obras)
        .execute(pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                format!("el usuario «{name}» ya existe")
            }
            other => format!("no se pudo crear el usuario: {other}"),
        })?;
    Ok(())
}

/// Every account.
///
/// # Errors
/// Database errors.
pub async fn list(pool: &PgPool) -> Result<Vec<UserInfo>, String> {
    sqlx::query_as("SELECT username, role, obras, disabled FROM users ORDER BY lower(username)")
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())
}

/// Revokes every session of the account `id` (from an UPDATE ... RETURNING id) and commits.
async fn revoke_sessions(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    id: Option<i64>,
    name: &str,
) -> Result<(), String> {
    let id = id.ok_or_else(|| format!("el usuario «{}» no existe", name.trim()))?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE user_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

/// Changes an account's role, its obras, or both (what is not given stays). Sessions stay
/// open: every request reads the account's role and obras afresh, and the account's laptops
/// receive what it now sees, and lose what it no longer sees, on their next sync. A role
/// other than admin_obra keeps no obras.
///
/// # Errors
/// Unknown account; a site manager left without obras; nothing to change.
pub async fn set(
    pool: &PgPool,
    name: &str,
    role: Option<Role>,
    obras: Option<&[String]>,
) -> Result<UserInfo, String> {
    if role.is_none() && obras.is_none() {
        return Err("indique qué cambiar: --role, --obras o ambos".into());
    }
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    let current: Option<(String, Vec<String>)> = sqlx::query_as(
        "SELECT role, obras FROM users WHERE lower(username) = lower($1) FOR UPDATE",
    )
    .bind(name.trim())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| e.to_string())?;
    let Some((was_role, was_obras)) = current else {
        return Err(format!("el usuario «{}» no existe", name.trim()));
    };
    let role = match role {
        Some(r) => r,
        None => was_role
            .parse()
            .map_err(|_| format!("la cuenta tiene un rol desconocido ({was_role})"))?,
    };
    let obras = match (role, obras) {
        (Role::AdminObra, Some(o)) => obras_for(role, o)?,
        (Role::AdminObra, None) => obras_for(role, &was_obras)?,
        (_, Some(o)) if !o.is_empty() => {
            return Err(format!(
                "solo un administrador de obra tiene obras; el rol {} ve todas (para limitar la cuenta a obras: --role admin_obra --obras A,B)",
                role.as_str()
            ));
        }
        _ => Vec::new(),
    };
    let info: UserInfo = sqlx::query_as(
        "UPDATE users SET role = $2, obras = $3, updated_at = now() WHERE lower(username) = lower($1) \
         RETURNING username, role, obras, disabled",
    )
    .bind(name.trim())
    .bind(role.as_str())
    .bind(&obras)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(info)
}

/// Disables an account and revokes its sessions.
///
/// # Errors
/// Unknown account.
pub async fn disable(pool: &PgPool, name: &str) -> Result<(), String> {
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET disabled = TRUE, updated_at = now() WHERE lower(username) = lower($1) RETURNING id",
    )
    .bind(name.trim())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| e.to_string())?;
    revoke_sessions(tx, id, name).await
}

/// Sets a new password and revokes the account's sessions.
///
/// # Errors
/// Unknown account, weak password.
pub async fn passwd(pool: &PgPool, name: &str, password: &str) -> Result<(), String> {
    icc_core::password::check_password_policy(name.trim(), password)
        .map_err(|e| format!("contraseña rechazada: {e}"))?;
    let hash = crate::auth::hash_password(password)?;
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE lower(username) = lower($1) RETURNING id",
    )
    .bind(name.trim())
    .bind(hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| e.to_string())?;
    revoke_sessions(tx, id, name).await
}

//! Settings an administrator changes from the desktop (never secrets: those go to the
//! keyring).

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// Settings key of the inactivity lock, in minutes.
const LOCK_MINUTES: &str = "lock_minutes";

/// Allowed range of the inactivity lock, in minutes.
pub const LOCK_MINUTES_RANGE: std::ops::RangeInclusive<u64> = 1..=240;

impl App {
    /// Minutes of inactivity before the desktop locks, when an administrator set them.
    ///
    /// # Errors
    /// Store errors.
    pub async fn lock_minutes(&self) -> Result<Option<u64>> {
        Ok(self
            .store
            .setting(LOCK_MINUTES)
            .await?
            .and_then(|v| v.parse().ok())
            .filter(|m| LOCK_MINUTES_RANGE.contains(m)))
    }

    /// Sets the inactivity lock (administrators only).
    ///
    /// # Errors
    /// Forbidden, a value outside 1–240 minutes, store errors.
    pub async fn set_lock_minutes(&self, s: &Session, minutes: u64) -> Result<()> {
        s.require(Permission::ManageUsers)?;
        if !LOCK_MINUTES_RANGE.contains(&minutes) {
            return Err(AppError::Invalid(format!(
                "bloqueo por inactividad: «{minutes}» minutos no es válido; use entre 1 y 240"
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(LOCK_MINUTES, &minutes.to_string()).await?;
        tx.audit(
            "setting",
            LOCK_MINUTES,
            "update",
            Some("valor"),
            None,
            Some(minutes.to_string()),
        );
        tx.commit().await?;
        Ok(())
    }
}

//! Obras (construction sites) as stored.

use serde::Serialize;

use crate::Store;
use crate::error::Result;

/// A construction site invoices are charged to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Obra {
    /// Code, e.g. `OB-2026-017`.
    pub codigo: String,
    /// Name.
    pub nombre: String,
    /// Whether it is active.
    pub activa: bool,
}

impl Store {
    /// All obras, by code.
    ///
    /// # Errors
    /// Database errors.
    pub async fn obras(&self) -> Result<Vec<Obra>> {
        Ok(
            sqlx::query_as("SELECT codigo, nombre, activa FROM obras ORDER BY codigo")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Every obra code, upper-cased (codes compare case-insensitively).
    ///
    /// # Errors
    /// Database errors.
    pub async fn obra_codes(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .obras()
            .await?
            .into_iter()
            .map(|o| o.codigo.to_uppercase())
            .collect())
    }

    /// One obra by code (case-insensitive).
    ///
    /// # Errors
    /// Database errors.
    pub async fn obra(&self, codigo: &str) -> Result<Option<Obra>> {
        Ok(
            sqlx::query_as("SELECT codigo, nombre, activa FROM obras WHERE codigo = ?")
                .bind(codigo)
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

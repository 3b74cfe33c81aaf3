//! Files attached to invoices (PDF, XML), linked credit notes, and the supplier list.

use serde::Serialize;

use crate::Store;
use crate::error::Result;
use crate::invoices::{InvoiceRow, ROW_COLUMNS};
use crate::write::WriteTx;

/// A file attached to an invoice; the bytes live under the data directory by SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attachment {
    /// Row id.
    pub id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// SHA-256 of the content (the stored file's name).
    pub sha256: String,
    /// Name the user gave it.
    pub file_name: String,
    /// Media type.
    pub mime: String,
    /// Bytes.
    pub size: i64,
    /// When (UTC).
    pub added_at: String,
    /// Who.
    pub added_by: String,
}

/// A supplier with what the user may see of its documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SupplierRow {
    /// Canonical RUT.
    pub rut: String,
    /// Name.
    pub razon_social: String,
    /// Documents.
    pub documentos: i64,
    /// Latest emission date.
    pub ultima_emision: Option<String>,
}

impl WriteTx {
    /// Records an attachment (the file is already stored); `false` when the invoice already
    /// had this exact file.
    ///
    /// # Errors
    /// Database errors.
    pub async fn add_attachment(
        &mut self,
        invoice_id: &str,
        sha256: &str,
        file_name: &str,
        mime: &str,
        size: i64,
    ) -> Result<bool> {
        let now = self.now().to_owned();
        let actor = self.actor().to_owned();
        let r = sqlx::query(
            "INSERT INTO attachments (invoice_id, sha256, file_name, mime, size, added_at, added_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (invoice_id, sha256) DO NOTHING",
        )
        .bind(invoice_id)
        .bind(sha256)
        .bind(file_name)
        .bind(mime)
        .bind(size)
        .bind(&now)
        .bind(&actor)
        .execute(self.conn())
        .await?;
        let added = r.rows_affected() == 1;
        if added {
            self.audit(
                "invoice",
                invoice_id,
                "attach",
                Some("adjunto"),
                None,
                Some(format!("{file_name} ({sha256})")),
            );
        }
        Ok(added)
    }

    /// The content hashes (SHA-256, hex) some attachment row names, read in this
    /// transaction: while it is open no attachment can be recorded.
    ///
    /// # Errors
    /// Database errors.
    pub async fn attachment_hashes(&mut self) -> Result<std::collections::HashSet<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT sha256 FROM attachments")
                .fetch_all(self.conn())
                .await?
                .into_iter()
                .collect(),
        )
    }
}

impl Store {
    /// An invoice's attachments, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn attachments(&self, invoice_id: &str) -> Result<Vec<Attachment>> {
        Ok(sqlx::query_as(
            "SELECT id, invoice_id, sha256, file_name, mime, size, added_at, added_by \
             FROM attachments WHERE invoice_id = ? ORDER BY id",
        )
        .bind(invoice_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// One attachment.
    ///
    /// # Errors
    /// Database errors.
    pub async fn attachment(&self, id: i64) -> Result<Option<Attachment>> {
        Ok(sqlx::query_as(
            "SELECT id, invoice_id, sha256, file_name, mime, size, added_at, added_by \
             FROM attachments WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Documents of the same supplier that reference this one (credit and debit notes
    /// correcting it), in emission order.
    ///
    /// # Errors
    /// Database errors.
    pub async fn referencing(
        &self,
        rut_emisor: &str,
        tipo_dte: i64,
        folio: i64,
    ) -> Result<Vec<InvoiceRow>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM invoice_references r JOIN invoices i ON i.id = r.invoice_id \
             LEFT JOIN obras o ON o.id = i.obra_id \
             WHERE r.tipo = ? AND r.folio = ? AND i.rut_emisor = ? ORDER BY i.fecha_emision, i.seq"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tipo_dte.to_string())
            .bind(folio.to_string())
            .bind(rut_emisor)
            .fetch_all(self.pool())
            .await?)
    }

    /// Suppliers with documents in the given obras (`None`: all), by name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn suppliers(&self, obras: Option<&[String]>) -> Result<Vec<SupplierRow>> {
        let mut qb: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(
            "SELECT s.rut, s.razon_social, COUNT(i.seq) AS documentos, MAX(i.fecha_emision) AS ultima_emision \
             FROM suppliers s JOIN invoices i ON i.rut_emisor = s.rut LEFT JOIN obras o ON o.id = i.obra_id",
        );
        if let Some(codes) = obras {
            if codes.is_empty() {
                return Ok(vec![]);
            }
            qb.push(" WHERE o.codigo IN (");
            let mut sep = qb.separated(", ");
            for c in codes {
                sep.push_bind(c.clone());
            }
            qb.push(")");
        }
        qb.push(" GROUP BY s.rut, s.razon_social ORDER BY s.razon_social");
        Ok(qb.build_query_as().fetch_all(self.pool()).await?)
    }
}

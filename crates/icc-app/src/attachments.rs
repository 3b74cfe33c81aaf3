//! Attachments (the invoice's PDF or XML), documents linked to an invoice, suppliers.

use std::io::Write;
use std::path::{Path, PathBuf};

use icc_store::{Attachment, InvoiceDetail, InvoiceRow, SupplierRow};
use sha2::{Digest, Sha256};

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// Folder of the data directory holding attachments, named by their SHA-256.
pub const ATTACHMENTS_DIR: &str = "adjuntos";

/// Largest attachment accepted.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

/// What a file is, from its content (not only its name): `(extension, media type)`.
fn kind_of(name: &str, bytes: &[u8]) -> Result<(&'static str, &'static str)> {
    let head = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    if bytes.starts_with(b"%PDF-") {
        Ok(("pdf", "application/pdf"))
    } else if head[start..].starts_with(b"<") {
        Ok(("xml", "application/xml"))
    } else {
        Err(AppError::Invalid(format!(
            "«{name}» no es un PDF ni un XML: adjunte el PDF de la factura o su XML (DTE)"
        )))
    }
}

/// Writes `bytes` as `dir/name` unless it exists, so a crash never leaves a half-written
/// attachment under its final name.
fn keep(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let dst = dir.join(name);
    if !dst.exists() {
        write_atomically(&dst, bytes)?;
    }
    Ok(dst)
}

/// Writes `bytes` to `out` through a synced temporary file in the same folder and a rename,
/// so a crash never leaves a half-written file under its name.
pub(crate) fn write_atomically(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(out).map_err(|e| e.error)?;
    Ok(())
}

impl App {
    /// Attaches a PDF or XML to an invoice the user may see. The same file twice is kept
    /// once.
    ///
    /// # Errors
    /// Forbidden, unknown invoice, unreadable, too large or not a PDF/XML file.
    pub async fn add_attachment(
        &self,
        s: &Session,
        reference: &str,
        path: &Path,
    ) -> Result<Vec<Attachment>> {
        s.require(Permission::Review)?;
        let detail = self.resolve_invoice(s, reference).await?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let size = std::fs::metadata(path)
            .map_err(|e| AppError::Io(format!("no se pudo leer «{}»: {e}", path.display())))?
            .len();
        if size > MAX_ATTACHMENT_BYTES {
            return Err(AppError::Invalid(format!(
                "«{name}» pesa {} MB; el máximo es {} MB",
                size / 1024 / 1024,
                MAX_ATTACHMENT_BYTES / 1024 / 1024
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Io(format!("no se pudo leer «{}»: {e}", path.display())))?;
        let (ext, mime) = kind_of(&name, &bytes)?;
        let sha = hex::encode(Sha256::digest(&bytes));
        let dir = self.data_dir.join(ATTACHMENTS_DIR);
        keep(&dir, &format!("{sha}.{ext}"), &bytes).map_err(|e| {
            AppError::Io(format!(
                "no se pudo guardar el adjunto en {}: {e}; revise el espacio en disco",
                dir.display()
            ))
        })?;
        let mut tx = self.store.write(&s.username).await?;
        tx.add_attachment(&detail.row.id, &sha, &name, mime, size as i64)
            .await?;
        tx.commit().await?;
        Ok(self.store.attachments(&detail.row.id).await?)
    }

    /// The file of an attachment, to open it; only for an invoice the user may see.
    ///
    /// # Errors
    /// Unknown attachment, an invoice of another obra, a missing file.
    pub async fn attachment_file(&self, s: &Session, id: i64) -> Result<PathBuf> {
        let a = self
            .store
            .attachment(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "adjunto",
                key: id.to_string(),
            })?;
        self.resolve_invoice(s, &a.invoice_id).await?;
        let ext = if a.mime == "application/pdf" {
            "pdf"
        } else {
            "xml"
        };
        let path = self
            .data_dir
            .join(ATTACHMENTS_DIR)
            .join(format!("{}.{ext}", a.sha256));
        if !path.exists() {
            return Err(AppError::Io(format!(
                "falta el archivo del adjunto «{}» ({}); restáurelo desde un respaldo",
                a.file_name,
                path.display()
            )));
        }
        Ok(path)
    }

    /// An invoice's attachments.
    ///
    /// # Errors
    /// As [`App::resolve_invoice`].
    pub async fn attachments(&self, s: &Session, reference: &str) -> Result<Vec<Attachment>> {
        let d = self.resolve_invoice(s, reference).await?;
        Ok(self.store.attachments(&d.row.id).await?)
    }

    /// Credit and debit notes of the same supplier that reference this invoice, as far as
    /// the user may see them.
    ///
    /// # Errors
    /// As [`App::resolve_invoice`].
    pub async fn linked_documents(&self, s: &Session, reference: &str) -> Result<Vec<InvoiceRow>> {
        let d = self.resolve_invoice(s, reference).await?;
        self.linked_of(s, &d).await
    }

    pub(crate) async fn linked_of(
        &self,
        s: &Session,
        d: &InvoiceDetail,
    ) -> Result<Vec<InvoiceRow>> {
        let rows = self
            .store
            .referencing(&d.row.rut_emisor, d.row.tipo_dte, d.row.folio)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| s.sees_obra(r.obra.as_deref()))
            .collect())
    }

    /// Suppliers with documents the user may see.
    ///
    /// # Errors
    /// Store errors.
    pub async fn suppliers(&self, s: &Session) -> Result<Vec<SupplierRow>> {
        Ok(self.store.suppliers(s.obra_scope()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_known_by_content() {
        assert_eq!(kind_of("a.pdf", b"%PDF-1.7 ...").unwrap().0, "pdf");
        assert_eq!(
            kind_of("a.xml", b"\xEF\xBB\xBF  <?xml version").unwrap().0,
            "xml"
        );
        assert_eq!(
            kind_of("dte.xml", b"<DTE version=\"1.0\">").unwrap().0,
            "xml"
        );
        let e = kind_of("foto.pdf", b"\x89PNG....").unwrap_err().to_string();
        assert!(e.contains("foto.pdf") && e.contains("no es un PDF"), "{e}");
        assert!(kind_of("vacío", b"").is_err());
    }
}

//! Attachments (the invoice's PDF or XML), documents linked to an invoice, suppliers.

use std::io::Write;
use std::path::{Path, PathBuf};

use icc_store::{Attachment, InvoiceDetail, InvoiceRow, SupplierRow};
use sha2::{Digest, Sha256};

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};
use icc_io::sealed::FileKey;

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

/// Writes `bytes` as `dir/name` unless it exists, sealed with `key` when the folder is
/// encrypted, so a crash never leaves a half-written attachment under its final name.
fn keep(dir: &Path, name: &str, bytes: &[u8], key: Option<&FileKey>) -> std::io::Result<PathBuf> {
    let dst = dir.join(name);
    if !dst.exists() {
        crate::encryption::write_sealed_atomically(&dst, &mut &bytes[..], key)?;
    }
    Ok(dst)
}

/// Folder, outside the data folder, where opened attachments are decrypted for the OS
/// viewer: in this user's own runtime folder (a tmpfs on Linux) or cache, only this user may
/// read it, and files older than a day are removed.
fn opened_dir() -> std::io::Result<PathBuf> {
    let base = directories::BaseDirs::new()
        .map(|b| b.runtime_dir().unwrap_or_else(|| b.cache_dir()).to_owned())
        .ok_or_else(|| std::io::Error::other("no se encontró la carpeta del usuario"))?;
    let dir = base.join("icc-facturas").join("abiertos");
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.filter_map(|e| e.ok()) {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600));
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(dir)
}

/// Decrypts the sealed attachment `src` into the viewer folder as `name`, checking that its
/// content is the one its name (SHA-256) promises.
fn open_sealed(src: &Path, key: &FileKey, sha: &str, name: &str) -> Result<PathBuf> {
    let fail = |e: &dyn std::fmt::Display| {
        AppError::Io(format!(
            "no se pudo abrir el adjunto «{name}» ({}): {e}; restáurelo desde un respaldo",
            src.display()
        ))
    };
    let dir = opened_dir().map_err(|e| fail(&e))?;
    let mut input = std::fs::File::open(src).map_err(|e| fail(&e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| fail(&e))?;
    let got = {
        let mut hasher = HashingWriter {
            inner: std::io::BufWriter::new(tmp.as_file_mut()),
            sha: Sha256::new(),
        };
        // `open` flushes its output at the end
        icc_io::sealed::open(key, &mut input, &mut hasher).map_err(|e| fail(&e))?;
        hex::encode(hasher.sha.finalize())
    };
    if got != sha {
        return Err(fail(&"su contenido no corresponde al registrado"));
    }
    // a name of the user's file, but kept apart per content (two «factura.pdf» differ)
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let out = dir.join(format!("{}-{safe}", &sha[..12.min(sha.len())]));
    tmp.persist(&out).map_err(|e| fail(&e.error))?;
    Ok(out)
}

struct HashingWriter<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `bytes` to `out` through a synced temporary file in the same folder and a rename,
/// so a crash never leaves a half-written file under its name.
pub(crate) fn write_atomically(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::encryption::write_sealed_atomically(out, &mut &bytes[..], None)
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
        let key = self.key.as_ref().map(|k| k.file_key());
        keep(&dir, &format!("{sha}.{ext}"), &bytes, key.as_ref()).map_err(|e| {
            AppError::Io(format!(
                "no se pudo guardar el adjunto en {}: {e}; revise el espacio en disco",
                dir.display()
            ))
        })?;
        let mut tx = self.store.write(&s.username).await?;
        tx.add_attachment(&detail.row.id, &sha, &name, mime, size as i64)
            .await?;
        tx.commit().await?;
        // a sweep (below) between the file and the commit took it as nobody's: write it again
        keep(&dir, &format!("{sha}.{ext}"), &bytes, key.as_ref()).map_err(|e| {
            AppError::Io(format!(
                "no se pudo guardar el adjunto en {}: {e}; revise el espacio en disco",
                dir.display()
            ))
        })?;
        Ok(self.store.attachments(&detail.row.id).await?)
    }

    /// Deletes the attachment files no attachment row names any more: those of invoices
    /// removed from this laptop when they left the account's obras (a laptop keeps nothing
    /// it may no longer see), and any left by a crash before their row was written. Reads
    /// the names inside a write transaction, so no attachment is recorded meanwhile
    /// ([`App::add_attachment`] writes its file again after its commit). Returns how many
    /// files went.
    ///
    /// # Errors
    /// Store errors; a file that cannot be deleted is logged and left.
    pub(crate) async fn forget_unreferenced_attachments(&self) -> Result<usize> {
        let dir = self.data_dir.join(ATTACHMENTS_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0); // no attachment was ever stored here
        };
        let files: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (sha, ext) = name.split_once('.')?;
                let ours = sha.len() == 64
                    && sha.bytes().all(|b| b.is_ascii_hexdigit())
                    && matches!(ext, "pdf" | "xml");
                ours.then(|| (sha.to_owned(), e.path()))
            })
            .collect();
        if files.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.write("sync").await?;
        let named = tx.attachment_hashes().await?;
        let mut gone = 0;
        for (sha, path) in files {
            if named.contains(&sha) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => gone += 1,
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "an attachment file of an invoice no longer here could not be deleted"
                ),
            }
        }
        // nothing written: the transaction only kept attachments from being recorded
        drop(tx);
        Ok(gone)
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
        let Ok(sealed) = crate::encryption::is_sealed_file(&path) else {
            return Err(AppError::Io(format!(
                "falta el archivo del adjunto «{}» ({}); restáurelo desde un respaldo",
                a.file_name,
                path.display()
            )));
        };
        if !sealed {
            // stored before the folder was encrypted and not yet sealed
            return Ok(path);
        }
        let Some(key) = self.key.as_ref().map(|k| k.file_key()) else {
            return Err(AppError::KeyMissing(format!(
                "el adjunto «{}» está cifrado y esta base no tiene su clave; recupérela con `icc encryption recover`",
                a.file_name
            )));
        };
        let (src, sha, name) = (path, a.sha256.clone(), a.file_name.clone());
        tokio::task::spawn_blocking(move || open_sealed(&src, &key, &sha, &name))
            .await
            .map_err(|e| AppError::Io(e.to_string()))?
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

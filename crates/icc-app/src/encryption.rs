//! Encryption at rest: the data folder's key, where it lives, and what it encrypts.
//!
//! One random 256-bit key per data folder, created with its database, kept in the OS keyring
//! and nowhere else on disk. From it two keys are derived (HKDF-SHA-256, one label each): the
//! SQLCipher key of the database (and so of its snapshots in backups) and the key that seals
//! attachments ([`icc_io::sealed`]). The keyring entry is named by a key id written in
//! `cifrado.json` beside the database (not a secret: it only says which entry to ask for),
//! since the database cannot be read before the key is known.
//!
//! The key itself, written as a recovery key ([`icc_core::recovery`]), is shown once at
//! `init` for printing; an administrator can print it again. With it, `icc encryption
//! recover` puts the key back into a new keyring (a reinstalled laptop, a lost keyring).
//!
//! Where no keyring answers (a headless box without a Secret Service), a new database is
//! created plain and `icc doctor` says so as an `aviso`; the next start with a keyring
//! encrypts it in place ([`icc_store::encrypt_in_place`]), attachments included.

use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use icc_store::{DbKey, FileKind};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::credentials::KEYRING_SERVICE;
use crate::error::{AppError, Result};
use icc_io::sealed::FileKey;

/// The file beside the database naming its key's keyring entry.
pub const KEY_FILE: &str = "cifrado.json";
/// Keyring user name of the data folder's key.
const KEY_ENTRY: &str = "clave-de-datos";

/// The data folder's key.
#[derive(Clone)]
pub(crate) struct MasterKey {
    bytes: [u8; 32],
    /// Names its keyring entry.
    pub(crate) id: String,
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, ***)", self.id)
    }
}

impl MasterKey {
    // Both calls fail only for lengths this code never uses (a key shorter than the hash,
    // more than 8160 bytes out); a silent all-zero key would be far worse than a panic.
    #[allow(clippy::expect_used)]
    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // the key is uniformly random, so it serves as the pseudo-random key directly
        // (HKDF-Expand only)
        Hkdf::<Sha256>::from_prk(&self.bytes)
            .expect("a 32-byte pseudo-random key")
            .expand(label, &mut out)
            .expect("32 bytes of output");
        out
    }

    /// The SQLCipher key of the database.
    pub(crate) fn db_key(&self) -> DbKey {
        DbKey::new(self.derive(b"icc-facturas/sqlcipher/v1"))
    }

    /// The key of sealed attachments.
    pub(crate) fn file_key(&self) -> FileKey {
        FileKey(self.derive(b"icc-facturas/adjuntos/v1"))
    }

    /// The recovery key to print.
    pub(crate) fn recovery_text(&self) -> String {
        icc_core::recovery::encode(&self.bytes)
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    key_id: String,
}

fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

fn read_key_id(data_dir: &Path) -> Result<Option<String>> {
    let path = key_file(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AppError::Io(format!(
                "no se pudo leer {}: {e}; revise los permisos de la carpeta de datos",
                path.display()
            )));
        }
    };
    let parsed: KeyFile = serde_json::from_str(&text).map_err(|e| {
        AppError::Io(format!(
            "{} está dañado ({e}); si la base está cifrada, recupere la clave con `icc encryption recover`",
            path.display()
        ))
    })?;
    if parsed.version != 1 || uuid::Uuid::parse_str(&parsed.key_id).is_err() {
        return Err(AppError::Io(format!(
            "{} no es de esta versión de ICC Facturas (versión {}); actualice la aplicación",
            path.display(),
            parsed.version
        )));
    }
    Ok(Some(parsed.key_id))
}

fn write_key_id(data_dir: &Path, id: &str) -> Result<()> {
    let path = key_file(data_dir);
    let text = serde_json::to_string_pretty(&KeyFile {
        version: 1,
        key_id: id.into(),
    })
    .map_err(|e| AppError::Io(e.to_string()))?;
    crate::attachments::write_atomically(&path, text.as_bytes()).map_err(|e| {
        AppError::Io(format!(
            "no se pudo escribir {}: {e}; revise el espacio libre y los permisos",
            path.display()
        ))
    })
}

fn entry(id: &str) -> std::result::Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(&format!("{KEYRING_SERVICE}:cifrado:{id}"), KEY_ENTRY)
}

/// What the keyring holds for a key id.
enum Lookup {
    Found([u8; 32]),
    Missing,
    /// No keyring answers.
    Unavailable(String),
}

async fn lookup(id: &str) -> Lookup {
    let id = id.to_owned();
    let got = tokio::task::spawn_blocking(move || entry(&id).and_then(|e| e.get_password())).await;
    match got {
        Ok(Ok(hex_key)) => {
            let mut bytes = [0u8; 32];
            match hex::decode_to_slice(hex_key.trim(), &mut bytes) {
                Ok(()) => Lookup::Found(bytes),
                // an entry we did not write: treat as absent, never as a key
                Err(_) => Lookup::Missing,
            }
        }
        Ok(Err(keyring::Error::NoEntry)) => Lookup::Missing,
        Ok(Err(e)) => Lookup::Unavailable(e.to_string()),
        Err(e) => Lookup::Unavailable(e.to_string()),
    }
}

async fn store_in_keyring(id: &str, bytes: &[u8; 32]) -> std::result::Result<(), String> {
    let id = id.to_owned();
    let value = icc_core::Secret::new(hex::encode(bytes));
    tokio::task::spawn_blocking(move || entry(&id).and_then(|e| e.set_password(value.expose())))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Creates a new key, stores it in the keyring, then names it in `cifrado.json` (in that
/// order: a crash between leaves an unused keyring entry, never a name without a key).
/// `Ok(None)` when no keyring answers.
async fn create(data_dir: &Path) -> Result<Option<MasterKey>> {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let id = uuid::Uuid::new_v4().to_string();
    if let Err(e) = store_in_keyring(&id, &bytes).await {
        // said once, when the database is created (lib.rs); doctor keeps saying it
        tracing::info!("no OS keyring ({e}): the database stays unencrypted");
        return Ok(None);
    }
    write_key_id(data_dir, &id)?;
    tracing::info!(key_id = %id, "created the data folder's encryption key");
    Ok(Some(MasterKey { bytes, id }))
}

/// The key for an unencrypted (or absent) database: the one named in `cifrado.json` when the
/// keyring still holds it (an encryption that was interrupted), else a new one. `None` when
/// no keyring answers.
pub(crate) async fn key_for_plain(data_dir: &Path) -> Result<Option<MasterKey>> {
    if let Some(id) = read_key_id(data_dir)? {
        match lookup(&id).await {
            Lookup::Found(bytes) => return Ok(Some(MasterKey { bytes, id })),
            Lookup::Unavailable(e) => {
                // said once, when the database is created (lib.rs); doctor keeps saying it
                tracing::info!("no OS keyring ({e}): the database stays unencrypted");
                return Ok(None);
            }
            Lookup::Missing => {}
        }
    }
    create(data_dir).await
}

/// The key of an encrypted database, or why it cannot be had.
pub(crate) async fn key_for_encrypted(data_dir: &Path) -> Result<MasterKey> {
    let db = data_dir.join(crate::DB_FILE);
    let Some(id) = read_key_id(data_dir)? else {
        return Err(locked(
            &db,
            &format!("falta {KEY_FILE}, que indica cuál clave del llavero la abre"),
        ));
    };
    match lookup(&id).await {
        Lookup::Found(bytes) => Ok(MasterKey { bytes, id }),
        Lookup::Missing => Err(locked(
            &db,
            "su clave no está en el llavero del sistema de este usuario",
        )),
        Lookup::Unavailable(e) => Err(locked(
            &db,
            &format!(
                "el llavero del sistema no respondió ({e}); en Linux se necesita un Secret Service desbloqueado (GNOME Keyring o KWallet) en la sesión"
            ),
        )),
    }
}

fn locked(db: &Path, why: &str) -> AppError {
    AppError::KeyMissing(format!(
        "la base de datos {} está cifrada y no se puede abrir: {why}. Con la clave de recuperación impresa al crearla, restáurela con `icc encryption recover` (la lee por la entrada estándar)",
        db.display()
    ))
}

/// The key of the database of `data_dir` as the keyring holds it (`None` for a plain
/// database), for tools that read the file directly with [`icc_store::connect_options`].
///
/// # Errors
/// As opening the folder: the key is not in the keyring, no keyring.
pub async fn database_key(data_dir: &Path) -> Result<Option<DbKey>> {
    let db = data_dir.join(crate::DB_FILE);
    match icc_store::file_kind(&db) {
        Ok(FileKind::Encrypted) => Ok(Some(key_for_encrypted(data_dir).await?.db_key())),
        _ => Ok(None),
    }
}

/// Puts a key typed from its recovery text back into the keyring, after checking that it
/// opens the database of `data_dir` or, where that database is missing or plain (a new
/// installation receiving the old one's backups in `DATA_DIR/respaldos`), an encrypted
/// backup there. Keeps the key id of `cifrado.json` when there is one.
///
/// # Errors
/// A malformed recovery key (what is wrong and where), a key that opens neither, nothing
/// encrypted to open, no keyring.
pub async fn recover(data_dir: &Path, recovery_text: &str) -> Result<()> {
    let bytes =
        icc_core::recovery::decode(recovery_text).map_err(|e| AppError::Invalid(e.to_string()))?;
    let db = data_dir.join(crate::DB_FILE);
    let target = match icc_store::file_kind(&db) {
        Ok(FileKind::Encrypted) => db.clone(),
        Ok(_) => newest_encrypted_backup(data_dir).ok_or_else(|| {
            AppError::Invalid(format!(
                "en {} no hay una base cifrada ni respaldos cifrados: no hay clave que recuperar. Para recuperar los datos de otro equipo, copie su carpeta de respaldos en {} y repita",
                data_dir.display(),
                data_dir.join(crate::BACKUPS_DIR).display()
            ))
        })?,
        Err(e) => {
            return Err(AppError::Io(format!(
                "no se pudo leer {}: {e}",
                db.display()
            )));
        }
    };
    let id = match read_key_id(data_dir) {
        Ok(Some(id)) => id,
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let key = MasterKey { bytes, id };
    if !icc_store::key_opens(&target, &key.db_key()).await {
        return Err(AppError::Invalid(format!(
            "esa clave de recuperación no abre {}: es de otra instalación (cada carpeta de datos tiene la suya)",
            target.display()
        )));
    }
    store_in_keyring(&key.id, &key.bytes).await.map_err(|e| {
        AppError::Keyring(format!(
            "no se pudo guardar la clave en el llavero del sistema ({e}); en Linux se necesita un Secret Service desbloqueado"
        ))
    })?;
    write_key_id(data_dir, &key.id)?;
    tracing::warn!(key_id = %key.id, "data folder key recovered into the keyring");
    Ok(())
}

/// The database of the newest encrypted backup in the default backup folder.
fn newest_encrypted_backup(data_dir: &Path) -> Option<PathBuf> {
    let mut dbs: Vec<PathBuf> = std::fs::read_dir(data_dir.join(crate::BACKUPS_DIR))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().join(crate::DB_FILE))
        .filter(|p| matches!(icc_store::file_kind(p), Ok(FileKind::Encrypted)))
        .collect();
    // backup folders are named AAAAMMDD-HHMMSS: the greatest name is the newest
    dbs.sort();
    dbs.pop()
}

/// Writes what `input` yields as `dst`, sealed with `key` (plain without one), through a
/// synced temporary file in the same folder and a rename, so a crash never leaves a
/// partial file under the final name.
pub(crate) fn write_sealed_atomically(
    dst: &Path,
    input: &mut impl std::io::Read,
    key: Option<&FileKey>,
) -> std::io::Result<()> {
    let dir = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        match key {
            Some(key) => {
                icc_io::sealed::seal(key, input, &mut out).map_err(std::io::Error::other)?
            }
            None => {
                std::io::copy(input, &mut out)?;
            }
        }
        std::io::Write::flush(&mut out)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(dst).map_err(|e| e.error)?;
    Ok(())
}

/// Keeps a copy of `src` as `dst` unless `dst` exists, sealed with `key` when the folder is
/// encrypted.
pub(crate) fn keep_copy(src: &Path, dst: &Path, key: Option<&FileKey>) -> std::io::Result<()> {
    if dst.exists() {
        return Ok(());
    }
    write_sealed_atomically(dst, &mut std::fs::File::open(src)?, key)
}

/// Whether the file at `path` is sealed (reads its first bytes).
pub(crate) fn is_sealed_file(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match std::io::Read::read(&mut f, &mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(icc_io::sealed::is_sealed(&head[..n]))
}

/// The folders of a data folder whose files are sealed when it is encrypted: attachments
/// and the imported originals.
fn sealed_dirs(data_dir: &Path) -> [PathBuf; 2] {
    [
        data_dir.join(crate::attachments::ATTACHMENTS_DIR),
        data_dir.join(crate::import::IMPORTS_DIR),
    ]
}

/// Marker file: the database was (or is being) encrypted in place and some files of the
/// sealed folders may still be plain. Only then are those folders scanned at start-up.
const SEAL_PENDING_FILE: &str = "sellado-pendiente";

/// Records, before a plain folder's database is encrypted, that its files are to be sealed,
/// so a crash between the two is finished at the next start.
pub(crate) fn mark_seal_pending(data_dir: &Path) -> std::io::Result<()> {
    crate::attachments::write_atomically(&data_dir.join(SEAL_PENDING_FILE), b"")
}

/// When the marker is there, seals every file of the sealed folders still stored plain
/// (attachments and imported originals of the plain days), each through a temporary file
/// and a rename, so a crash leaves each file either plain or sealed, both readable. A file
/// that cannot be sealed now (in use, unreadable) is logged and left, with the marker, for
/// the next start. Returns how many were sealed.
pub(crate) fn seal_pending(data_dir: &Path, key: &FileKey) -> usize {
    let marker = data_dir.join(SEAL_PENDING_FILE);
    if !marker.exists() {
        return 0;
    }
    let (mut sealed, mut failed) = (0, 0);
    for dir in sealed_dirs(data_dir) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if !path.is_file() || name.starts_with('.') {
                continue;
            }
            let done = is_sealed_file(&path).and_then(|is| {
                if is {
                    return Ok(false);
                }
                write_sealed_atomically(&path, &mut std::fs::File::open(&path)?, Some(key))?;
                Ok(true)
            });
            match done {
                Ok(true) => sealed += 1,
                Ok(false) => {}
                Err(err) => {
                    failed += 1;
                    tracing::warn!(file = %path.display(), error = %err, "could not seal a plain file; trying again at the next start");
                }
            }
        }
    }
    if failed == 0
        && let Err(e) = std::fs::remove_file(&marker)
    {
        tracing::warn!(error = %e, "could not remove {SEAL_PENDING_FILE}; the folders will be checked again");
    }
    sealed
}

impl crate::App {
    /// Whether the database and attachments are encrypted (the keyring holds their key).
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The recovery key of this data folder, to print and keep (administrators only);
    /// `None` when the folder is not encrypted.
    ///
    /// # Errors
    /// Forbidden for other roles.
    pub fn recovery_key(&self, s: &crate::Session) -> Result<Option<String>> {
        s.require(crate::Permission::ManageUsers)?;
        Ok(self.key.as_ref().map(|k| k.recovery_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_from_each_other_and_from_the_key() {
        let k = MasterKey {
            bytes: [9; 32],
            id: "x".into(),
        };
        let db = format!("{:?}", k.db_key());
        assert_eq!(db, "DbKey(***)");
        assert_ne!(k.file_key().0, [9; 32]);
        assert_ne!(k.file_key().0, k.derive(b"icc-facturas/sqlcipher/v1"));
        assert_eq!(
            icc_core::recovery::decode(&k.recovery_text()).unwrap(),
            [9; 32]
        );
        assert!(!format!("{k:?}").contains("9"));
    }
}

//! Local backups: a consistent snapshot of the database plus the attachments, verified,
//! rotated (7 daily, 4 weekly, 12 monthly), and restored only after a safety copy.
//!
//! A backup is a folder `AAAAMMDD-HHMMSS` (UTC) under the backup folder holding `icc.db`,
//! `adjuntos/` and `manifest.json` (what the database held, for verification). It is built
//! under a hidden `.partial` name and renamed when complete, so a crash never leaves a
//! half-made backup that looks whole.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDateTime, Utc};
use icc_store::DbKey;
use icc_store::backup::{Facts, inspect, supported_schema};
use serde::{Deserialize, Serialize};

use crate::attachments::ATTACHMENTS_DIR;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};
use crate::{App, DB_FILE};
use icc_core::Secret;

/// Default backup folder inside the data directory.
pub const BACKUPS_DIR: &str = "respaldos";
/// Setting naming another backup folder (another disk).
const BACKUP_DIR_SETTING: &str = "backup_dir";
const MANIFEST: &str = "manifest.json";
const ID_FORMAT: &str = "%Y%m%d-%H%M%S";

/// One backup, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BackupInfo {
    /// Its name, `AAAAMMDD-HHMMSS` (UTC).
    pub id: String,
    /// Its folder.
    pub path: String,
    /// When it was taken (UTC, ISO-8601).
    pub created_at: String,
    /// Bytes of the database and attachments.
    pub size_bytes: u64,
    /// What the database held.
    pub facts: Facts,
    /// Application version that took it.
    pub app_version: String,
}

/// Which backups to keep: the newest of each of the last 7 days, 4 ISO weeks and 12 months
/// that have one.
pub fn keep_set(backups: &[(String, NaiveDateTime)]) -> HashSet<String> {
    let mut sorted: Vec<&(String, NaiveDateTime)> = backups.iter().collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.1));
    let mut keep = HashSet::new();
    let mut take = |key: &dyn Fn(&NaiveDateTime) -> (i32, u32), n: usize| {
        let mut seen = Vec::new();
        for (id, at) in &sorted {
            let k = key(at);
            if !seen.contains(&k) {
                if seen.len() == n {
                    break;
                }
                seen.push(k);
                keep.insert(id.clone());
            }
        }
    };
    take(&|t| (t.year(), t.ordinal()), 7);
    take(
        &|t| {
            let w = t.iso_week();
            (w.year(), w.week())
        },
        4,
    );
    take(&|t| (t.year(), t.month()), 12);
    keep
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn io(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::Io(format!(
        "{what} {}: {e}; revise el espacio libre y los permisos de la carpeta de respaldos",
        path.display()
    ))
}

/// Copies the files of `from` into `to` that `to` lacks (attachments are named by content).
fn copy_missing(from: &Path, to: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to).map_err(|e| io("no se pudo crear", to, e))?;
    for e in entries.filter_map(|e| e.ok()) {
        let dst = to.join(e.file_name());
        if e.path().is_file() && !dst.exists() {
            std::fs::copy(e.path(), &dst).map_err(|err| io("no se pudo copiar", &dst, err))?;
        }
    }
    Ok(())
}

fn read_info(dir: &Path) -> Option<BackupInfo> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let mut info: BackupInfo = serde_json::from_str(&text).ok()?;
    info.path = dir.display().to_string();
    info.size_bytes = dir_size(dir);
    Some(info)
}

impl App {
    /// The backup folder: the administrators' setting, else `DATA_DIR/respaldos`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn backup_dir(&self) -> Result<PathBuf> {
        Ok(match self.store.setting(BACKUP_DIR_SETTING).await? {
            Some(d) if !d.trim().is_empty() => PathBuf::from(d),
            _ => self.data_dir.join(BACKUPS_DIR),
        })
    }

    /// Moves backups to another folder (another disk), for the next ones (administrators).
    ///
    /// # Errors
    /// Forbidden, a folder that cannot be created or written.
    pub async fn set_backup_dir(&self, s: &Session, dir: &Path) -> Result<()> {
        s.require(Permission::ManageUsers)?;
        std::fs::create_dir_all(dir).map_err(|e| io("no se pudo crear", dir, e))?;
        tempfile::tempfile_in(dir).map_err(|e| io("no se puede escribir en", dir, e))?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(BACKUP_DIR_SETTING, &dir.display().to_string())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a backup now, verifies it, then rotates the old ones.
    ///
    /// # Errors
    /// No space or permission in the backup folder; a snapshot that fails verification
    /// (then it is not kept).
    pub async fn create_backup(&self, _s: &Session) -> Result<BackupInfo> {
        self.take_backup().await
    }

    /// Takes a backup when the newest is older than 24 hours (at start).
    ///
    /// # Errors
    /// As [`App::create_backup`].
    pub async fn backup_if_due(&self) -> Result<Option<BackupInfo>> {
        let due = self
            .newest_backup_at()
            .await
            .is_none_or(|t| Utc::now() - t > chrono::Duration::hours(24));
        if due {
            Ok(Some(self.take_backup().await?))
        } else {
            Ok(None)
        }
    }

    /// When the newest backup was taken (UTC), if there is one.
    pub(crate) async fn newest_backup_at(&self) -> Option<chrono::DateTime<Utc>> {
        let newest = self.backups().await.ok()?.into_iter().next()?;
        NaiveDateTime::parse_from_str(&newest.id, ID_FORMAT)
            .ok()
            .map(|t| t.and_utc())
    }

    async fn take_backup(&self) -> Result<BackupInfo> {
        let dir = self.backup_dir().await?;
        std::fs::create_dir_all(&dir).map_err(|e| io("no se pudo crear", &dir, e))?;
        let now = Utc::now();
        let mut id = now.format(ID_FORMAT).to_string();
        let mut n = 1;
        while dir.join(&id).exists() {
            n += 1;
            id = format!("{}-{n}", now.format(ID_FORMAT));
        }
        remove_stale_partials(&dir);
        let partial = dir.join(format!(".{id}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(|e| io("no se pudo crear", &partial, e))?;
        let result = async {
            let db = partial.join(DB_FILE);
            self.store.snapshot_to(&db).await?;
            let expected = inspect(&db, self.store.key()).await?;
            copy_missing(
                &self.data_dir.join(ATTACHMENTS_DIR),
                &partial.join(ATTACHMENTS_DIR),
            )?;
            let info = BackupInfo {
                id: id.clone(),
                path: dir.join(&id).display().to_string(),
                created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                size_bytes: 0,
                facts: expected,
                app_version: env!("CARGO_PKG_VERSION").into(),
            };
            let manifest = serde_json::to_string_pretty(&info)
                .map_err(|e| AppError::Io(format!("manifiesto del respaldo: {e}")))?;
            std::fs::write(partial.join(MANIFEST), manifest)
                .map_err(|e| io("no se pudo escribir", &partial, e))?;
            std::fs::rename(&partial, dir.join(&id))
                .map_err(|e| io("no se pudo completar", &dir.join(&id), e))?;
            Ok::<_, AppError>(())
        }
        .await;
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        self.rotate(&dir)?;
        let info = read_info(&dir.join(&id)).ok_or_else(|| {
            AppError::Io(format!(
                "el respaldo {id} no quedó legible en {}",
                dir.display()
            ))
        })?;
        tracing::info!(backup = %info.id, bytes = info.size_bytes, "backup taken");
        Ok(info)
    }

    fn rotate(&self, dir: &Path) -> Result<()> {
        let all: Vec<(String, NaiveDateTime)> = std::fs::read_dir(dir)
            .map_err(|e| io("no se pudo leer", dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stamp = name.get(..15)?;
                NaiveDateTime::parse_from_str(stamp, ID_FORMAT)
                    .ok()
                    .filter(|_| e.path().join(MANIFEST).exists())
                    .map(|t| (name, t))
            })
            .collect();
        let keep = keep_set(&all);
        for (id, _) in all.iter().filter(|(id, _)| !keep.contains(id)) {
            let path = dir.join(id);
            std::fs::remove_dir_all(&path).map_err(|e| io("no se pudo borrar", &path, e))?;
            tracing::info!(backup = %id, "old backup removed by rotation");
        }
        Ok(())
    }

    pub(crate) async fn backups(&self) -> Result<Vec<BackupInfo>> {
        Ok(backups_in(&self.backup_dir().await?))
    }

    /// The backups, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_backups(&self, _s: &Session) -> Result<Vec<BackupInfo>> {
        self.backups().await
    }

    async fn find_backup(&self, id: Option<&str>) -> Result<BackupInfo> {
        find(self.backups().await?, id)
    }

    /// Checks a backup (the newest when `id` is `None`): `integrity_check` and the counts of
    /// its manifest.
    ///
    /// # Errors
    /// Unknown backup, or one that is damaged (the message says what failed).
    pub async fn verify_backup(&self, _s: &Session, id: Option<&str>) -> Result<BackupInfo> {
        let b = self.find_backup(id).await?;
        verified(&b, self.store.key()).await?;
        Ok(b)
    }

    /// Replaces the database and attachments with a backup (the newest when `id` is `None`)
    /// after keeping a copy of the current files, as they are, even damaged. Administrators
    /// only. The store is closed: the caller must open the data folder again.
    ///
    /// # Errors
    /// Forbidden, unknown, damaged or newer backup (nothing is changed then), file errors.
    pub async fn restore_backup(&self, s: &Session, id: Option<&str>) -> Result<BackupInfo> {
        s.require(Permission::ManageUsers)?;
        let b = self.find_backup(id).await?;
        let key = self.store.key().cloned();
        verified(&b, key.as_ref()).await?;
        let dir = self.backup_dir().await?;
        self.store.close().await;
        let safety = swap_in(&self.data_dir, &dir, &b, key.as_ref()).await?;
        tracing::warn!(backup = %b.id, safety = %safety.display(), user = %s.username, "database restored from backup");
        Ok(b)
    }
}

/// Removes what backups killed mid-way left (`.…partial` older than an hour: a younger one
/// may belong to a backup running in another process).
fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if name.starts_with('.') && name.ends_with(".partial") && old {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => tracing::info!(partial = %name, "removed an interrupted backup"),
                Err(err) => {
                    tracing::warn!(partial = %name, "could not remove an interrupted backup: {err}")
                }
            }
        }
    }
}

/// The backups in `dir`, newest first.
fn backups_in(dir: &Path) -> Vec<BackupInfo> {
    let mut out: Vec<BackupInfo> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| read_info(&e.path()))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

fn find(all: Vec<BackupInfo>, id: Option<&str>) -> Result<BackupInfo> {
    match id {
        None => all.into_iter().next().ok_or_else(|| {
            AppError::Invalid("no hay respaldos todavía; cree uno con `icc backup create`".into())
        }),
        Some(id) => all
            .into_iter()
            .find(|b| b.id == id.trim())
            .ok_or_else(|| AppError::NotFound {
                what: "respaldo",
                key: id.trim().into(),
            }),
    }
}

/// `integrity_check`, the manifest's counts and a schema this build knows.
async fn verified(b: &BackupInfo, key: Option<&DbKey>) -> Result<()> {
    let db = Path::new(&b.path).join(DB_FILE);
    // an encrypted backup this folder's key does not open: another installation's (or
    // this folder was made again with a new key) — say that, not "damaged"
    if matches!(
        icc_store::file_kind(&db),
        Ok(icc_store::FileKind::Encrypted)
    ) {
        let opens = match key {
            Some(k) => icc_store::key_opens(&db, k).await,
            None => false,
        };
        if !opens {
            let whose = if key.is_some() {
                "con una clave que no es la de esta carpeta de datos (la de otra instalación, o la de antes de crear esta base de nuevo)"
            } else {
                "y la clave de esta carpeta de datos no está en el llavero"
            };
            return Err(AppError::KeyMissing(format!(
                "el respaldo {} está cifrado {whose}. Para restaurarlo: si la carpeta de datos tiene icc.db y cifrado.json de otra clave, muévalos a otra parte; escriba la clave de recuperación de la instalación que hizo el respaldo con `icc encryption recover` y repita la restauración",
                b.id
            )));
        }
    }
    let found = inspect(&db, key).await?;
    if found != b.facts {
        return Err(AppError::Invalid(format!(
            "el respaldo {} no coincide con su manifiesto (esperado {:?}, encontrado {:?}); use otro respaldo",
            b.id, b.facts, found
        )));
    }
    if found.schema_version > supported_schema() {
        return Err(AppError::Invalid(format!(
            "el respaldo {} es de una versión más nueva de ICC Facturas (esquema {}, esta versión conoce hasta {}); actualice la aplicación antes de restaurarlo",
            b.id,
            found.schema_version,
            supported_schema()
        )));
    }
    Ok(())
}

/// Puts a verified backup in place of the live database (closed): the live files (database,
/// WAL, shared memory) are first copied byte for byte to `.antes-de-restaurar-…` in the
/// backup folder, so even a damaged database is kept for inspection; the backup's copy
/// replaces the database by a rename; attachments it has and the folder lacks are copied.
/// Returns the safety folder.
async fn swap_in(
    data_dir: &Path,
    backup_dir: &Path,
    b: &BackupInfo,
    key: Option<&DbKey>,
) -> Result<PathBuf> {
    let safety = backup_dir.join(format!(
        ".antes-de-restaurar-{}",
        Utc::now().format(ID_FORMAT)
    ));
    std::fs::create_dir_all(&safety).map_err(|e| io("no se pudo crear", &safety, e))?;
    let live = data_dir.join(DB_FILE);
    let side = |ext: &str| PathBuf::from(format!("{}{ext}", live.display()));
    for ext in ["", "-wal", "-shm"] {
        let from = side(ext);
        if from.exists() {
            let to = safety.join(format!("{DB_FILE}{ext}"));
            std::fs::copy(&from, &to).map_err(|e| io("no se pudo copiar", &to, e))?;
        }
    }
    let incoming = data_dir.join(format!(".{DB_FILE}.restaurando"));
    std::fs::copy(Path::new(&b.path).join(DB_FILE), &incoming)
        .map_err(|e| io("no se pudo copiar", &incoming, e))?;
    // a linked laptop restored to an older state gets a new device id and pulls everything
    // again at its next sync (the copy is changed before it replaces the live file)
    if icc_store::backup::mark_restored(&incoming, key).await? {
        tracing::info!(
            "restored a linked database: new device id and a full pull at the next sync"
        );
    }
    for ext in ["-wal", "-shm"] {
        let f = side(ext);
        if f.exists() {
            std::fs::remove_file(&f).map_err(|e| io("no se pudo quitar", &f, e))?;
        }
    }
    std::fs::rename(&incoming, &live).map_err(|e| io("no se pudo reemplazar", &live, e))?;
    copy_missing(
        &Path::new(&b.path).join(ATTACHMENTS_DIR),
        &data_dir.join(ATTACHMENTS_DIR),
    )?;
    Ok(safety)
}

/// Restores a backup when the live database cannot be opened or trusted (damaged by a
/// failing disk, say). The password is checked against the backup being restored: the
/// account must be an active administrator there. The backup folder is the one the live
/// database names, when it can still be read, else `DATA_DIR/respaldos`.
///
/// # Errors
/// Unknown, damaged or newer backup; bad credentials or not an administrator in the backup;
/// file errors. Nothing is changed on error.
pub async fn restore_without_live_db(
    data_dir: &Path,
    id: Option<&str>,
    username: &str,
    password: impl Into<Secret>,
) -> Result<BackupInfo> {
    let password: Secret = password.into();
    let live = data_dir.join(DB_FILE);
    // the folder's key, when there is one: backups of an encrypted folder are encrypted
    // with it (the live database itself may be what is broken)
    let key = crate::encryption::key_for_encrypted(data_dir)
        .await
        .ok()
        .map(|k| k.db_key());
    let dir = match icc_store::backup::setting_in(&live, key.as_ref(), BACKUP_DIR_SETTING).await {
        Some(d) if !d.trim().is_empty() => PathBuf::from(d),
        _ => data_dir.join(BACKUPS_DIR),
    };
    let b = find(backups_in(&dir), id)?;
    verified(&b, key.as_ref()).await?;
    let db = Path::new(&b.path).join(DB_FILE);
    let account = icc_store::backup::account_in(&db, key.as_ref(), username).await?;
    let ok = match account {
        Some(a) if !a.legacy => {
            let hash = a.password_hash.clone();
            let good = tokio::task::spawn_blocking(move || {
                crate::auth::verify_password(password.expose(), &hash)
            })
            .await
            .unwrap_or(false);
            good && !a.disabled && a.role == "admin"
        }
        _ => false,
    };
    if !ok {
        return Err(AppError::Invalid(format!(
            "para restaurar sin la base actual, use un administrador activo del respaldo {} con su contraseña de entonces",
            b.id
        )));
    }
    let safety = swap_in(data_dir, &dir, &b, key.as_ref()).await?;
    tracing::warn!(backup = %b.id, safety = %safety.display(), user = %username, "database restored from backup without the live database");
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn rotation_keeps_seven_days_four_weeks_twelve_months() {
        // one backup a day for 400 days, two on the newest day
        let mut all = vec![("extra".to_string(), at("2026-11-28 08:00"))];
        let start = at("2026-11-28 12:00");
        for d in 0..400 {
            let t = start - chrono::Duration::days(d);
            all.push((t.format(ID_FORMAT).to_string(), t));
        }
        let keep = keep_set(&all);
        // the newest of each of the last 7 days (so not "extra", older the same day)
        for d in 0..7 {
            let t = start - chrono::Duration::days(d);
            assert!(keep.contains(&t.format(ID_FORMAT).to_string()), "day {d}");
        }
        assert!(!keep.contains("extra"));
    }

    /// 400 simulated days of one backup a day (at a time of day that drifts), rotated after
    /// each as the app does: what survives is exactly the promised set, computed here from
    /// the calendar without `keep_set`.
    #[test]
    fn rotation_over_400_days_keeps_exactly_the_promised_set() {
        let first = at("2025-10-25 09:00");
        let mut kept: Vec<(String, NaiveDateTime)> = Vec::new();
        let mut all_taken = Vec::new();
        for day in 0..400i64 {
            let t = first + chrono::Duration::days(day) + chrono::Duration::minutes(day % 300);
            let id = t.format(ID_FORMAT).to_string();
            kept.push((id.clone(), t));
            all_taken.push(t);
            let keep = keep_set(&kept);
            kept.retain(|(id, _)| keep.contains(id));
            // never more than 7 + 4 + 12
            assert!(kept.len() <= 23, "day {day}: {}", kept.len());
        }
        let last = *all_taken.last().unwrap();
        let newest_in = |pred: &dyn Fn(&NaiveDateTime) -> bool| {
            all_taken.iter().filter(|t| pred(t)).max().copied()
        };
        let mut expected = std::collections::BTreeSet::new();
        // the last 7 calendar days (one backup each)
        for d in 0..7 {
            let day = (last - chrono::Duration::days(d)).date();
            expected.insert(newest_in(&|t| t.date() == day).unwrap());
        }
        // the last 4 ISO weeks that have a backup
        for w in 0..4 {
            let week = (last - chrono::Duration::weeks(w)).iso_week();
            expected.insert(newest_in(&|t| t.iso_week() == week).unwrap());
        }
        // the last 12 months
        let (mut y, mut m) = (last.year(), last.month());
        for _ in 0..12 {
            expected.insert(newest_in(&|t| t.year() == y && t.month() == m).unwrap());
            if m == 1 {
                y -= 1;
                m = 12;
            } else {
                m -= 1;
            }
        }
        let got: std::collections::BTreeSet<NaiveDateTime> = kept.iter().map(|(_, t)| *t).collect();
        assert_eq!(got, expected);
        assert!(got.len() >= 12 + 4 && got.len() <= 23, "{}", got.len());
        let oldest = got.iter().min().unwrap();
        assert!(last - *oldest > chrono::Duration::days(300));
        assert!(last - *oldest < chrono::Duration::days(366));
    }
}

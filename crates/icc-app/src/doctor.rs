//! `icc doctor`: checks of the installation, each with what to do when it fails.

use serde::Serialize;

use crate::App;
use crate::error::AppError;
use icc_store::Store;

/// Free space below which the disk check fails.
pub const MIN_FREE_BYTES: u64 = 500 * 1024 * 1024;

/// Free space below which the disk check is a failure rather than a warning.
pub const CRITICAL_FREE_BYTES: u64 = 50 * 1024 * 1024;

/// How serious a check's finding is. Only a `falla` makes `icc doctor` exit 1: an `aviso`
/// is something to do that does not stop the work (no backup yet on a fresh install, no
/// keyring while no credential needs one, the server out of reach from a site).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Passed.
    Ok,
    /// Works, with something to attend to.
    Aviso,
    /// Broken: the work cannot go on as it should.
    Falla,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Check {
    /// Stable id (`data_dir`, `schema`, `integrity`, `disk`, `users`, `keyring`,
    /// `encryption`, `iconstruye`, `sync`, `backup`).
    pub id: &'static str,
    /// Spanish name.
    pub name: &'static str,
    /// Not a failure (`level` is `ok` or `aviso`).
    pub ok: bool,
    /// `ok`, `aviso` or `falla`.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// What to do when it failed.
    pub hint: Option<String>,
}

/// All checks.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoctorReport {
    /// Whether no check failed (warnings allowed).
    pub ok: bool,
    /// The most serious level found.
    pub level: Level,
    /// The data directory.
    pub data_dir: String,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl App {
    /// Whether something here needs the keyring: a link to the server (its refresh token)
    /// or a credential someone stored (its last audit row says `guardada`).
    async fn needs_keyring(&self) -> bool {
        if self
            .store
            .setting(crate::sync::SERVER_SETTING)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            return true;
        }
        for c in crate::credentials::CREDENTIALS {
            let stored = self
                .store
                .history("credential", c.name)
                .await
                .ok()
                .and_then(|h| h.last().map(|e| e.action == "guardada"));
            if stored.unwrap_or(false) {
                return true;
            }
        }
        false
    }

    /// Runs the checks. Never fails: a failing check is reported, not returned as an error.
    pub async fn doctor(&self) -> DoctorReport {
        let mut checks = Vec::new();
        // checks whose failure was only a service out of reach (a site without network)
        let mut remote_down: Vec<&'static str> = Vec::new();
        let dir = self.data_dir.clone();

        let probe = dir.join(".icc-write-test");
        let writable = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe));
        checks.push(Check {
            id: "data_dir",
            name: "Carpeta de datos",
            ok: writable.is_ok(),
            level: Level::Ok,
            detail: match &writable {
                Ok(()) => format!("{} (escribible)", dir.display()),
                Err(e) => format!("{}: {e}", dir.display()),
            },
            hint: writable
                .is_err()
                .then(|| "revise los permisos de la carpeta o elija otra con --data-dir".into()),
        });

        let supported = Store::supported_schema_version();
        let schema = self.store.schema_version().await;
        checks.push(match schema {
            Ok(v) if v == supported => Check { id: "schema", name: "Versión del esquema", ok: true, level: Level::Ok, detail: format!("{v}"), hint: None },
            Ok(v) => Check {
                id: "schema",
                name: "Versión del esquema",
                ok: false, level: Level::Ok,
                detail: format!("{v} (esta versión de la aplicación usa {supported})"),
                hint: Some("reinicie la aplicación para aplicar las migraciones, o actualícela si la base es más nueva".into()),
            },
            Err(e) => Check { id: "schema", name: "Versión del esquema", ok: false, level: Level::Ok, detail: e.to_string(), hint: Some("restaure el último respaldo".into()) },
        });

        let integrity = self.store.integrity_check().await;
        checks.push(match integrity {
            Ok(r) if r == ["ok"] => Check {
                id: "integrity",
                name: "Integridad de la base de datos",
                ok: true,
                level: Level::Ok,
                detail: "ok".into(),
                hint: None,
            },
            Ok(r) => Check {
                id: "integrity",
                name: "Integridad de la base de datos",
                ok: false,
                level: Level::Ok,
                detail: r.into_iter().take(5).collect::<Vec<_>>().join("; "),
                hint: Some("la base de datos está dañada: restaure el último respaldo".into()),
            },
            Err(e) => Check {
                id: "integrity",
                name: "Integridad de la base de datos",
                ok: false,
                level: Level::Ok,
                detail: e.to_string(),
                hint: Some("restaure el último respaldo".into()),
            },
        });

        let free = fs4::available_space(&dir);
        checks.push(match free.as_ref().map(|b| *b) {
            Ok(b) => Check {
                id: "disk",
                name: "Espacio libre en disco",
                ok: b >= MIN_FREE_BYTES,
                level: Level::Ok,
                detail: format!(
                    "{} MB libres",
                    icc_core::Clp::new(i64::try_from(b / (1024 * 1024)).unwrap_or(i64::MAX))
                        .format_number()
                ),
                hint: (b < MIN_FREE_BYTES).then(|| {
                    "libere espacio: se necesitan al menos 500 MB para trabajar y respaldar".into()
                }),
            },
            Err(e) => Check {
                id: "disk",
                name: "Espacio libre en disco",
                ok: false,
                level: Level::Ok,
                detail: e.to_string(),
                hint: Some("revise el disco de la carpeta de datos".into()),
            },
        });

        let users = self.store.user_count().await;
        checks.push(match users {
            Ok(n) if n > 0 => Check { id: "users", name: "Usuarios", ok: true, level: Level::Ok, detail: format!("{n} usuario(s)"), hint: None },
            Ok(_) => Check {
                id: "users",
                name: "Usuarios",
                ok: false, level: Level::Ok,
                detail: "no hay usuarios".into(),
                hint: Some("cree el primer administrador con `icc init --admin-user NOMBRE --password-stdin`".into()),
            },
            Err(e) => Check { id: "users", name: "Usuarios", ok: false, level: Level::Ok, detail: e.to_string(), hint: None },
        });

        let keyring = self.keyring_reachable().await;
        checks.push(Check {
            id: "keyring",
            name: "Llavero del sistema",
            ok: keyring.is_ok(), level: Level::Ok,
            detail: match &keyring {
                Ok(()) => "responde".into(),
                Err(e) => e.to_string(),
            },
            hint: keyring.is_err().then(|| {
                "las claves de iConstruye y del servidor se guardan ahí: inicie una sesión de escritorio con el llavero desbloqueado".into()
            }),
        });

        // backups taken before the folder was encrypted stay plain until rotation removes them
        let plain_backups = if self.is_encrypted() {
            self.backups()
                .await
                .unwrap_or_default()
                .iter()
                .filter(|b| {
                    matches!(
                        icc_store::file_kind(&std::path::Path::new(&b.path).join(crate::DB_FILE)),
                        Ok(icc_store::FileKind::Plain)
                    )
                })
                .count()
        } else {
            0
        };
        checks.push(Check {
            id: "encryption",
            name: "Cifrado de los datos",
            ok: self.is_encrypted() && plain_backups == 0,
            level: Level::Ok,
            detail: match (self.is_encrypted(), plain_backups) {
                (true, 0) => "base de datos, adjuntos y respaldos cifrados; la clave está en el llavero".into(),
                (true, n) => format!(
                    "base de datos y adjuntos cifrados, pero {n} respaldo(s) de antes del cifrado siguen sin cifrar"
                ),
                (false, _) => "la base de datos y los adjuntos NO están cifrados (no había llavero del sistema al crearlos)".into(),
            },
            hint: match (self.is_encrypted(), plain_backups) {
                (true, 0) => None,
                (true, _) => Some(format!(
                    "cuando tenga un respaldo nuevo, borre de {} las carpetas de respaldo anteriores al cifrado (o espere a que la rotación las quite)",
                    self.backup_dir().await.map(|d| d.display().to_string()).unwrap_or_default()
                )),
                (false, _) => Some("abra ICC Facturas con el llavero del sistema disponible (una sesión de escritorio) y se cifrarán solos; luego imprima la clave de recuperación con `icc encryption recovery-key`".into()),
            },
        });

        if keyring.is_ok() {
            let url = self
                .iconstruye_settings()
                .await
                .map(|s| s.url)
                .unwrap_or_default();
            let probe = self.iconstruye_probe().await;
            if matches!(probe, Err(AppError::Remote(_))) {
                remote_down.push("iconstruye");
            }
            checks.push(match probe {
                Ok(None) => Check {
                    id: "iconstruye",
                    name: "iConstruye",
                    ok: true, level: Level::Ok,
                    detail: "sin clave guardada (no se usa en este equipo)".into(),
                    hint: None,
                },
                Ok(Some(n)) => Check {
                    id: "iconstruye",
                    name: "iConstruye",
                    ok: true, level: Level::Ok,
                    detail: format!("{url} responde y acepta la clave ({n} factura(s) recibidas hoy)"),
                    hint: None,
                },
                Err(e) => Check {
                    id: "iconstruye",
                    name: "iConstruye",
                    ok: false, level: Level::Ok,
                    detail: e.to_string(),
                    hint: Some(match e {
                        AppError::Credentials(_) => "guarde una clave vigente con `icc credentials set iconstruye-facturas` o en Configuración".into(),
                        _ => format!("revise la conexión a internet y la dirección ({url}) en Configuración › iConstruye"),
                    }),
                },
            });
        }

        let sync = self.sync_check().await;
        if matches!(&sync, Some((false, _, _, true))) {
            remote_down.push("sync");
        }
        checks.push(match sync {
            None => Check {
                id: "sync",
                name: "Servidor de sincronización",
                ok: true,
                level: Level::Ok,
                detail: "no vinculado (este equipo trabaja solo)".into(),
                hint: None,
            },
            Some((ok, detail, hint, _)) => Check {
                id: "sync",
                name: "Servidor de sincronización",
                ok,
                level: Level::Ok,
                detail,
                hint,
            },
        });

        let newest = self.newest_backup_at().await;
        let age_h = newest.map(|t| (chrono::Utc::now() - t).num_hours());
        let recent = age_h.is_some_and(|h| h <= 48);
        checks.push(Check {
            id: "backup",
            name: "Último respaldo",
            ok: recent, level: Level::Ok,
            detail: match (newest, age_h) {
                (Some(t), Some(h)) => format!("{} (hace {h} h)", t.format("%d-%m-%Y %H:%M UTC")),
                _ => "no hay respaldos".into(),
            },
            hint: (!recent).then(|| {
                "tome uno con `icc backup create` (la aplicación de escritorio lo hace al abrir si el último tiene más de un día)".into()
            }),
        });

        // how serious each finding is (a passed check is `ok`)
        let needs_keyring = self.needs_keyring().await;
        for c in &mut checks {
            c.level = if c.ok {
                Level::Ok
            } else {
                match c.id {
                    "backup" | "encryption" => Level::Aviso,
                    "keyring" if !needs_keyring => Level::Aviso,
                    "disk" if free.as_ref().is_ok_and(|b| *b >= CRITICAL_FREE_BYTES) => {
                        Level::Aviso
                    }
                    "iconstruye" | "sync" if remote_down.contains(&c.id) => Level::Aviso,
                    _ => Level::Falla,
                }
            };
            c.ok = c.level != Level::Falla;
            if c.id == "keyring" && c.level == Level::Aviso {
                c.hint = Some(
                    "ninguna clave lo necesita todavía; para guardar las de iConstruye, del correo o del servidor, inicie una sesión de escritorio con el llavero desbloqueado".into(),
                );
            }
        }
        DoctorReport::of(&dir, checks)
    }
}

impl DoctorReport {
    fn of(dir: &std::path::Path, checks: Vec<Check>) -> DoctorReport {
        let level = checks
            .iter()
            .map(|c| c.level)
            .max_by_key(|l| match l {
                Level::Ok => 0,
                Level::Aviso => 1,
                Level::Falla => 2,
            })
            .unwrap_or(Level::Ok);
        DoctorReport {
            ok: level != Level::Falla,
            level,
            data_dir: dir.display().to_string(),
            checks,
        }
    }

    /// The report for a data folder whose encrypted database cannot be opened (`why`, an
    /// [`AppError::KeyMissing`]): one failed check that says how to recover.
    pub fn locked(data_dir: &std::path::Path, why: &AppError) -> DoctorReport {
        DoctorReport::of(
            data_dir,
            vec![Check {
                id: "encryption",
                name: "Cifrado de los datos",
                ok: false,
                level: Level::Falla,
                detail: why.to_string(),
                hint: Some(
                    "escriba la clave de recuperación impresa al crear la base: `icc encryption recover` (por la entrada estándar); sin ella, restaure un respaldo de esta instalación".into(),
                ),
            }],
        )
    }
}

//! `icc doctor`: checks of the installation, each with what to do when it fails.

use serde::Serialize;

use crate::App;
use crate::error::AppError;
use icc_store::Store;

/// Free space below which the disk check fails.
pub const MIN_FREE_BYTES: u64 = 500 * 1024 * 1024;

/// One check.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Check {
    /// Stable id (`data_dir`, `schema`, `integrity`, `disk`, `users`, `keyring`,
    /// `iconstruye`, `sync`, `backup`).
    pub id: &'static str,
    /// Spanish name.
    pub name: &'static str,
    /// Passed?
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do when it failed.
    pub hint: Option<String>,
}

/// All checks.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoctorReport {
    /// Whether every check passed.
    pub ok: bool,
    /// The data directory.
    pub data_dir: String,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl App {
    /// Runs the checks. Never fails: a failing check is reported, not returned as an error.
    pub async fn doctor(&self) -> DoctorReport {
        let mut checks = Vec::new();
        let dir = self.data_dir.clone();

        let probe = dir.join(".icc-write-test");
        let writable = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe));
        checks.push(Check {
            id: "data_dir",
            name: "Carpeta de datos",
            ok: writable.is_ok(),
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
            Ok(v) if v == supported => Check { id: "schema", name: "Versión del esquema", ok: true, detail: format!("{v}"), hint: None },
            Ok(v) => Check {
                id: "schema",
                name: "Versión del esquema",
                ok: false,
                detail: format!("{v} (esta versión de la aplicación usa {supported})"),
                hint: Some("reinicie la aplicación para aplicar las migraciones, o actualícela si la base es más nueva".into()),
            },
            Err(e) => Check { id: "schema", name: "Versión del esquema", ok: false, detail: e.to_string(), hint: Some("restaure el último respaldo".into()) },
        });

        let integrity = self.store.integrity_check().await;
        checks.push(match integrity {
            Ok(r) if r == ["ok"] => Check {
                id: "integrity",
                name: "Integridad de la base de datos",
                ok: true,
                detail: "ok".into(),
                hint: None,
            },
            Ok(r) => Check {
                id: "integrity",
                name: "Integridad de la base de datos",
                ok: false,
                detail: r.into_iter().take(5).collect::<Vec<_>>().join("; "),
                hint: Some("la base de datos está dañada: restaure el último respaldo".into()),
            },
            Err(e) => Check {
                id: "integrity",
                name: "Integridad de la base de datos",
                ok: false,
                detail: e.to_string(),
                hint: Some("restaure el último respaldo".into()),
            },
        });

        let free = fs4::available_space(&dir);
        checks.push(match free {
            Ok(b) => Check {
                id: "disk",
                name: "Espacio libre en disco",
                ok: b >= MIN_FREE_BYTES,
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
                detail: e.to_string(),
                hint: Some("revise el disco de la carpeta de datos".into()),
            },
        });

        let users = self.store.user_count().await;
        checks.push(match users {
            Ok(n) if n > 0 => Check { id: "users", name: "Usuarios", ok: true, detail: format!("{n} usuario(s)"), hint: None },
            Ok(_) => Check {
                id: "users",
                name: "Usuarios",
                ok: false,
                detail: "no hay usuarios".into(),
                hint: Some("cree el primer administrador con `icc init --admin-user NOMBRE --password-stdin`".into()),
            },
            Err(e) => Check { id: "users", name: "Usuarios", ok: false, detail: e.to_string(), hint: None },
        });

        let keyring = self.keyring_reachable().await;
        checks.push(Check {
            id: "keyring",
            name: "Llavero del sistema",
            ok: keyring.is_ok(),
            detail: match &keyring {
                Ok(()) => "responde".into(),
                Err(e) => e.to_string(),
            },
            hint: keyring.is_err().then(|| {
                "las claves de iConstruye y del servidor se guardan ahí: inicie una sesión de escritorio con el llavero desbloqueado".into()
            }),
        });

        if keyring.is_ok() {
            let url = self
                .iconstruye_settings()
                .await
                .map(|s| s.url)
                .unwrap_or_default();
            checks.push(match self.iconstruye_probe().await {
                Ok(None) => Check {
                    id: "iconstruye",
                    name: "iConstruye",
                    ok: true,
                    detail: "sin clave guardada (no se usa en este equipo)".into(),
                    hint: None,
                },
                Ok(Some(n)) => Check {
                    id: "iconstruye",
                    name: "iConstruye",
                    ok: true,
                    detail: format!("{url} responde y acepta la clave ({n} factura(s) recibidas hoy)"),
                    hint: None,
                },
                Err(e) => Check {
                    id: "iconstruye",
                    name: "iConstruye",
                    ok: false,
                    detail: e.to_string(),
                    hint: Some(match e {
                        AppError::Credentials(_) => "guarde una clave vigente con `icc credentials set iconstruye-facturas` o en Configuración".into(),
                        _ => format!("revise la conexión a internet y la dirección ({url}) en Configuración › iConstruye"),
                    }),
                },
            });
        }

        checks.push(match self.sync_check().await {
            None => Check {
                id: "sync",
                name: "Servidor de sincronización",
                ok: true,
                detail: "no vinculado (este equipo trabaja solo)".into(),
                hint: None,
            },
            Some((ok, detail, hint)) => Check {
                id: "sync",
                name: "Servidor de sincronización",
                ok,
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
            ok: recent,
            detail: match (newest, age_h) {
                (Some(t), Some(h)) => format!("{} (hace {h} h)", t.format("%d-%m-%Y %H:%M UTC")),
                _ => "no hay respaldos".into(),
            },
            hint: (!recent).then(|| {
                "tome uno con `icc backup create` (la aplicación de escritorio lo hace al abrir si el último tiene más de un día)".into()
            }),
        });

        DoctorReport {
            ok: checks.iter().all(|c| c.ok),
            data_dir: dir.display().to_string(),
            checks,
        }
    }
}

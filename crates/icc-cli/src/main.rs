//! `icc`: every ICC Facturas use case from the command line, for accountants' scripts, IT
//! and tests. The contract (commands, flags, JSON fields, exit codes) is in DESIGN.md.
//!
//! ```text
//! printf '%s\n' "$PASS" | icc --data-dir D init --admin-user admin --password-stdin
//! ICC_PASSWORD=$PASS icc --data-dir D --user admin invoices list --json --estado aprobada
//! ```
//! Exit codes: 0 success, 1 failure, 2 usage error, 3 input rejected.

mod args;
mod output;

use std::io::BufRead;
use std::process::ExitCode;

use clap::Parser;
use icc_app::{
    App, AppError, AssignmentChange, ExportFormat, ExportOptions, Format, ImportOptions,
    InvoiceFilter, ListFilter, OnDuplicate, ReportKind, Session,
};
use icc_core::{InvoiceStatus, Role};

use args::{
    BackupCommand, CesionesCommand, Cli, Command, ConflictsCommand, CredentialsCommand,
    CuentasCommand, DevCommand, EncryptionCommand, FilterArgs, IconstruyeCommand, InvoicesCommand,
    KameCommand, ObrasCommand, PagosCommand, PlantillaCommand, SyncCommand, UsersCommand,
};

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Failure {
        let code = match e {
            AppError::Invalid(_) | AppError::WeakPassword(_) => 3,
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<icc_core::CoreError> for Failure {
    fn from(e: icc_core::CoreError) -> Failure {
        Failure::usage(e.to_string())
    }
}

/// Reads lines from stdin on demand: the acting user's password (when `ICC_PASSWORD` is
/// unset) comes first, then a `--password-stdin` value.
struct Stdin {
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Stdin {
    fn new() -> Stdin {
        Stdin {
            lines: std::io::stdin().lock().lines(),
        }
    }

    /// One line without its line ending (`\n` or `\r\n`, exactly one).
    fn password(&mut self, what: &str) -> Result<String, Failure> {
        match self.lines.next() {
            Some(Ok(line)) => {
                let pw = line.strip_suffix('\r').unwrap_or(&line).to_owned();
                if pw.is_empty() {
                    return Err(Failure::usage(format!(
                        "{what}: la línea leída de la entrada estándar está vacía"
                    )));
                }
                Ok(pw)
            }
            Some(Err(e)) => Err(Failure::usage(format!(
                "{what}: no se pudo leer la entrada estándar: {e}"
            ))),
            None => Err(Failure::usage(format!(
                "{what}: la entrada estándar está vacía; envíe la contraseña por stdin"
            ))),
        }
    }
}

fn main() -> ExitCode {
    // `icc … | head`: a closed pipe ends the program quietly, as it does any Unix tool,
    // instead of a panic about printing to stdout
    sigpipe::reset();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return args::report_clap_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: no se pudo iniciar: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let data_dir = match cli.global.data_dir.clone().or_else(App::default_data_dir) {
        Some(d) => d,
        None => {
            return Err(Failure::usage(
                "no se encontró la carpeta de datos del sistema; indíquela con --data-dir o ICC_DATA_DIR",
            ));
        }
    };
    let _log_guard = icc_app::logging::init(
        icc_app::logging::log_dir(cli.global.data_dir.as_deref()).as_deref(),
        icc_app::logging::Program::Cli,
    );
    let json = cli.global.json;
    let mut stdin = Stdin::new();
    if let Command::Backup {
        command: BackupCommand::Restore { id, latest },
    } = &cli.command
    {
        let id = if *latest { None } else { id.as_deref() };
        return restore(&cli, &data_dir, id, json, &mut stdin).await;
    }
    if let Command::Encryption {
        command: EncryptionCommand::Recover,
    } = &cli.command
    {
        // before opening: the database cannot be opened without the key this puts back
        let text = stdin.password("la clave de recuperación")?;
        icc_app::encryption::recover(&data_dir, &text).await?;
        output::done(
            json,
            &serde_json::json!({"ok": true, "data_dir": data_dir}),
            "Clave recuperada y guardada en el llavero del sistema; la base de datos se abre de nuevo.",
        );
        return Ok(());
    }
    let app = match App::open(&data_dir).await {
        Ok(app) => app,
        Err(e @ AppError::KeyMissing(_)) if matches!(cli.command, Command::Doctor) => {
            // doctor explains a locked folder instead of failing to open it
            let report = icc_app::DoctorReport::locked(&data_dir, &e);
            output::doctor(json, &report);
            return Err(Failure {
                code: 1,
                message: "hay verificaciones con problemas (vea arriba qué hacer)".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let result = dispatch(&app, &cli, json, &mut stdin).await;
    app.close().await;
    result
}

/// The `--user` and its password (from `ICC_PASSWORD` or stdin).
fn user_and_password<'a>(
    cli: &'a Cli,
    stdin: &mut Stdin,
) -> Result<(&'a str, icc_core::Secret), Failure> {
    let Some(user) = cli.global.user.as_deref() else {
        return Err(Failure::usage(
            "este comando actúa como un usuario: indíquelo con --user NOMBRE (o ICC_USER) y la contraseña en ICC_PASSWORD o por stdin",
        ));
    };
    let password = match std::env::var("ICC_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => stdin.password("contraseña de --user")?,
    };
    Ok((user, password.into()))
}

async fn login(app: &App, cli: &Cli, stdin: &mut Stdin) -> Result<Session, Failure> {
    let (user, password) = user_and_password(cli, stdin)?;
    Ok(app.login(user, password).await?)
}

/// `backup restore`: through the live database when it opens and the user signs in; when
/// the database itself fails (damaged), against the backup's own administrators.
async fn restore(
    cli: &Cli,
    data_dir: &std::path::Path,
    id: Option<&str>,
    json: bool,
    stdin: &mut Stdin,
) -> Result<(), Failure> {
    let (user, password) = user_and_password(cli, stdin)?;
    let live = async {
        let app = App::open(data_dir).await?;
        let s = app.login(user, &password).await?;
        app.restore_backup(&s, id).await
    }
    .await;
    let b = match live {
        Ok(b) => b,
        Err(e @ (AppError::Store(_) | AppError::NotInitialized(_) | AppError::KeyMissing(_))) => {
            eprintln!(
                "aviso: la base de datos actual no se pudo usar ({e}); se restaura comprobando la contraseña en el respaldo"
            );
            icc_app::restore_without_live_db(data_dir, id, user, password).await?
        }
        Err(e) => return Err(e.into()),
    };
    restored(json, &b);
    Ok(())
}

fn restored(json: bool, b: &icc_app::BackupInfo) {
    output::backups(
        json,
        std::slice::from_ref(b),
        "Restaurado; la base anterior quedó como copia de seguridad en la carpeta de respaldos:",
    );
}

fn opt_field(v: &Option<String>) -> Option<Option<String>> {
    v.as_ref().map(|s| {
        if s.trim().is_empty() {
            None
        } else {
            Some(s.clone())
        }
    })
}

async fn dispatch(app: &App, cli: &Cli, json: bool, stdin: &mut Stdin) -> Result<(), Failure> {
    match &cli.command {
        Command::Init {
            admin_user,
            password_stdin,
        } => {
            if !password_stdin {
                return Err(Failure::usage(
                    "init necesita --password-stdin: la contraseña nunca va en la línea de comandos",
                ));
            }
            let pw = stdin.password("--password-stdin")?;
            let s = app.init(admin_user, &pw).await?;
            let recovery = app.recovery_key(&s)?;
            let text = match &recovery {
                Some(k) => format!(
                    "Base de datos cifrada creada en {} con el administrador «{}».\n\nClave de recuperación (imprímala y guárdela bajo llave; no se vuelve a mostrar sin una cuenta de administrador):\n\n    {k}\n\nSin ella, si se pierde el llavero del sistema, los datos no se pueden recuperar.",
                    app.data_dir().display(),
                    s.username
                ),
                None => format!(
                    "Base de datos creada en {} con el administrador «{}».\naviso: no hay llavero del sistema, así que la base quedó sin cifrar; se cifrará sola al abrirla con un llavero disponible (vea `icc doctor`).",
                    app.data_dir().display(),
                    s.username
                ),
            };
            output::done(
                json,
                &serde_json::json!({"ok": true, "admin": s.username, "data_dir": app.data_dir(), "encrypted": recovery.is_some(), "recovery_key": recovery}),
                &text,
            );
        }
        Command::Doctor => {
            let report = app.doctor().await;
            output::doctor(json, &report);
            if !report.ok {
                return Err(Failure {
                    code: 1,
                    message: "hay verificaciones con problemas (vea arriba qué hacer)".into(),
                });
            }
        }
        Command::MigrateLegacy { db, files } => {
            let s = match &cli.global.user {
                Some(_) => Some(login(app, cli, stdin).await?),
                None => None,
            };
            let report = app.migrate_legacy(s.as_ref(), db, files).await?;
            output::migration(json, &report);
            if report.rejected > 0 {
                return Err(Failure {
                    code: 3,
                    message: format!(
                        "{} filas de facturas no se migraron (vea arriba por qué); corrija los archivos y repita: lo ya migrado no se duplica",
                        report.rejected
                    ),
                });
            }
        }
        Command::Dev {
            command:
                DevCommand::LegacyFixture {
                    out,
                    invoices,
                    empty_subidas_datos,
                },
        } => {
            let facts = icc_app::legacy_fixture::write_fixture(
                out,
                icc_app::legacy_fixture::FixtureOptions {
                    invoices: *invoices,
                    empty_subidas_datos: *empty_subidas_datos,
                },
            )
            .await?;
            output::done(
                json,
                &facts,
                &format!(
                    "Datos de la aplicación anterior generados: {} y {}",
                    facts.db.display(),
                    facts.files.display()
                ),
            );
        }
        Command::Dev {
            command: DevCommand::Seed { invoices, seed },
        } => {
            let seed = seed.unwrap_or_else(|| chrono::Utc::now().timestamp_micros().unsigned_abs());
            let step = (*invoices / 10).clamp(10_000, 100_000);
            let mut next = step;
            let report = app
                .seed(*invoices, seed, &mut |done, total| {
                    if done >= next || done == total {
                        eprintln!(
                            "generadas {} de {}",
                            icc_core::Clp::new(done as i64).format_number(),
                            icc_core::Clp::new(total as i64).format_number()
                        );
                        next = done + step;
                    }
                    true
                })
                .await?;
            output::done(
                json,
                &report,
                &format!(
                    "Se generaron {} facturas ({} ya existían); obras creadas: {}.",
                    report.inserted, report.duplicates, report.obras_created
                ),
            );
        }
        Command::Import {
            files,
            format,
            sheet,
            mapping,
            profile,
            save_profile,
            dry_run,
            on_duplicate,
            crear_obras,
        } => {
            let s = login(app, cli, stdin).await?;
            let format = match format.to_lowercase().as_str() {
                "auto" => Format::Auto,
                "rcv" => Format::Rcv,
                "iconstruye" => Format::Iconstruye,
                "generic" | "generico" | "genérico" => Format::Generic,
                other => {
                    return Err(Failure::usage(format!(
                        "--format: el valor «{other}» no es válido: use auto, rcv, iconstruye o generic"
                    )));
                }
            };
            let on_duplicate = match on_duplicate.to_lowercase().as_str() {
                "skip" => OnDuplicate::Skip,
                "update" => OnDuplicate::Update,
                other => {
                    return Err(Failure::usage(format!(
                        "--on-duplicate: el valor «{other}» no es válido: use skip o update"
                    )));
                }
            };
            let mapping = match (mapping, profile) {
                (Some(path), _) => Some(
                    icc_app::read_mapping_file(path).map_err(|e| Failure::usage(e.to_string()))?,
                ),
                (None, Some(name)) => Some(app.mapping_profile(name).await?),
                (None, None) => None,
            };
            if let (Some(name), Some(spec)) = (save_profile, &mapping) {
                app.save_mapping_profile(&s, name, spec).await?;
            }
            let opts = ImportOptions {
                format,
                sheet: sheet.clone(),
                mapping,
                dry_run: *dry_run,
                on_duplicate,
                crear_obras: *crear_obras,
            };
            let mut last = std::time::Instant::now();
            let report = app
                .import_files(&s, files, &opts, &mut |p| {
                    if last.elapsed() >= std::time::Duration::from_secs(1) {
                        last = std::time::Instant::now();
                        let n = icc_core::Clp::new(p.done as i64).format_number();
                        match p.total {
                            Some(t) => eprintln!(
                                "{}: {} {n} de {}",
                                p.file,
                                p.phase,
                                icc_core::Clp::new(t as i64).format_number()
                            ),
                            None => eprintln!("{}: {} {n} filas", p.file, p.phase),
                        }
                    }
                    true
                })
                .await?;
            output::import(json, &report);
            if report.has_rejections() {
                return Err(Failure {
                    code: 3,
                    message: format!(
                        "{} fila(s) o archivo(s) rechazados; {}",
                        report.total.counts.rejected,
                        if report.dry_run {
                            "no se escribió nada (--dry-run)"
                        } else {
                            "las filas válidas se importaron, las rechazadas no"
                        }
                    ),
                });
            }
        }
        Command::Login {
            server,
            server_user,
        } => {
            let s = login(app, cli, stdin).await?;
            let password = match std::env::var("ICC_SERVER_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => stdin.password("contraseña del servidor")?,
            };
            let r = app.login_server(&s, server, server_user, &password).await?;
            output::done(
                json,
                &r,
                &format!(
                    "Equipo vinculado a {} como «{}» ({}); {} factura(s) quedan por enviar: ejecute `icc sync`.",
                    r.server, r.server_user, r.role, r.queued
                ),
            );
        }
        Command::Sync { command: None } => {
            let s = login(app, cli, stdin).await?;
            let r = app.sync(&s).await?;
            let mut text = format!(
                "Sincronizado: {} cambio(s) enviados, {} recibidos ({} aplicados), {} conflicto(s) abiertos, {} pendientes.",
                r.pushed, r.pulled, r.applied, r.conflicts, r.pending
            );
            if r.invalid > 0 {
                text.push_str(&format!(
                    "\n{} valor(es) recibidos no se pudieron guardar (tipo incorrecto) y se omitieron.",
                    r.invalid
                ));
            }
            for g in &r.removed {
                text.push_str(&format!(
                    "\nRetirada de este equipo: {} ({}).",
                    g.invoice, g.reason
                ));
            }
            if !r.refused.is_empty() {
                text.push_str(&format!(
                    "\n{} cambio(s) rechazados por el servidor quedan apartados; véalos con `icc sync refused` y descártelos con `icc sync discard ID`.",
                    r.refused.len()
                ));
            }
            output::done(json, &r, &text);
        }
        Command::Sync {
            command: Some(command),
        } => {
            let s = login(app, cli, stdin).await?;
            match command {
                SyncCommand::Refused => {
                    let list = app.refused_changes(&s).await?;
                    let mut text = if list.is_empty() {
                        "No hay cambios rechazados.".to_owned()
                    } else {
                        format!("{} cambio(s) rechazados por el servidor:", list.len())
                    };
                    for c in &list {
                        text.push_str(&format!(
                            "\n{}  {} {} = {}: {}",
                            c.op_id, c.entity_id, c.field, c.value, c.reason
                        ));
                    }
                    output::done(json, &list, &text);
                }
                SyncCommand::Discard { op_id } => {
                    let c = app.discard_refused(&s, op_id).await?;
                    output::done(
                        json,
                        &c,
                        &format!(
                            "Cambio {} descartado: {} de {} vuelve al valor del servidor.",
                            c.op_id, c.field, c.entity_id
                        ),
                    );
                }
                SyncCommand::Removed => {
                    let list = app.removed_invoices(&s).await?;
                    let mut text = if list.is_empty() {
                        "No se ha retirado ninguna factura de este equipo.".to_owned()
                    } else {
                        format!("{} factura(s) retiradas de este equipo:", list.len())
                    };
                    for g in &list {
                        text.push_str(&format!("\n{}  {}: {}", g.removed_at, g.invoice, g.reason));
                    }
                    output::done(json, &list, &text);
                }
            }
        }
        Command::Conflicts { command } => {
            let s = login(app, cli, stdin).await?;
            match command {
                ConflictsCommand::List => {
                    let list = app.conflicts(&s).await?;
                    output::conflicts(json, &list);
                }
                ConflictsCommand::Resolve { id, keep } => {
                    let keep = match keep.to_lowercase().as_str() {
                        "mine" | "mio" | "mío" => icc_app::Keep::Mine,
                        "theirs" | "suyo" => icc_app::Keep::Theirs,
                        other => {
                            return Err(Failure::usage(format!(
                                "--keep: el valor «{other}» no es válido: use mine (el de este equipo) o theirs (el que ganó)"
                            )));
                        }
                    };
                    let unsent = app.resolve_conflict(&s, *id, keep).await?;
                    let text = match &unsent {
                        None => format!("Conflicto {id} resuelto."),
                        Some(why) => format!(
                            "Conflicto {id} resuelto en este equipo; se enviará al servidor en la próxima sincronización (ahora no se pudo: {why})."
                        ),
                    };
                    output::done(
                        json,
                        &serde_json::json!({"ok": true, "id": id, "enviado": unsent.is_none(), "aviso": unsent}),
                        &text,
                    );
                }
            }
        }
        Command::Logout => {
            let s = login(app, cli, stdin).await?;
            app.logout_server(&s).await?;
            output::done(
                json,
                &serde_json::json!({"ok": true}),
                "Sesión con el servidor cerrada; los cambios se siguen guardando y se enviarán al volver a vincular.",
            );
        }
        Command::Encryption { command } => match command {
            EncryptionCommand::Status => {
                let encrypted = app.is_encrypted();
                output::done(
                    json,
                    &serde_json::json!({"ok": true, "encrypted": encrypted, "data_dir": app.data_dir()}),
                    &if encrypted {
                        "La base de datos, los adjuntos y los respaldos están cifrados; la clave está en el llavero del sistema.".to_owned()
                    } else {
                        "La base de datos NO está cifrada (no había llavero del sistema al crearla); se cifrará al abrirla con un llavero disponible.".to_owned()
                    },
                );
            }
            EncryptionCommand::RecoveryKey => {
                let s = login(app, cli, stdin).await?;
                match app.recovery_key(&s)? {
                    Some(k) => output::done(
                        json,
                        &serde_json::json!({"ok": true, "recovery_key": k}),
                        &format!(
                            "Clave de recuperación de {}:\n\n    {k}",
                            app.data_dir().display()
                        ),
                    ),
                    None => {
                        return Err(Failure {
                            code: 1,
                            message: "esta carpeta de datos no está cifrada: no tiene clave de recuperación".into(),
                        });
                    }
                }
            }
            EncryptionCommand::Recover => {
                return Err(Failure::usage(
                    "encryption recover se atiende antes de abrir la base",
                ));
            }
        },
        Command::Credentials { command } => match command {
            CredentialsCommand::Set { name } => {
                // with --user the role is checked; without it, the OS account that owns the
                // keyring is the authority
                let s = match cli.global.user {
                    Some(_) => Some(login(app, cli, stdin).await?),
                    None => None,
                };
                let secret = stdin.password(&format!("la clave «{name}»"))?;
                app.set_credential(s.as_ref(), name, &secret).await?;
                output::done(
                    json,
                    &serde_json::json!({"ok": true, "name": name}),
                    &format!("Clave «{name}» guardada en el llavero del sistema."),
                );
            }
            CredentialsCommand::Delete { name } => {
                let s = match cli.global.user {
                    Some(_) => Some(login(app, cli, stdin).await?),
                    None => None,
                };
                let existed = app.delete_credential(s.as_ref(), name).await?;
                output::done(
                    json,
                    &serde_json::json!({"ok": true, "name": name, "existed": existed}),
                    &if existed {
                        format!("Clave «{name}» eliminada del llavero.")
                    } else {
                        format!("No había una clave «{name}» guardada.")
                    },
                );
            }
            CredentialsCommand::List => {
                let list = app.credentials_status().await?;
                output::credentials(json, &list);
            }
        },
        Command::Iconstruye {
            command: IconstruyeCommand::Pull { desde, hasta },
        } => {
            let parse = |v: &Option<String>, what: &'static str| -> Result<_, Failure> {
                v.as_deref()
                    .map(|d| icc_core::parse_date(what, d))
                    .transpose()
                    .map_err(Failure::from)
            };
            let (desde, hasta) = (parse(desde, "--desde")?, parse(hasta, "--hasta")?);
            let s = login(app, cli, stdin).await?;
            let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = cancel.clone();
            // Ctrl+C stops at the next request; whole windows already stored are kept
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
            let mut last = std::time::Instant::now();
            let report = app
                .iconstruye_pull(&s, desde, hasta, cancel, &mut |p| {
                    if p.total_ventana == 0 || last.elapsed() >= std::time::Duration::from_secs(1) {
                        last = std::time::Instant::now();
                        if p.total_ventana == 0 {
                            eprintln!(
                                "ventana {} de {} lista ({})",
                                p.ventanas_hechas, p.ventanas, p.ventana
                            );
                        } else {
                            eprintln!(
                                "ventana {} de {} ({}): {} de {} documentos",
                                p.ventanas_hechas + 1,
                                p.ventanas,
                                p.ventana,
                                p.documentos,
                                p.total_ventana
                            );
                        }
                    }
                })
                .await?;
            output::pull(json, &report);
            if report.cancelled {
                return Err(Failure {
                    code: 1,
                    message: format!(
                        "descarga cancelada; quedaron guardadas {} ventana(s) completas",
                        report.windows
                    ),
                });
            }
            if report.rejected > 0 {
                return Err(Failure {
                    code: 3,
                    message: format!(
                        "{} documento(s) de iConstruye rechazados (vea el detalle arriba); los demás se guardaron",
                        report.rejected
                    ),
                });
            }
        }
        Command::Export {
            report,
            out,
            format,
            mes,
            filters,
        } => {
            let report: ReportKind = report.parse()?;
            match (report, mes) {
                (ReportKind::LibroCompras, None) => {
                    return Err(Failure::usage(
                        "el libro de compras es mensual: indique el mes con --mes AAAA-MM",
                    ));
                }
                (ReportKind::LibroCompras, Some(m)) => {
                    icc_app::month_bounds(m).map_err(|e| Failure::usage(e.to_string()))?;
                }
                (_, Some(_)) => {
                    return Err(Failure::usage(
                        "--mes solo se usa con libro-compras; para otros informes filtre con --desde y --hasta",
                    ));
                }
                (_, None) => {}
            }
            let format = match format {
                Some(f) => f.parse::<ExportFormat>()?,
                None => icc_app::format_for_path(out),
            };
            let filter = filter_from(filters)?;
            let s = login(app, cli, stdin).await?;
            let opts = ExportOptions {
                report,
                format,
                filter,
                mes: mes.clone(),
                out: out.clone(),
            };
            let mut last = std::time::Instant::now();
            let done = app
                .export(&s, opts, &mut |p| {
                    if last.elapsed() >= std::time::Duration::from_secs(1) {
                        last = std::time::Instant::now();
                        eprintln!(
                            "exportando: {} de {} documentos",
                            icc_core::group_thousands(p.written),
                            icc_core::group_thousands(p.total)
                        );
                    }
                    true
                })
                .await?;
            output::export(json, &done);
        }
        Command::Backup { command } => {
            let s = login(app, cli, stdin).await?;
            match command {
                BackupCommand::Create => {
                    let b = app.create_backup(&s).await?;
                    output::backups(
                        json,
                        std::slice::from_ref(&b),
                        "Respaldo creado y verificado:",
                    );
                }
                BackupCommand::Dir { path } => {
                    if let Some(p) = path {
                        app.set_backup_dir(&s, p).await?;
                    }
                    let dir = app.backup_dir().await?;
                    output::done(
                        json,
                        &serde_json::json!({"dir": dir}),
                        &format!("Carpeta de respaldos: {}", dir.display()),
                    );
                }
                BackupCommand::List => {
                    let all = app.list_backups(&s).await?;
                    output::backups(json, &all, "Respaldos:");
                }
                BackupCommand::Verify { id } => {
                    let b = app.verify_backup(&s, id.as_deref()).await?;
                    output::backups(
                        json,
                        std::slice::from_ref(&b),
                        "Respaldo verificado (integridad y conteos):",
                    );
                }
                // run() sends restores to restore() before the database opens; this arm
                // serves callers of dispatch() that already hold an open App
                BackupCommand::Restore { id, latest } => {
                    let id = if *latest { None } else { id.as_deref() };
                    restored(json, &app.restore_backup(&s, id).await?);
                }
            }
        }
        Command::Invoices { command } => {
            let s = login(app, cli, stdin).await?;
            invoices(app, &s, command, json).await?;
        }
        Command::Users { command } => {
            let s = login(app, cli, stdin).await?;
            match command {
                UsersCommand::Add {
                    name,
                    role,
                    obras,
                    password_stdin,
                } => {
                    if !password_stdin {
                        return Err(Failure::usage("users add necesita --password-stdin"));
                    }
                    let role: Role = role.parse()?;
                    let obras: Vec<String> = obras
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(String::from)
                        .collect();
                    let pw = stdin.password("--password-stdin")?;
                    let u = app.add_user(&s, name, role, &obras, &pw).await?;
                    output::done(
                        json,
                        &u,
                        &format!(
                            "Usuario «{}» creado con rol {}.",
                            u.username,
                            u.role.label()
                        ),
                    );
                }
                UsersCommand::List => output::users(json, &app.list_users(&s).await?),
                UsersCommand::Passwd {
                    name,
                    password_stdin,
                } => {
                    if !password_stdin {
                        return Err(Failure::usage("users passwd necesita --password-stdin"));
                    }
                    let pw = stdin.password("--password-stdin")?;
                    app.change_password(&s, name, &pw).await?;
                    output::done(
                        json,
                        &serde_json::json!({"ok": true, "user": name}),
                        &format!("Contraseña de «{name}» cambiada."),
                    );
                }
                UsersCommand::Disable { name } => {
                    app.disable_user(&s, name).await?;
                    output::done(
                        json,
                        &serde_json::json!({"ok": true, "user": name, "disabled": true}),
                        &format!("Usuario «{name}» deshabilitado."),
                    );
                }
            }
        }
        Command::Cesiones { command } => {
            let s = login(app, cli, stdin).await?;
            match command {
                CesionesCommand::Add {
                    documento,
                    seq,
                    cedente_rut,
                    cesionario_rut,
                    cesionario,
                    monto,
                    fecha,
                } => {
                    let c = app
                        .add_cesion(
                            &s,
                            icc_app::CesionRequest {
                                documento: documento.clone(),
                                seq: *seq,
                                cedente_rut: cedente_rut.clone(),
                                cesionario_rut: cesionario_rut.clone(),
                                cesionario_nombre: cesionario.clone(),
                                monto_cedido: icc_app::parse_monto(monto)?,
                                fecha: fecha.clone(),
                            },
                        )
                        .await?;
                    output::done(
                        json,
                        &c,
                        &format!(
                            "Cesión {} de {} a {} registrada{}.",
                            c.seq,
                            c.documento,
                            c.cesionario_nombre,
                            if c.invoice_id.is_none() {
                                " (la factura aún no está en el registro: se asociará cuando llegue)"
                            } else {
                                ""
                            }
                        ),
                    );
                }
                CesionesCommand::List { documento } => {
                    output::cesiones(json, &app.cesiones(&s, documento.as_deref()).await?);
                }
                CesionesCommand::Import { files } => {
                    let r = app.import_cesiones(&s, files).await?;
                    output::cesion_import(json, &r);
                    if r.has_errors() {
                        return Err(Failure {
                            code: 3,
                            message: "hay archivos o líneas de cesiones que no se importaron (vea arriba por qué)".into(),
                        });
                    }
                }
            }
        }
        Command::CuentasBancarias { command } => {
            let s = login(app, cli, stdin).await?;
            cuentas(app, &s, command, json).await?;
        }
        Command::Pagos { command } => {
            let s = login(app, cli, stdin).await?;
            pagos(app, &s, command, json).await?;
        }
        Command::Kame { command } => {
            let s = login(app, cli, stdin).await?;
            kame(app, &s, command, json).await?;
        }
        Command::Obras { command } => {
            let s = login(app, cli, stdin).await?;
            match command {
                ObrasCommand::Add {
                    codigo,
                    nombre,
                    nombre_flag,
                    codigo_flag,
                } => {
                    let Some(code) = codigo_flag.as_ref().or(codigo.as_ref()) else {
                        return Err(Failure::usage(
                            "obras add necesita el código de la obra, por ejemplo: icc obras add OB-2026-017 \"Edificio Los Aromos\"",
                        ));
                    };
                    let nombre = nombre_flag
                        .as_ref()
                        .or(nombre.as_ref())
                        .map_or("", String::as_str);
                    let o = app.add_obra(&s, code, nombre).await?;
                    output::done(
                        json,
                        &o,
                        &format!("Obra {} «{}» creada.", o.codigo, o.nombre),
                    );
                }
                ObrasCommand::List => output::obras(json, &app.list_obras(&s).await?),
            }
        }
    }
    Ok(())
}

/// A `si|no` option's value (`None` when not given).
fn yes_no(flag: &str, v: &Option<String>) -> Result<Option<bool>, Failure> {
    v.as_deref()
        .map(|t| match t.trim().to_lowercase().as_str() {
            "si" | "sí" | "s" | "1" => Ok(true),
            "no" | "n" | "0" => Ok(false),
            other => Err(Failure::usage(format!(
                "{flag}: «{other}» no es válido; use si o no"
            ))),
        })
        .transpose()
}

/// The store filter the flags describe.
fn filter_from(f: &FilterArgs) -> Result<InvoiceFilter, Failure> {
    Ok(ListFilter {
        obra: f.obra.clone(),
        estado: f.estado.clone(),
        proveedor: f.proveedor.clone(),
        desde: f.desde.clone(),
        hasta: f.hasta.clone(),
        vencidas: f.vencidas,
        plazo_por_vencer: f.plazo_por_vencer,
        q: f.q.clone(),
        ids: None,
    }
    .parse()?)
}

fn payment_settings_text(c: &icc_app::PaymentSettings) -> String {
    format!(
        "Regla de 60 días para cedidas de $10.000.000 o más: {}. Límite por transferencia: {}. Agrupar por cuenta: {}.",
        if c.regla_60_dias { "sí" } else { "no" },
        icc_core::Clp::new(c.limite_transferencia),
        if c.agrupar_transferencias {
            "sí"
        } else {
            "no"
        }
    ) + &match (&c.correo.servidor, c.correo.destinatarios.is_empty()) {
        (Some(host), false) => format!(
            " Correo de nóminas: {host}:{} a {}.",
            c.correo.puerto,
            c.correo.destinatarios.join(", ")
        ),
        _ => " Correo de nóminas: sin configurar.".to_owned(),
    }
}

async fn cuentas(
    app: &App,
    s: &Session,
    command: &CuentasCommand,
    json: bool,
) -> Result<(), Failure> {
    match command {
        CuentasCommand::Add {
            rut,
            banco,
            tipo,
            numero,
            titular_rut,
            titular,
            email,
        } => {
            let a = app
                .add_bank_account(
                    s,
                    icc_app::AccountRequest {
                        rut: rut.clone(),
                        banco: banco.clone(),
                        tipo: tipo.clone(),
                        numero: numero.clone(),
                        titular_rut: titular_rut.clone(),
                        titular_nombre: titular.clone(),
                        email: email.clone(),
                    },
                )
                .await?;
            output::done(
                json,
                &a,
                &format!(
                    "Cuenta {} de {} ingresada (ID {}); queda pendiente hasta que otra persona la apruebe.",
                    a.numero, a.rut, a.id
                ),
            );
        }
        CuentasCommand::List { rut, estado } => output::accounts(
            json,
            &app.bank_accounts(s, rut.as_deref(), estado.as_deref())
                .await?,
        ),
        CuentasCommand::Aprobar { id } => {
            let a = app.approve_bank_account(s, id).await?;
            output::done(
                json,
                &a,
                &format!(
                    "Cuenta {} de {} aprobada: desde ahora es la cuenta de pago del proveedor.",
                    a.numero, a.rut
                ),
            );
        }
        CuentasCommand::Bancos => output::banks(json, &app.banks(s).await?),
        CuentasCommand::Importar { archivo } => {
            let r = app.import_bank_accounts(s, archivo).await?;
            if json {
                output::done(true, &r, "");
            } else {
                println!(
                    "{}: {} cuentas creadas (pendientes de aprobación), {} ya estaban, {} filas con errores.",
                    r.archivo,
                    r.creadas,
                    r.repetidas,
                    r.errores.len()
                );
                for e in &r.errores {
                    println!(
                        "  fila {}{}: {}",
                        e.row.map_or_else(|| "—".into(), |r| r.to_string()),
                        e.column
                            .as_deref()
                            .map_or_else(String::new, |c| format!(", {c}")),
                        e.message
                    );
                }
                for a in &r.avisos {
                    println!("  aviso: {a}");
                }
            }
        }
    }
    Ok(())
}

async fn kame(app: &App, s: &Session, command: &KameCommand, json: bool) -> Result<(), Failure> {
    match command {
        KameCommand::Estado => {
            let envios = app.kame_envios(s).await?;
            let settings = app.kame_settings().await?;
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for e in &envios {
                *counts.entry(e.estado.as_str()).or_insert(0) += 1;
            }
            let text = format!(
                "Kame: {} (client_id {}, usuario {}, secreto {}). Envíos: {}.",
                settings.url,
                settings.client_id.as_deref().unwrap_or("sin configurar"),
                settings.usuario.as_deref().unwrap_or("sin configurar"),
                if settings.secreto_guardado {
                    "guardado"
                } else {
                    "sin guardar: `icc credentials set kame`"
                },
                if counts.is_empty() {
                    "ninguno".to_owned()
                } else {
                    counts
                        .iter()
                        .map(|(k, v)| format!("{v} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            output::done(
                json,
                &serde_json::json!({"configuracion": settings, "envios": counts}),
                &text,
            );
        }
        KameCommand::Configurar {
            client_id,
            usuario,
            url,
        } => {
            app.set_kame_settings(s, client_id, usuario, url.as_deref())
                .await?;
            output::done(
                json,
                &app.kame_settings().await?,
                "Configuración de Kame guardada.",
            );
        }
        KameCommand::Fichas => {
            let r = app.kame_pull_fichas(s).await?;
            let text = format!(
                "{} fichas recibidas en {} páginas: {} nuevas, {} actualizadas, {} editadas aquí conservadas{}",
                r.recibidas,
                r.paginas,
                r.guardadas.nuevas,
                r.guardadas.actualizadas,
                r.guardadas.locales_conservadas,
                if r.rechazadas.is_empty() {
                    ".".to_owned()
                } else {
                    format!("; no se pudieron leer:\n  {}", r.rechazadas.join("\n  "))
                }
            );
            output::done(json, &r, &text);
        }
        KameCommand::Concepto { rut, concepto } => {
            app.kame_set_concepto(s, rut, concepto).await?;
            output::done(
                json,
                &serde_json::json!({"rut": rut, "concepto": concepto}),
                &format!("Concepto de {rut}: {concepto}."),
            );
        }
        KameCommand::Ficha {
            rut,
            concepto,
            proveedor,
            honorario,
        } => {
            let edit = icc_app::kame::FichaEdit {
                concepto: concepto.clone(),
                proveedor: yes_no("--proveedor", proveedor)?,
                honorario: yes_no("--honorario", honorario)?,
            };
            if edit.concepto.is_some() || edit.proveedor.is_some() || edit.honorario.is_some() {
                app.kame_edit_ficha(s, rut, &edit).await?;
            }
            let ficha = app.kame_ficha(s, rut).await?;
            let text = match &ficha {
                Some(f) => format!(
                    "{}{}: concepto {}; proveedor {}; honorario {}; {}.",
                    f.rut,
                    f.nombre
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                    f.concepto.as_deref().unwrap_or("(ninguno)"),
                    if f.proveedor { "sí" } else { "no" },
                    if f.honorario { "sí" } else { "no" },
                    if f.origen == "local" {
                        "editada aquí (se conserva al traer las fichas)"
                    } else {
                        "de Kame"
                    },
                ),
                None => format!(
                    "{rut} no tiene ficha: `icc kame fichas` las trae de Kame, o asígnele un concepto con --concepto."
                ),
            };
            output::done(json, &ficha, &text);
        }
        KameCommand::Asignar {
            concepto,
            ids,
            filters,
        } => {
            // one concepto for every supplier is never what is meant
            if ids.is_empty() && filters.is_empty() {
                return Err(Failure::usage(
                    "indique las facturas: --ids, o un filtro de la lista (--proveedor, --desde, --obra, …)",
                ));
            }
            let selection = app.kame_selection(s, ids, filter_from(filters)?).await?;
            let r = app.kame_assign_concepto(s, &selection, concepto).await?;
            let already = if r.sin_cambio > 0 {
                format!("; {} ya lo tenían", r.sin_cambio)
            } else {
                String::new()
            };
            output::done(
                json,
                &r,
                &format!(
                    "Concepto «{}» asignado a {} proveedor(es) de {} factura(s){already}.",
                    r.concepto, r.proveedores, r.facturas
                ),
            );
        }
        KameCommand::Plantilla { command } => match command {
            PlantillaCommand::List => {
                let list = app.kame_plantillas(s).await?;
                let text = if list.is_empty() {
                    "No hay plantillas contables: cree una con `icc kame plantilla set`.".to_owned()
                } else {
                    list.iter()
                        .map(|p| {
                            format!(
                                "{}: neto {}, exento {}, IVA {}, otros {}, proveedores {} ({})",
                                p.concepto,
                                p.cuenta_neto,
                                p.cuenta_exento.as_deref().unwrap_or("= neto"),
                                p.cuenta_iva,
                                p.cuenta_otros.as_deref().unwrap_or("—"),
                                p.cuenta_proveedor,
                                p.tipo.as_str()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                output::done(json, &list, &text);
            }
            PlantillaCommand::Set {
                concepto,
                neto,
                exento,
                iva,
                otros,
                proveedor,
                tipo,
                misma_cuenta,
            } => {
                let p = icc_core::kame::Plantilla {
                    concepto: concepto.clone(),
                    cuenta_neto: neto.clone(),
                    cuenta_exento: exento.clone(),
                    cuenta_iva: iva.clone(),
                    cuenta_otros: otros.clone(),
                    cuenta_proveedor: proveedor.clone(),
                    tipo: tipo
                        .parse()
                        .map_err(|e: String| Failure::usage(format!("--tipo: {e}")))?,
                    misma_cuenta: *misma_cuenta,
                };
                app.kame_set_plantilla(s, &p).await?;
                output::done(json, &p, &format!("Plantilla «{concepto}» guardada."));
            }
        },
        KameCommand::ImportarAnterior { iva, proveedor } => {
            let r = app.kame_import_legacy(s, iva, proveedor).await?;
            let text = format!(
                "De la aplicación anterior: {} plantillas nuevas ({} conceptos ya tenían una), {} unidades de negocio, {} facturas ya subidas a Kame marcadas como contabilizadas ({} subidas sin su factura aquí){}",
                r.plantillas_nuevas,
                r.plantillas_existentes,
                r.unidades,
                r.contabilizadas_antes,
                r.subidas_sin_factura,
                if r.omitidas.is_empty() {
                    ".".to_owned()
                } else {
                    format!("; omitidas:\n  {}", r.omitidas.join("\n  "))
                }
            );
            output::done(json, &r, &text);
        }
        KameCommand::Unidad { centro, unidad } => {
            let u = app.kame_set_unidad(s, centro, unidad).await?;
            let text = format!("Centro {}: unidad de negocio {}.", u.centro, u.unidad);
            output::done(json, &u, &text);
        }
        KameCommand::Post { ids, filters } => {
            let selection = app.kame_selection(s, ids, filter_from(filters)?).await?;
            let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = cancel.clone();
            // Ctrl+C stops before the next invoice; every voucher sent is recorded
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
            let mut last = std::time::Instant::now();
            let report = app
                .kame_post(s, &selection, &cancel, &mut |p| {
                    if last.elapsed() >= std::time::Duration::from_secs(1) {
                        last = std::time::Instant::now();
                        eprintln!("contabilizando: {} de {}", p.hechas, p.total);
                    }
                })
                .await?;
            output::kame_post(json, &report);
            // pending first: they need another run, which scripts can act on
            if report.pendientes > 0 {
                return Err(Failure {
                    code: 1,
                    message: format!(
                        "{} factura(s) quedaron pendientes; vuelva a ejecutar `icc kame post` (nada se contabiliza dos veces)",
                        report.pendientes
                    ),
                });
            }
            if report.rechazadas > 0 {
                return Err(Failure {
                    code: 3,
                    message: format!(
                        "{} factura(s) no se contabilizaron (ver el motivo de cada una)",
                        report.rechazadas
                    ),
                });
            }
        }
    }
    Ok(())
}

async fn pagos(app: &App, s: &Session, command: &PagosCommand, json: bool) -> Result<(), Failure> {
    match command {
        PagosCommand::Registrar {
            factura,
            monto,
            fecha,
            medio,
            referencia,
        } => {
            let req = icc_app::PaymentRequest {
                monto: icc_app::parse_monto(monto)?,
                fecha: fecha
                    .as_deref()
                    .map(|f| icc_core::parse_date("fecha", f))
                    .transpose()?,
                medio: medio.as_deref().map(str::parse).transpose()?,
                referencia: referencia.clone(),
            };
            let r = app.record_payment(s, factura, req).await?;
            output::done(
                json,
                &r,
                &format!(
                    "Pago de {} registrado para {}; estado: {}; saldo: {}.",
                    icc_core::Clp::new(r.pago.monto),
                    r.factura,
                    r.estado.replace('_', " "),
                    r.saldo.saldo
                ),
            );
        }
        PagosCommand::Saldo { factura } => {
            output::payments(json, &app.invoice_payments(s, factura).await?);
        }
        PagosCommand::Tasa { mes, tasa } => {
            let r = app.set_interest_rate(s, mes, tasa).await?;
            output::done(
                json,
                &r,
                &format!(
                    "Tasa de {:02}-{} fijada en {},{:02} % anual.",
                    r.month,
                    r.year,
                    r.annual_bp / 100,
                    r.annual_bp % 100
                ),
            );
        }
        PagosCommand::Tasas => output::rates(json, &app.interest_rates(s).await?),
        PagosCommand::Configuracion => {
            let c = app.payment_settings(s).await?;
            output::done(json, &c, &payment_settings_text(&c));
        }
        PagosCommand::Configurar {
            regla_60_dias,
            limite,
            agrupar,
            correo_servidor,
            correo_puerto,
            correo_usuario,
            correo_remitente,
            correo_destinatarios,
            correo_ca,
            rut_empresa,
        } => {
            if let Some(r) = rut_empresa {
                app.set_company_rut(s, r).await?;
            }
            let mail = icc_app::MailSettingsChange {
                servidor: correo_servidor.clone(),
                puerto: *correo_puerto,
                usuario: correo_usuario.clone(),
                remitente: correo_remitente.clone(),
                destinatarios: correo_destinatarios.clone(),
                ca: correo_ca.clone(),
            };
            let mail_given = [
                &mail.servidor,
                &mail.usuario,
                &mail.remitente,
                &mail.destinatarios,
                &mail.ca,
            ]
            .iter()
            .any(|v| v.is_some())
                || mail.puerto.is_some();
            if mail_given {
                app.set_mail_settings(s, mail).await?;
            }
            let c = app
                .set_payment_settings(
                    s,
                    yes_no("--regla-60-dias", regla_60_dias)?,
                    limite.as_deref().map(icc_app::parse_monto).transpose()?,
                    yes_no("--agrupar", agrupar)?,
                )
                .await?;
            output::done(json, &c, &payment_settings_text(&c));
        }
        PagosCommand::Nueva { corte } => {
            let corte = corte
                .as_deref()
                .map(|c| icc_core::parse_date("corte", c))
                .transpose()?;
            output::run(json, &app.create_run(s, corte).await?);
        }
        PagosCommand::Lista => output::runs(json, &app.runs(s).await?),
        PagosCommand::Ver { id } => output::run(json, &app.run(s, id).await?),
        PagosCommand::Excluir { id, factura } => {
            output::run(
                json,
                &app.set_run_line(s, id, factura, Some(false), None).await?,
            );
        }
        PagosCommand::Incluir { id, factura } => {
            output::run(
                json,
                &app.set_run_line(s, id, factura, Some(true), None).await?,
            );
        }
        PagosCommand::Parcial { id, factura, monto } => {
            let monto = icc_app::parse_monto(monto)?;
            output::run(
                json,
                &app.set_run_line(s, id, factura, None, Some(monto)).await?,
            );
        }
        PagosCommand::Aprobar { id } => output::run(json, &app.approve_run(s, id).await?),
        PagosCommand::ArchivoBanco { id, out } => {
            let r = app.bank_file(s, id, out).await?;
            output::done(
                json,
                &r,
                &format!(
                    "Archivo {} ({}) escrito: {} transferencias por {}. SHA-256 {}.",
                    r.archivo,
                    r.formato,
                    r.transferencias,
                    icc_core::Clp::new(r.total),
                    r.sha256
                ),
            );
        }
        PagosCommand::Informe { id, out } => {
            let archivo = app.run_report(s, id, out).await?;
            output::done(
                json,
                &serde_json::json!({ "archivo": archivo }),
                &format!("Informe de la nómina guardado en {archivo}."),
            );
        }
        PagosCommand::MarcarEnviada { id } => output::run(json, &app.mark_run_sent(s, id).await?),
        PagosCommand::EnviarCorreo { id } => {
            let r = app.email_run(s, id).await?;
            output::done(
                json,
                &r,
                &format!(
                    "Nómina N° {} enviada a {} con {} adjunta.",
                    r.numero,
                    r.destinatarios.join(", "),
                    r.adjunto
                ),
            );
        }
        PagosCommand::MarcarPagada { id, fecha } => {
            let fecha = fecha
                .as_deref()
                .map(|f| icc_core::parse_date("fecha", f))
                .transpose()?;
            output::run(json, &app.mark_run_paid(s, id, fecha).await?);
        }
    }
    Ok(())
}

async fn invoices(
    app: &App,
    s: &Session,
    command: &InvoicesCommand,
    json: bool,
) -> Result<(), Failure> {
    match command {
        InvoicesCommand::List {
            filters,
            limit,
            cursor,
        } => {
            if *limit == 0 || *limit > 1000 {
                return Err(Failure::usage(format!(
                    "--limit: el valor «{limit}» no es válido: use entre 1 y 1000"
                )));
            }
            let filter = filter_from(filters)?;
            let page = app
                .list_invoices(s, filter, *limit, cursor.as_deref())
                .await?;
            output::page(json, &page);
        }
        InvoicesCommand::Show { id } => output::invoice(json, &app.show_invoice(s, id).await?),
        InvoicesCommand::History { id } => {
            output::history(json, &app.invoice_history(s, id).await?)
        }
        InvoicesCommand::Set {
            id,
            obra,
            centro_costo,
            cuenta,
            glosa,
        } => {
            let change = AssignmentChange {
                obra: opt_field(obra),
                centro_costo: opt_field(centro_costo),
                cuenta: opt_field(cuenta),
                glosa: opt_field(glosa),
            };
            if change == AssignmentChange::default() {
                return Err(Failure::usage(
                    "indique al menos un campo: --obra, --centro-costo, --cuenta o --glosa (un valor vacío lo borra)",
                ));
            }
            output::invoice(json, &app.set_invoice_fields(s, id, change).await?);
        }
        InvoicesCommand::Estado { id, estado, motivo } => {
            let to: InvoiceStatus = estado.parse()?;
            output::invoice(
                json,
                &app.set_invoice_status(s, id, to, motivo.as_deref()).await?,
            );
        }
    }
    Ok(())
}

//! The ICC Facturas desktop shell: a Tauri window whose commands call icc-app.
//!
//! [`desktop::Desktop`] holds the application and the session; [`commands`] are the Tauri
//! commands, a few lines each over it. The UI (`ui/`, embedded from `ui/dist`) calls them
//! through `ui/src/api.ts` only, and receives `{code, message}` errors.

pub mod commands;
pub mod desktop;
pub mod error;
pub mod kame;
pub mod pagos;
pub mod presupuesto;
pub mod updates;

use std::time::Duration;

use tauri::Manager;

pub use desktop::Desktop;
pub use error::UiError;

/// The data folder: `ICC_DATA_DIR` when set (tests, IT), else the OS's per-user folder.
fn data_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("ICC_DATA_DIR")
        .map(std::path::PathBuf::from)
        .or_else(icc_app::App::default_data_dir)
}

/// Minutes of inactivity before the lock: `ICC_LOCK_MINUTES` when IT set it (then it is
/// fixed), else the administrators' setting, else the default.
fn lock_after() -> (Duration, bool) {
    let fixed = std::env::var("ICC_LOCK_MINUTES")
        .ok()
        .and_then(|m| m.parse::<u64>().ok())
        .filter(|m| icc_app::LOCK_MINUTES_RANGE.contains(m));
    let minutes = fixed.unwrap_or(desktop::DEFAULT_LOCK_MINUTES);
    (Duration::from_secs(minutes * 60), fixed.is_some())
}

/// How long after the start the daily backup (when due) begins.
const START_BACKUP_DELAY: Duration = Duration::from_secs(45);

/// Runs the app until its window closes.
pub fn run() {
    let Some(dir) = data_dir() else {
        eprintln!("error: no se encontró la carpeta de datos del usuario; defina ICC_DATA_DIR");
        std::process::exit(1);
    };
    let explicit = std::env::var_os("ICC_DATA_DIR").map(std::path::PathBuf::from);
    let _log = icc_app::logging::init(
        icc_app::logging::log_dir(explicit.as_deref()).as_deref(),
        icc_app::logging::Program::Desktop,
    );
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(updates::Pending::default())
        .setup(move |app| {
            let (lock, fixed) = lock_after();
            let desktop = match tauri::async_runtime::block_on(Desktop::open(&dir, lock, fixed)) {
                Ok(d) => d,
                Err(e) => {
                    // the data cannot be opened (an encrypted folder whose key is not in this
                    // keyring, a damaged file): say so in a window, not only in a log, and end
                    use tauri_plugin_dialog::{DialogExt, MessageDialogKind};
                    tracing::error!(code = %e.code, "the data folder cannot be opened");
                    let handle = app.handle().clone();
                    app.dialog()
                        .message(e.message)
                        .title("ICC Facturas no puede abrir sus datos")
                        .kind(MessageDialogKind::Error)
                        .show(move |_| handle.exit(1));
                    return Ok(());
                }
            };
            // The daily backup, in the background and a little after the start: copying the
            // database competes for the disk and the CPU with opening the window, signing in
            // and reading the first page.
            let app_for_backup = desktop.app().clone();
            tauri::async_runtime::spawn(async move {
                tokio::time::sleep(START_BACKUP_DELAY).await;
                match app_for_backup.backup_if_due().await {
                    Ok(Some(b)) => tracing::info!(backup = %b.id, "backup at start"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "the backup at start failed"),
                }
            });
            app.manage(desktop);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::init_admin,
            commands::recovery_key,
            commands::login,
            commands::lock,
            commands::unlock,
            commands::logout,
            commands::list_invoices,
            commands::show_invoice,
            commands::record_payment,
            pagos::payment_cutoff,
            pagos::list_runs,
            pagos::show_run,
            pagos::create_run,
            pagos::set_run_line,
            pagos::approve_run,
            pagos::run_bank_file,
            pagos::run_report,
            pagos::mark_run_sent,
            pagos::email_run,
            pagos::list_cesiones,
            pagos::import_cesiones,
            pagos::mark_run_paid,
            pagos::list_bank_accounts,
            pagos::add_bank_account,
            pagos::approve_bank_account,
            pagos::list_banks,
            presupuesto::budget_families,
            presupuesto::budget_catalog,
            presupuesto::budget_catalog_save,
            presupuesto::budget_catalog_seed,
            presupuesto::obra_budget,
            presupuesto::obra_budget_set_period,
            presupuesto::obra_budget_add_line,
            presupuesto::obra_budget_modify,
            presupuesto::obra_budget_set_weeks,
            presupuesto::obra_budget_export,
            presupuesto::treasury,
            presupuesto::treasury_bank_save,
            presupuesto::treasury_row_save,
            presupuesto::treasury_delete,
            presupuesto::loan_create,
            presupuesto::loan_update,
            presupuesto::loan_pay_next,
            presupuesto::treasury_export,
            kame::kame_settings,
            kame::set_kame_settings,
            kame::kame_pull_fichas,
            kame::kame_plantillas,
            kame::kame_set_plantilla,
            kame::kame_envios,
            kame::kame_set_concepto,
            kame::kame_ficha,
            kame::kame_edit_ficha,
            kame::kame_assign_concepto,
            kame::kame_unidades,
            kame::kame_set_unidad,
            kame::kame_post,
            commands::invoice_history,
            commands::set_status,
            commands::assign,
            commands::import_files,
            commands::export_report,
            commands::cancel_job,
            commands::mapping_profiles,
            commands::list_obras,
            commands::add_obra,
            commands::create_obras,
            commands::list_users,
            commands::add_user,
            commands::disable_user,
            commands::add_attachment,
            commands::open_attachment,
            commands::read_attachment,
            commands::suppliers,
            commands::dashboard,
            commands::doctor,
            commands::set_lock_minutes,
            commands::update_obra,
            commands::update_user,
            commands::list_backups,
            commands::create_backup,
            commands::credentials,
            commands::set_credential,
            commands::delete_credential,
            commands::iconstruye_settings,
            commands::set_iconstruye_url,
            commands::iconstruye_pull,
            commands::sync_status,
            commands::login_server,
            commands::sync_now,
            commands::conflicts,
            commands::resolve_conflict,
            commands::refused_changes,
            commands::discard_refused,
            commands::removed_invoices,
            commands::logout_server,
            commands::backup_dir,
            commands::set_backup_dir,
            commands::update_source,
            commands::update_check,
            commands::update_install,
        ])
        .build(tauri::generate_context!())
        .map(|app| {
            app.run(|handle, event| {
                if let tauri::RunEvent::Exit = event {
                    close_store(handle);
                }
            });
        });
    if let Err(e) = result {
        tracing::error!(error = %e, "the desktop app stopped");
        eprintln!("error: la aplicación se detuvo: {e}");
        std::process::exit(1);
    }
}

/// How long quitting waits for work still holding the database (a sync, a backup) before
/// the process ends anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Closes the database before the process ends: the store's connections finish their work
/// and close, so no thread is inside SQLCipher when its exit handler frees its state
/// (`icc-store/src/closing.rs`).
fn close_store(handle: &tauri::AppHandle) {
    let Some(desktop) = handle.try_state::<Desktop>() else {
        return;
    };
    let app = desktop.app().clone();
    let closed = tauri::async_runtime::block_on(async move {
        tokio::time::timeout(CLOSE_WAIT, app.close()).await
    });
    if closed.is_err() {
        tracing::warn!("the database was still in use when the app quit");
    }
}

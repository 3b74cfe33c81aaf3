//! Tauri commands: each unwraps its arguments and calls one [`Desktop`] method.

use icc_app::{
    Attachment, AuditEntry, BackupInfo, CredentialStatus, Dashboard, DoctorReport, ExportReport,
    IconstruyeSettings, ImportReport, InvoiceView, LinkReport, ListFilter, LocalConflict, Obra,
    Page, PullReport, SupplierRow, SyncReport, SyncStatus, User,
};
use icc_core::Secret;
use tauri::{AppHandle, Emitter, State};

use crate::desktop::{
    Assignment, AttachmentContent, BulkResult, Desktop, ExportRequest, ImportRequest, JobProgress,
    SessionInfo, Status,
};
use crate::error::UiError;
use crate::updates::{self, UpdateOffer, UpdateSource};

type R<T> = Result<T, UiError>;

pub(crate) fn emitter(app: AppHandle) -> impl Fn(JobProgress) + Send + Sync {
    move |p: JobProgress| {
        if let Err(e) = app.emit("job-progress", p) {
            tracing::warn!(error = %e, "progress event not delivered");
        }
    }
}

/// Whether the app is initialised, who is signed in, whether the session is locked.
#[tauri::command]
pub async fn status(d: State<'_, Desktop>) -> R<Status> {
    d.status().await
}

/// Creates the first administrator (first run) and signs them in.
#[tauri::command]
pub async fn init_admin(
    d: State<'_, Desktop>,
    username: String,
    password: Secret,
) -> R<SessionInfo> {
    d.init_admin(&username, &password).await
}

/// The recovery key of the data folder, to print (administrators; `null` when the folder
/// is not encrypted).
#[tauri::command]
pub fn recovery_key(d: State<'_, Desktop>) -> R<Option<String>> {
    d.recovery_key()
}

/// Signs in.
#[tauri::command]
pub async fn login(d: State<'_, Desktop>, username: String, password: Secret) -> R<SessionInfo> {
    d.login(&username, &password).await
}

/// Locks the session now.
#[tauri::command]
pub fn lock(d: State<'_, Desktop>) {
    d.lock();
}

/// Unlocks with the signed-in user's password.
#[tauri::command]
pub async fn unlock(d: State<'_, Desktop>, password: Secret) -> R<SessionInfo> {
    d.unlock(&password).await
}

/// Signs out.
#[tauri::command]
pub fn logout(d: State<'_, Desktop>) {
    d.logout();
}

/// A page of the invoice list.
#[tauri::command]
pub async fn list_invoices(
    d: State<'_, Desktop>,
    filter: ListFilter,
    limit: u32,
    cursor: Option<String>,
) -> R<Page> {
    d.list_invoices(&filter, limit, cursor.as_deref()).await
}

/// One invoice with its derived deadlines.
#[tauri::command]
pub async fn show_invoice(d: State<'_, Desktop>, reference: String) -> R<InvoiceView> {
    d.show_invoice(&reference).await
}

/// Records a payment of an invoice; returns the invoice as it is now.
#[tauri::command]
pub async fn record_payment(
    d: State<'_, Desktop>,
    reference: String,
    monto: String,
    fecha: Option<String>,
    medio: Option<String>,
    referencia: Option<String>,
) -> R<InvoiceView> {
    d.record_payment(
        &reference,
        &monto,
        fecha.as_deref(),
        medio.as_deref(),
        referencia.as_deref(),
    )
    .await
}

/// An invoice's audit trail.
#[tauri::command]
pub async fn invoice_history(d: State<'_, Desktop>, reference: String) -> R<Vec<AuditEntry>> {
    d.invoice_history(&reference).await
}

/// Changes the status of several invoices.
#[tauri::command]
pub async fn set_status(
    d: State<'_, Desktop>,
    references: Vec<String>,
    estado: String,
    motivo: Option<String>,
) -> R<BulkResult> {
    d.set_status(&references, &estado, motivo.as_deref()).await
}

/// Assigns obra, centro de costo, cuenta or glosa on several invoices.
#[tauri::command]
pub async fn assign(
    d: State<'_, Desktop>,
    references: Vec<String>,
    assignment: Assignment,
) -> R<BulkResult> {
    d.assign(&references, &assignment).await
}

/// Previews or imports files, with `job-progress` events.
#[tauri::command]
pub async fn import_files(
    app: AppHandle,
    d: State<'_, Desktop>,
    job: String,
    request: ImportRequest,
) -> R<ImportReport> {
    d.import(&job, &request, &emitter(app)).await
}

/// Writes a report, with `job-progress` events.
#[tauri::command]
pub async fn export_report(
    app: AppHandle,
    d: State<'_, Desktop>,
    job: String,
    request: ExportRequest,
) -> R<ExportReport> {
    d.export(&job, &request, &emitter(app)).await
}

/// Names of the saved column mappings.
#[tauri::command]
pub async fn mapping_profiles(d: State<'_, Desktop>) -> R<Vec<String>> {
    d.mapping_profiles().await
}

/// Asks a running import or export to stop.
#[tauri::command]
pub fn cancel_job(d: State<'_, Desktop>, job: String) {
    d.cancel_job(&job);
}

/// The obras the user may see.
#[tauri::command]
pub async fn list_obras(d: State<'_, Desktop>) -> R<Vec<Obra>> {
    d.list_obras().await
}

/// Creates an obra.
#[tauri::command]
pub async fn add_obra(d: State<'_, Desktop>, codigo: String, nombre: String) -> R<Obra> {
    d.add_obra(&codigo, &nombre).await
}

/// Creates the obras an import names and that do not exist (the import's «Crear obras»);
/// returns the codes created.
#[tauri::command]
pub async fn create_obras(d: State<'_, Desktop>, codes: Vec<String>) -> R<Vec<String>> {
    let s = d.session()?;
    Ok(d.app.create_obras(&s, &codes).await?)
}

/// Every user (administrators).
#[tauri::command]
pub async fn list_users(d: State<'_, Desktop>) -> R<Vec<User>> {
    d.list_users().await
}

/// Creates a user.
#[tauri::command]
pub async fn add_user(
    d: State<'_, Desktop>,
    username: String,
    role: String,
    obras: Vec<String>,
    password: Secret,
) -> R<()> {
    d.add_user(&username, &role, &obras, &password).await
}

/// Disables a user.
#[tauri::command]
pub async fn disable_user(d: State<'_, Desktop>, username: String) -> R<()> {
    d.disable_user(&username).await
}

/// Attaches a PDF or XML to an invoice.
#[tauri::command]
pub async fn add_attachment(
    d: State<'_, Desktop>,
    reference: String,
    path: String,
) -> R<Vec<Attachment>> {
    d.add_attachment(&reference, &path).await
}

/// Opens an attachment with the system's viewer.
#[tauri::command]
pub async fn open_attachment(app: AppHandle, d: State<'_, Desktop>, id: i64) -> R<()> {
    use tauri_plugin_opener::OpenerExt;
    let path = d.attachment_file(id).await?;
    app.opener()
        .open_path(path.display().to_string(), None::<&str>)
        .map_err(|e| UiError::new("io", &format!("no se pudo abrir el adjunto: {e}")))
}

/// An attachment's bytes, shown inside the app.
#[tauri::command]
pub async fn read_attachment(d: State<'_, Desktop>, id: i64) -> R<AttachmentContent> {
    d.read_attachment(id).await
}

/// Suppliers with documents the user may see.
#[tauri::command]
pub async fn suppliers(d: State<'_, Desktop>) -> R<Vec<SupplierRow>> {
    d.suppliers().await
}

/// The panel's figures.
#[tauri::command]
pub async fn dashboard(d: State<'_, Desktop>) -> R<Dashboard> {
    d.dashboard().await
}

/// The installation checks.
#[tauri::command]
pub async fn doctor(d: State<'_, Desktop>) -> R<DoctorReport> {
    d.doctor().await
}

/// Sets the inactivity lock (administrators).
#[tauri::command]
pub async fn set_lock_minutes(d: State<'_, Desktop>, minutes: u64) -> R<()> {
    d.set_lock_minutes(minutes).await
}

/// Renames or (de)activates an obra.
#[tauri::command]
pub async fn update_obra(
    d: State<'_, Desktop>,
    codigo: String,
    nombre: String,
    activa: bool,
) -> R<Obra> {
    d.update_obra(&codigo, &nombre, activa).await
}

/// Changes a user's role, obras or whether the account is enabled.
#[tauri::command]
pub async fn update_user(
    d: State<'_, Desktop>,
    username: String,
    role: String,
    obras: Vec<String>,
    disabled: bool,
) -> R<User> {
    d.update_user(&username, &role, &obras, disabled).await
}

/// The local backups, newest first.
#[tauri::command]
pub async fn list_backups(d: State<'_, Desktop>) -> R<Vec<BackupInfo>> {
    d.list_backups().await
}

/// Takes a backup now.
#[tauri::command]
pub async fn create_backup(d: State<'_, Desktop>) -> R<BackupInfo> {
    d.create_backup().await
}

/// Which credentials are stored in the OS keyring (never their values).
#[tauri::command]
pub async fn credentials(d: State<'_, Desktop>) -> R<Vec<CredentialStatus>> {
    d.credentials().await
}

/// Stores a credential in the OS keyring.
#[tauri::command]
pub async fn set_credential(d: State<'_, Desktop>, name: String, secret: Secret) -> R<()> {
    d.set_credential(&name, &secret).await
}

/// Deletes a stored credential.
#[tauri::command]
pub async fn delete_credential(d: State<'_, Desktop>, name: String) -> R<bool> {
    d.delete_credential(&name).await
}

/// The iConstruye address and the last completed window.
#[tauri::command]
pub async fn iconstruye_settings(d: State<'_, Desktop>) -> R<IconstruyeSettings> {
    d.iconstruye_settings().await
}

/// Stores the iConstruye address.
#[tauri::command]
pub async fn set_iconstruye_url(d: State<'_, Desktop>, url: String) -> R<()> {
    d.set_iconstruye_url(&url).await
}

/// Pulls from iConstruye, with `job-progress` events.
#[tauri::command]
pub async fn iconstruye_pull(
    app: AppHandle,
    d: State<'_, Desktop>,
    job: String,
    desde: Option<String>,
    hasta: Option<String>,
) -> R<PullReport> {
    d.iconstruye_pull(&job, desde.as_deref(), hasta.as_deref(), &emitter(app))
        .await
}

/// The sync status line.
#[tauri::command]
pub async fn sync_status(d: State<'_, Desktop>) -> R<SyncStatus> {
    d.sync_status().await
}

/// Links this computer to the central server.
#[tauri::command]
pub async fn login_server(
    d: State<'_, Desktop>,
    url: String,
    server_user: String,
    password: Secret,
) -> R<LinkReport> {
    d.login_server(&url, &server_user, &password).await
}

/// Syncs now.
#[tauri::command]
pub async fn sync_now(d: State<'_, Desktop>) -> R<SyncReport> {
    d.sync_now().await
}

/// The conflicts this user may see.
#[tauri::command]
pub async fn conflicts(d: State<'_, Desktop>) -> R<Vec<LocalConflict>> {
    d.conflicts().await
}

/// Resolves a conflict.
#[tauri::command]
pub async fn resolve_conflict(d: State<'_, Desktop>, id: i64, keep: String) -> R<Option<String>> {
    d.resolve_conflict(id, &keep).await
}

/// Changes the server refused, waiting for «descartar».
#[tauri::command]
pub async fn refused_changes(d: State<'_, Desktop>) -> R<Vec<icc_app::RefusedChange>> {
    d.refused_changes().await
}

/// Discards a refused change; the server's value comes back here.
#[tauri::command]
pub async fn discard_refused(d: State<'_, Desktop>, op_id: String) -> R<icc_app::RefusedChange> {
    d.discard_refused(&op_id).await
}

/// Invoices removed from this computer because they left the account's obras.
#[tauri::command]
pub async fn removed_invoices(d: State<'_, Desktop>) -> R<Vec<icc_app::RemovedInvoice>> {
    d.removed_invoices().await
}

/// Ends the session with the server.
#[tauri::command]
pub async fn logout_server(d: State<'_, Desktop>) -> R<()> {
    d.logout_server().await
}

/// The folder backups go to.
#[tauri::command]
pub async fn backup_dir(d: State<'_, Desktop>) -> R<String> {
    d.backup_dir().await
}

/// Moves the next backups to another folder.
#[tauri::command]
pub async fn set_backup_dir(d: State<'_, Desktop>, path: String) -> R<String> {
    d.set_backup_dir(&path).await
}

fn update_endpoints(app: &AppHandle) -> R<(Vec<tauri::Url>, UpdateSource)> {
    let configured: Vec<tauri::Url> = app
        .config()
        .plugins
        .0
        .get("updater")
        .and_then(|u| u.get("endpoints"))
        .and_then(|e| e.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str())
                .filter_map(|s| tauri::Url::parse(s).ok())
                .collect()
        })
        .unwrap_or_default();
    updates::source(&configured)
}

/// Where this machine looks for updates (IT may set it per machine).
#[tauri::command]
pub fn update_source(app: AppHandle) -> R<UpdateSource> {
    Ok(update_endpoints(&app)?.1)
}

/// Looks for a newer signed version; `null` when this one is current.
#[tauri::command]
pub async fn update_check(
    app: AppHandle,
    pending: State<'_, updates::Pending>,
) -> R<Option<UpdateOffer>> {
    let (endpoints, _) = update_endpoints(&app)?;
    let found = updates::check(&app, endpoints, None).await?;
    let (update, offer) = found.unzip();
    *pending.slot()? = update;
    Ok(offer)
}

/// Downloads the update found by `update_check` (progress in `update-progress` events),
/// verifies its signature, installs it and restarts. Needs a signed-in user.
#[tauri::command]
pub async fn update_install(
    app: AppHandle,
    d: State<'_, Desktop>,
    pending: State<'_, updates::Pending>,
) -> R<()> {
    let s = d.session()?;
    let update = pending.slot()?.clone().ok_or_else(|| {
        UiError::new(
            "invalid",
            "no hay una actualización pendiente; búsquela primero",
        )
    })?;
    tracing::info!(user = %s.username, version = %update.version, "installing update");
    let progress_app = app.clone();
    let bytes = updates::download(&update, move |done, total| {
        let _ = progress_app.emit(
            "update-progress",
            serde_json::json!({"downloaded": done, "total": total}),
        );
    })
    .await?;
    updates::install(&update, &bytes)?;
    tracing::info!(version = %update.version, "update installed; restarting");
    app.restart()
}

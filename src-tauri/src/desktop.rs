//! The desktop's state: the application, who is signed in, and the inactivity lock.
//!
//! Every method here is what one Tauri command does; the commands only unwrap Tauri's
//! arguments and call these, so tests call them directly. Permissions are decided by
//! icc-app; the lock is decided here, in Rust: a locked or idle session refuses every
//! command until the same user's password is given again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use icc_app::{
    App, AppError, Attachment, AuditEntry, BackupInfo, CredentialStatus, Dashboard, DoctorReport,
    ExportOptions, ExportProgress, ExportReport, IconstruyeSettings, ImportOptions, ImportProgress,
    ImportReport, InvoiceView, Keep, LinkReport, ListFilter, LocalConflict, MappingSpec, Obra,
    OnDuplicate, Page, Permission, PullProgress, PullReport, RefusedChange, RemovedInvoice,
    Session, SupplierRow, SyncReport, SyncStatus, User,
};
use icc_core::{InvoiceStatus, Role, Secret};
use serde::{Deserialize, Serialize};

use crate::error::UiError;

/// Minutes of inactivity after which the session locks, unless configured.
pub const DEFAULT_LOCK_MINUTES: u64 = 10;

/// Largest attachment shown inside the app.
pub const MAX_VIEW_BYTES: u64 = 40_000_000;

/// An attachment to show: its kind and bytes.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AttachmentContent {
    /// `pdf`, `xml` or `otro`, from the file's first bytes (not its name).
    pub kind: String,
    /// The file, base64.
    pub data_base64: String,
}

/// What a file is, from its first bytes.
pub fn attachment_kind(bytes: &[u8]) -> &'static str {
    let start = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(bytes)
        .trim_ascii_start();
    if bytes.starts_with(b"%PDF-") {
        "pdf"
    } else if start.starts_with(b"<") {
        "xml"
    } else {
        "otro"
    }
}

/// Who is signed in, as the UI shows it. The permissions only decide which buttons are
/// shown; every command checks again in icc-app.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SessionInfo {
    /// Login name.
    pub username: String,
    /// Role code.
    pub role: Role,
    /// Role name in Spanish.
    pub role_label: String,
    /// Assigned obras (site managers).
    pub obras: Vec<String>,
    /// What the role may do: `import`, `export`, `assign`, `approve`, `manage_users`, ...
    pub permissions: Vec<String>,
    /// The server account whose role and obras apply, on a laptop linked to a server.
    pub account: Option<String>,
}

/// What the first screen needs to know.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Status {
    /// An administrator exists.
    pub initialized: bool,
    /// The signed-in user, if any.
    pub session: Option<SessionInfo>,
    /// The session is locked (the user must type their password again).
    pub locked: bool,
    /// Minutes of inactivity before locking.
    pub lock_minutes: u64,
    /// The data folder.
    pub data_dir: String,
    /// Application version.
    pub version: String,
}

/// The outcome of an action on several invoices: which worked, which did not and why.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct BulkResult {
    /// References changed.
    pub ok: Vec<String>,
    /// References refused, with the reason.
    pub failed: Vec<BulkFailure>,
}

/// One refused reference of a bulk action.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct BulkFailure {
    /// The invoice.
    pub reference: String,
    /// Error code.
    pub code: String,
    /// Spanish message.
    pub message: String,
}

/// Fields to assign on several invoices; absent = unchanged, empty = cleared.
#[derive(Debug, Clone, Default, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct Assignment {
    /// Obra code.
    pub obra: Option<String>,
    /// Centro de costo.
    pub centro_costo: Option<String>,
    /// Cuenta contable.
    pub cuenta: Option<String>,
    /// Glosa.
    pub glosa: Option<String>,
}

/// An import as the import screen asks for it.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ImportRequest {
    /// Files chosen or dropped.
    pub paths: Vec<String>,
    /// Only preview.
    pub dry_run: bool,
    /// Update documents that already exist instead of skipping them.
    pub update_duplicates: bool,
    /// Sheet to read.
    pub sheet: Option<String>,
    /// Column mapping for generic sheets: field → header text or column letter.
    pub mapping: Option<MappingSpec>,
    /// Use a saved mapping instead.
    pub profile: Option<String>,
    /// Save `mapping` under this name first.
    pub save_profile: Option<String>,
    /// Give invoices stored without obra the obra their row names, creating missing obras
    /// (see `ImportOptions::crear_obras`).
    #[serde(default)]
    #[ts(optional)]
    pub crear_obras: Option<bool>,
}

/// An export as the export screen asks for it.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ExportRequest {
    /// `facturas`, `libro-compras`, `vencimientos` or `por-obra`.
    pub report: String,
    /// Destination file (`.csv` writes CSV).
    pub out: String,
    /// Month of the libro de compras, `AAAA-MM`.
    pub mes: Option<String>,
    /// The list's filters.
    pub filter: ListFilter,
}

/// Progress of a long job, sent to the UI as the `job-progress` event.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct JobProgress {
    /// The id the UI gave the job.
    pub job: String,
    /// What is happening, in Spanish.
    pub phase: String,
    /// Units done.
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
}

struct Signed {
    session: Session,
    locked: bool,
    last_activity: Instant,
}

/// The state behind every command.
pub struct Desktop {
    pub(crate) app: App,
    signed: Mutex<Option<Signed>>,
    lock_after: Mutex<Duration>,
    jobs: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

fn info(s: &Session) -> SessionInfo {
    let perms = [
        (Permission::ManageUsers, "manage_users"),
        (Permission::ManageObras, "manage_obras"),
        (Permission::Import, "import"),
        (Permission::Export, "export"),
        (Permission::Assign, "assign"),
        (Permission::Review, "review"),
        (Permission::Approve, "approve"),
        (Permission::Pay, "pay"),
        (Permission::Void, "void"),
        (Permission::PaymentSettings, "payment_settings"),
        (Permission::EnterBankAccounts, "enter_bank_accounts"),
        (Permission::ApproveBankAccounts, "approve_bank_accounts"),
        (Permission::PrepareRuns, "prepare_runs"),
        (Permission::ApproveRuns, "approve_runs"),
        (Permission::Accounting, "accounting"),
        (Permission::ManageBudgetCatalog, "budget_catalog"),
        (Permission::EditBudgets, "edit_budgets"),
        (Permission::Treasury, "treasury"),
    ];
    SessionInfo {
        account: s.account.clone(),
        username: s.username.clone(),
        role: s.role,
        role_label: s.role.label().to_owned(),
        obras: s.obras.clone(),
        permissions: perms
            .iter()
            .filter(|(p, _)| s.may(*p))
            .map(|(_, n)| (*n).to_owned())
            .collect(),
    }
}

impl Desktop {
    /// Opens the data folder. `lock_after` applies unless an administrator set another
    /// time in the settings and `fixed` is false (`ICC_LOCK_MINUTES`, set by IT, wins).
    ///
    /// # Errors
    /// The folder or its database cannot be opened.
    pub async fn open(
        data_dir: &std::path::Path,
        lock_after: Duration,
        fixed: bool,
    ) -> Result<Desktop, UiError> {
        let app = App::open(data_dir).await?;
        let lock_after = match app.lock_minutes().await? {
            Some(m) if !fixed => Duration::from_secs(m * 60),
            _ => lock_after,
        };
        Ok(Desktop {
            app,
            signed: Mutex::new(None),
            lock_after: Mutex::new(lock_after),
            jobs: Mutex::new(HashMap::new()),
        })
    }

    /// The application (for the shell's shutdown).
    pub fn app(&self) -> &App {
        &self.app
    }

    fn lock_after(&self) -> Duration {
        *self.lock_after.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the inactivity lock (administrators; stored for the next start too).
    ///
    /// # Errors
    /// Forbidden, out of range.
    pub async fn set_lock_minutes(&self, minutes: u64) -> Result<(), UiError> {
        let s = self.session()?;
        self.app.set_lock_minutes(&s, minutes).await?;
        *self.lock_after.lock().unwrap_or_else(|e| e.into_inner()) =
            Duration::from_secs(minutes * 60);
        Ok(())
    }

    fn signed(&self) -> std::sync::MutexGuard<'_, Option<Signed>> {
        // A poisoned lock only means a command panicked mid-way; the session data is
        // still coherent (plain values), so keep going.
        self.signed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The active session, refreshing its activity time; refuses when nobody is signed in,
    /// the session is locked, or it has been idle too long (which locks it).
    pub fn session(&self) -> Result<Session, UiError> {
        self.session_touching(true)
    }

    /// Like [`Desktop::session`] without counting as activity: for work the window does by
    /// itself (background sync, the status line), which must not keep an idle session
    /// from locking.
    fn passive_session(&self) -> Result<Session, UiError> {
        self.session_touching(false)
    }

    fn session_touching(&self, touch: bool) -> Result<Session, UiError> {
        let lock_after = self.lock_after();
        let mut g = self.signed();
        let Some(s) = g.as_mut() else {
            return Err(UiError::new(
                "not_signed_in",
                "inicie sesión para continuar",
            ));
        };
        if !s.locked && s.last_activity.elapsed() >= lock_after {
            s.locked = true;
            tracing::info!(user = %s.session.username, "session locked after inactivity");
        }
        if s.locked {
            return Err(UiError::new(
                "locked",
                "la sesión está bloqueada: escriba su contraseña para continuar",
            ));
        }
        if touch {
            s.last_activity = Instant::now();
        }
        Ok(s.session.clone())
    }

    /// The first screen's facts.
    ///
    /// # Errors
    /// Database errors.
    pub async fn status(&self) -> Result<Status, UiError> {
        let initialized = self.app.is_initialized().await?;
        let lock_after = self.lock_after();
        let (session, locked) = {
            let mut g = self.signed();
            match g.as_mut() {
                Some(s) => {
                    if s.last_activity.elapsed() >= lock_after {
                        s.locked = true;
                    }
                    (Some(info(&s.session)), s.locked)
                }
                None => (None, false),
            }
        };
        Ok(Status {
            initialized,
            session,
            locked,
            lock_minutes: lock_after.as_secs() / 60,
            data_dir: self.app.data_dir().display().to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    fn sign_in(&self, session: Session) -> SessionInfo {
        let i = info(&session);
        *self.signed() = Some(Signed {
            session,
            locked: false,
            last_activity: Instant::now(),
        });
        i
    }

    /// Creates the first administrator and signs them in.
    ///
    /// # Errors
    /// Already initialised, weak password.
    pub async fn init_admin(
        &self,
        username: &str,
        password: impl Into<Secret>,
    ) -> Result<SessionInfo, UiError> {
        let s = self.app.init(username, password).await?;
        Ok(self.sign_in(s))
    }

    /// The data folder's recovery key, to print (administrators); `None` when the folder is
    /// not encrypted.
    ///
    /// # Errors
    /// Not signed in, not an administrator.
    pub fn recovery_key(&self) -> Result<Option<String>, UiError> {
        let s = self.session()?;
        Ok(self.app.recovery_key(&s)?)
    }

    /// Signs in.
    ///
    /// # Errors
    /// Wrong credentials, locked or disabled account.
    pub async fn login(
        &self,
        username: &str,
        password: impl Into<Secret>,
    ) -> Result<SessionInfo, UiError> {
        let s = self.app.login(username, password).await?;
        Ok(self.sign_in(s))
    }

    /// Locks the session now.
    pub fn lock(&self) {
        if let Some(s) = self.signed().as_mut() {
            s.locked = true;
        }
    }

    /// Unlocks with the signed-in user's password.
    ///
    /// # Errors
    /// Nobody signed in, wrong password (with the login back-off).
    pub async fn unlock(&self, password: impl Into<Secret>) -> Result<SessionInfo, UiError> {
        let username = self
            .signed()
            .as_ref()
            .map(|s| s.session.username.clone())
            .ok_or_else(|| UiError::new("not_signed_in", "inicie sesión para continuar"))?;
        let s = self.app.login(&username, password).await?;
        Ok(self.sign_in(s))
    }

    /// Signs out.
    pub fn logout(&self) {
        *self.signed() = None;
    }

    /// A page of the invoice list.
    ///
    /// # Errors
    /// Malformed filters or cursor, an obra the user does not have.
    pub async fn list_invoices(
        &self,
        filter: &ListFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, UiError> {
        let s = self.session()?;
        let f = filter.parse()?;
        Ok(self.app.list_invoices(&s, f, limit, cursor).await?)
    }

    /// One invoice.
    ///
    /// # Errors
    /// Unknown or not visible.
    pub async fn show_invoice(&self, reference: &str) -> Result<InvoiceView, UiError> {
        let s = self.session()?;
        Ok(self.app.show_invoice(&s, reference).await?)
    }

    /// Records a payment of an invoice and returns it as it is now.
    ///
    /// # Errors
    /// Malformed amount, date or method; what [`icc_app::App::record_payment`] refuses.
    pub async fn record_payment(
        &self,
        reference: &str,
        monto: &str,
        fecha: Option<&str>,
        medio: Option<&str>,
        referencia: Option<&str>,
    ) -> Result<InvoiceView, UiError> {
        let s = self.session()?;
        let req = icc_app::PaymentRequest {
            monto: icc_app::parse_monto(monto)?,
            fecha: fecha
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(|f| icc_core::parse_date("fecha", f))
                .transpose()
                .map_err(icc_app::AppError::from)?,
            medio: medio
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::parse)
                .transpose()
                .map_err(icc_app::AppError::from)?,
            referencia: referencia.map(str::to_owned),
        };
        let r = self.app.record_payment(&s, reference, req).await?;
        Ok(self.app.show_invoice(&s, &r.pago.invoice_id).await?)
    }

    /// Its audit trail.
    ///
    /// # Errors
    /// Unknown or not visible.
    pub async fn invoice_history(&self, reference: &str) -> Result<Vec<AuditEntry>, UiError> {
        let s = self.session()?;
        Ok(self.app.invoice_history(&s, reference).await?)
    }

    /// Changes the status of each invoice; each one succeeds or fails on its own.
    ///
    /// # Errors
    /// A malformed status name, no session.
    pub async fn set_status(
        &self,
        references: &[String],
        estado: &str,
        motivo: Option<&str>,
    ) -> Result<BulkResult, UiError> {
        let s = self.session()?;
        let estado: InvoiceStatus = estado.parse()?;
        let mut out = BulkResult::default();
        for r in references {
            match self.app.set_invoice_status(&s, r, estado, motivo).await {
                Ok(_) => out.ok.push(r.clone()),
                Err(e) => out.failed.push(failure(r, e)),
            }
        }
        Ok(out)
    }

    /// Assigns obra, centro de costo, cuenta or glosa on each invoice.
    ///
    /// # Errors
    /// No session.
    pub async fn assign(
        &self,
        references: &[String],
        a: &Assignment,
    ) -> Result<BulkResult, UiError> {
        let s = self.session()?;
        // absent: unchanged; given: set (icc-app clears it when empty)
        let change = icc_app::AssignmentChange {
            obra: a.obra.clone().map(Some),
            centro_costo: a.centro_costo.clone().map(Some),
            cuenta: a.cuenta.clone().map(Some),
            glosa: a.glosa.clone().map(Some),
        };
        let mut out = BulkResult::default();
        for r in references {
            match self.app.set_invoice_fields(&s, r, change.clone()).await {
                Ok(_) => out.ok.push(r.clone()),
                Err(e) => out.failed.push(failure(r, e)),
            }
        }
        Ok(out)
    }

    pub(crate) fn job(&self, id: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), Arc::clone(&flag));
        flag
    }

    pub(crate) fn end_job(&self, id: &str) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Asks a running import or export to stop.
    pub fn cancel_job(&self, id: &str) {
        if let Some(f) = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            f.store(true, Ordering::Relaxed);
        }
    }

    /// Previews or imports files, reporting progress through `emit`.
    ///
    /// # Errors
    /// Forbidden, cancelled, unreadable files.
    pub async fn import(
        &self,
        job: &str,
        req: &ImportRequest,
        emit: &(dyn Fn(JobProgress) + Send + Sync),
    ) -> Result<ImportReport, UiError> {
        let s = self.session()?;
        let mapping = match (&req.mapping, req.profile.as_deref().map(str::trim)) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(name)) if !name.is_empty() => Some(self.app.mapping_profile(name).await?),
            _ => None,
        };
        if let (Some(name), Some(spec)) = (req.save_profile.as_deref(), &mapping)
            && !name.trim().is_empty()
        {
            self.app.save_mapping_profile(&s, name, spec).await?;
        }
        let cancel = self.job(job);
        let opts = ImportOptions {
            mapping,
            sheet: req.sheet.clone().filter(|s| !s.trim().is_empty()),
            dry_run: req.dry_run,
            on_duplicate: if req.update_duplicates {
                OnDuplicate::Update
            } else {
                OnDuplicate::Skip
            },
            crear_obras: req.crear_obras.unwrap_or(false),
            ..ImportOptions::default()
        };
        let files: Vec<PathBuf> = req.paths.iter().map(PathBuf::from).collect();
        let mut last = Instant::now() - Duration::from_secs(1);
        let r = self
            .app
            .import_files(&s, &files, &opts, &mut |p: &ImportProgress| {
                if last.elapsed() >= Duration::from_millis(100) {
                    last = Instant::now();
                    emit(JobProgress {
                        job: job.to_owned(),
                        phase: format!("{}: {}", p.file, p.phase),
                        done: p.done,
                        total: p.total,
                    });
                }
                !cancel.load(Ordering::Relaxed)
            })
            .await;
        self.end_job(job);
        Ok(r?)
    }

    /// Names of the saved column mappings.
    ///
    /// # Errors
    /// No session, store errors.
    pub async fn mapping_profiles(&self) -> Result<Vec<String>, UiError> {
        self.session()?;
        Ok(self.app.mapping_profiles().await?)
    }

    /// Writes a report, reporting progress through `emit`.
    ///
    /// # Errors
    /// Forbidden, bad filters or month, cancelled, destination not writable.
    pub async fn export(
        &self,
        job: &str,
        req: &ExportRequest,
        emit: &(dyn Fn(JobProgress) + Send + Sync),
    ) -> Result<ExportReport, UiError> {
        let s = self.session()?;
        let out = PathBuf::from(&req.out);
        let opts = ExportOptions {
            report: req.report.parse()?,
            format: icc_app::format_for_path(&out),
            filter: req.filter.parse()?,
            mes: req.mes.clone().filter(|m| !m.trim().is_empty()),
            out,
        };
        let cancel = self.job(job);
        let r = self
            .app
            .export(&s, opts, &mut |p: ExportProgress| {
                emit(JobProgress {
                    job: job.to_owned(),
                    phase: "exportando".into(),
                    done: p.written,
                    total: Some(p.total),
                });
                !cancel.load(Ordering::Relaxed)
            })
            .await;
        self.end_job(job);
        Ok(r?)
    }

    /// The obras this user may see.
    ///
    /// # Errors
    /// No session.
    pub async fn list_obras(&self) -> Result<Vec<Obra>, UiError> {
        let s = self.session()?;
        Ok(self.app.list_obras(&s).await?)
    }

    /// Creates an obra.
    ///
    /// # Errors
    /// Forbidden, duplicate code.
    pub async fn add_obra(&self, codigo: &str, nombre: &str) -> Result<Obra, UiError> {
        let s = self.session()?;
        Ok(self.app.add_obra(&s, codigo, nombre).await?)
    }

    /// Renames or (de)activates an obra.
    ///
    /// # Errors
    /// Forbidden, unknown obra, empty name.
    pub async fn update_obra(
        &self,
        codigo: &str,
        nombre: &str,
        activa: bool,
    ) -> Result<Obra, UiError> {
        let s = self.session()?;
        Ok(self.app.update_obra(&s, codigo, nombre, activa).await?)
    }

    /// Changes a user's role, obras or whether the account is enabled.
    ///
    /// # Errors
    /// Forbidden, unknown user, the last administrator.
    pub async fn update_user(
        &self,
        username: &str,
        role: &str,
        obras: &[String],
        disabled: bool,
    ) -> Result<User, UiError> {
        let s = self.session()?;
        let role: Role = role.parse()?;
        Ok(self
            .app
            .update_user(&s, username, role, obras, disabled)
            .await?)
    }

    /// Every user (administrators only).
    ///
    /// # Errors
    /// Forbidden.
    pub async fn list_users(&self) -> Result<Vec<User>, UiError> {
        let s = self.session()?;
        Ok(self.app.list_users(&s).await?)
    }

    /// Creates a user.
    ///
    /// # Errors
    /// Forbidden, weak password, duplicate name, unknown obra.
    pub async fn add_user(
        &self,
        username: &str,
        role: &str,
        obras: &[String],
        password: impl Into<Secret>,
    ) -> Result<(), UiError> {
        let s = self.session()?;
        let role: Role = role.parse()?;
        self.app
            .add_user(&s, username, role, obras, password)
            .await?;
        Ok(())
    }

    /// Disables a user.
    ///
    /// # Errors
    /// Forbidden, the last administrator.
    pub async fn disable_user(&self, username: &str) -> Result<(), UiError> {
        let s = self.session()?;
        Ok(self.app.disable_user(&s, username).await?)
    }

    /// Attaches a PDF or XML to an invoice.
    ///
    /// # Errors
    /// Forbidden, not visible, not a PDF/XML, unreadable.
    pub async fn add_attachment(
        &self,
        reference: &str,
        path: &str,
    ) -> Result<Vec<Attachment>, UiError> {
        let s = self.session()?;
        Ok(self
            .app
            .add_attachment(&s, reference, std::path::Path::new(path))
            .await?)
    }

    /// Where an attachment's file is, to open it.
    ///
    /// # Errors
    /// Unknown, not visible, missing file.
    pub async fn attachment_file(&self, id: i64) -> Result<PathBuf, UiError> {
        let s = self.session()?;
        Ok(self.app.attachment_file(&s, id).await?)
    }

    /// An attachment's bytes, to show it inside the app (PDF, XML), for users who may see
    /// its invoice.
    ///
    /// # Errors
    /// Unknown, not visible, missing or too large a file.
    pub async fn read_attachment(&self, id: i64) -> Result<AttachmentContent, UiError> {
        let path = self.attachment_file(id).await?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > MAX_VIEW_BYTES {
            return Err(UiError::new(
                "invalid",
                &format!(
                    "el adjunto pesa {} MB, más de lo que se muestra aquí ({} MB); use «Abrir fuera»",
                    size / 1_000_000,
                    MAX_VIEW_BYTES / 1_000_000
                ),
            ));
        }
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            UiError::new(
                "io",
                &format!("no se pudo leer el adjunto {}: {e}", path.display()),
            )
        })?;
        let kind = attachment_kind(&bytes);
        use base64::Engine;
        Ok(AttachmentContent {
            kind: kind.into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        })
    }

    /// Suppliers with documents the user may see.
    ///
    /// # Errors
    /// No session, store errors.
    pub async fn suppliers(&self) -> Result<Vec<SupplierRow>, UiError> {
        let s = self.session()?;
        Ok(self.app.suppliers(&s).await?)
    }

    /// The local backups, newest first.
    ///
    /// # Errors
    /// No session.
    pub async fn list_backups(&self) -> Result<Vec<BackupInfo>, UiError> {
        let s = self.session()?;
        Ok(self.app.list_backups(&s).await?)
    }

    /// Takes a backup now.
    ///
    /// # Errors
    /// No session, no space or permission in the backup folder.
    pub async fn create_backup(&self) -> Result<BackupInfo, UiError> {
        let s = self.session()?;
        Ok(self.app.create_backup(&s).await?)
    }

    /// The folder backups go to.
    ///
    /// # Errors
    /// No session.
    pub async fn backup_dir(&self) -> Result<String, UiError> {
        self.session()?;
        Ok(self.app.backup_dir().await?.display().to_string())
    }

    /// Moves the next backups to another folder (administrators); returns it.
    ///
    /// # Errors
    /// No session, forbidden, a folder that cannot be created or written.
    pub async fn set_backup_dir(&self, path: &str) -> Result<String, UiError> {
        let s = self.session()?;
        if path.trim().is_empty() {
            return Err(AppError::Invalid("indique la carpeta de respaldos".into()).into());
        }
        self.app
            .set_backup_dir(&s, std::path::Path::new(path.trim()))
            .await?;
        self.backup_dir().await
    }

    /// The panel's figures.
    ///
    /// # Errors
    /// No session, store errors.
    pub async fn dashboard(&self) -> Result<Dashboard, UiError> {
        let s = self.session()?;
        Ok(self.app.dashboard(&s).await?)
    }

    /// Which credentials are stored (never their values).
    ///
    /// # Errors
    /// No session, the keyring unusable.
    pub async fn credentials(&self) -> Result<Vec<CredentialStatus>, UiError> {
        self.session()?;
        Ok(self.app.credentials_status().await?)
    }

    /// Stores a credential in the OS keyring; it is never shown again.
    ///
    /// # Errors
    /// No session, forbidden, unknown name, the keyring unusable.
    pub async fn set_credential(
        &self,
        name: &str,
        secret: impl Into<Secret>,
    ) -> Result<(), UiError> {
        let s = self.session()?;
        Ok(self.app.set_credential(Some(&s), name, secret).await?)
    }

    /// Deletes a stored credential.
    ///
    /// # Errors
    /// No session, forbidden, unknown name, the keyring unusable.
    pub async fn delete_credential(&self, name: &str) -> Result<bool, UiError> {
        let s = self.session()?;
        Ok(self.app.delete_credential(Some(&s), name).await?)
    }

    /// The iConstruye address and the last completed window.
    ///
    /// # Errors
    /// No session.
    pub async fn iconstruye_settings(&self) -> Result<IconstruyeSettings, UiError> {
        self.session()?;
        Ok(self.app.iconstruye_settings().await?)
    }

    /// Stores the iConstruye address.
    ///
    /// # Errors
    /// No session, forbidden, a bad address.
    pub async fn set_iconstruye_url(&self, url: &str) -> Result<(), UiError> {
        let s = self.session()?;
        Ok(self.app.set_iconstruye_url(&s, url).await?)
    }

    /// Pulls from iConstruye, reporting progress through `emit`; cancelling keeps the
    /// windows already stored.
    ///
    /// # Errors
    /// No session, forbidden, bad dates, missing or refused key, iConstruye failing.
    pub async fn iconstruye_pull(
        &self,
        job: &str,
        desde: Option<&str>,
        hasta: Option<&str>,
        emit: &(dyn Fn(JobProgress) + Send + Sync),
    ) -> Result<PullReport, UiError> {
        let s = self.session()?;
        let date = |v: Option<&str>, what: &'static str| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| icc_core::parse_date(what, v))
                .transpose()
                .map_err(AppError::from)
        };
        let (desde, hasta) = (date(desde, "desde")?, date(hasta, "hasta")?);
        let cancel = self.job(job);
        let mut last = Instant::now() - Duration::from_secs(1);
        let r = self
            .app
            .iconstruye_pull(&s, desde, hasta, cancel, &mut |p: &PullProgress| {
                if p.total_ventana == 0 || last.elapsed() >= Duration::from_millis(100) {
                    last = Instant::now();
                    emit(JobProgress {
                        job: job.to_owned(),
                        phase: format!(
                            "ventana {} de {} ({})",
                            (p.ventanas_hechas + 1).min(p.ventanas),
                            p.ventanas,
                            p.ventana
                        ),
                        done: p.documentos,
                        total: (p.total_ventana > 0).then_some(p.total_ventana),
                    });
                }
            })
            .await;
        self.end_job(job);
        Ok(r?)
    }

    /// The sync status line: server, last sync, pending ops, open conflicts.
    ///
    /// # Errors
    /// No session.
    pub async fn sync_status(&self) -> Result<SyncStatus, UiError> {
        let s = self.passive_session()?;
        Ok(self.app.sync_status(&s).await?)
    }

    /// Links this computer to the central server.
    ///
    /// # Errors
    /// No session, a bad address, wrong credentials, the server unreachable.
    pub async fn login_server(
        &self,
        url: &str,
        server_user: &str,
        password: impl Into<Secret>,
    ) -> Result<LinkReport, UiError> {
        let s = self.session()?;
        let r = self
            .app
            .login_server(&s, url, server_user, password)
            .await?;
        self.follow_account().await;
        Ok(r)
    }

    /// Brings the signed-in session up to date after a sync, a link or a logout: on a
    /// linked laptop the server account's role and obras decide, and IT may have changed
    /// them (the window sees it at its next status check).
    async fn follow_account(&self) {
        let Some(held) = self.signed().as_ref().map(|s| s.session.clone()) else {
            return;
        };
        match self.app.current_session(&held).await {
            Ok(now) if now != held => {
                if let Some(s) = self.signed().as_mut()
                    && s.session.username == held.username
                {
                    tracing::info!(user = %now.username, role = ?now.role, account = ?now.account, "session follows the server account");
                    s.session = now;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("the session could not be brought up to date: {e}"),
        }
    }

    /// Syncs now (the background sync calls it too, so it does not count as activity).
    ///
    /// # Errors
    /// No session, not linked, the session refused, the server unreachable.
    pub async fn sync_now(&self) -> Result<SyncReport, UiError> {
        let s = self.passive_session()?;
        let r = self.app.sync(&s).await;
        self.follow_account().await;
        Ok(r?)
    }

    /// The conflicts this user may see.
    ///
    /// # Errors
    /// No session.
    pub async fn conflicts(&self) -> Result<Vec<LocalConflict>, UiError> {
        let s = self.session()?;
        Ok(self.app.conflicts(&s).await?)
    }

    /// Resolves a conflict keeping `mine` (the losing value) or `theirs` (the winner).
    /// `Some(reason)` when the resolution was saved but could not be sent yet.
    ///
    /// # Errors
    /// No session, unknown conflict, a bad choice.
    pub async fn resolve_conflict(&self, id: i64, keep: &str) -> Result<Option<String>, UiError> {
        let s = self.session()?;
        let keep = match keep {
            "mine" => Keep::Mine,
            "theirs" => Keep::Theirs,
            other => {
                return Err(AppError::Invalid(format!(
                    "«{other}» no es una opción: mine o theirs"
                ))
                .into());
            }
        };
        Ok(self.app.resolve_conflict(&s, id, keep).await?)
    }

    /// Changes the server refused, set aside until someone discards them, oldest first.
    ///
    /// # Errors
    /// No session.
    pub async fn refused_changes(&self) -> Result<Vec<RefusedChange>, UiError> {
        let s = self.session()?;
        Ok(self.app.refused_changes(&s).await?)
    }

    /// Discards a change the server refused: the server's value comes back on this
    /// computer. Returns the discarded change.
    ///
    /// # Errors
    /// No session, an unknown change.
    pub async fn discard_refused(&self, op_id: &str) -> Result<RefusedChange, UiError> {
        let s = self.session()?;
        Ok(self.app.discard_refused(&s, op_id).await?)
    }

    /// Invoices removed from this computer because they left the account's obras, newest
    /// first.
    ///
    /// # Errors
    /// No session.
    pub async fn removed_invoices(&self) -> Result<Vec<RemovedInvoice>, UiError> {
        let s = self.session()?;
        Ok(self.app.removed_invoices(&s).await?)
    }

    /// Ends the session with the server.
    ///
    /// # Errors
    /// No session, the keyring unusable.
    pub async fn logout_server(&self) -> Result<(), UiError> {
        let s = self.session()?;
        self.app.logout_server(&s).await?;
        self.follow_account().await;
        Ok(())
    }

    /// The `doctor` checks.
    ///
    /// # Errors
    /// No session.
    pub async fn doctor(&self) -> Result<DoctorReport, UiError> {
        self.session()?;
        Ok(self.app.doctor().await)
    }
}

fn failure(reference: &str, e: AppError) -> BulkFailure {
    BulkFailure {
        reference: reference.to_owned(),
        code: e.code().to_owned(),
        message: e.to_string(),
    }
}

//! The Pagos and Cuentas bancarias screens' commands: payment runs, their bank file, and
//! suppliers' bank accounts. Every permission is decided in icc-app; these only unwrap the
//! arguments and call it.

use icc_app::{
    AccountRequest, Bank, BankFileReport, CesionImportReport, CesionRow, RunEmail, RunRow, RunView,
    SupplierAccount,
};
use tauri::State;

use crate::desktop::Desktop;
use crate::error::UiError;

type R<T> = Result<T, UiError>;

fn date(field: &'static str, raw: Option<&str>) -> R<Option<chrono::NaiveDate>> {
    Ok(raw
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| icc_core::parse_date(field, t))
        .transpose()
        .map_err(icc_app::AppError::from)?)
}

/// This Friday (today on a Friday), `AAAA-MM-DD`: the default cut-off of a run.
#[tauri::command]
pub fn payment_cutoff() -> String {
    icc_core::pagos::payment_cutoff(chrono::Local::now().date_naive()).to_string()
}

/// Runs, newest first.
#[tauri::command]
pub async fn list_runs(d: State<'_, Desktop>) -> R<Vec<RunRow>> {
    let s = d.session()?;
    Ok(d.app.runs(&s).await?)
}

/// One run with its lines and payees.
#[tauri::command]
pub async fn show_run(d: State<'_, Desktop>, run: String) -> R<RunView> {
    let s = d.session()?;
    Ok(d.app.run(&s, &run).await?)
}

/// Prepares a run for a cut-off (`DD-MM-AAAA`; this Friday when empty).
#[tauri::command]
pub async fn create_run(d: State<'_, Desktop>, corte: Option<String>) -> R<RunView> {
    let s = d.session()?;
    let corte = date("corte", corte.as_deref())?;
    Ok(d.app.create_run(&s, corte).await?)
}

/// Includes or excludes a line of a draft run, or pays part of it.
#[tauri::command]
pub async fn set_run_line(
    d: State<'_, Desktop>,
    run: String,
    documento: String,
    incluida: Option<bool>,
    monto: Option<String>,
) -> R<RunView> {
    let s = d.session()?;
    let monto = monto.as_deref().map(icc_app::parse_monto).transpose()?;
    Ok(d.app
        .set_run_line(&s, &run, &documento, incluida, monto)
        .await?)
}

/// Approves a draft run.
#[tauri::command]
pub async fn approve_run(d: State<'_, Desktop>, run: String) -> R<RunView> {
    let s = d.session()?;
    Ok(d.app.approve_run(&s, &run).await?)
}

/// Writes the bank file of an approved run to `path`.
#[tauri::command]
pub async fn run_bank_file(d: State<'_, Desktop>, run: String, path: String) -> R<BankFileReport> {
    let s = d.session()?;
    let path = path.trim();
    if path.is_empty() {
        return Err(icc_app::AppError::Invalid(
            "indique dónde guardar el archivo del banco, por ejemplo /home/contadora/nomina.xlsx"
                .into(),
        )
        .into());
    }
    Ok(d.app
        .bank_file(&s, &run, std::path::Path::new(path))
        .await?)
}

/// Writes a run's xlsx report to `path`.
#[tauri::command]
pub async fn run_report(d: State<'_, Desktop>, run: String, path: String) -> R<String> {
    let s = d.session()?;
    let path = path.trim();
    if path.is_empty() {
        return Err(icc_app::AppError::Invalid(
            "indique dónde guardar el informe, por ejemplo /home/contadora/nomina.xlsx".into(),
        )
        .into());
    }
    Ok(d.app
        .run_report(&s, &run, std::path::Path::new(path))
        .await?)
}

/// Marks an approved run as sent to the bank.
#[tauri::command]
pub async fn mark_run_sent(d: State<'_, Desktop>, run: String) -> R<RunView> {
    let s = d.session()?;
    Ok(d.app.mark_run_sent(&s, &run).await?)
}

/// Sends a run by e-mail to the configured recipients (its workbook attached).
#[tauri::command]
pub async fn email_run(d: State<'_, Desktop>, run: String) -> R<RunEmail> {
    let s = d.session()?;
    Ok(d.app.email_run(&s, &run).await?)
}

/// Marks a run paid (`DD-MM-AAAA`; today when empty).
#[tauri::command]
pub async fn mark_run_paid(
    d: State<'_, Desktop>,
    run: String,
    fecha: Option<String>,
) -> R<RunView> {
    let s = d.session()?;
    let fecha = date("fecha", fecha.as_deref())?;
    Ok(d.app.mark_run_paid(&s, &run, fecha).await?)
}

/// Suppliers' bank accounts, newest first, optionally in one state.
#[tauri::command]
pub async fn list_bank_accounts(
    d: State<'_, Desktop>,
    estado: Option<String>,
) -> R<Vec<SupplierAccount>> {
    let s = d.session()?;
    let estado = estado.filter(|e| !e.trim().is_empty());
    Ok(d.app.bank_accounts(&s, None, estado.as_deref()).await?)
}

/// Enters a supplier's bank account (pending until someone else approves it).
#[tauri::command]
pub async fn add_bank_account(
    d: State<'_, Desktop>,
    account: AccountRequest,
) -> R<SupplierAccount> {
    let s = d.session()?;
    Ok(d.app.add_bank_account(&s, account).await?)
}

/// Approves a pending account someone else entered.
#[tauri::command]
pub async fn approve_bank_account(d: State<'_, Desktop>, id: String) -> R<SupplierAccount> {
    let s = d.session()?;
    Ok(d.app.approve_bank_account(&s, &id).await?)
}

/// The bank table.
#[tauri::command]
pub async fn list_banks(d: State<'_, Desktop>) -> R<Vec<Bank>> {
    let s = d.session()?;
    Ok(d.app.banks(&s).await?)
}

/// Every cesión, the ones whose invoice is not here yet first (the review list).
#[tauri::command]
pub async fn list_cesiones(d: State<'_, Desktop>) -> R<Vec<CesionRow>> {
    let s = d.session()?;
    Ok(d.app.cesiones_for_review(&s).await?)
}

/// Imports cesión files (AEC, SII cesiones, certificates; by content).
#[tauri::command]
pub async fn import_cesiones(d: State<'_, Desktop>, paths: Vec<String>) -> R<CesionImportReport> {
    let s = d.session()?;
    let files: Vec<std::path::PathBuf> = paths.iter().map(std::path::PathBuf::from).collect();
    Ok(d.app.import_cesiones(&s, &files).await?)
}

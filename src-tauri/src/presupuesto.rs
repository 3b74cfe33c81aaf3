//! The Presupuesto and Tesorería screens' commands: the catalogue of budget lines, each
//! obra's budget grid, the treasury and their workbooks. Every permission and scope is
//! decided in icc-app; these only unwrap the arguments and call it.

use std::path::PathBuf;

use icc_app::{
    BudgetLineInput, LoanEdit, LoanInput, ObraBudgetView, TreasuryBankInput, TreasuryRowInput,
    TreasuryView, WeekInput,
};
use icc_core::presupuesto::{BudgetLineDoc, LoanDoc, ObraBudgetDoc, ObraLineDoc};
use tauri::State;

use crate::desktop::Desktop;
use crate::error::UiError;

type R<T> = Result<T, UiError>;

/// The catalogue of budget lines.
#[tauri::command]
pub async fn budget_catalog(d: State<'_, Desktop>) -> R<Vec<BudgetLineDoc>> {
    let s = d.session()?;
    Ok(d.app.budget_catalog(&s).await?)
}

/// Creates or changes a catalogue line.
#[tauri::command]
pub async fn budget_catalog_save(
    d: State<'_, Desktop>,
    input: BudgetLineInput,
) -> R<BudgetLineDoc> {
    let s = d.session()?;
    Ok(d.app.budget_catalog_save(&s, &input).await?)
}

/// Creates the base catalogue.
#[tauri::command]
pub async fn budget_catalog_seed(d: State<'_, Desktop>) -> R<usize> {
    let s = d.session()?;
    Ok(d.app.budget_catalog_seed(&s).await?)
}

/// An obra's budget and grid.
#[tauri::command]
pub async fn obra_budget(d: State<'_, Desktop>, obra: String) -> R<ObraBudgetView> {
    let s = d.session()?;
    Ok(d.app.obra_budget(&s, &obra).await?)
}

/// Sets an obra's period.
#[tauri::command]
pub async fn obra_budget_set_period(
    d: State<'_, Desktop>,
    obra: String,
    desde: String,
    hasta: String,
) -> R<ObraBudgetDoc> {
    let s = d.session()?;
    Ok(d.app
        .obra_budget_set_period(&s, &obra, &desde, &hasta)
        .await?)
}

/// Adds a catalogue line to an obra.
#[tauri::command]
pub async fn obra_budget_add_line(
    d: State<'_, Desktop>,
    obra: String,
    line_id: String,
    inicial: i64,
) -> R<ObraLineDoc> {
    let s = d.session()?;
    Ok(d.app
        .obra_budget_add_line(&s, &obra, &line_id, inicial)
        .await?)
}

/// Adds a modification to a line's budget.
#[tauri::command]
pub async fn obra_budget_modify(
    d: State<'_, Desktop>,
    obra: String,
    line: String,
    monto: i64,
    motivo: String,
) -> R<ObraLineDoc> {
    let s = d.session()?;
    Ok(d.app
        .obra_budget_modify(&s, &obra, &line, monto, &motivo)
        .await?)
}

/// Sets weeks of a line.
#[tauri::command]
pub async fn obra_budget_set_weeks(
    d: State<'_, Desktop>,
    obra: String,
    line: String,
    weeks: Vec<WeekInput>,
) -> R<ObraLineDoc> {
    let s = d.session()?;
    Ok(d.app
        .obra_budget_set_weeks(&s, &obra, &line, &weeks)
        .await?)
}

/// Writes an obra's grid to a workbook.
#[tauri::command]
pub async fn obra_budget_export(d: State<'_, Desktop>, obra: String, path: PathBuf) -> R<()> {
    let s = d.session()?;
    Ok(d.app.obra_budget_export(&s, &obra, &path).await?)
}

/// The treasury.
#[tauri::command]
pub async fn treasury(d: State<'_, Desktop>, desde: String, semanas: u32) -> R<TreasuryView> {
    let s = d.session()?;
    Ok(d.app.treasury(&s, &desde, semanas).await?)
}

/// Creates or changes a treasury account.
#[tauri::command]
pub async fn treasury_bank_save(d: State<'_, Desktop>, input: TreasuryBankInput) -> R<()> {
    let s = d.session()?;
    d.app.treasury_bank_save(&s, &input).await?;
    Ok(())
}

/// Creates or changes a treasury row.
#[tauri::command]
pub async fn treasury_row_save(d: State<'_, Desktop>, input: TreasuryRowInput) -> R<()> {
    let s = d.session()?;
    d.app.treasury_row_save(&s, &input).await?;
    Ok(())
}

/// Deletes a treasury account (`banco`), row (`fila`) or loan (`prestamo`).
#[tauri::command]
pub async fn treasury_delete(d: State<'_, Desktop>, kind: String, id: String) -> R<()> {
    let s = d.session()?;
    Ok(d.app.treasury_delete(&s, &kind, &id).await?)
}

/// Creates a loan.
#[tauri::command]
pub async fn loan_create(d: State<'_, Desktop>, input: LoanInput) -> R<LoanDoc> {
    let s = d.session()?;
    Ok(d.app.loan_create(&s, &input).await?)
}

/// Changes a loan.
#[tauri::command]
pub async fn loan_update(d: State<'_, Desktop>, edit: LoanEdit) -> R<LoanDoc> {
    let s = d.session()?;
    Ok(d.app.loan_update(&s, &edit).await?)
}

/// Pays a loan's next instalment.
#[tauri::command]
pub async fn loan_pay_next(d: State<'_, Desktop>, id: String, fecha: String) -> R<LoanDoc> {
    let s = d.session()?;
    Ok(d.app.loan_pay_next(&s, &id, &fecha).await?)
}

/// Writes the treasury to a workbook.
#[tauri::command]
pub async fn treasury_export(
    d: State<'_, Desktop>,
    desde: String,
    semanas: u32,
    path: PathBuf,
) -> R<()> {
    let s = d.session()?;
    Ok(d.app.treasury_export(&s, &desde, semanas, &path).await?)
}

/// The families of budget lines, in grid order.
#[tauri::command]
pub async fn budget_families(d: State<'_, Desktop>) -> R<Vec<String>> {
    d.session()?;
    Ok(d.app.budget_families())
}

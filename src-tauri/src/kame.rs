//! The Contabilidad screen's commands: Kame settings, fichas, templates and posting runs.
//! Every permission is decided in icc-app; these only unwrap the arguments and call it.

use icc_app::ListFilter;
use icc_app::kame::{
    ConceptoAsignado, Envio, Ficha, FichaEdit, FichasReport, KameSettings, PostReport, Unidad,
};
use icc_core::kame::Plantilla;
use tauri::{AppHandle, State};

use crate::desktop::{Desktop, JobProgress};
use crate::error::UiError;

type R<T> = Result<T, UiError>;

/// The Kame settings (never the secret: only whether it is stored).
#[tauri::command]
pub async fn kame_settings(d: State<'_, Desktop>) -> R<KameSettings> {
    let s = d.session()?;
    s.require(icc_core::Permission::Accounting)?;
    Ok(d.app.kame_settings().await?)
}

/// Saves the client id, the Kame user and the address.
#[tauri::command]
pub async fn set_kame_settings(
    d: State<'_, Desktop>,
    client_id: String,
    usuario: String,
    url: Option<String>,
) -> R<KameSettings> {
    let s = d.session()?;
    d.app
        .set_kame_settings(&s, &client_id, &usuario, url.as_deref())
        .await?;
    Ok(d.app.kame_settings().await?)
}

/// Pulls the suppliers' fichas from Kame.
#[tauri::command]
pub async fn kame_pull_fichas(d: State<'_, Desktop>) -> R<FichasReport> {
    let s = d.session()?;
    Ok(d.app.kame_pull_fichas(&s).await?)
}

/// The templates.
#[tauri::command]
pub async fn kame_plantillas(d: State<'_, Desktop>) -> R<Vec<Plantilla>> {
    let s = d.session()?;
    Ok(d.app.kame_plantillas(&s).await?)
}

/// Creates or replaces a template.
#[tauri::command]
pub async fn kame_set_plantilla(d: State<'_, Desktop>, plantilla: Plantilla) -> R<()> {
    let s = d.session()?;
    Ok(d.app.kame_set_plantilla(&s, &plantilla).await?)
}

/// Sets a supplier's concepto de compra here.
#[tauri::command]
pub async fn kame_set_concepto(d: State<'_, Desktop>, rut: String, concepto: String) -> R<()> {
    let s = d.session()?;
    Ok(d.app.kame_set_concepto(&s, &rut, &concepto).await?)
}

/// A supplier's ficha, if it has one here.
#[tauri::command]
pub async fn kame_ficha(d: State<'_, Desktop>, rut: String) -> R<Option<Ficha>> {
    let s = d.session()?;
    Ok(d.app.kame_ficha(&s, &rut).await?)
}

/// Edits a supplier's ficha here (concepto, flags).
#[tauri::command]
pub async fn kame_edit_ficha(d: State<'_, Desktop>, rut: String, edit: FichaEdit) -> R<()> {
    let s = d.session()?;
    Ok(d.app.kame_edit_ficha(&s, &rut, &edit).await?)
}

/// Gives the suppliers of the selected invoices a concepto de compra (the list's bulk
/// action).
#[tauri::command]
pub async fn kame_assign_concepto(
    d: State<'_, Desktop>,
    ids: Vec<String>,
    concepto: String,
) -> R<ConceptoAsignado> {
    let s = d.session()?;
    Ok(d.app.kame_assign_concepto(&s, &ids, &concepto).await?)
}

/// The centro → unidad de negocio map.
#[tauri::command]
pub async fn kame_unidades(d: State<'_, Desktop>) -> R<Vec<Unidad>> {
    let s = d.session()?;
    Ok(d.app.kame_unidades(&s).await?)
}

/// Maps a centro (its first 4 characters) to a unidad de negocio.
#[tauri::command]
pub async fn kame_set_unidad(d: State<'_, Desktop>, centro: String, unidad: String) -> R<Unidad> {
    let s = d.session()?;
    Ok(d.app.kame_set_unidad(&s, &centro, &unidad).await?)
}

/// Every voucher record, newest first.
#[tauri::command]
pub async fn kame_envios(d: State<'_, Desktop>) -> R<Vec<Envio>> {
    let s = d.session()?;
    Ok(d.app.kame_envios(&s).await?)
}

/// Posts to Kame the invoices `ids` (when given) or those `filter` shows, with
/// `job-progress` events.
#[tauri::command]
pub async fn kame_post(
    app: AppHandle,
    d: State<'_, Desktop>,
    job: String,
    ids: Vec<String>,
    filter: ListFilter,
) -> R<PostReport> {
    let s = d.session()?;
    let selection = d
        .app
        .kame_selection(&s, &ids, filter.parse().map_err(icc_app::AppError::from)?)
        .await?;
    let emit = crate::commands::emitter(app);
    let total = selection.len() as u64;
    emit(JobProgress {
        job: job.clone(),
        phase: "contabilizando en Kame".into(),
        done: 0,
        total: Some(total),
    });
    let cancel = d.job(&job);
    let r = d
        .app
        .kame_post(&s, &selection, &cancel, &mut |p| {
            emit(JobProgress {
                job: job.clone(),
                phase: "contabilizando en Kame".into(),
                done: p.hechas as u64,
                total: Some(p.total as u64),
            });
        })
        .await;
    d.end_job(&job);
    Ok(r?)
}

//! Pulling invoices and notes from iConstruye: keys from the OS keyring, windows of at most
//! 30 days, each window stored in one transaction (so a cancel or a failure leaves whole
//! windows only), the last completed window remembered, documents already stored updated
//! through the audit log and never duplicated.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use icc_core::{DteType, Invoice, InvoiceStatus};
use icc_iconstruye::{
    ApiKey, Client, ClientConfig, DEFAULT_BASE_URL, KeyPair, Keys, Mapped, Product, Rejected,
    fetch_window, windows,
};
use icc_store::ImportBatch;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// Settings key of the base address.
const URL_SETTING: &str = "iconstruye.url";
/// Settings key of the least time between requests, in milliseconds.
const INTERVAL_SETTING: &str = "iconstruye.intervalo_ms";
/// Settings key of the last day of the last window stored completely.
const DONE_SETTING: &str = "iconstruye.completado_hasta";
/// Environment variable that overrides the base address (IT, tests).
pub const URL_ENV: &str = "ICC_ICONSTRUYE_URL";
/// Environment variable that overrides the pace between requests, in milliseconds.
pub const INTERVAL_ENV: &str = "ICC_ICONSTRUYE_INTERVALO_MS";
/// Default pace: public clients wait 500–800 ms between detail calls.
const DEFAULT_INTERVAL_MS: u64 = 500;

/// Where a pull is, for a progress bar.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PullProgress {
    /// The window being fetched, `dd-mm-aaaa a dd-mm-aaaa`.
    pub ventana: String,
    /// Windows completed.
    pub ventanas_hechas: u32,
    /// Windows in all.
    pub ventanas: u32,
    /// Documents of this window fetched so far.
    pub documentos: u64,
    /// Documents in this window.
    pub total_ventana: u64,
}

/// The result of a pull. JSON fields are part of the CLI contract.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PullReport {
    /// First day asked for.
    pub desde: String,
    /// Last day asked for.
    pub hasta: String,
    /// Windows stored completely.
    pub windows: u32,
    /// Rows the searches returned.
    pub fetched: u64,
    /// New documents stored.
    pub inserted: u64,
    /// Stored documents whose fields or status changed.
    pub updated: u64,
    /// Stored documents that had not changed.
    pub unchanged: u64,
    /// Rows refused (each in `errors`).
    pub rejected: u64,
    /// Why each refused row was refused.
    pub errors: Vec<PullError>,
    /// Status changes iConstruye reported that the local workflow does not allow (for
    /// example back to `recibida` after a local approval): kept local, listed here.
    pub estados_no_aplicados: Vec<String>,
    /// The user cancelled; the windows stored before are kept.
    pub cancelled: bool,
}

/// A refused row.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PullError {
    /// `factura` or `nota`.
    pub origen: String,
    /// iConstruye's id.
    pub id_documento: Option<String>,
    /// Folio.
    pub folio: Option<String>,
    /// What was wrong.
    pub message: String,
}

impl From<Rejected> for PullError {
    fn from(r: Rejected) -> PullError {
        PullError {
            origen: r.origen.into(),
            id_documento: r.id_documento,
            folio: r.folio,
            message: r.message,
        }
    }
}

/// The iConstruye settings a screen shows (never the keys).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct IconstruyeSettings {
    /// Base address in use.
    pub url: String,
    /// Whether `ICC_ICONSTRUYE_URL` overrides the stored address.
    pub url_from_env: bool,
    /// Last day of the last window stored completely.
    pub completado_hasta: Option<String>,
}

fn dmy(d: NaiveDate) -> String {
    d.format("%d-%m-%Y").to_string()
}

/// The shortest legal path from `from` to `to` in the status machine (empty when equal,
/// `None` when there is none).
fn status_path(from: InvoiceStatus, to: InvoiceStatus) -> Option<Vec<InvoiceStatus>> {
    let mut queue = VecDeque::from([(from, Vec::new())]);
    let mut seen = vec![from];
    while let Some((s, path)) = queue.pop_front() {
        if s == to {
            return Some(path);
        }
        for next in InvoiceStatus::ALL {
            if s.can_become(next) && !seen.contains(&next) {
                seen.push(next);
                let mut p = path.clone();
                p.push(next);
                queue.push_back((next, p));
            }
        }
    }
    None
}

impl App {
    /// The base address: `ICC_ICONSTRUYE_URL`, else the stored setting, else the public API.
    ///
    /// # Errors
    /// Store errors.
    pub async fn iconstruye_settings(&self) -> Result<IconstruyeSettings> {
        let env = std::env::var(URL_ENV).ok().filter(|v| !v.trim().is_empty());
        let url = match &env {
            Some(u) => u.trim().to_owned(),
            None => self
                .store
                .setting(URL_SETTING)
                .await?
                .unwrap_or_else(|| DEFAULT_BASE_URL.into()),
        };
        Ok(IconstruyeSettings {
            url,
            url_from_env: env.is_some(),
            completado_hasta: self.store.setting(DONE_SETTING).await?,
        })
    }

    /// Stores the base address (an https address, or http on this computer for tests).
    ///
    /// # Errors
    /// Forbidden, an address that is not http(s), store errors.
    pub async fn set_iconstruye_url(&self, s: &Session, url: &str) -> Result<()> {
        s.require(Permission::Import)?;
        let url = url.trim().trim_end_matches('/');
        let ok = url.starts_with("https://")
            || url.starts_with("http://127.0.0.1")
            || url.starts_with("http://localhost");
        if !ok || url.len() < 10 {
            return Err(AppError::Invalid(format!(
                "la dirección de iConstruye «{url}» no es válida: use https://… (por ejemplo {DEFAULT_BASE_URL})"
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(URL_SETTING, url).await?;
        tx.audit(
            "setting",
            URL_SETTING,
            "update",
            Some("valor"),
            None,
            Some(url.to_owned()),
        );
        tx.commit().await?;
        Ok(())
    }

    /// Sets the least time between two requests, in milliseconds (0–10 000; default 500).
    /// IT lowers it when iConstruye grants a higher rate; tests use 0 against the fake.
    ///
    /// # Errors
    /// Forbidden, out of range, store errors.
    pub async fn set_iconstruye_interval_ms(&self, s: &Session, ms: u64) -> Result<()> {
        s.require(Permission::Import)?;
        if ms > 10_000 {
            return Err(AppError::Invalid(format!(
                "pausa entre solicitudes: «{ms}» ms no es válido; use entre 0 y 10.000"
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        tx.set_setting(INTERVAL_SETTING, &ms.to_string()).await?;
        tx.audit(
            "setting",
            INTERVAL_SETTING,
            "update",
            Some("valor"),
            None,
            Some(ms.to_string()),
        );
        tx.commit().await?;
        Ok(())
    }

    async fn key_pair(&self, p: Product) -> Result<Option<KeyPair>> {
        let primary = self
            .credential(p.credential())
            .await?
            .and_then(|s| ApiKey::new(s.expose()));
        let secondary = self
            .credential(p.secondary_credential())
            .await?
            .and_then(|s| ApiKey::new(s.expose()));
        Ok(match (primary, secondary) {
            (Some(primary), secondary) => Some(KeyPair { primary, secondary }),
            // only a secondary stored: use it as the one key
            (None, Some(only)) => Some(KeyPair {
                primary: only,
                secondary: None,
            }),
            (None, None) => None,
        })
    }

    async fn iconstruye_client(&self, cancel: Arc<AtomicBool>, quick: bool) -> Result<Client> {
        let settings = self.iconstruye_settings().await?;
        let interval = match std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
        {
            Some(ms) => ms,
            None => self
                .store
                .setting(INTERVAL_SETTING)
                .await?
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_INTERVAL_MS),
        };
        let keys = Keys {
            facturas: self.key_pair(Product::Facturas).await?,
            ordenes: self.key_pair(Product::OrdenesCompra).await?,
        };
        if keys.facturas.is_none() {
            return Err(icc_iconstruye::IconstruyeError::MissingKey {
                product: Product::Facturas.label(),
                credential: Product::Facturas.credential(),
            }
            .into());
        }
        let mut cfg = ClientConfig {
            base_url: settings.url,
            min_interval: Duration::from_millis(interval),
            backoff_base: Duration::from_millis(interval.clamp(10, 1000)),
            ..ClientConfig::default()
        };
        if quick {
            cfg.max_retries = 1;
            cfg.timeout = Duration::from_secs(10);
        }
        Ok(Client::new(cfg, keys, cancel)?)
    }

    /// Asks iConstruye for today's invoices, once, to see that the address and the key
    /// work. `Ok(None)` when no key is stored (iConstruye is optional).
    ///
    /// # Errors
    /// What the request met: a refused key, the network, the service failing.
    pub(crate) async fn iconstruye_probe(&self) -> Result<Option<usize>> {
        if self.key_pair(Product::Facturas).await?.is_none() {
            return Ok(None);
        }
        let client = self.iconstruye_client(Arc::default(), true).await?;
        let today = chrono::Local::now().date_naive();
        Ok(Some(client.buscar_facturas(today, today).await?.len()))
    }

    /// Pulls the documents received in iConstruye between `desde` and `hasta` (both
    /// included; `desde` defaults to the last completed window's end, `hasta` to today).
    /// Each window is stored in its own transaction; setting `cancel` stops at the next
    /// request and keeps the windows already stored (`cancelled` in the report).
    ///
    /// # Errors
    /// Forbidden for the role, a missing or refused key, iConstruye failing after its
    /// retries, store errors. Windows stored before a failure stay stored.
    pub async fn iconstruye_pull(
        &self,
        s: &Session,
        desde: Option<NaiveDate>,
        hasta: Option<NaiveDate>,
        cancel: Arc<AtomicBool>,
        progress: &mut (dyn FnMut(&PullProgress) + Send),
    ) -> Result<PullReport> {
        s.require(Permission::Import)?;
        let today = chrono::Local::now().date_naive();
        let hasta = hasta.unwrap_or(today);
        let desde = match desde {
            Some(d) => d,
            None => self
                .store
                .setting(DONE_SETTING)
                .await?
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .unwrap_or(hasta - chrono::Days::new(29)),
        };
        if desde > hasta {
            return Err(AppError::Invalid(format!(
                "el rango de fechas está invertido: desde {} es posterior a hasta {}",
                dmy(desde),
                dmy(hasta)
            )));
        }
        let client = self.iconstruye_client(cancel.clone(), false).await?;
        let list = windows(desde, hasta);
        let mut report = PullReport {
            desde: desde.to_string(),
            hasta: hasta.to_string(),
            ..PullReport::default()
        };
        let n = list.len() as u32;
        for (i, (a, b)) in list.into_iter().enumerate() {
            let label = format!("{} a {}", dmy(a), dmy(b));
            let fetched = fetch_window(&client, a, b, &mut |done, total| {
                progress(&PullProgress {
                    ventana: label.clone(),
                    ventanas_hechas: i as u32,
                    ventanas: n,
                    documentos: done,
                    total_ventana: total,
                });
            })
            .await;
            let fetched = match fetched {
                Ok(f) => f,
                Err(icc_iconstruye::IconstruyeError::Cancelled) => {
                    report.cancelled = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(window = %label, "iconstruye pull stopped: {e}");
                    return Err(e.into());
                }
            };
            report.fetched += fetched.fetched;
            let mut rejected: Vec<PullError> =
                fetched.rejected.into_iter().map(Into::into).collect();
            let docs = self.validated(fetched.documents, today, &mut rejected);
            report.rejected += rejected.len() as u64;
            self.store_window(s, (a, b), docs, rejected.len(), &mut report)
                .await?;
            report.errors.extend(rejected);
            report.windows += 1;
            progress(&PullProgress {
                ventana: label,
                ventanas_hechas: i as u32 + 1,
                ventanas: n,
                documentos: 0,
                total_ventana: 0,
            });
            if cancel.load(Ordering::Relaxed) {
                report.cancelled = true;
                break;
            }
        }
        tracing::info!(
            windows = report.windows,
            fetched = report.fetched,
            inserted = report.inserted,
            updated = report.updated,
            rejected = report.rejected,
            cancelled = report.cancelled,
            "iconstruye pull"
        );
        Ok(report)
    }

    /// Drops documents icc-core finds unusable (reported like bad rows).
    fn validated(
        &self,
        docs: Vec<Mapped>,
        today: NaiveDate,
        rejected: &mut Vec<PullError>,
    ) -> Vec<Mapped> {
        docs.into_iter()
            .filter(|m| {
                let v = icc_core::validate(&m.invoice, today);
                if v.has_errors() {
                    rejected.push(PullError {
                        origen: if matches!(m.invoice.key.tipo_dte.code(), 55 | 56 | 60 | 61) {
                            "nota"
                        } else {
                            "factura"
                        }
                        .into(),
                        id_documento: m.invoice.external_id.clone(),
                        folio: Some(m.invoice.key.folio.to_string()),
                        message: v
                            .errors()
                            .map(|e| format!("{}: {}", e.field, e.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    });
                }
                !v.has_errors()
            })
            .collect()
    }

    /// Stores one window in one transaction and remembers it as completed.
    async fn store_window(
        &self,
        s: &Session,
        (a, b): (NaiveDate, NaiveDate),
        mut docs: Vec<Mapped>,
        rejected: usize,
        report: &mut PullReport,
    ) -> Result<()> {
        // a note names the invoice it corrects by folio only: find that invoice's type
        let window_types: HashMap<(String, String), u16> = docs
            .iter()
            .filter(|m| !m.invoice.key.tipo_dte.is_credit_note())
            .map(|m| {
                (
                    (
                        m.invoice.key.rut_emisor.to_string(),
                        m.invoice.key.folio.to_string(),
                    ),
                    m.invoice.key.tipo_dte.code(),
                )
            })
            .collect();
        for m in docs.iter_mut() {
            let Some(folio) = m.fact_asociada.clone() else {
                continue;
            };
            let rut = m.invoice.key.rut_emisor.to_string();
            let tipo = match window_types.get(&(rut.clone(), folio.clone())) {
                Some(t) => Some(*t),
                None => match folio.parse::<i64>() {
                    Ok(f) => self
                        .store
                        .types_with_folio(&rut, f)
                        .await?
                        .into_iter()
                        .filter_map(|t| u16::try_from(t).ok())
                        .find(|t| !DteType::new(*t).is_ok_and(|d| d.is_credit_note())),
                    Err(_) => None,
                },
            };
            if let Some(t) = tipo
                && let Some(r) = m
                    .invoice
                    .referencias
                    .iter_mut()
                    .find(|r| r.folio == folio && r.tipo == "33")
            {
                r.tipo = t.to_string();
            }
        }

        let keys: Vec<_> = docs.iter().map(|m| m.invoice.key).collect();
        let existing = self.store.existing_keys(&keys).await?;
        let mut sha = Sha256::new();
        let mut to_insert: Vec<(Invoice, Option<String>)> = Vec::new();
        let mut to_update: Vec<Mapped> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for m in docs {
            sha.update(m.raw.as_bytes());
            if !seen.insert(m.invoice.key) {
                continue; // the same document twice in one answer
            }
            if existing.contains(&m.invoice.key) {
                to_update.push(m);
            } else {
                to_insert.push((m.invoice, Some(m.raw)));
            }
        }
        let inserted = to_insert.len() as u64;

        let mut tx = self.store.write(&s.username).await?;
        // status steps and document fields come from iConstruye: the server checks them
        // against the permission to pull from it, not against approval rights
        tx.mark_source("iconstruye");
        tx.insert_invoices(&to_insert, &mut |_| true).await?;
        let mut updated = 0u64;
        for m in &to_update {
            let id = m.invoice.id();
            let mut changed = tx.update_document(&m.invoice).await? > 0;
            if let Some((estado, centro)) = tx.status_and_centro(id).await? {
                if estado != m.invoice.estado {
                    match status_path(estado, m.invoice.estado) {
                        Some(path) => {
                            for step in path {
                                let motivo = (step == InvoiceStatus::Rechazada)
                                    .then_some(icc_iconstruye::mapping::MOTIVO_RECHAZO_ICONSTRUYE);
                                tx.set_status(id, step, motivo).await?;
                            }
                            changed = true;
                        }
                        None => report.estados_no_aplicados.push(format!(
                            "{}: en iConstruye está {}, aquí {}; se mantiene el estado local",
                            m.invoice.key,
                            m.invoice.estado.label(),
                            estado.label()
                        )),
                    }
                }
                if centro.is_none() && m.invoice.centro_costo.is_some() {
                    let change = icc_store::AssignmentChange {
                        centro_costo: Some(m.invoice.centro_costo.clone()),
                        ..Default::default()
                    };
                    changed |= tx.update_assignment(id, &change).await? > 0;
                }
            }
            tx.set_source_payload(id, m.invoice.external_id.as_deref(), &m.raw)
                .await?;
            if changed {
                updated += 1;
            }
        }
        let documents = inserted + to_update.len() as u64;
        tx.record_import_batch(&ImportBatch {
            file_name: format!("iConstruye {} a {}", dmy(a), dmy(b)),
            sha256: hex::encode(sha.finalize()),
            format: "iconstruye".into(),
            documents: documents as i64,
            inserted: inserted as i64,
            updated: updated as i64,
            duplicates: (to_update.len() as u64 - updated) as i64,
            rejected: rejected as i64,
        })
        .await?;
        // remembered only when newer: pulling an old range again does not move it back
        let done = self.store.setting(DONE_SETTING).await?;
        if done.as_deref().is_none_or(|d| d < b.to_string().as_str()) {
            tx.set_setting(DONE_SETTING, &b.to_string()).await?;
        }
        tx.commit().await?;
        report.inserted += inserted;
        report.updated += updated;
        report.unchanged += to_update.len() as u64 - updated;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvoiceStatus::*;

    #[test]
    fn status_paths_follow_the_machine() {
        assert_eq!(status_path(Recibida, Recibida), Some(vec![]));
        assert_eq!(status_path(Recibida, Pagada), Some(vec![Aprobada, Pagada]));
        assert_eq!(
            status_path(EnRevision, ParcialmentePagada),
            Some(vec![Aprobada, ParcialmentePagada])
        );
        assert_eq!(
            status_path(Aprobada, Recibida),
            None,
            "never back to recibida"
        );
        assert_eq!(status_path(Pagada, Anulada), None);
    }
}

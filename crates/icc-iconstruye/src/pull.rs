//! One window of a pull: search invoices and notes received in the window, ask for each
//! one's detail, map it. A bad row or detail is reported and the rest goes on; a failure of
//! the service itself (keys, network, 429s that never end) stops the window.

use chrono::NaiveDate;
use serde_json::Value;

use crate::client::Client;
use crate::error::{IconstruyeError, Result};
use crate::mapping::{DocKind, Mapped, map_document};
use crate::wire::{Detalle, Resumen, text};

/// A document that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// `factura` or `nota`.
    pub origen: &'static str,
    /// iConstruye's id, when the row had one.
    pub id_documento: Option<String>,
    /// The folio, when the row had one.
    pub folio: Option<String>,
    /// What was wrong.
    pub message: String,
}

/// What a window brought.
#[derive(Debug, Default)]
pub struct WindowFetch {
    /// Rows the searches returned.
    pub fetched: u64,
    /// Documents mapped.
    pub documents: Vec<Mapped>,
    /// Rows or details refused.
    pub rejected: Vec<Rejected>,
}

/// Fetches one window (`desde..=hasta`, at most 30 days). `progress(done, total)` is called
/// after every detail.
///
/// # Errors
/// Service failures ([`IconstruyeError`]), including cancellation; row problems are not
/// errors but [`Rejected`] entries.
pub async fn fetch_window(
    client: &Client,
    desde: NaiveDate,
    hasta: NaiveDate,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<WindowFetch> {
    let facturas = client.buscar_facturas(desde, hasta).await?;
    let notas = client.buscar_notas(desde, hasta).await?;
    let total = (facturas.len() + notas.len()) as u64;
    let mut out = WindowFetch {
        fetched: total,
        ..WindowFetch::default()
    };
    let mut done = 0u64;
    for (kind, rows) in [(DocKind::Factura, facturas), (DocKind::Nota, notas)] {
        for row in rows {
            let origen = match kind {
                DocKind::Factura => "factura",
                DocKind::Nota => "nota",
            };
            let folio_of =
                |v: &Value| text(crate::wire::field(v, &["folioUnico", "folio", "numDoc"]));
            let reject = |id: Option<String>, folio: Option<String>, message: String| Rejected {
                origen,
                id_documento: id,
                folio,
                message,
            };
            let folio = folio_of(&row);
            let resumen = match Resumen::from_value(row) {
                Ok(r) => r,
                Err(m) => {
                    out.rejected.push(reject(None, folio, m));
                    done += 1;
                    progress(done, total);
                    continue;
                }
            };
            let answer = match kind {
                DocKind::Factura => client.factura_por_id(&resumen.id_documento).await,
                DocKind::Nota => client.nota_por_id(&resumen.id_documento).await,
            };
            let mapped = match answer {
                Ok(a) => Detalle::from_answer(a)
                    .map_err(|m| format!("detalle: {m}"))
                    .and_then(|d| map_document(kind, &resumen, &d)),
                // one document's detail that is missing or garbled does not stop the pull
                Err(IconstruyeError::Http { status: 404, .. }) => {
                    Err("el detalle no existe en iConstruye (404)".to_owned())
                }
                Err(IconstruyeError::Malformed { detail, .. }) => Err(format!("detalle: {detail}")),
                Err(e) => return Err(e),
            };
            match mapped {
                Ok(m) => out.documents.push(m),
                Err(message) => out.rejected.push(reject(
                    Some(resumen.id_documento.clone()),
                    resumen.folio.clone(),
                    message,
                )),
            }
            done += 1;
            progress(done, total);
        }
    }
    Ok(out)
}

//! The panel: spend per obra, age of the debt and claim deadlines, each figure with the
//! list filter that shows its documents where the list can express it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use icc_core::{AgingBucket, DteType, aging_bucket};
use icc_store::InvoiceFilter;
use serde::Serialize;

use crate::App;
use crate::auth::Session;
use crate::error::Result;
use crate::filter::ListFilter;
use icc_core::{CLAIM_WARNING_DAYS, claim_state};

/// Spend of one obra.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObraSpend {
    /// Obra code; `None` for documents without an obra.
    pub obra: Option<String>,
    /// Obra name.
    pub nombre: Option<String>,
    /// Documents (neither rejected nor voided; dispatch guides excluded).
    pub documentos: i64,
    /// Total with credit notes subtracted.
    pub total: i64,
    /// The list filter showing these documents.
    pub filtro: Option<ListFilter>,
}

/// One aging bucket of what is owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgingSlice {
    /// Bucket.
    pub bucket: AgingBucket,
    /// Spanish label.
    pub label: String,
    /// Payable documents in it.
    pub documentos: i64,
    /// Amount owed, credit notes subtracted.
    pub total: i64,
    /// The list filter showing them (overdue buckets show every overdue document).
    pub filtro: Option<ListFilter>,
}

/// Documents still open to a claim, by the state of their deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClaimSlice {
    /// `vencido`, `por_vencer`, `vigente` or `desconocido`.
    pub estado: String,
    /// Spanish label.
    pub label: String,
    /// Documents.
    pub documentos: i64,
    /// The list filter showing them, where one exists.
    pub filtro: Option<ListFilter>,
}

/// The panel's figures, as of `hoy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Dashboard {
    /// The date the figures count from, `AAAA-MM-DD`.
    pub hoy: String,
    /// Spend per obra, largest first.
    pub gasto_por_obra: Vec<ObraSpend>,
    /// Debt by age, from al día to más de 90 días.
    pub antiguedad: Vec<AgingSlice>,
    /// Claim deadlines of documents still under review.
    pub plazos: Vec<ClaimSlice>,
}

fn sign(tipo: i64) -> i64 {
    dte(tipo).map_or(1, DteType::total_sign)
}

fn dte(tipo: i64) -> Option<DteType> {
    u16::try_from(tipo).ok().and_then(|c| DteType::new(c).ok())
}

impl App {
    /// The panel for this user (their obras only, for a site manager).
    ///
    /// # Errors
    /// Store errors.
    pub async fn dashboard(&self, s: &Session) -> Result<Dashboard> {
        let filter = self.scoped_filter(s, InvoiceFilter::default())?;
        let today: NaiveDate = filter
            .today
            .unwrap_or_else(|| chrono::Local::now().date_naive());
        let g = self.store.dashboard_groups(&filter).await?;

        let mut obras: BTreeMap<Option<String>, ObraSpend> = BTreeMap::new();
        for r in g.spend {
            let s = sign(r.tipo_dte);
            if s == 0 {
                continue;
            }
            let e = obras.entry(r.obra.clone()).or_insert_with(|| ObraSpend {
                filtro: r.obra.clone().map(|o| ListFilter {
                    obra: Some(o),
                    ..ListFilter::default()
                }),
                obra: r.obra.clone(),
                nombre: r.nombre.clone(),
                documentos: 0,
                total: 0,
            });
            e.documentos += r.documentos;
            e.total = e.total.saturating_add(r.total.saturating_mul(s));
        }
        let mut gasto_por_obra: Vec<ObraSpend> = obras.into_values().collect();
        gasto_por_obra.sort_by_key(|o| std::cmp::Reverse(o.total));

        let buckets = [
            AgingBucket::AlDia,
            AgingBucket::D1a30,
            AgingBucket::D31a60,
            AgingBucket::D61a90,
            AgingBucket::Mas90,
        ];
        let mut antiguedad: Vec<AgingSlice> = buckets
            .iter()
            .map(|b| AgingSlice {
                bucket: *b,
                label: b.label().to_owned(),
                documentos: 0,
                total: 0,
                filtro: (*b != AgingBucket::AlDia).then(|| ListFilter {
                    vencidas: true,
                    ..ListFilter::default()
                }),
            })
            .collect();
        for r in g.due {
            let s = sign(r.tipo_dte);
            let Ok(due) = r.vence.parse::<NaiveDate>() else {
                continue;
            };
            if s == 0 {
                continue;
            }
            let b = aging_bucket(due, today);
            if let Some(slot) = antiguedad.iter_mut().find(|x| x.bucket == b) {
                slot.documentos += r.documentos;
                slot.total = slot.total.saturating_add(r.total.saturating_mul(s));
            }
        }

        let mut plazos: Vec<ClaimSlice> = [
            ("vencido", "plazo vencido"),
            ("por_vencer", "vence en 2 días o menos"),
            ("vigente", "plazo vigente"),
            ("desconocido", "sin recepción SII"),
        ]
        .iter()
        .map(|(e, l)| ClaimSlice {
            estado: (*e).to_owned(),
            label: (*l).to_owned(),
            documentos: 0,
            filtro: (*e == "por_vencer").then(|| ListFilter {
                plazo_por_vencer: Some(CLAIM_WARNING_DAYS as u32),
                ..ListFilter::default()
            }),
        })
        .collect();
        for r in g.claims {
            let deadline = r.plazo.as_deref().and_then(|p| p.parse::<NaiveDate>().ok());
            let estado = claim_state(dte(r.tipo_dte), deadline, today).0.as_str();
            if let Some(slot) = plazos.iter_mut().find(|x| x.estado == estado) {
                slot.documentos += r.documentos;
            }
        }
        Ok(Dashboard {
            hoy: today.to_string(),
            gasto_por_obra,
            antiguedad,
            plazos,
        })
    }
}

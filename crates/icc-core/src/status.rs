//! The invoice status machine.
//!
//! ```text
//! recibida ──► en_revision ──► aprobada ──► parcialmente_pagada ──► pagada
//!    │             │   ▲          │                                  ▲
//!    │             ▼   │          └──────────────────────────────────┘
//!    │          rechazada (motivo required)
//!    └─► aprobada / rechazada directly (approving implies the review)
//! any state but pagada ──► anulada
//! ```
//! Reopening: aprobada or rechazada ──► en_revision.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Where an invoice stands in its review and payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Received, nobody has looked at it yet.
    #[default]
    Recibida,
    /// Someone is reviewing it.
    EnRevision,
    /// Approved for payment.
    Aprobada,
    /// Rejected, with a reason.
    Rechazada,
    /// Part of it has been paid.
    ParcialmentePagada,
    /// Fully paid.
    Pagada,
    /// Voided (e.g. annulled by a credit note).
    Anulada,
}

impl InvoiceStatus {
    /// Every status, in workflow order.
    pub const ALL: [InvoiceStatus; 7] = [
        InvoiceStatus::Recibida,
        InvoiceStatus::EnRevision,
        InvoiceStatus::Aprobada,
        InvoiceStatus::Rechazada,
        InvoiceStatus::ParcialmentePagada,
        InvoiceStatus::Pagada,
        InvoiceStatus::Anulada,
    ];

    /// Stable name, as stored and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Recibida => "recibida",
            InvoiceStatus::EnRevision => "en_revision",
            InvoiceStatus::Aprobada => "aprobada",
            InvoiceStatus::Rechazada => "rechazada",
            InvoiceStatus::ParcialmentePagada => "parcialmente_pagada",
            InvoiceStatus::Pagada => "pagada",
            InvoiceStatus::Anulada => "anulada",
        }
    }

    /// Spanish label for people.
    pub fn label(self) -> &'static str {
        match self {
            InvoiceStatus::Recibida => "recibida",
            InvoiceStatus::EnRevision => "en revisión",
            InvoiceStatus::Aprobada => "aprobada",
            InvoiceStatus::Rechazada => "rechazada",
            InvoiceStatus::ParcialmentePagada => "parcialmente pagada",
            InvoiceStatus::Pagada => "pagada",
            InvoiceStatus::Anulada => "anulada",
        }
    }

    /// Whether a claim to the SII can still be made in this state (received, under review,
    /// or rejected here and possibly to be claimed): what "plazo de reclamo por vencer"
    /// lists, together with the document's claim deadline.
    pub fn is_open_to_claim(self) -> bool {
        matches!(
            self,
            InvoiceStatus::Recibida | InvoiceStatus::EnRevision | InvoiceStatus::Rechazada
        )
    }

    /// Whether money is still owed on it (it counts for due dates and aging).
    pub fn is_payable(self) -> bool {
        matches!(
            self,
            InvoiceStatus::Recibida
                | InvoiceStatus::EnRevision
                | InvoiceStatus::Aprobada
                | InvoiceStatus::ParcialmentePagada
        )
    }

    /// Whether the machine allows `self → to`.
    pub fn can_become(self, to: InvoiceStatus) -> bool {
        use InvoiceStatus::*;
        matches!(
            (self, to),
            (Recibida, EnRevision | Aprobada | Rechazada)
                | (EnRevision, Aprobada | Rechazada)
                | (Aprobada | Rechazada, EnRevision)
                | (Aprobada, ParcialmentePagada | Pagada)
                | (ParcialmentePagada, Pagada)
                | (
                    Recibida | EnRevision | Aprobada | Rechazada | ParcialmentePagada,
                    Anulada
                )
        )
    }

    /// Checks a transition; a rejection needs a non-empty `motivo`.
    ///
    /// # Errors
    /// [`CoreError::IllegalTransition`] naming both states, or a missing motivo.
    pub fn check_transition(self, to: InvoiceStatus, motivo: Option<&str>) -> Result<()> {
        if !self.can_become(to) {
            let hint = if self == to {
                ": ya está en ese estado".to_owned()
            } else if matches!(self, InvoiceStatus::Pagada | InvoiceStatus::Anulada) {
                format!(": una factura {} ya no cambia de estado", self.label())
            } else {
                String::new()
            };
            return Err(CoreError::IllegalTransition {
                from: self.label(),
                to: to.label(),
                hint,
            });
        }
        if to == InvoiceStatus::Rechazada && motivo.is_none_or(|m| m.trim().is_empty()) {
            return Err(CoreError::invalid(
                "motivo",
                "",
                "para rechazar una factura indique el motivo (--motivo)",
            ));
        }
        Ok(())
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvoiceStatus {
    type Err = CoreError;

    /// Accepts the stored names and the Spanish labels (`en revisión`, `en-revision`).
    fn from_str(s: &str) -> Result<InvoiceStatus> {
        let norm: String = s
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| match c {
                'á' => 'a',
                'é' => 'e',
                'í' => 'i',
                'ó' => 'o',
                'ú' => 'u',
                ' ' | '-' => '_',
                c => c,
            })
            .collect();
        InvoiceStatus::ALL.into_iter().find(|st| st.as_str() == norm).ok_or_else(|| {
            CoreError::invalid(
                "estado",
                s.trim(),
                "los estados son recibida, en_revision, aprobada, rechazada, parcialmente_pagada, pagada y anulada",
            )
        })
    }
}

/// A recorded status change: who, when, from, to, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Previous status.
    pub from: InvoiceStatus,
    /// New status.
    pub to: InvoiceStatus,
    /// User name of who changed it.
    pub by: String,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Reason (required for rechazada).
    pub motivo: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvoiceStatus::*;

    #[test]
    fn the_review_path_is_allowed() {
        for (a, b) in [
            (Recibida, EnRevision),
            (EnRevision, Aprobada),
            (Aprobada, ParcialmentePagada),
            (ParcialmentePagada, Pagada),
            (Aprobada, Pagada),
            (Rechazada, EnRevision),
        ] {
            assert!(a.check_transition(b, None).is_ok(), "{a} -> {b}");
        }
    }

    #[test]
    fn illegal_transitions_name_both_states() {
        let e = Pagada
            .check_transition(Recibida, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pagada") && e.contains("recibida"), "{e}");
        assert!(
            Recibida.check_transition(Pagada, None).is_err(),
            "cannot pay before approval"
        );
        assert!(Anulada.check_transition(Aprobada, None).is_err());
        assert!(
            Aprobada
                .check_transition(Aprobada, None)
                .unwrap_err()
                .to_string()
                .contains("ya está")
        );
    }

    #[test]
    fn rejection_requires_a_reason() {
        assert!(EnRevision.check_transition(Rechazada, None).is_err());
        assert!(EnRevision.check_transition(Rechazada, Some("  ")).is_err());
        assert!(
            EnRevision
                .check_transition(Rechazada, Some("precio distinto a la OC"))
                .is_ok()
        );
    }

    #[test]
    fn spanish_spellings_parse() {
        assert_eq!("en revisión".parse::<InvoiceStatus>().unwrap(), EnRevision);
        assert_eq!(
            "Parcialmente-Pagada".parse::<InvoiceStatus>().unwrap(),
            ParcialmentePagada
        );
        let e = "pagadx".parse::<InvoiceStatus>().unwrap_err().to_string();
        assert!(e.contains("estado") && e.contains("pagadx"));
    }

    #[test]
    fn a_claim_stays_open_until_approval_payment_or_voiding() {
        let open: Vec<InvoiceStatus> = InvoiceStatus::ALL
            .into_iter()
            .filter(|s| s.is_open_to_claim())
            .collect();
        assert_eq!(open, [Recibida, EnRevision, Rechazada]);
    }
}

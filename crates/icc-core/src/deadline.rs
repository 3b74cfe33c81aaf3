//! Legal deadlines: the 8-day claim window, the due date, and aging buckets.

use chrono::{Days, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::dte::DteType;

/// Days (corridos) after SII reception during which the buyer may claim
/// (Ley 19.983 art. 3, as amended by Ley 20.956).
pub const CLAIM_DAYS: u64 = 8;

/// Legal payment term when the invoice states none (Ley 19.983 art. 2).
pub const DEFAULT_PAYMENT_TERM_DAYS: u64 = 30;

/// Last day on which the document can still be claimed: the 8th calendar day after its
/// reception at the SII. `None` means "plazo desconocido" (no reception time, so never
/// guess) or a type that cannot be claimed.
pub fn claim_deadline(tipo: DteType, recepcion_sii: Option<NaiveDateTime>) -> Option<NaiveDate> {
    if !tipo.is_claimable() {
        return None;
    }
    recepcion_sii?
        .date()
        .checked_add_days(Days::new(CLAIM_DAYS))
}

/// Days before the claim deadline from which it counts as "por vencer" (screens warn,
/// reports highlight).
pub const CLAIM_WARNING_DAYS: i64 = 2;

/// Where a document stands with its claim deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// The type cannot be claimed.
    NoAplica,
    /// The SII reception is unknown, so the deadline is too (never guessed).
    Desconocido,
    /// More than [`CLAIM_WARNING_DAYS`] days left.
    Vigente,
    /// [`CLAIM_WARNING_DAYS`] days or fewer left.
    PorVencer,
    /// Expired: the document is irrevocably accepted.
    Vencido,
}

impl ClaimState {
    /// The code screens and JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimState::NoAplica => "no_aplica",
            ClaimState::Desconocido => "desconocido",
            ClaimState::Vigente => "vigente",
            ClaimState::PorVencer => "por_vencer",
            ClaimState::Vencido => "vencido",
        }
    }
}

/// The claim deadline's state on `today`, and the days left (negative once expired).
pub fn claim_state(
    tipo: Option<DteType>,
    deadline: Option<NaiveDate>,
    today: NaiveDate,
) -> (ClaimState, Option<i64>) {
    match (tipo.is_some_and(DteType::is_claimable), deadline) {
        (false, _) => (ClaimState::NoAplica, None),
        (true, None) => (ClaimState::Desconocido, None),
        (true, Some(d)) => {
            let left = (d - today).num_days();
            let st = if left < 0 {
                ClaimState::Vencido
            } else if left <= CLAIM_WARNING_DAYS {
                ClaimState::PorVencer
            } else {
                ClaimState::Vigente
            };
            (st, Some(left))
        }
    }
}

/// The due date: the stated vencimiento, else 30 days from reception at the SII, else from
/// the import date, else from emission ([`crate::pagos::legal_due_date`] says which).
pub fn due_date(
    vencimiento: Option<NaiveDate>,
    recepcion_sii: Option<NaiveDateTime>,
    importacion: Option<NaiveDate>,
    emision: NaiveDate,
) -> NaiveDate {
    crate::pagos::legal_due_date(vencimiento, recepcion_sii, importacion, emision).date
}

/// Accounts-payable aging by days overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AgingBucket {
    /// Not yet due.
    AlDia,
    /// 1–30 days overdue.
    D1a30,
    /// 31–60 days overdue.
    D31a60,
    /// 61–90 days overdue.
    D61a90,
    /// More than 90 days overdue.
    Mas90,
}

impl AgingBucket {
    /// Spanish label.
    pub fn label(self) -> &'static str {
        match self {
            AgingBucket::AlDia => "al día",
            AgingBucket::D1a30 => "1–30 días",
            AgingBucket::D31a60 => "31–60 días",
            AgingBucket::D61a90 => "61–90 días",
            AgingBucket::Mas90 => "más de 90 días",
        }
    }
}

/// The bucket of a document due on `due` as of `today`.
pub fn aging_bucket(due: NaiveDate, today: NaiveDate) -> AgingBucket {
    match (today - due).num_days() {
        d if d <= 0 => AgingBucket::AlDia,
        1..=30 => AgingBucket::D1a30,
        31..=60 => AgingBucket::D31a60,
        61..=90 => AgingBucket::D61a90,
        _ => AgingBucket::Mas90,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_states_count_the_two_warning_days_and_never_guess() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let f = Some(DteType::FACTURA);
        let today = d("2026-11-28");
        let st = |deadline: &str| claim_state(f, Some(d(deadline)), today);
        assert_eq!(st("2026-12-01"), (ClaimState::Vigente, Some(3)));
        assert_eq!(st("2026-11-30"), (ClaimState::PorVencer, Some(2)));
        assert_eq!(st("2026-11-28"), (ClaimState::PorVencer, Some(0)));
        assert_eq!(st("2026-11-27"), (ClaimState::Vencido, Some(-1)));
        assert_eq!(claim_state(f, None, today), (ClaimState::Desconocido, None));
        assert_eq!(
            claim_state(Some(DteType::GUIA_DESPACHO), Some(today), today).0,
            ClaimState::NoAplica
        );
        assert_eq!(ClaimState::PorVencer.as_str(), "por_vencer");
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn claim_deadline_is_eight_calendar_days_after_reception() {
        let rec = d("2026-10-03").and_hms_opt(16, 27, 3);
        assert_eq!(claim_deadline(DteType::FACTURA, rec), Some(d("2026-10-11")));
        // crosses a month end
        let rec = d("2026-10-28").and_hms_opt(23, 59, 59);
        assert_eq!(claim_deadline(DteType::FACTURA, rec), Some(d("2026-11-05")));
    }

    #[test]
    fn claim_deadline_is_unknown_without_reception_and_absent_for_guides() {
        assert_eq!(claim_deadline(DteType::FACTURA, None), None, "never guess");
        let rec = d("2026-10-03").and_hms_opt(0, 0, 0);
        assert_eq!(claim_deadline(DteType::GUIA_DESPACHO, rec), None);
    }

    #[test]
    fn due_date_prefers_the_stated_one_then_reception_plus_30() {
        let rec = d("2026-10-03").and_hms_opt(10, 0, 0);
        assert_eq!(
            due_date(Some(d("2026-12-01")), rec, None, d("2026-10-01")),
            d("2026-12-01")
        );
        assert_eq!(due_date(None, rec, None, d("2026-10-01")), d("2026-11-02"));
        assert_eq!(due_date(None, None, None, d("2026-10-01")), d("2026-10-31"));
    }

    #[test]
    fn aging_buckets_have_the_promised_edges() {
        let due = d("2026-10-01");
        let cases = [
            ("2026-09-30", AgingBucket::AlDia),
            ("2026-10-01", AgingBucket::AlDia),
            ("2026-10-02", AgingBucket::D1a30),
            ("2026-10-31", AgingBucket::D1a30),
            ("2026-11-01", AgingBucket::D31a60),
            ("2026-11-30", AgingBucket::D31a60),
            ("2026-12-01", AgingBucket::D61a90),
            ("2026-12-30", AgingBucket::D61a90),
            ("2026-12-31", AgingBucket::Mas90),
        ];
        for (today, bucket) in cases {
            assert_eq!(aging_bucket(due, d(today)), bucket, "today {today}");
        }
    }
}

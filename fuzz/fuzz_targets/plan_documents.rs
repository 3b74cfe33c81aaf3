//! Budget and treasury documents as a laptop or the server receives them (pushed or pulled
//! JSON): the server's checks never panic on any text, and whatever a laptop accepts
//! (`well_formed`) computes into its grid without panicking, however large its amounts.
#![no_main]

use icc_core::presupuesto::{
    LOAN_ENTITY, LoanDoc, OBRA_BUDGET_ENTITY, OBRA_LINE_ENTITY, ObraBudgetDoc, ObraLineDoc,
    Movement, PLAN_ENTITIES, TREASURY_BANK_ENTITY, TREASURY_ROW_ENTITY, TreasuryBankDoc,
    TreasuryRowDoc, obra_flow, obra_grid, treasury,
};
use icc_core::records::{check_record, well_formed};
use icc_core::Role;
use libfuzzer_sys::fuzz_target;

const ROLES: [Role; 4] = [Role::Admin, Role::Gerente, Role::Contabilidad, Role::AdminObra];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let entity = PLAN_ENTITIES[usize::from(sel) % PLAN_ENTITIES.len()];
    let role = ROLES[usize::from(sel >> 4) % ROLES.len()];
    // the second half as the server's current document
    let (value, current) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    let id = serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let _ = check_record(entity, &id, value, Some(current), role, "ana");
    let _ = check_record(entity, &id, text, None, role, "ana");
    if well_formed(entity, &id, text).is_err() {
        return;
    }
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default();
    match entity {
        OBRA_LINE_ENTITY => {
            let Ok(l) = serde_json::from_str::<ObraLineDoc>(text) else { return };
            let b = ObraBudgetDoc {
                id: String::new(),
                obra: l.obra.clone(),
                desde: "2026-01-05".into(),
                hasta: "2027-12-27".into(),
                updated_at: String::new(),
                updated_by: String::new(),
            };
            let m = Movement { cuenta: l.cuentas.first().cloned(), centro: None, fecha: day, monto: i64::MAX };
            let g = obra_grid(&b, &[l.clone(), l.clone()], &[m.clone(), m.clone()], &[m]);
            assert!(g.filas.last().is_some_and(|t| t.kind == "total"));
            let obra = l.obra.clone();
            let _ = obra_flow(&obra, &[l]);
        }
        OBRA_BUDGET_ENTITY => {
            let Ok(b) = serde_json::from_str::<ObraBudgetDoc>(text) else { return };
            let g = obra_grid(&b, &[], &[], &[]);
            assert!(g.semanas.len() <= 261);
        }
        TREASURY_BANK_ENTITY => {
            let Ok(b) = serde_json::from_str::<TreasuryBankDoc>(text) else { return };
            let _ = treasury(day, 104, &[b.clone(), b], &[], &[], &[], &[]);
        }
        TREASURY_ROW_ENTITY => {
            let Ok(r) = serde_json::from_str::<TreasuryRowDoc>(text) else { return };
            let _ = treasury(day, 104, &[], &[r.clone(), r], &[], &[], &[]);
        }
        LOAN_ENTITY => {
            let Ok(mut l) = serde_json::from_str::<LoanDoc>(text) else { return };
            let _ = treasury(day, 104, &[], &[], &[l.clone()], &[], &[]);
            let _ = l.saldo();
            let _ = l.pay_next("2026-12-01", "ana");
        }
        _ => {}
    }
});

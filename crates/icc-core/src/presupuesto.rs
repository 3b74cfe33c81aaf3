//! Obra budgets and the company treasury (DOMAIN.md §5, "Obras"; docs/presupuesto.md): the
//! documents that sync beside the payment records, the rules the server applies to them,
//! and the two grids computed from them.
//!
//! * The **catalogue** of budget lines ([`BudgetLineDoc`], admin and gerente): each line
//!   belongs to one of the seven [`FAMILIAS`] and names the cuentas contables and centros
//!   de costo whose invoices are its spend.
//! * Per **obra**: its period ([`ObraBudgetDoc`]) and one document per budget line
//!   ([`ObraLineDoc`]) with the initial budget, every modification (who, when, why; never
//!   rewritten) and the weekly plan. A copy of the line's name, family and mapping travels
//!   in it, so a site manager's laptop, which holds only its obras, computes the same grid.
//! * The **treasury** (admin and gerente only, never sent to other accounts): the company's
//!   bank accounts with an opening balance ([`TreasuryBankDoc`]), editable income and
//!   expense rows ([`TreasuryRowDoc`]) and bank loans with their instalments ([`LoanDoc`]).
//!
//! Weeks start on Monday and are named by that Monday (`AAAA-MM-DD`). Amounts are pesos.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::records::{RecordNeeds, RecordRefusal, invalid, parse, require, same_id};
use crate::role::{Permission, Role};

/// The families of budget lines, in the order the grids show them.
pub const FAMILIAS: [&str; 7] = [
    "INGRESOS",
    "Obras Preliminares",
    "SUBCONTRATO",
    "EQUIPOS",
    "INSTALACION FAENA",
    "GASTOS GENERALES",
    "MANO DE OBRA",
];

/// The income family: the grid's TOTAL is this family minus all the others.
pub const INGRESOS: &str = "INGRESOS";

/// Entity of a catalogue line.
pub const BUDGET_LINE_ENTITY: &str = "budget_line";
/// Entity of an obra's budget period.
pub const OBRA_BUDGET_ENTITY: &str = "obra_budget";
/// Entity of one budget line of one obra.
pub const OBRA_LINE_ENTITY: &str = "obra_budget_line";
/// Entity of a company bank account in the treasury.
pub const TREASURY_BANK_ENTITY: &str = "treasury_bank";
/// Entity of an income or expense row of the treasury.
pub const TREASURY_ROW_ENTITY: &str = "treasury_row";
/// Entity of a bank loan.
pub const LOAN_ENTITY: &str = "loan";

/// Every entity of this module.
pub const PLAN_ENTITIES: [&str; 6] = [
    BUDGET_LINE_ENTITY,
    OBRA_BUDGET_ENTITY,
    OBRA_LINE_ENTITY,
    TREASURY_BANK_ENTITY,
    TREASURY_ROW_ENTITY,
    LOAN_ENTITY,
];

/// The treasury's entities: only accounts that may see the treasury receive them.
pub const TREASURY_ENTITIES: [&str; 3] = [TREASURY_BANK_ENTITY, TREASURY_ROW_ENTITY, LOAN_ENTITY];

/// The longest period a grid covers: five years of weeks.
pub const MAX_WEEKS: i64 = 261;

/// Largest amount accepted anywhere here (a thousand billion pesos): sums of many of them
/// never overflow an `i64`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// The line invoices fall on when no line of the obra maps their cuenta or centro de costo.
pub const SIN_PARTIDA: &str = "Sin partida";

const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2f4e_8a61_93b7_4c1d_b0a5_7e6d_1c3f_9a28);

/// The id of an obra's budget document: one per obra, whoever creates it first.
pub fn obra_budget_id(obra: &str) -> String {
    uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("obra:{}", obra.to_uppercase()).as_bytes(),
    )
    .to_string()
}

/// The id of an obra's document for a catalogue line: one per obra and line.
pub fn obra_line_id(obra: &str, line_id: &str) -> String {
    uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("linea:{}:{line_id}", obra.to_uppercase()).as_bytes(),
    )
    .to_string()
}

/// The Monday of the week `d` falls in.
pub fn week_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// A Monday written `AAAA-MM-DD`.
///
/// # Errors
/// Not a date, or not a Monday.
pub fn parse_monday(what: &str, s: &str) -> Result<NaiveDate, RecordRefusal> {
    let d = date_ok(what, s)?;
    if d.weekday() == Weekday::Mon {
        Ok(d)
    } else {
        Err(invalid(format!(
            "{what} «{s}» no es un lunes: las semanas empiezan el lunes"
        )))
    }
}

/// A catalogue line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BudgetLineDoc {
    /// UUID.
    pub id: String,
    /// One of [`FAMILIAS`].
    pub familia: String,
    /// Its name ("Moldajes", "Estados de pago").
    pub nombre: String,
    /// Cuentas contables whose invoices are this line's spend.
    pub cuentas: Vec<String>,
    /// Centros de costo whose invoices are this line's spend (when the cuenta maps none).
    pub centros: Vec<String>,
    /// Offered for new obra budgets.
    pub activa: bool,
    /// Order within its family.
    pub orden: i64,
    /// Changed (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

/// An obra's budget period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObraBudgetDoc {
    /// [`obra_budget_id`] of the obra.
    pub id: String,
    /// The obra's code.
    pub obra: String,
    /// First week (a Monday).
    pub desde: String,
    /// Last week (a Monday).
    pub hasta: String,
    /// Changed (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

/// A change of a line's budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Modificacion {
    /// Pesos added (negative: taken away).
    pub monto: i64,
    /// Why.
    pub motivo: String,
    /// Who.
    pub por: String,
    /// When (UTC).
    pub en: String,
}

/// A week of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Semana {
    /// The week's Monday.
    pub semana: String,
    /// Planned pesos.
    pub plan: i64,
    /// Actual pesos, typed: only income lines (costs come from the invoices).
    pub real: Option<i64>,
}

/// One budget line of one obra.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObraLineDoc {
    /// [`obra_line_id`] of the obra and line.
    pub id: String,
    /// The obra's code.
    pub obra: String,
    /// The catalogue line.
    pub line_id: String,
    /// Copied from the catalogue.
    pub familia: String,
    /// Copied from the catalogue.
    pub nombre: String,
    /// Copied from the catalogue.
    pub cuentas: Vec<String>,
    /// Copied from the catalogue.
    pub centros: Vec<String>,
    /// Initial budget, pesos.
    pub inicial: i64,
    /// Every modification, oldest first; never rewritten.
    pub modificaciones: Vec<Modificacion>,
    /// Weeks with a plan or a typed actual, by Monday.
    pub semanas: Vec<Semana>,
    /// Changed (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

impl ObraLineDoc {
    /// Initial budget plus every modification.
    pub fn vigente(&self) -> i64 {
        self.inicial
            .saturating_add(total(self.modificaciones.iter().map(|m| &m.monto)))
    }
}

/// A company bank account in the treasury.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryBankDoc {
    /// UUID.
    pub id: String,
    /// "Santander cta. cte. 1234".
    pub nombre: String,
    /// Balance at the start of `semana` (negative: overdrawn).
    pub saldo_inicial: i64,
    /// The Monday the balance is taken.
    pub semana: String,
    /// Flows that name no account go to the principal one.
    pub principal: bool,
    /// Deleted (kept so the deletion syncs).
    pub eliminado: bool,
    /// Changed (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

/// An amount in a week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SemanaMonto {
    /// The week's Monday.
    pub semana: String,
    /// Pesos (≥ 0; the row's kind gives the sign).
    pub monto: i64,
}

/// An income or expense row of the treasury, typed by week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryRowDoc {
    /// UUID.
    pub id: String,
    /// What it is.
    pub concepto: String,
    /// `ingreso` or `egreso`.
    pub tipo: String,
    /// The bank account it moves (`None`: the principal one).
    pub banco_id: Option<String>,
    /// Amounts by week.
    pub montos: Vec<SemanaMonto>,
    /// Deleted.
    pub eliminado: bool,
    /// Changed (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

/// An instalment of a loan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Cuota {
    /// 1, 2, …
    pub n: i64,
    /// Due date.
    pub vence: String,
    /// Pesos (capital and interest).
    pub monto: i64,
    /// The day it was paid.
    pub pagada: Option<String>,
    /// Who recorded it.
    pub pagada_por: Option<String>,
}

/// A bank loan and its instalments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoanDoc {
    /// UUID.
    pub id: String,
    /// Lender ("Banco de Chile").
    pub banco: String,
    /// What it is for.
    pub descripcion: String,
    /// The treasury account its instalments are paid from (`None`: the principal one).
    pub banco_id: Option<String>,
    /// Principal, pesos.
    pub monto: i64,
    /// The schedule.
    pub cuotas: Vec<Cuota>,
    /// Deleted.
    pub eliminado: bool,
    /// Changed (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

impl LoanDoc {
    /// The next instalment to pay.
    pub fn proxima(&self) -> Option<&Cuota> {
        self.cuotas.iter().find(|c| c.pagada.is_none())
    }

    /// What is still owed.
    pub fn saldo(&self) -> i64 {
        total(
            self.cuotas
                .iter()
                .filter(|c| c.pagada.is_none())
                .map(|c| &c.monto),
        )
    }

    /// Pays the next instalment on `fecha`; the one after it becomes the next.
    ///
    /// # Errors
    /// Nothing left to pay.
    pub fn pay_next(&mut self, fecha: &str, por: &str) -> Result<i64, String> {
        let Some(c) = self.cuotas.iter_mut().find(|c| c.pagada.is_none()) else {
            return Err(format!(
                "el préstamo «{}» no tiene cuotas por pagar",
                self.descripcion
            ));
        };
        c.pagada = Some(fecha.to_owned());
        c.pagada_por = Some(por.to_owned());
        Ok(c.n)
    }
}

/// A schedule of `n` monthly instalments from `primera`, `total` split evenly (the last
/// takes the remainder). `n` is 1 to 600.
pub fn schedule(total: i64, n: i64, primera: NaiveDate) -> Vec<Cuota> {
    let n = n.clamp(1, 600);
    let base = total / n;
    (0..n)
        .map(|i| {
            let vence = primera
                .checked_add_months(chrono::Months::new(u32::try_from(i).unwrap_or(0)))
                .unwrap_or(primera);
            Cuota {
                n: i + 1,
                vence: vence.format("%Y-%m-%d").to_string(),
                monto: if i == n - 1 {
                    total - base * (n - 1)
                } else {
                    base
                },
                pagada: None,
                pagada_por: None,
            }
        })
        .collect()
}

fn text_ok(what: &str, s: &str, required: bool) -> Result<(), RecordRefusal> {
    if required && s.trim().is_empty() {
        return Err(invalid(format!("falta {what}")));
    }
    if s.chars().count() > 500 || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} trae caracteres de control o más de 500 caracteres"
        )));
    }
    Ok(())
}

fn amount_ok(what: &str, v: i64, negative: bool) -> Result<(), RecordRefusal> {
    if !(-MAX_AMOUNT..=MAX_AMOUNT).contains(&v) || (!negative && v < 0) {
        Err(invalid(format!(
            "{what} ({v}) está fuera de rango{}",
            if negative {
                ""
            } else {
                ": no puede ser negativo"
            }
        )))
    } else {
        Ok(())
    }
}

/// Years a date here may fall in: grids step through weeks, and nothing of a company's
/// budget is outside them.
pub const YEARS: std::ops::RangeInclusive<i32> = 1990..=2200;

fn date_ok(what: &str, s: &str) -> Result<NaiveDate, RecordRefusal> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|d| YEARS.contains(&d.year()))
        .ok_or_else(|| {
            invalid(format!(
                "{what} «{s}» no es una fecha AAAA-MM-DD entre {} y {}",
                YEARS.start(),
                YEARS.end()
            ))
        })
}

fn familia_ok(f: &str) -> Result<(), RecordRefusal> {
    if FAMILIAS.contains(&f) {
        Ok(())
    } else {
        Err(invalid(format!(
            "«{f}» no es una familia de partidas ({})",
            FAMILIAS.join(", ")
        )))
    }
}

fn codes_ok(what: &str, codes: &[String]) -> Result<(), RecordRefusal> {
    if codes.len() > 200 {
        return Err(invalid(format!("{what}: más de 200 códigos")));
    }
    for c in codes {
        text_ok(what, c, true)?;
    }
    Ok(())
}

fn obra_ok(obra: &str) -> Result<(), RecordRefusal> {
    text_ok("el código de la obra", obra, true)?;
    if obra.chars().count() > 40 {
        return Err(invalid(format!("«{obra}» no es un código de obra")));
    }
    Ok(())
}

fn weeks_ok(what: &str, weeks: impl Iterator<Item = String>) -> Result<(), RecordRefusal> {
    let mut seen = std::collections::HashSet::new();
    for w in weeks {
        parse_monday(what, &w)?;
        if !seen.insert(w.clone()) {
            return Err(invalid(format!("{what}: la semana {w} aparece dos veces")));
        }
        if seen.len() > 2_000 {
            return Err(invalid(format!("{what}: demasiadas semanas")));
        }
    }
    Ok(())
}

/// Checks a pushed document of this module (see `records::check_record`).
///
/// # Errors
/// Why the server refuses it.
pub fn check_plan(
    entity: &str,
    entity_id: &str,
    value: &str,
    current: Option<&str>,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    match entity {
        BUDGET_LINE_ENTITY => {
            let l: BudgetLineDoc = parse("la partida", value)?;
            same_id(entity_id, &l.id, "la partida")?;
            require(role, user, Permission::ManageBudgetCatalog)?;
            familia_ok(&l.familia)?;
            text_ok("el nombre de la partida", &l.nombre, true)?;
            codes_ok("las cuentas de la partida", &l.cuentas)?;
            codes_ok("los centros de costo de la partida", &l.centros)?;
            Ok(RecordNeeds::default())
        }
        OBRA_BUDGET_ENTITY => {
            let b: ObraBudgetDoc = parse("el presupuesto de la obra", value)?;
            obra_ok(&b.obra)?;
            same_id(entity_id, &obra_budget_id(&b.obra), "el presupuesto")?;
            same_id(entity_id, &b.id, "el presupuesto")?;
            require(role, user, Permission::EditBudgets)?;
            let desde = parse_monday("el inicio del período", &b.desde)?;
            let hasta = parse_monday("el fin del período", &b.hasta)?;
            let weeks = (hasta - desde).num_weeks() + 1;
            if !(1..=MAX_WEEKS).contains(&weeks) {
                return Err(invalid(format!(
                    "el período {} a {} no va de 1 a {MAX_WEEKS} semanas",
                    b.desde, b.hasta
                )));
            }
            if let Some(cur) = current {
                let cur: ObraBudgetDoc = parse("el presupuesto del servidor", cur)?;
                if !cur.obra.eq_ignore_ascii_case(&b.obra) {
                    return Err(invalid("un presupuesto no cambia de obra"));
                }
            }
            Ok(RecordNeeds {
                obra: Some(b.obra),
                ..RecordNeeds::default()
            })
        }
        OBRA_LINE_ENTITY => {
            let l: ObraLineDoc = parse("la partida de la obra", value)?;
            obra_ok(&l.obra)?;
            same_id(entity_id, &obra_line_id(&l.obra, &l.line_id), "la partida")?;
            same_id(entity_id, &l.id, "la partida")?;
            require(role, user, Permission::EditBudgets)?;
            familia_ok(&l.familia)?;
            text_ok("el nombre de la partida", &l.nombre, true)?;
            codes_ok("las cuentas de la partida", &l.cuentas)?;
            codes_ok("los centros de costo de la partida", &l.centros)?;
            amount_ok("el presupuesto inicial", l.inicial, false)?;
            weeks_ok("la partida", l.semanas.iter().map(|s| s.semana.clone()))?;
            for s in &l.semanas {
                amount_ok("el monto planificado", s.plan, false)?;
                if let Some(r) = s.real {
                    if l.familia != INGRESOS {
                        return Err(invalid(format!(
                            "la partida «{}» es de costos: su gasto real sale de las facturas, no se escribe",
                            l.nombre
                        )));
                    }
                    amount_ok("el ingreso real", r, false)?;
                }
            }
            if l.modificaciones.len() > 1_000 {
                return Err(invalid("más de 1.000 modificaciones en una partida"));
            }
            let kept = match current {
                Some(cur) => {
                    let cur: ObraLineDoc = parse("la partida del servidor", cur)?;
                    if !cur.obra.eq_ignore_ascii_case(&l.obra) || cur.line_id != l.line_id {
                        return Err(invalid("una partida no cambia de obra ni de catálogo"));
                    }
                    let copy = |d: &ObraLineDoc| {
                        (
                            d.familia.clone(),
                            d.nombre.clone(),
                            d.cuentas.clone(),
                            d.centros.clone(),
                        )
                    };
                    if copy(&cur) != copy(&l) && !role.may(Permission::ManageBudgetCatalog) {
                        return Err(RecordRefusal::Forbidden(format!(
                            "el nombre, la familia y las cuentas de la partida «{}» son del catálogo: los cambia administración o gerencia",
                            cur.nombre
                        )));
                    }
                    if cur.inicial != l.inicial {
                        return Err(invalid(format!(
                            "el presupuesto inicial de «{}» no se cambia: se agrega una modificación con su motivo",
                            l.nombre
                        )));
                    }
                    if l.modificaciones.len() < cur.modificaciones.len()
                        || l.modificaciones[..cur.modificaciones.len()] != cur.modificaciones[..]
                    {
                        return Err(invalid(format!(
                            "las modificaciones de la partida «{}» no se borran ni se reescriben; se agrega una nueva",
                            l.nombre
                        )));
                    }
                    cur.modificaciones.len()
                }
                None => 0,
            };
            for m in &l.modificaciones[kept..] {
                text_ok("quién hizo la modificación", &m.por, true)?;
                if m.monto == 0 {
                    return Err(invalid("una modificación de $0 no cambia nada"));
                }
                amount_ok("la modificación", m.monto, true)?;
                text_ok("el motivo de la modificación", &m.motivo, true)?;
                chrono::DateTime::parse_from_rfc3339(&m.en)
                    .map_err(|_| invalid(format!("«{}» no es una fecha y hora", m.en)))?;
            }
            if l.vigente() < 0 {
                return Err(invalid(format!(
                    "el presupuesto vigente de «{}» quedaría negativo",
                    l.nombre
                )));
            }
            // a new line's copy must be the catalogue's, unless the catalogue is theirs to edit
            let catalog_line = (current.is_none() && !role.may(Permission::ManageBudgetCatalog))
                .then(|| l.line_id.clone());
            Ok(RecordNeeds {
                obra: Some(l.obra),
                catalog_line,
                ..RecordNeeds::default()
            })
        }
        TREASURY_BANK_ENTITY => {
            let b: TreasuryBankDoc = parse("la cuenta de tesorería", value)?;
            same_id(entity_id, &b.id, "la cuenta")?;
            require(role, user, Permission::Treasury)?;
            text_ok("el nombre de la cuenta", &b.nombre, true)?;
            amount_ok("el saldo inicial", b.saldo_inicial, true)?;
            parse_monday("la semana del saldo", &b.semana)?;
            Ok(RecordNeeds::default())
        }
        TREASURY_ROW_ENTITY => {
            let r: TreasuryRowDoc = parse("la fila de tesorería", value)?;
            same_id(entity_id, &r.id, "la fila")?;
            require(role, user, Permission::Treasury)?;
            text_ok("el concepto", &r.concepto, true)?;
            if r.tipo != "ingreso" && r.tipo != "egreso" {
                return Err(invalid(format!(
                    "«{}» no es un tipo de fila (ingreso o egreso)",
                    r.tipo
                )));
            }
            weeks_ok("la fila", r.montos.iter().map(|m| m.semana.clone()))?;
            for m in &r.montos {
                amount_ok("el monto", m.monto, false)?;
            }
            Ok(RecordNeeds::default())
        }
        LOAN_ENTITY => {
            let l: LoanDoc = parse("el préstamo", value)?;
            same_id(entity_id, &l.id, "el préstamo")?;
            require(role, user, Permission::Treasury)?;
            text_ok("el banco del préstamo", &l.banco, true)?;
            text_ok("la descripción del préstamo", &l.descripcion, false)?;
            amount_ok("el monto del préstamo", l.monto, false)?;
            if l.cuotas.is_empty() || l.cuotas.len() > 600 {
                return Err(invalid("un préstamo tiene de 1 a 600 cuotas"));
            }
            let mut paid_done = false;
            for (i, c) in l.cuotas.iter().enumerate() {
                if c.n != i as i64 + 1 {
                    return Err(invalid("las cuotas van numeradas 1, 2, 3… en orden"));
                }
                date_ok("el vencimiento de la cuota", &c.vence)?;
                amount_ok("el monto de la cuota", c.monto, false)?;
                match &c.pagada {
                    Some(d) => {
                        date_ok("el pago de la cuota", d)?;
                        if paid_done {
                            return Err(invalid(
                                "las cuotas se pagan en orden: hay una pagada después de una por pagar",
                            ));
                        }
                    }
                    None => paid_done = true,
                }
            }
            if let Some(cur) = current {
                let cur: LoanDoc = parse("el préstamo del servidor", cur)?;
                for c in cur.cuotas.iter().filter(|c| c.pagada.is_some()) {
                    let same =
                        c.n.checked_sub(1)
                            .and_then(|i| usize::try_from(i).ok())
                            .and_then(|i| l.cuotas.get(i))
                            .is_some_and(|n| n == c);
                    if !same {
                        return Err(invalid(format!(
                            "la cuota {} del préstamo ya está pagada y no se modifica",
                            c.n
                        )));
                    }
                }
            }
            Ok(RecordNeeds::default())
        }
        other => Err(invalid(format!(
            "no se sincronizan documentos de «{other}»"
        ))),
    }
}

/// The obra a document of this module belongs to, read from the document (`None`: the
/// catalogue and the treasury).
pub fn doc_obra(entity: &str, value: &serde_json::Value) -> Option<String> {
    matches!(entity, OBRA_BUDGET_ENTITY | OBRA_LINE_ENTITY)
        .then(|| value.get("obra")?.as_str().map(str::to_owned))
        .flatten()
}

/// An invoice's cost (or a payment) as the grid reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// The invoice's cuenta contable.
    pub cuenta: Option<String>,
    /// The invoice's centro de costo.
    pub centro: Option<String>,
    /// Emission date (spend) or payment date (payments).
    pub fecha: NaiveDate,
    /// Pesos with the document's sign (credit notes negative).
    pub monto: i64,
}

/// Which of `lines` a movement belongs to: the first cost line (in grid order) whose
/// cuentas hold its cuenta, else the first whose centros hold its centro de costo; `None`:
/// unmapped. Income lines take no invoices: their actuals are typed.
pub fn line_for(
    lines: &[&ObraLineDoc],
    cuenta: Option<&str>,
    centro: Option<&str>,
) -> Option<usize> {
    let norm = |s: &str| s.trim().to_uppercase();
    let hit = |l: &ObraLineDoc, codes: &[String], v: Option<&str>| {
        l.familia != INGRESOS
            && v.map(norm)
                .filter(|v| !v.is_empty())
                .is_some_and(|v| codes.iter().any(|c| norm(c) == v))
    };
    lines
        .iter()
        .position(|l| hit(l, &l.cuentas, cuenta))
        .or_else(|| lines.iter().position(|l| hit(l, &l.centros, centro)))
}

/// One row of the obra grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GridRow {
    /// The obra's line document (`None`: a family subtotal, the total or "sin partida").
    pub id: Option<String>,
    /// `linea`, `sin_partida`, `familia`, `total`.
    pub kind: String,
    /// Family.
    pub familia: String,
    /// Label.
    pub nombre: String,
    /// Initial budget.
    pub inicial: i64,
    /// Sum of modifications.
    pub modificaciones: i64,
    /// Initial plus modifications.
    pub vigente: i64,
    /// Planned per week.
    pub plan: Vec<i64>,
    /// Actual per week (costs: invoices; income: typed).
    pub real: Vec<i64>,
    /// Paid per week (payments of the invoices).
    pub pagado: Vec<i64>,
    /// Sum of `plan`.
    pub plan_total: i64,
    /// Sum of `real`.
    pub real_total: i64,
    /// Sum of `pagado`.
    pub pagado_total: i64,
    /// `vigente − real_total` (a cost line under budget is positive).
    pub variacion: i64,
}

/// An obra's budget grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObraGrid {
    /// The obra.
    pub obra: String,
    /// The period's weeks (Mondays).
    pub semanas: Vec<String>,
    /// Lines of each family followed by its subtotal; "sin partida" when some spend maps
    /// no line; the TOTAL last.
    pub filas: Vec<GridRow>,
}

/// A saturating sum: grids add user-typed and imported amounts, which must never panic or
/// wrap however large they are.
fn total<'a>(v: impl IntoIterator<Item = &'a i64>) -> i64 {
    v.into_iter().fold(0, |a, b| a.saturating_add(*b))
}

fn add_into(a: &mut [i64], b: &[i64], sign: i64) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_add(y.saturating_mul(sign));
    }
}

impl GridRow {
    fn empty(kind: &str, familia: &str, nombre: &str, weeks: usize) -> GridRow {
        GridRow {
            id: None,
            kind: kind.to_owned(),
            familia: familia.to_owned(),
            nombre: nombre.to_owned(),
            inicial: 0,
            modificaciones: 0,
            vigente: 0,
            plan: vec![0; weeks],
            real: vec![0; weeks],
            pagado: vec![0; weeks],
            plan_total: 0,
            real_total: 0,
            pagado_total: 0,
            variacion: 0,
        }
    }

    fn close(&mut self) {
        self.vigente = self.inicial.saturating_add(self.modificaciones);
        self.plan_total = total(&self.plan);
        self.real_total = total(&self.real);
        self.pagado_total = total(&self.pagado);
        self.variacion = self.vigente.saturating_sub(self.real_total);
    }

    fn add(&mut self, o: &GridRow, sign: i64) {
        self.inicial = self.inicial.saturating_add(o.inicial.saturating_mul(sign));
        self.modificaciones = self
            .modificaciones
            .saturating_add(o.modificaciones.saturating_mul(sign));
        add_into(&mut self.plan, &o.plan, sign);
        add_into(&mut self.real, &o.real, sign);
        add_into(&mut self.pagado, &o.pagado, sign);
    }
}

/// The weeks of a period, Mondays from `desde` to `hasta` (at most [`MAX_WEEKS`]).
pub fn weeks(desde: NaiveDate, hasta: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut w = week_of(desde);
    while w <= hasta && (out.len() as i64) < MAX_WEEKS {
        out.push(w);
        w += Duration::days(7);
    }
    out
}

/// Computes an obra's grid: per line its budget, plan per week, actual spend per week
/// (invoices of the obra by emission week, mapped by [`line_for`]; income lines take their
/// typed actuals) and payments per week; subtotals per family; spend that maps no line on
/// its own "sin partida" row (within the cost side); the TOTAL as INGRESOS minus the rest.
/// Movements outside the period are not in the grid.
pub fn obra_grid(
    budget: &ObraBudgetDoc,
    lines: &[ObraLineDoc],
    spend: &[Movement],
    paid: &[Movement],
) -> ObraGrid {
    let desde = NaiveDate::parse_from_str(&budget.desde, "%Y-%m-%d").unwrap_or_default();
    let hasta = NaiveDate::parse_from_str(&budget.hasta, "%Y-%m-%d").unwrap_or(desde);
    let ws = weeks(desde, hasta);
    let index: HashMap<NaiveDate, usize> = ws.iter().enumerate().map(|(i, w)| (*w, i)).collect();
    let n = ws.len();
    let mut ordered: Vec<&ObraLineDoc> = lines.iter().collect();
    ordered.sort_by_key(|l| {
        (
            FAMILIAS
                .iter()
                .position(|f| *f == l.familia)
                .unwrap_or(FAMILIAS.len()),
            l.nombre.to_lowercase(),
            l.id.clone(),
        )
    });
    let mut rows: Vec<GridRow> = ordered
        .iter()
        .map(|l| {
            let mut r = GridRow::empty("linea", &l.familia, &l.nombre, n);
            r.id = Some(l.id.clone());
            r.inicial = l.inicial;
            r.modificaciones = total(l.modificaciones.iter().map(|m| &m.monto));
            for s in &l.semanas {
                if let Some(i) = NaiveDate::parse_from_str(&s.semana, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| index.get(&d))
                {
                    r.plan[*i] = r.plan[*i].saturating_add(s.plan);
                    if l.familia == INGRESOS {
                        r.real[*i] = r.real[*i].saturating_add(s.real.unwrap_or(0));
                    }
                }
            }
            r
        })
        .collect();
    let mut unmapped = GridRow::empty("sin_partida", "", SIN_PARTIDA, n);
    let mut any_unmapped = false;
    for (list, paid) in [(spend, false), (paid, true)] {
        for m in list {
            let Some(i) = index.get(&week_of(m.fecha)) else {
                continue;
            };
            let row = match line_for(&ordered, m.cuenta.as_deref(), m.centro.as_deref()) {
                Some(k) => &mut rows[k],
                None => {
                    any_unmapped = true;
                    &mut unmapped
                }
            };
            let cell = if paid {
                &mut row.pagado[*i]
            } else {
                &mut row.real[*i]
            };
            *cell = cell.saturating_add(m.monto);
        }
    }
    let mut filas = Vec::with_capacity(rows.len() + FAMILIAS.len() + 2);
    let mut total = GridRow::empty("total", "", "TOTAL", n);
    for r in &mut rows {
        r.close();
    }
    for fam in FAMILIAS {
        let members: Vec<&GridRow> = rows.iter().filter(|r| r.familia == fam).collect();
        if members.is_empty() {
            continue;
        }
        let mut sub = GridRow::empty("familia", fam, fam, n);
        for m in &members {
            sub.add(m, 1);
        }
        sub.close();
        filas.extend(members.into_iter().cloned());
        total.add(&sub, if fam == INGRESOS { 1 } else { -1 });
        filas.push(sub);
    }
    if any_unmapped {
        unmapped.close();
        total.add(&unmapped, -1);
        filas.push(unmapped);
    }
    total.close();
    filas.push(total);
    ObraGrid {
        obra: budget.obra.clone(),
        semanas: ws
            .iter()
            .map(|w| w.format("%Y-%m-%d").to_string())
            .collect(),
        filas,
    }
}

/// A dated outflow of an approved payment run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutflow {
    /// N° de nómina.
    pub numero: i64,
    /// The day it pays.
    pub fecha: NaiveDate,
    /// Pesos.
    pub monto: i64,
}

/// An obra's planned net flow (income minus costs) by week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObraFlow {
    /// The obra.
    pub obra: String,
    /// Week → pesos (negative: more costs than income).
    pub semanas: BTreeMap<NaiveDate, i64>,
}

/// One row of the treasury grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryLine {
    /// `obra`, `ingreso`, `egreso`, `prestamo`, `nomina`.
    pub kind: String,
    /// The row's document (treasury rows and loans), to edit it.
    pub id: Option<String>,
    /// Label.
    pub etiqueta: String,
    /// Signed pesos per week (outflows negative).
    pub montos: Vec<i64>,
}

/// A bank account's closing balance per week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryBalance {
    /// The account.
    pub id: String,
    /// Its name.
    pub nombre: String,
    /// Closing balance each week (`None`: before its opening balance's week).
    pub saldos: Vec<Option<i64>>,
}

/// The company's weekly cash flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryGrid {
    /// Mondays.
    pub semanas: Vec<String>,
    /// Flows.
    pub filas: Vec<TreasuryLine>,
    /// Net flow per week.
    pub neto: Vec<i64>,
    /// Per bank account.
    pub bancos: Vec<TreasuryBalance>,
    /// Sum of the accounts' balances per week (`None`: no account has a balance yet).
    pub saldo_total: Vec<Option<i64>>,
}

/// Computes the treasury for the weeks from `desde` (a Monday) on: the obras' planned net
/// flows, the income and expense rows, every loan instalment (paid ones on the day they
/// were paid, the rest on their due date) and the approved runs on their dates; each flow
/// moves its bank account (or the principal one) and each account's balance runs from its
/// opening week, carried across weeks whatever its sign.
pub fn treasury(
    desde: NaiveDate,
    n_weeks: usize,
    banks: &[TreasuryBankDoc],
    rows: &[TreasuryRowDoc],
    loans: &[LoanDoc],
    runs: &[RunOutflow],
    obras: &[ObraFlow],
) -> TreasuryGrid {
    let desde = week_of(desde);
    let n = n_weeks.clamp(1, MAX_WEEKS as usize);
    let ws: Vec<NaiveDate> = (0..n)
        .map(|i| desde + Duration::days(7 * i as i64))
        .collect();
    let banks: Vec<&TreasuryBankDoc> = {
        let mut b: Vec<&TreasuryBankDoc> = banks.iter().filter(|b| !b.eliminado).collect();
        b.sort_by(|x, y| y.principal.cmp(&x.principal).then(x.nombre.cmp(&y.nombre)));
        b
    };
    let principal = banks.first().map(|b| b.id.clone());
    let bank_of = |id: &Option<String>| -> Option<String> {
        id.as_ref()
            .filter(|i| banks.iter().any(|b| &b.id == *i))
            .cloned()
            .or_else(|| principal.clone())
    };
    // every flow: (bank, week, signed amount); rows also keep their weekly cells
    let mut flows: Vec<(Option<String>, NaiveDate, i64)> = Vec::new();
    let mut filas = Vec::new();
    let col = |d: NaiveDate| -> Option<usize> {
        let w = week_of(d);
        ws.iter().position(|x| *x == w)
    };
    for o in obras {
        let mut montos = vec![0i64; n];
        for (w, v) in &o.semanas {
            flows.push((principal.clone(), *w, *v));
            if let Some(i) = col(*w) {
                montos[i] = montos[i].saturating_add(*v);
            }
        }
        filas.push(TreasuryLine {
            kind: "obra".into(),
            id: None,
            etiqueta: format!("Obra {}", o.obra),
            montos,
        });
    }
    for r in rows.iter().filter(|r| !r.eliminado) {
        let sign: i64 = if r.tipo == "egreso" { -1 } else { 1 };
        let mut montos = vec![0i64; n];
        for m in &r.montos {
            let Ok(w) = NaiveDate::parse_from_str(&m.semana, "%Y-%m-%d") else {
                continue;
            };
            flows.push((
                bank_of(&r.banco_id),
                week_of(w),
                sign.saturating_mul(m.monto),
            ));
            if let Some(i) = col(w) {
                montos[i] = montos[i].saturating_add(sign.saturating_mul(m.monto));
            }
        }
        filas.push(TreasuryLine {
            kind: r.tipo.clone(),
            id: Some(r.id.clone()),
            etiqueta: r.concepto.clone(),
            montos,
        });
    }
    for l in loans.iter().filter(|l| !l.eliminado) {
        let mut montos = vec![0i64; n];
        for c in &l.cuotas {
            let day = c.pagada.as_deref().unwrap_or(&c.vence);
            let Ok(d) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
                continue;
            };
            flows.push((bank_of(&l.banco_id), week_of(d), c.monto.saturating_neg()));
            if let Some(i) = col(d) {
                montos[i] = montos[i].saturating_sub(c.monto);
            }
        }
        filas.push(TreasuryLine {
            kind: "prestamo".into(),
            id: Some(l.id.clone()),
            etiqueta: format!("Préstamo {} {}", l.banco, l.descripcion)
                .trim()
                .to_owned(),
            montos,
        });
    }
    if !runs.is_empty() {
        let mut montos = vec![0i64; n];
        for r in runs {
            flows.push((
                principal.clone(),
                week_of(r.fecha),
                r.monto.saturating_neg(),
            ));
            if let Some(i) = col(r.fecha) {
                montos[i] = montos[i].saturating_sub(r.monto);
            }
        }
        filas.push(TreasuryLine {
            kind: "nomina".into(),
            id: None,
            etiqueta: "Nóminas de pago aprobadas".into(),
            montos,
        });
    }
    let mut neto = vec![0; n];
    for f in &filas {
        add_into(&mut neto, &f.montos, 1);
    }
    let mut bancos = Vec::new();
    let mut saldo_total: Vec<Option<i64>> = vec![None; n];
    for b in &banks {
        let Ok(start) = NaiveDate::parse_from_str(&b.semana, "%Y-%m-%d") else {
            continue;
        };
        let start = week_of(start);
        let mine: Vec<(NaiveDate, i64)> = flows
            .iter()
            .filter(|(bank, w, _)| bank.as_deref() == Some(b.id.as_str()) && *w >= start)
            .map(|(_, w, v)| (*w, *v))
            .collect();
        let saldos: Vec<Option<i64>> = ws
            .iter()
            .map(|w| {
                (*w >= start).then(|| {
                    b.saldo_inicial
                        .saturating_add(total(mine.iter().filter(|(d, _)| d <= w).map(|(_, v)| v)))
                })
            })
            .collect();
        for (t, s) in saldo_total.iter_mut().zip(&saldos) {
            if let Some(s) = s {
                *t = Some(t.unwrap_or(0).saturating_add(*s));
            }
        }
        bancos.push(TreasuryBalance {
            id: b.id.clone(),
            nombre: b.nombre.clone(),
            saldos,
        });
    }
    TreasuryGrid {
        semanas: ws
            .iter()
            .map(|w| w.format("%Y-%m-%d").to_string())
            .collect(),
        filas,
        neto,
        bancos,
        saldo_total,
    }
}

/// The planned net flow (income minus costs) of an obra's lines, by week.
pub fn obra_flow(obra: &str, lines: &[ObraLineDoc]) -> ObraFlow {
    let mut semanas = BTreeMap::new();
    for l in lines {
        let sign: i64 = if l.familia == INGRESOS { 1 } else { -1 };
        for s in &l.semanas {
            if let Ok(w) = NaiveDate::parse_from_str(&s.semana, "%Y-%m-%d") {
                let e: &mut i64 = semanas.entry(week_of(w)).or_insert(0);
                *e = (*e).saturating_add(sign.saturating_mul(s.plan));
            }
        }
    }
    ObraFlow {
        obra: obra.to_owned(),
        semanas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn line(obra: &str, fam: &str, nombre: &str, cuentas: &[&str], inicial: i64) -> ObraLineDoc {
        let line_id = format!("{fam}-{nombre}");
        ObraLineDoc {
            id: obra_line_id(obra, &line_id),
            obra: obra.into(),
            line_id,
            familia: fam.into(),
            nombre: nombre.into(),
            cuentas: cuentas.iter().map(|c| (*c).to_owned()).collect(),
            centros: vec![],
            inicial,
            modificaciones: vec![],
            semanas: vec![],
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            updated_by: "ana".into(),
        }
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of(d("2026-12-06")), d("2026-11-30")); // Sunday
        assert_eq!(week_of(d("2026-11-30")), d("2026-11-30"));
        assert!(parse_monday("x", "2026-12-01").is_err());
        assert_eq!(weeks(d("2026-11-30"), d("2026-12-14")).len(), 3);
    }

    #[test]
    fn grid_maps_spend_subtotals_and_total() {
        let b = ObraBudgetDoc {
            id: obra_budget_id("OB-1"),
            obra: "OB-1".into(),
            desde: "2026-11-30".into(),
            hasta: "2026-12-07".into(),
            updated_at: String::new(),
            updated_by: String::new(),
        };
        let mut ing = line("OB-1", INGRESOS, "Estados de pago", &[], 1_000);
        ing.semanas.push(Semana {
            semana: "2026-12-07".into(),
            plan: 600,
            real: Some(500),
        });
        let mut sub = line("OB-1", "SUBCONTRATO", "Moldajes", &["5101"], 400);
        sub.modificaciones.push(Modificacion {
            monto: 50,
            motivo: "adicional".into(),
            por: "ana".into(),
            en: "2026-12-01T10:00:00.000Z".into(),
        });
        sub.semanas.push(Semana {
            semana: "2026-11-30".into(),
            plan: 200,
            real: None,
        });
        let mv = |cuenta: &str, f: &str, m: i64| Movement {
            cuenta: Some(cuenta.into()),
            centro: None,
            fecha: d(f),
            monto: m,
        };
        let spend = [
            mv("5101", "2026-12-02", 300),
            mv("5101", "2026-12-09", -20),
            mv("9999", "2026-12-02", 70),
            mv("5101", "2026-12-20", 1_000), // outside the period
        ];
        let paid = [mv("5101", "2026-12-10", 250)];
        let g = obra_grid(&b, &[sub.clone(), ing.clone()], &spend, &paid);
        let names: Vec<&str> = g.filas.iter().map(|r| r.nombre.as_str()).collect();
        assert_eq!(
            names,
            [
                "Estados de pago",
                "INGRESOS",
                "Moldajes",
                "SUBCONTRATO",
                SIN_PARTIDA,
                "TOTAL"
            ]
        );
        let moldajes = &g.filas[2];
        assert_eq!(moldajes.vigente, 450);
        assert_eq!(moldajes.real, vec![300, -20]);
        assert_eq!(moldajes.pagado, vec![0, 250]);
        assert_eq!(moldajes.variacion, 450 - 280);
        let total = g.filas.last().unwrap();
        assert_eq!(total.vigente, 1_000 - 450);
        assert_eq!(total.real, vec![-300 - 70, 500 + 20]);
        assert_eq!(total.plan, vec![-200, 600]);
    }

    #[test]
    fn modifications_are_kept_and_the_catalogue_copy_is_the_office_s() {
        let mut l = line("OB-1", "EQUIPOS", "Grúa", &[], 100);
        let cur = serde_json::to_string(&l).unwrap();
        l.modificaciones.push(Modificacion {
            monto: 10,
            motivo: "más días".into(),
            por: "ana".into(),
            en: "2026-12-01T10:00:00.000Z".into(),
        });
        let v = serde_json::to_string(&l).unwrap();
        assert!(
            check_plan(
                OBRA_LINE_ENTITY,
                &l.id,
                &v,
                Some(&cur),
                Role::AdminObra,
                "ana"
            )
            .is_ok()
        );
        // the site manager may not rewrite the catalogue's copy
        let mut renamed = l.clone();
        renamed.nombre = "Grúa torre".into();
        let r = serde_json::to_string(&renamed).unwrap();
        assert!(matches!(
            check_plan(
                OBRA_LINE_ENTITY,
                &l.id,
                &r,
                Some(&v),
                Role::AdminObra,
                "ana"
            ),
            Err(RecordRefusal::Forbidden(_))
        ));
        assert!(check_plan(OBRA_LINE_ENTITY, &l.id, &r, Some(&v), Role::Gerente, "gg").is_ok());
        // nor push a date outside the years a budget may cover, or an amount out of range
        let mut far = l.clone();
        far.semanas.push(Semana {
            semana: "+262142-12-25".into(),
            plan: 1,
            real: None,
        });
        let f = serde_json::to_string(&far).unwrap();
        assert!(check_plan(OBRA_LINE_ENTITY, &l.id, &f, Some(&v), Role::Admin, "root").is_err());
        let mut min = l.clone();
        min.inicial = i64::MIN;
        let m = serde_json::to_string(&min).unwrap();
        assert!(check_plan(OBRA_LINE_ENTITY, &l.id, &m, None, Role::Admin, "root").is_err());
        // removing it later is refused
        let mut gone = l.clone();
        gone.modificaciones.clear();
        let g = serde_json::to_string(&gone).unwrap();
        assert!(matches!(
            check_plan(OBRA_LINE_ENTITY, &l.id, &g, Some(&v), Role::Admin, "root"),
            Err(RecordRefusal::Invalid(_))
        ));
        // contabilidad may not edit budgets; a site manager may not touch the catalogue
        assert!(
            check_plan(
                OBRA_LINE_ENTITY,
                &l.id,
                &v,
                Some(&cur),
                Role::Contabilidad,
                "ana"
            )
            .is_err()
        );
        let needs = check_plan(
            OBRA_LINE_ENTITY,
            &l.id,
            &v,
            Some(&cur),
            Role::AdminObra,
            "ana",
        )
        .unwrap();
        assert_eq!(needs.obra.as_deref(), Some("OB-1"));
        // a site manager's new line is checked against the catalogue on the server
        let needs =
            check_plan(OBRA_LINE_ENTITY, &l.id, &cur, None, Role::AdminObra, "ana").unwrap();
        assert_eq!(needs.catalog_line.as_deref(), Some(l.line_id.as_str()));
    }

    #[test]
    fn loans_pay_in_order_and_paid_instalments_stay() {
        let mut l = LoanDoc {
            id: "l1".into(),
            banco: "Banco de Chile".into(),
            descripcion: "Capital de trabajo".into(),
            banco_id: None,
            monto: 1_000,
            cuotas: schedule(1_000, 3, d("2026-01-31")),
            eliminado: false,
            updated_at: String::new(),
            updated_by: String::new(),
        };
        assert_eq!(
            l.cuotas
                .iter()
                .map(|c| (c.vence.as_str(), c.monto))
                .collect::<Vec<_>>(),
            [
                ("2026-01-31", 333),
                ("2026-02-28", 333),
                ("2026-03-31", 334)
            ]
        );
        assert_eq!(l.pay_next("2026-01-30", "gg").unwrap(), 1);
        let cur = serde_json::to_string(&l).unwrap();
        assert_eq!(l.proxima().unwrap().n, 2);
        let mut edited = l.clone();
        edited.cuotas[0].monto = 1;
        let e = serde_json::to_string(&edited).unwrap();
        assert!(check_plan(LOAN_ENTITY, "l1", &e, Some(&cur), Role::Gerente, "gg").is_err());
        let mut edited = l.clone();
        edited.cuotas[2].monto = 400;
        let e = serde_json::to_string(&edited).unwrap();
        assert!(check_plan(LOAN_ENTITY, "l1", &e, Some(&cur), Role::Gerente, "gg").is_ok());
        assert!(check_plan(LOAN_ENTITY, "l1", &e, Some(&cur), Role::AdminObra, "gg").is_err());
    }

    #[test]
    fn an_overdrawn_bank_carries_its_balance() {
        let bank = TreasuryBankDoc {
            id: "b".into(),
            nombre: "Santander".into(),
            saldo_inicial: 100,
            semana: "2026-11-30".into(),
            principal: true,
            eliminado: false,
            updated_at: String::new(),
            updated_by: String::new(),
        };
        let runs = [RunOutflow {
            numero: 1,
            fecha: d("2026-12-04"),
            monto: 300,
        }];
        let g = treasury(d("2026-11-23"), 4, &[bank], &[], &[], &runs, &[]);
        assert_eq!(
            g.bancos[0].saldos,
            vec![None, Some(-200), Some(-200), Some(-200)]
        );
        assert_eq!(
            g.saldo_total,
            vec![None, Some(-200), Some(-200), Some(-200)]
        );
    }
}

//! Obra budgets and the company treasury (docs/presupuesto.md): the catalogue of budget
//! lines (admin, gerente), each obra's period, lines, modifications and weekly plan (whoever
//! may edit budgets, within their obras), the treasury (admin, gerente), their grids and
//! their Excel workbooks. Every change is one audited document that syncs; the server
//! applies the same rules (`icc_core::presupuesto::check_plan`).

use std::path::Path;

use chrono::{Duration, NaiveDate};
use icc_core::presupuesto::{
    BUDGET_LINE_ENTITY, BudgetLineDoc, FAMILIAS, INGRESOS, LOAN_ENTITY, LoanDoc, Modificacion,
    OBRA_BUDGET_ENTITY, OBRA_LINE_ENTITY, ObraBudgetDoc, ObraGrid, ObraLineDoc, Semana,
    SemanaMonto, TREASURY_BANK_ENTITY, TREASURY_ROW_ENTITY, TreasuryBankDoc, TreasuryGrid,
    TreasuryRowDoc, check_plan, obra_budget_id, obra_flow, obra_grid, obra_line_id, schedule,
    treasury, week_of,
};
use icc_core::records::RecordRefusal;
use icc_io::export::grid::{GridLine, GridSheet, GridStyle, week_header, write_grid};
use serde::{Deserialize, Serialize};

use crate::auth::{Permission, Session};
use crate::{App, AppError, Result};

/// The catalogue offered when none exists yet: one line per family.
const BASE_CATALOGUE: [(&str, &str); 7] = [
    (INGRESOS, "Estados de pago"),
    ("Obras Preliminares", "Obras preliminares"),
    ("SUBCONTRATO", "Subcontratos"),
    ("EQUIPOS", "Arriendo de equipos"),
    ("INSTALACION FAENA", "Instalación de faena"),
    ("GASTOS GENERALES", "Gastos generales"),
    ("MANO DE OBRA", "Remuneraciones"),
];

/// A catalogue line as the user edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BudgetLineInput {
    /// The line to change; `None` creates one.
    pub id: Option<String>,
    /// One of the families.
    pub familia: String,
    /// Name.
    pub nombre: String,
    /// Cuentas contables whose invoices are its spend.
    pub cuentas: Vec<String>,
    /// Centros de costo whose invoices are its spend.
    pub centros: Vec<String>,
    /// Offered for obra budgets.
    pub activa: bool,
}

/// An obra's budget as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObraBudgetView {
    /// The obra's code.
    pub obra: String,
    /// Its name.
    pub nombre: String,
    /// Its period, when set.
    pub presupuesto: Option<ObraBudgetDoc>,
    /// Its lines.
    pub lineas: Vec<ObraLineDoc>,
    /// The grid (when the period is set).
    pub grid: Option<ObraGrid>,
    /// Catalogue lines it does not have yet (active ones).
    pub disponibles: Vec<BudgetLineDoc>,
    /// Whether this user may change it.
    pub editable: bool,
}

/// A week of a line as the user types it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WeekInput {
    /// The week's Monday (any day of it is taken as its week).
    pub semana: String,
    /// Planned pesos.
    pub plan: i64,
    /// Actual pesos (income lines only).
    pub real: Option<i64>,
}

/// A treasury account as the user edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryBankInput {
    /// `None` creates one.
    pub id: Option<String>,
    /// Name.
    pub nombre: String,
    /// Balance at the start of `semana` (negative: overdrawn).
    pub saldo_inicial: i64,
    /// A day of the week the balance is taken.
    pub semana: String,
    /// The principal account.
    pub principal: bool,
}

/// A treasury row as the user edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryRowInput {
    /// `None` creates one.
    pub id: Option<String>,
    /// What it is.
    pub concepto: String,
    /// `ingreso` or `egreso`.
    pub tipo: String,
    /// The account it moves (`None`: the principal one).
    pub banco_id: Option<String>,
    /// Amounts by week (a 0 removes the week).
    pub montos: Vec<SemanaMonto>,
}

/// A new loan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoanInput {
    /// Lender.
    pub banco: String,
    /// What it is for.
    pub descripcion: String,
    /// The account it is paid from.
    pub banco_id: Option<String>,
    /// Principal.
    pub monto: i64,
    /// What the instalments add up to (principal and interest).
    pub total_cuotas: i64,
    /// Number of monthly instalments.
    pub cuotas: i64,
    /// First due date.
    pub primera: String,
}

/// A loan's editable parts: its texts and the unpaid instalments' dates and amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoanEdit {
    /// The loan.
    pub id: String,
    /// Lender.
    pub banco: String,
    /// What it is for.
    pub descripcion: String,
    /// The account it is paid from.
    pub banco_id: Option<String>,
    /// Unpaid instalments by number: `(n, due date, pesos)`.
    pub cuotas: Vec<(i64, String, i64)>,
}

/// The treasury screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreasuryView {
    /// The grid.
    pub grid: TreasuryGrid,
    /// Accounts.
    pub bancos: Vec<TreasuryBankDoc>,
    /// Income and expense rows.
    pub filas: Vec<TreasuryRowDoc>,
    /// Loans.
    pub prestamos: Vec<LoanDoc>,
}

fn refused(e: RecordRefusal) -> AppError {
    match e {
        RecordRefusal::Invalid(m) => AppError::Invalid(m),
        RecordRefusal::Forbidden(m) => AppError::Forbidden(m),
    }
}

fn day(what: &str, s: &str) -> Result<NaiveDate> {
    use chrono::Datelike;
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| icc_core::presupuesto::YEARS.contains(&d.year()))
        .ok_or_else(|| {
            AppError::Invalid(format!("{what} «{s}» no es una fecha válida (dd-mm-aaaa)"))
        })
}

fn monday(what: &str, s: &str) -> Result<String> {
    Ok(week_of(day(what, s)?).format("%Y-%m-%d").to_string())
}

fn codes(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = v
        .iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    out.dedup();
    out
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl App {
    /// Checks `doc` as the server will, as a change from `before`.
    fn check_doc<T: Serialize>(
        s: &Session,
        entity: &str,
        id: &str,
        doc: &T,
        before: Option<&T>,
    ) -> Result<()> {
        let text = serde_json::to_string(doc).map_err(|e| AppError::Invalid(e.to_string()))?;
        let cur = before
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        check_plan(entity, id, &text, cur.as_deref(), s.role, &s.username)
            .map(|_| ())
            .map_err(refused)
    }

    /// Writes one checked document with its audit row.
    async fn save_doc<T: Serialize>(
        &self,
        s: &Session,
        entity: &'static str,
        id: &str,
        doc: &T,
        before: Option<&T>,
    ) -> Result<()> {
        Self::check_doc(s, entity, id, doc, before)?;
        let mut tx = self.store.write(&s.username).await?;
        tx.put_plan_doc(
            entity,
            id,
            doc,
            before,
            if before.is_some() { "update" } else { "create" },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The obra `obra` when this user sees it (one it does not see is "not found").
    async fn scoped_obra(&self, s: &Session, obra: &str) -> Result<icc_store::Obra> {
        let not_found = || AppError::NotFound {
            what: "obra",
            key: obra.to_owned(),
        };
        if !s.sees_obra(Some(obra)) {
            return Err(not_found());
        }
        self.store.obra(obra).await?.ok_or_else(not_found)
    }

    /// The families of budget lines, in grid order.
    pub fn budget_families(&self) -> Vec<String> {
        FAMILIAS.iter().map(|f| (*f).to_owned()).collect()
    }

    /// The catalogue of budget lines, by family and order.
    ///
    /// # Errors
    /// Store errors.
    pub async fn budget_catalog(&self, _s: &Session) -> Result<Vec<BudgetLineDoc>> {
        let mut lines: Vec<BudgetLineDoc> = self.store.plan_docs(BUDGET_LINE_ENTITY, None).await?;
        lines.sort_by_key(|l| {
            (
                FAMILIAS.iter().position(|f| *f == l.familia).unwrap_or(99),
                l.orden,
                l.nombre.to_lowercase(),
            )
        });
        Ok(lines)
    }

    /// Creates or changes a catalogue line; the obras that use it take its new name,
    /// family and mapping.
    ///
    /// # Errors
    /// Forbidden (admin and gerente only), invalid values, store errors.
    pub async fn budget_catalog_save(
        &self,
        s: &Session,
        input: &BudgetLineInput,
    ) -> Result<BudgetLineDoc> {
        s.require(Permission::ManageBudgetCatalog)?;
        let before: Option<BudgetLineDoc> = match &input.id {
            Some(id) => Some(
                self.store
                    .plan_doc(BUDGET_LINE_ENTITY, id)
                    .await?
                    .ok_or_else(|| AppError::NotFound {
                        what: "partida",
                        key: id.clone(),
                    })?,
            ),
            None => None,
        };
        let orden = match &before {
            Some(b) => b.orden,
            None => i64::try_from(self.budget_catalog(s).await?.len()).unwrap_or(0) + 1,
        };
        let doc = BudgetLineDoc {
            id: input
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            familia: input.familia.trim().to_owned(),
            nombre: input.nombre.trim().to_owned(),
            cuentas: codes(&input.cuentas),
            centros: codes(&input.centros),
            activa: input.activa,
            orden,
            updated_at: now(),
            updated_by: s.username.clone(),
        };
        Self::check_doc(s, BUDGET_LINE_ENTITY, &doc.id, &doc, before.as_ref())?;
        let users: Vec<ObraLineDoc> = self
            .store
            .plan_docs::<ObraLineDoc>(OBRA_LINE_ENTITY, None)
            .await?
            .into_iter()
            .filter(|l| l.line_id == doc.id)
            .collect();
        let mut tx = self.store.write(&s.username).await?;
        tx.put_plan_doc(
            BUDGET_LINE_ENTITY,
            &doc.id,
            &doc,
            before.as_ref(),
            if before.is_some() { "update" } else { "create" },
        )
        .await?;
        for old in users {
            let new = ObraLineDoc {
                familia: doc.familia.clone(),
                nombre: doc.nombre.clone(),
                cuentas: doc.cuentas.clone(),
                centros: doc.centros.clone(),
                updated_at: doc.updated_at.clone(),
                updated_by: s.username.clone(),
                ..old.clone()
            };
            if new.familia != old.familia && new.semanas.iter().any(|w| w.real.is_some()) {
                return Err(AppError::Invalid(format!(
                    "la partida «{}» tiene ingresos reales escritos en la obra {}: no puede salir de INGRESOS",
                    old.nombre, old.obra
                )));
            }
            Self::check_doc(s, OBRA_LINE_ENTITY, &new.id, &new, Some(&old))?;
            tx.put_plan_doc(OBRA_LINE_ENTITY, &new.id, &new, Some(&old), "update")
                .await?;
        }
        tx.commit().await?;
        Ok(doc)
    }

    /// Creates the base catalogue (one line per family) when there is none.
    ///
    /// # Errors
    /// Forbidden, a catalogue that exists, store errors.
    pub async fn budget_catalog_seed(&self, s: &Session) -> Result<usize> {
        s.require(Permission::ManageBudgetCatalog)?;
        if !self.budget_catalog(s).await?.is_empty() {
            return Err(AppError::Conflict(
                "el catálogo de partidas ya tiene partidas".into(),
            ));
        }
        for (familia, nombre) in BASE_CATALOGUE {
            self.budget_catalog_save(
                s,
                &BudgetLineInput {
                    id: None,
                    familia: familia.into(),
                    nombre: nombre.into(),
                    cuentas: vec![],
                    centros: vec![],
                    activa: true,
                },
            )
            .await?;
        }
        Ok(BASE_CATALOGUE.len())
    }

    /// An obra's budget, its lines and its grid.
    ///
    /// # Errors
    /// An obra this user does not see or that does not exist, store errors.
    pub async fn obra_budget(&self, s: &Session, obra: &str) -> Result<ObraBudgetView> {
        let o = self.scoped_obra(s, obra).await?;
        let presupuesto: Option<ObraBudgetDoc> = self
            .store
            .plan_doc(OBRA_BUDGET_ENTITY, &obra_budget_id(&o.codigo))
            .await?;
        let lineas: Vec<ObraLineDoc> = self
            .store
            .plan_docs(OBRA_LINE_ENTITY, Some(&o.codigo))
            .await?;
        let grid = match &presupuesto {
            Some(b) => {
                let desde = day("el inicio", &b.desde)?;
                let hasta = day("el fin", &b.hasta)? + Duration::days(6);
                let (spend, paid) = self.store.obra_movements(&o.codigo, desde, hasta).await?;
                Some(obra_grid(b, &lineas, &spend, &paid))
            }
            None => None,
        };
        let disponibles = self
            .budget_catalog(s)
            .await?
            .into_iter()
            .filter(|c| c.activa && !lineas.iter().any(|l| l.line_id == c.id))
            .collect();
        Ok(ObraBudgetView {
            obra: o.codigo.clone(),
            nombre: o.nombre,
            presupuesto,
            lineas,
            grid,
            disponibles,
            editable: s.may(Permission::EditBudgets),
        })
    }

    /// Sets an obra's budget period (any day of the first and last weeks).
    ///
    /// # Errors
    /// Forbidden, an obra out of scope, a period of more than five years, store errors.
    pub async fn obra_budget_set_period(
        &self,
        s: &Session,
        obra: &str,
        desde: &str,
        hasta: &str,
    ) -> Result<ObraBudgetDoc> {
        s.require(Permission::EditBudgets)?;
        let o = self.scoped_obra(s, obra).await?;
        let before: Option<ObraBudgetDoc> = self
            .store
            .plan_doc(OBRA_BUDGET_ENTITY, &obra_budget_id(&o.codigo))
            .await?;
        let doc = ObraBudgetDoc {
            id: obra_budget_id(&o.codigo),
            obra: o.codigo.clone(),
            desde: monday("el inicio del período", desde)?,
            hasta: monday("el fin del período", hasta)?,
            updated_at: now(),
            updated_by: s.username.clone(),
        };
        self.save_doc(s, OBRA_BUDGET_ENTITY, &doc.id, &doc, before.as_ref())
            .await?;
        Ok(doc)
    }

    /// Adds a catalogue line to an obra with its initial budget.
    ///
    /// # Errors
    /// Forbidden, an obra out of scope, an unknown or already added line, store errors.
    pub async fn obra_budget_add_line(
        &self,
        s: &Session,
        obra: &str,
        line_id: &str,
        inicial: i64,
    ) -> Result<ObraLineDoc> {
        s.require(Permission::EditBudgets)?;
        let o = self.scoped_obra(s, obra).await?;
        let c: BudgetLineDoc = self
            .store
            .plan_doc(BUDGET_LINE_ENTITY, line_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "partida del catálogo",
                key: line_id.to_owned(),
            })?;
        let id = obra_line_id(&o.codigo, &c.id);
        if self
            .store
            .plan_doc::<ObraLineDoc>(OBRA_LINE_ENTITY, &id)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "la obra {} ya tiene la partida «{}»",
                o.codigo, c.nombre
            )));
        }
        let doc = ObraLineDoc {
            id,
            obra: o.codigo.clone(),
            line_id: c.id,
            familia: c.familia,
            nombre: c.nombre,
            cuentas: c.cuentas,
            centros: c.centros,
            inicial,
            modificaciones: vec![],
            semanas: vec![],
            updated_at: now(),
            updated_by: s.username.clone(),
        };
        self.save_doc(s, OBRA_LINE_ENTITY, &doc.id, &doc, None)
            .await?;
        Ok(doc)
    }

    async fn obra_line(&self, s: &Session, obra: &str, id: &str) -> Result<ObraLineDoc> {
        self.scoped_obra(s, obra).await?;
        let l: ObraLineDoc = self
            .store
            .plan_doc(OBRA_LINE_ENTITY, id)
            .await?
            .filter(|l: &ObraLineDoc| l.obra.eq_ignore_ascii_case(obra))
            .ok_or_else(|| AppError::NotFound {
                what: "partida de la obra",
                key: id.to_owned(),
            })?;
        Ok(l)
    }

    /// Adds a modification (pesos added or, negative, taken away) with its reason.
    ///
    /// # Errors
    /// Forbidden, an obra out of scope, a zero amount, no reason, a negative budget, store
    /// errors.
    pub async fn obra_budget_modify(
        &self,
        s: &Session,
        obra: &str,
        line: &str,
        monto: i64,
        motivo: &str,
    ) -> Result<ObraLineDoc> {
        s.require(Permission::EditBudgets)?;
        let before = self.obra_line(s, obra, line).await?;
        let mut doc = before.clone();
        doc.modificaciones.push(Modificacion {
            monto,
            motivo: motivo.trim().to_owned(),
            por: s.username.clone(),
            en: now(),
        });
        doc.updated_at = now();
        doc.updated_by = s.username.clone();
        self.save_doc(s, OBRA_LINE_ENTITY, &doc.id, &doc, Some(&before))
            .await?;
        Ok(doc)
    }

    /// Sets weeks of a line (a week with plan 0 and no actual is removed).
    ///
    /// # Errors
    /// Forbidden, an obra out of scope, negative amounts, an actual typed on a cost line,
    /// store errors.
    pub async fn obra_budget_set_weeks(
        &self,
        s: &Session,
        obra: &str,
        line: &str,
        weeks: &[WeekInput],
    ) -> Result<ObraLineDoc> {
        s.require(Permission::EditBudgets)?;
        let before = self.obra_line(s, obra, line).await?;
        let mut doc = before.clone();
        for w in weeks {
            let semana = monday("la semana", &w.semana)?;
            doc.semanas.retain(|x| x.semana != semana);
            if w.plan != 0 || w.real.is_some() {
                doc.semanas.push(Semana {
                    semana,
                    plan: w.plan,
                    real: w.real,
                });
            }
        }
        doc.semanas.sort_by(|a, b| a.semana.cmp(&b.semana));
        doc.updated_at = now();
        doc.updated_by = s.username.clone();
        self.save_doc(s, OBRA_LINE_ENTITY, &doc.id, &doc, Some(&before))
            .await?;
        Ok(doc)
    }

    /// Writes an obra's grid to an xlsx workbook: planned, actual and paid per line and week,
    /// with the budget columns and the variance.
    ///
    /// # Errors
    /// Forbidden (export), an obra without a period, the file cannot be written.
    pub async fn obra_budget_export(&self, s: &Session, obra: &str, out: &Path) -> Result<()> {
        s.require(Permission::Export)?;
        let view = self.obra_budget(s, obra).await?;
        let grid = view.grid.ok_or_else(|| {
            AppError::Invalid(format!(
                "la obra {} no tiene período de presupuesto: fíjelo antes de exportar",
                view.obra
            ))
        })?;
        let title = format!(
            "Presupuesto y flujo de caja — obra {} {}",
            view.obra, view.nombre
        );
        let period = format!(
            "Semanas del {} al {}; generado el {}",
            grid.semanas.first().map_or("", String::as_str),
            grid.semanas.last().map_or("", String::as_str),
            chrono::Local::now().format("%d-%m-%Y %H:%M")
        );
        let style = |k: &str| match k {
            "familia" | "sin_partida" => GridStyle::Subtotal,
            "total" => GridStyle::Total,
            _ => GridStyle::Data,
        };
        let summary = GridSheet {
            name: "Resumen".into(),
            title: title.clone(),
            subtitle: period.clone(),
            label_headers: vec!["Familia".into(), "Partida".into()],
            value_headers: [
                "Inicial",
                "Modificaciones",
                "Vigente",
                "Planificado",
                "Real",
                "Pagado",
                "Variación (vigente − real)",
            ]
            .map(String::from)
            .to_vec(),
            rows: grid
                .filas
                .iter()
                .map(|r| GridLine {
                    labels: vec![r.familia.clone(), r.nombre.clone()],
                    values: [
                        r.inicial,
                        r.modificaciones,
                        r.vigente,
                        r.plan_total,
                        r.real_total,
                        r.pagado_total,
                        r.variacion,
                    ]
                    .map(Some)
                    .to_vec(),
                    style: style(&r.kind),
                })
                .collect(),
        };
        let weekly =
            |name: &str, pick: fn(&icc_core::presupuesto::GridRow) -> &Vec<i64>| GridSheet {
                name: name.into(),
                title: format!("{title} — {}", name.to_lowercase()),
                subtitle: period.clone(),
                label_headers: vec!["Partida".into()],
                value_headers: grid
                    .semanas
                    .iter()
                    .map(|w| week_header(w))
                    .chain(["Total".to_owned()])
                    .collect(),
                rows: grid
                    .filas
                    .iter()
                    .map(|r| GridLine {
                        labels: vec![r.nombre.clone()],
                        values: pick(r)
                            .iter()
                            .copied()
                            .chain([pick(r).iter().fold(0i64, |a, b| a.saturating_add(*b))])
                            .map(Some)
                            .collect(),
                        style: style(&r.kind),
                    })
                    .collect(),
            };
        let sheets = [
            summary,
            weekly("Planificado", |r| &r.plan),
            weekly("Real", |r| &r.real),
            weekly("Pagado", |r| &r.pagado),
        ];
        write_grid(out, &sheets).map_err(|e| AppError::Io(e.to_string()))?;
        Ok(())
    }

    /// The treasury for `semanas` weeks from the week of `desde`.
    ///
    /// # Errors
    /// Forbidden (admin and gerente), store errors.
    pub async fn treasury(&self, s: &Session, desde: &str, semanas: u32) -> Result<TreasuryView> {
        s.require(Permission::Treasury)?;
        let desde = day("el inicio", desde)?;
        let bancos: Vec<TreasuryBankDoc> = self
            .store
            .plan_docs::<TreasuryBankDoc>(TREASURY_BANK_ENTITY, None)
            .await?
            .into_iter()
            .filter(|b| !b.eliminado)
            .collect();
        let filas: Vec<TreasuryRowDoc> = self
            .store
            .plan_docs::<TreasuryRowDoc>(TREASURY_ROW_ENTITY, None)
            .await?
            .into_iter()
            .filter(|r| !r.eliminado)
            .collect();
        let prestamos: Vec<LoanDoc> = self
            .store
            .plan_docs::<LoanDoc>(LOAN_ENTITY, None)
            .await?
            .into_iter()
            .filter(|l| !l.eliminado)
            .collect();
        let runs = self.store.run_outflows().await?;
        let lines: Vec<ObraLineDoc> = self.store.plan_docs(OBRA_LINE_ENTITY, None).await?;
        let mut obras: Vec<String> = lines.iter().map(|l| l.obra.to_uppercase()).collect();
        obras.sort();
        obras.dedup();
        let flows: Vec<_> = obras
            .iter()
            .map(|o| {
                let mine: Vec<ObraLineDoc> = lines
                    .iter()
                    .filter(|l| l.obra.eq_ignore_ascii_case(o))
                    .cloned()
                    .collect();
                obra_flow(o, &mine)
            })
            .filter(|f| !f.semanas.is_empty())
            .collect();
        let grid = treasury(
            desde,
            semanas.clamp(1, 104) as usize,
            &bancos,
            &filas,
            &prestamos,
            &runs,
            &flows,
        );
        Ok(TreasuryView {
            grid,
            bancos,
            filas,
            prestamos,
        })
    }

    /// Creates or changes a treasury account.
    ///
    /// # Errors
    /// Forbidden, invalid values, store errors.
    pub async fn treasury_bank_save(
        &self,
        s: &Session,
        input: &TreasuryBankInput,
    ) -> Result<TreasuryBankDoc> {
        s.require(Permission::Treasury)?;
        let before: Option<TreasuryBankDoc> = match &input.id {
            Some(id) => self.store.plan_doc(TREASURY_BANK_ENTITY, id).await?,
            None => None,
        };
        let doc = TreasuryBankDoc {
            id: input
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            nombre: input.nombre.trim().to_owned(),
            saldo_inicial: input.saldo_inicial,
            semana: monday("la semana del saldo", &input.semana)?,
            principal: input.principal,
            eliminado: false,
            updated_at: now(),
            updated_by: s.username.clone(),
        };
        self.save_doc(s, TREASURY_BANK_ENTITY, &doc.id, &doc, before.as_ref())
            .await?;
        Ok(doc)
    }

    /// Creates or changes an income or expense row.
    ///
    /// # Errors
    /// Forbidden, invalid values, store errors.
    pub async fn treasury_row_save(
        &self,
        s: &Session,
        input: &TreasuryRowInput,
    ) -> Result<TreasuryRowDoc> {
        s.require(Permission::Treasury)?;
        let before: Option<TreasuryRowDoc> = match &input.id {
            Some(id) => self.store.plan_doc(TREASURY_ROW_ENTITY, id).await?,
            None => None,
        };
        let mut montos: Vec<SemanaMonto> = before
            .as_ref()
            .map(|b| b.montos.clone())
            .unwrap_or_default();
        for m in &input.montos {
            let semana = monday("la semana", &m.semana)?;
            montos.retain(|x| x.semana != semana);
            if m.monto != 0 {
                montos.push(SemanaMonto {
                    semana,
                    monto: m.monto,
                });
            }
        }
        montos.sort_by(|a, b| a.semana.cmp(&b.semana));
        let doc = TreasuryRowDoc {
            id: input
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            concepto: input.concepto.trim().to_owned(),
            tipo: input.tipo.trim().to_owned(),
            banco_id: input.banco_id.clone().filter(|b| !b.is_empty()),
            montos,
            eliminado: false,
            updated_at: now(),
            updated_by: s.username.clone(),
        };
        self.save_doc(s, TREASURY_ROW_ENTITY, &doc.id, &doc, before.as_ref())
            .await?;
        Ok(doc)
    }

    /// Deletes a treasury account, row or loan (kept as deleted, so the deletion syncs and
    /// the history keeps it).
    ///
    /// # Errors
    /// Forbidden, an unknown id, store errors.
    pub async fn treasury_delete(&self, s: &Session, kind: &str, id: &str) -> Result<()> {
        s.require(Permission::Treasury)?;
        let entity: &'static str = match kind {
            "banco" => TREASURY_BANK_ENTITY,
            "fila" => TREASURY_ROW_ENTITY,
            "prestamo" => LOAN_ENTITY,
            other => {
                return Err(AppError::Invalid(format!(
                    "«{other}» no es algo de la tesorería (banco, fila o préstamo)"
                )));
            }
        };
        let before: serde_json::Value =
            self.store
                .plan_doc(entity, id)
                .await?
                .ok_or_else(|| AppError::NotFound {
                    what: "elemento de tesorería",
                    key: id.to_owned(),
                })?;
        let mut doc = before.clone();
        doc["eliminado"] = serde_json::Value::Bool(true);
        doc["updated_at"] = serde_json::Value::String(now());
        doc["updated_by"] = serde_json::Value::String(s.username.clone());
        Self::check_doc(s, entity, id, &doc, Some(&before))?;
        let mut tx = self.store.write(&s.username).await?;
        tx.put_plan_doc(entity, id, &doc, Some(&before), "delete")
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a loan with monthly instalments that add up to `total_cuotas`.
    ///
    /// # Errors
    /// Forbidden, invalid values, store errors.
    pub async fn loan_create(&self, s: &Session, input: &LoanInput) -> Result<LoanDoc> {
        s.require(Permission::Treasury)?;
        if !(1..=600).contains(&input.cuotas) {
            return Err(AppError::Invalid(
                "un préstamo tiene de 1 a 600 cuotas".into(),
            ));
        }
        if input.total_cuotas < input.monto {
            return Err(AppError::Invalid(format!(
                "las cuotas suman {} y el préstamo es de {}: las cuotas incluyen el capital",
                input.total_cuotas, input.monto
            )));
        }
        let doc = LoanDoc {
            id: uuid::Uuid::new_v4().to_string(),
            banco: input.banco.trim().to_owned(),
            descripcion: input.descripcion.trim().to_owned(),
            banco_id: input.banco_id.clone().filter(|b| !b.is_empty()),
            monto: input.monto,
            cuotas: schedule(
                input.total_cuotas,
                input.cuotas,
                day("la primera cuota", &input.primera)?,
            ),
            eliminado: false,
            updated_at: now(),
            updated_by: s.username.clone(),
        };
        self.save_doc(s, LOAN_ENTITY, &doc.id, &doc, None).await?;
        Ok(doc)
    }

    async fn loan(&self, id: &str) -> Result<LoanDoc> {
        self.store
            .plan_doc::<LoanDoc>(LOAN_ENTITY, id)
            .await?
            .filter(|l| !l.eliminado)
            .ok_or_else(|| AppError::NotFound {
                what: "préstamo",
                key: id.to_owned(),
            })
    }

    /// Changes a loan's texts and its unpaid instalments (paid ones never change).
    ///
    /// # Errors
    /// Forbidden, an unknown loan or instalment, a paid instalment, store errors.
    pub async fn loan_update(&self, s: &Session, edit: &LoanEdit) -> Result<LoanDoc> {
        s.require(Permission::Treasury)?;
        let before = self.loan(&edit.id).await?;
        let mut doc = before.clone();
        doc.banco = edit.banco.trim().to_owned();
        doc.descripcion = edit.descripcion.trim().to_owned();
        doc.banco_id = edit.banco_id.clone().filter(|b| !b.is_empty());
        for (n, vence, monto) in &edit.cuotas {
            let c =
                doc.cuotas
                    .iter_mut()
                    .find(|c| c.n == *n)
                    .ok_or_else(|| AppError::NotFound {
                        what: "cuota",
                        key: n.to_string(),
                    })?;
            if c.pagada.is_some() {
                return Err(AppError::Invalid(format!(
                    "la cuota {n} ya está pagada y no se modifica"
                )));
            }
            c.vence = day("el vencimiento", vence)?.format("%Y-%m-%d").to_string();
            c.monto = *monto;
        }
        doc.updated_at = now();
        doc.updated_by = s.username.clone();
        self.save_doc(s, LOAN_ENTITY, &doc.id, &doc, Some(&before))
            .await?;
        Ok(doc)
    }

    /// Pays a loan's next instalment on `fecha`; the next one becomes the one after it.
    ///
    /// # Errors
    /// Forbidden, an unknown loan, nothing left to pay, store errors.
    pub async fn loan_pay_next(&self, s: &Session, id: &str, fecha: &str) -> Result<LoanDoc> {
        s.require(Permission::Treasury)?;
        let before = self.loan(id).await?;
        let mut doc = before.clone();
        let fecha = day("la fecha de pago", fecha)?
            .format("%Y-%m-%d")
            .to_string();
        doc.pay_next(&fecha, &s.username)
            .map_err(AppError::Invalid)?;
        doc.updated_at = now();
        doc.updated_by = s.username.clone();
        self.save_doc(s, LOAN_ENTITY, &doc.id, &doc, Some(&before))
            .await?;
        Ok(doc)
    }

    /// Writes the treasury grid to an xlsx workbook.
    ///
    /// # Errors
    /// Forbidden, the file cannot be written.
    pub async fn treasury_export(
        &self,
        s: &Session,
        desde: &str,
        semanas: u32,
        out: &Path,
    ) -> Result<()> {
        s.require(Permission::Export)?;
        let view = self.treasury(s, desde, semanas).await?;
        let g = &view.grid;
        let with_total = |v: &[i64]| -> Vec<Option<i64>> {
            v.iter()
                .copied()
                .chain([v.iter().fold(0i64, |a, b| a.saturating_add(*b))])
                .map(Some)
                .collect()
        };
        let mut rows: Vec<GridLine> = g
            .filas
            .iter()
            .map(|f| GridLine {
                labels: vec![f.etiqueta.clone()],
                values: with_total(&f.montos),
                style: GridStyle::Data,
            })
            .collect();
        rows.push(GridLine {
            labels: vec!["Flujo neto".into()],
            values: with_total(&g.neto),
            style: GridStyle::Subtotal,
        });
        for b in &g.bancos {
            rows.push(GridLine {
                labels: vec![format!("Saldo {}", b.nombre)],
                values: b.saldos.iter().copied().chain([None]).collect(),
                style: GridStyle::Subtotal,
            });
        }
        rows.push(GridLine {
            labels: vec!["Saldo total".into()],
            values: g.saldo_total.iter().copied().chain([None]).collect(),
            style: GridStyle::Total,
        });
        let sheet = GridSheet {
            name: "Tesorería".into(),
            title: "Flujo de caja de la empresa".into(),
            subtitle: format!(
                "Semanas del {} al {}; generado el {}",
                g.semanas.first().map_or("", String::as_str),
                g.semanas.last().map_or("", String::as_str),
                chrono::Local::now().format("%d-%m-%Y %H:%M")
            ),
            label_headers: vec!["Concepto".into()],
            value_headers: g
                .semanas
                .iter()
                .map(|w| week_header(w))
                .chain(["Total".to_owned()])
                .collect(),
            rows,
        };
        write_grid(out, &[sheet]).map_err(|e| AppError::Io(e.to_string()))?;
        Ok(())
    }
}

//! Obra budgets and the treasury through the use cases: generated obras with invoices,
//! credit notes and payments whose actual spend, variance and totals the test computes on
//! its own; a loan after paying two instalments; an overdrawn bank carried across weeks;
//! roles and obra scope; the Excel workbooks read back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;
use common::factura;

use calamine::{Data, Reader, Xlsx};
use chrono::{Duration, NaiveDate};
use icc_app::{
    AppError, BudgetLineInput, LoanEdit, LoanInput, PaymentRequest, TreasuryBankInput,
    TreasuryRowInput, WeekInput,
};
use icc_core::presupuesto::{SIN_PARTIDA, SemanaMonto};
use icc_core::{Clp, DteType, InvoiceStatus, Role};

const ADMIN_PW: &str = "caballo correcto batería grapa";
const USER_PW: &str = "Quilicura-Andamio-Losa-77";

/// A small deterministic generator (the test must be repeatable).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn line(familia: &str, nombre: &str, cuentas: &[&str], centros: &[&str]) -> BudgetLineInput {
    BudgetLineInput {
        id: None,
        familia: familia.into(),
        nombre: nombre.into(),
        cuentas: cuentas.iter().map(|c| (*c).to_owned()).collect(),
        centros: centros.iter().map(|c| (*c).to_owned()).collect(),
        activa: true,
    }
}

/// A generated document: what the test knows about it.
#[derive(Clone)]
struct Gen {
    obra: &'static str,
    cuenta: Option<&'static str>,
    centro: Option<&'static str>,
    fecha: NaiveDate,
    nota: bool,
    estado: InvoiceStatus,
    neto: i64,
    exento: i64,
    folio: u64,
}

#[tokio::test]
async fn obra_grids_and_the_treasury_add_up_and_respect_roles() {
    let dir = tempfile::tempdir().unwrap();
    let app = icc_app::App::open(dir.path()).await.unwrap();
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    app.add_obra(&admin, "OB-1", "Edificio Ñuñoa")
        .await
        .unwrap();
    app.add_obra(&admin, "OB-2", "Bodega Quilicura")
        .await
        .unwrap();
    for (name, role, obras) in [
        ("gerente", Role::Gerente, vec![]),
        ("contadora", Role::Contabilidad, vec![]),
        ("jefe", Role::AdminObra, vec!["OB-1".to_owned()]),
    ] {
        app.add_user(&admin, name, role, &obras, USER_PW)
            .await
            .unwrap();
    }
    let gerente = app.login("gerente", USER_PW).await.unwrap();
    let contadora = app.login("contadora", USER_PW).await.unwrap();
    let jefe = app.login("jefe", USER_PW).await.unwrap();

    // the catalogue: gerente and admin only
    let moldajes = line("SUBCONTRATO", "Moldajes", &["5101"], &[]);
    assert!(matches!(
        app.budget_catalog_save(&jefe, &moldajes).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(
        app.budget_catalog_save(&contadora, &moldajes)
            .await
            .is_err()
    );
    let l_mold = app.budget_catalog_save(&gerente, &moldajes).await.unwrap();
    let l_grua = app
        .budget_catalog_save(&gerente, &line("EQUIPOS", "Grúa", &[], &["CC-EQ"]))
        .await
        .unwrap();
    let l_rem = app
        .budget_catalog_save(
            &admin,
            &line("MANO DE OBRA", "Remuneraciones", &["5301"], &["CC-MO"]),
        )
        .await
        .unwrap();
    let l_ing = app
        .budget_catalog_save(
            &gerente,
            &line("INGRESOS", "Estados de pago", &["5101"], &[]),
        )
        .await
        .unwrap();
    assert!(
        app.budget_catalog_save(&gerente, &line("OTRA", "x", &[], &[]))
            .await
            .is_err(),
        "an unknown family"
    );

    // generated documents over two obras, some outside the period, some void or rejected
    let cuentas = [Some("5101"), Some("5301"), Some("9999"), None];
    let centros = [Some("CC-EQ"), Some("CC-MO"), None];
    let mut rng = Lcg(7);
    let mut gens = Vec::new();
    for folio in 1..=160u64 {
        let nota = rng.next(6) == 0;
        let estado = match rng.next(12) {
            0 => InvoiceStatus::Rechazada,
            1 => InvoiceStatus::Anulada,
            _ => InvoiceStatus::Aprobada,
        };
        gens.push(Gen {
            obra: if rng.next(3) == 0 { "OB-2" } else { "OB-1" },
            cuenta: cuentas[rng.next(4) as usize],
            centro: centros[rng.next(3) as usize],
            fecha: d("2026-09-21") + Duration::days(rng.next(80) as i64),
            nota,
            estado,
            neto: 10_000 + rng.next(900) as i64 * 1_000,
            exento: if rng.next(4) == 0 { 5_000 } else { 0 },
            folio,
        });
    }
    let mut tx = app.store().write("contadora").await.unwrap();
    let invoices: Vec<_> = gens
        .iter()
        .map(|g| {
            let mut inv = factura(76_555_835, "Hormigones Andinos SpA", g.folio, 0);
            if g.nota {
                inv.key.tipo_dte = DteType::NOTA_CREDITO;
            }
            inv.fecha_emision = g.fecha;
            inv.fecha_recepcion_sii = g.fecha.and_hms_opt(9, 0, 0);
            inv.monto_neto = Clp::new(g.neto);
            inv.monto_exento = Clp::new(g.exento);
            inv.monto_iva = Clp::new(g.neto * 19 / 100);
            inv.monto_total = Clp::new(g.neto + g.exento + g.neto * 19 / 100);
            inv.obra = Some(g.obra.into());
            inv.cuenta = g.cuenta.map(str::to_owned);
            inv.centro_costo = g.centro.map(str::to_owned);
            inv.estado = g.estado;
            (inv, None)
        })
        .collect();
    tx.insert_invoices(&invoices, &mut |_| true).await.unwrap();
    tx.commit().await.unwrap();

    // payments of some approved facturas of OB-1, in October and November
    let mut pagos = Vec::new();
    for g in gens
        .iter()
        .filter(|g| !g.nota && g.estado == InvoiceStatus::Aprobada && g.obra == "OB-1")
        .take(25)
    {
        let fecha = g.fecha.max(d("2026-10-01")) + Duration::days(3);
        let fecha = fecha.min(d("2026-11-30"));
        let monto = (g.neto + g.exento) / 2;
        app.record_payment(
            &admin,
            &format!("76555835-2:{}:{}", if g.nota { 61 } else { 33 }, g.folio),
            PaymentRequest {
                monto,
                fecha: Some(fecha),
                medio: None,
                referencia: None,
            },
        )
        .await
        .unwrap();
        pagos.push((g.clone(), fecha, monto));
    }

    // the site manager budgets its obra, not another one
    assert!(matches!(
        app.obra_budget(&jefe, "OB-2").await,
        Err(AppError::NotFound { .. })
    ));
    assert!(
        app.obra_budget_set_period(&jefe, "OB-2", "2026-10-01", "2026-11-30")
            .await
            .is_err()
    );
    assert!(
        app.obra_budget_set_period(&contadora, "OB-1", "2026-10-01", "2026-11-30")
            .await
            .is_err(),
        "contabilidad reads budgets, it does not edit them"
    );
    // any day of a week stands for its Monday
    let p = app
        .obra_budget_set_period(&jefe, "OB-1", "2026-10-01", "2026-11-30")
        .await
        .unwrap();
    assert_eq!(
        (p.desde.as_str(), p.hasta.as_str()),
        ("2026-09-28", "2026-11-30")
    );
    let (desde, hasta) = (d("2026-09-28"), d("2026-12-06"));
    let mut ids = std::collections::HashMap::new();
    for (l, inicial) in [
        (&l_mold, 40_000_000),
        (&l_grua, 8_000_000),
        (&l_rem, 12_000_000),
        (&l_ing, 90_000_000),
    ] {
        let doc = app
            .obra_budget_add_line(&jefe, "OB-1", &l.id, inicial)
            .await
            .unwrap();
        ids.insert(l.nombre.clone(), doc.id);
    }
    assert!(
        app.obra_budget_add_line(&jefe, "OB-1", &l_mold.id, 1)
            .await
            .is_err(),
        "a line once per obra"
    );
    let mold = &ids["Moldajes"];
    app.obra_budget_modify(&jefe, "OB-1", mold, 2_500_000, "adicional de moldajes")
        .await
        .unwrap();
    app.obra_budget_modify(&gerente, "OB-1", mold, -1_000_000, "renegociado")
        .await
        .unwrap();
    assert!(
        app.obra_budget_modify(&jefe, "OB-1", mold, 0, "nada")
            .await
            .is_err()
    );
    assert!(
        app.obra_budget_modify(&jefe, "OB-1", mold, 5, "  ")
            .await
            .is_err(),
        "a modification needs its reason"
    );
    // each edit is in the line's history: who, and the document before and after
    let history = app
        .store()
        .history(icc_core::presupuesto::OBRA_LINE_ENTITY, mold)
        .await
        .unwrap();
    let by: Vec<(&str, bool)> = history
        .iter()
        .map(|h| {
            (
                h.user_name.as_str(),
                h.new_value
                    .as_deref()
                    .is_some_and(|v| v.contains("renegociado")),
            )
        })
        .collect();
    assert!(
        by.contains(&("jefe", false)) && by.contains(&("gerente", true)),
        "{by:?}"
    );
    let last = history.iter().find(|h| h.user_name == "gerente").unwrap();
    assert!(
        last.old_value
            .as_deref()
            .is_some_and(|v| v.contains("adicional de moldajes") && !v.contains("renegociado")),
        "{last:?}"
    );
    app.obra_budget_set_weeks(
        &jefe,
        "OB-1",
        mold,
        &[
            WeekInput {
                semana: "2026-10-07".into(),
                plan: 3_000_000,
                real: None,
            },
            WeekInput {
                semana: "2026-11-02".into(),
                plan: 4_000_000,
                real: None,
            },
        ],
    )
    .await
    .unwrap();
    assert!(
        app.obra_budget_set_weeks(
            &jefe,
            "OB-1",
            mold,
            &[WeekInput {
                semana: "2026-10-05".into(),
                plan: 1,
                real: Some(1),
            }],
        )
        .await
        .is_err(),
        "a cost line's actual comes from its invoices"
    );
    app.obra_budget_set_weeks(
        &jefe,
        "OB-1",
        &ids["Estados de pago"],
        &[WeekInput {
            semana: "2026-10-26".into(),
            plan: 30_000_000,
            real: Some(28_500_000),
        }],
    )
    .await
    .unwrap();

    // the grid, against the test's own arithmetic
    let view = app.obra_budget(&contadora, "OB-1").await.unwrap();
    assert!(!view.editable);
    let grid = view.grid.unwrap();
    assert_eq!(grid.semanas.len(), 10);
    let maps = |g: &Gen| -> &'static str {
        match (g.cuenta, g.centro) {
            (Some("5101"), _) => "Moldajes",
            (Some("5301"), _) => "Remuneraciones",
            (_, Some("CC-EQ")) => "Grúa",
            (_, Some("CC-MO")) => "Remuneraciones",
            _ => SIN_PARTIDA,
        }
    };
    let counts = |g: &Gen| {
        g.obra == "OB-1"
            && !matches!(g.estado, InvoiceStatus::Rechazada | InvoiceStatus::Anulada)
            && g.fecha >= desde
            && g.fecha <= hasta
    };
    let expected_real = |name: &str| -> i64 {
        gens.iter()
            .filter(|g| counts(g) && maps(g) == name)
            .map(|g| (g.neto + g.exento) * if g.nota { -1 } else { 1 })
            .sum()
    };
    let expected_paid = |name: &str| -> i64 {
        pagos
            .iter()
            .filter(|(g, f, _)| maps(g) == name && *f >= desde && *f <= hasta)
            .map(|(_, _, m)| m)
            .sum()
    };
    let row = |name: &str| grid.filas.iter().find(|r| r.nombre == name).unwrap();
    let mut costs = 0;
    for (name, vigente) in [
        ("Moldajes", 41_500_000),
        ("Grúa", 8_000_000),
        ("Remuneraciones", 12_000_000),
    ] {
        let r = row(name);
        assert_eq!(r.vigente, vigente, "{name}");
        assert_eq!(r.real_total, expected_real(name), "{name}");
        assert_eq!(r.pagado_total, expected_paid(name), "{name}");
        assert_eq!(r.variacion, vigente - expected_real(name), "{name}");
        costs += expected_real(name);
    }
    assert_ne!(
        expected_real(SIN_PARTIDA),
        0,
        "the generator makes unmapped spend"
    );
    assert_eq!(row(SIN_PARTIDA).real_total, expected_real(SIN_PARTIDA));
    assert_eq!(row("Moldajes").plan_total, 7_000_000);
    assert_eq!(row("Moldajes").modificaciones, 1_500_000);
    assert_eq!(row("SUBCONTRATO").real_total, expected_real("Moldajes"));
    let ing = row("Estados de pago");
    assert_eq!(ing.real_total, 28_500_000);
    let total = row("TOTAL");
    assert_eq!(
        total.real_total,
        28_500_000 - costs - expected_real(SIN_PARTIDA)
    );
    assert_eq!(
        total.vigente,
        90_000_000 - 41_500_000 - 8_000_000 - 12_000_000
    );
    assert_eq!(total.plan_total, 30_000_000 - 7_000_000);
    // each family is its one line here; TOTAL = INGRESOS − the rest, for payments and the
    // variance too (the income line is typed, so nothing is paid on it)
    for (family, name) in [
        ("SUBCONTRATO", "Moldajes"),
        ("EQUIPOS", "Grúa"),
        ("MANO DE OBRA", "Remuneraciones"),
    ] {
        let f = grid
            .filas
            .iter()
            .find(|r| r.kind == "familia" && r.nombre == family)
            .unwrap();
        assert_eq!(f.vigente, row(name).vigente, "{family}");
        assert_eq!(f.pagado_total, expected_paid(name), "{family}");
        assert_eq!(
            f.variacion,
            row(name).vigente - expected_real(name),
            "{family}"
        );
    }
    let paid_costs: i64 = ["Moldajes", "Grúa", "Remuneraciones", SIN_PARTIDA]
        .iter()
        .map(|n| expected_paid(n))
        .sum();
    assert_ne!(paid_costs, 0, "the test pays some invoices in the period");
    assert_eq!(total.pagado_total, -paid_costs);
    assert_eq!(
        total.variacion,
        (90_000_000 - 41_500_000 - 8_000_000 - 12_000_000)
            - (28_500_000 - costs - expected_real(SIN_PARTIDA))
    );
    // every week adds up to its total
    for r in &grid.filas {
        assert_eq!(r.real.iter().sum::<i64>(), r.real_total, "{}", r.nombre);
    }

    // renaming a catalogue line renames it in the obras, and keeps its history
    let mut renamed = line("SUBCONTRATO", "Moldajes y andamios", &["5101"], &[]);
    renamed.id = Some(l_mold.id.clone());
    app.budget_catalog_save(&admin, &renamed).await.unwrap();
    let view = app.obra_budget(&jefe, "OB-1").await.unwrap();
    let l = view.lineas.iter().find(|l| &l.id == mold).unwrap();
    assert_eq!(l.nombre, "Moldajes y andamios");
    assert_eq!(l.modificaciones.len(), 2);
    assert_eq!(l.modificaciones[0].por, "jefe");

    // the workbook carries the same figures
    let out = dir.path().join("obra.xlsx");
    app.obra_budget_export(&jefe, "OB-1", &out).await.unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook(&out).unwrap();
    let r = wb.worksheet_range("Resumen").unwrap();
    let total_row = r
        .rows()
        .find(|row| row.get(1) == Some(&Data::String("TOTAL".into())))
        .unwrap();
    assert_eq!(total_row[6], Data::Float(total.real_total as f64));

    // the treasury: admin and gerente only
    assert!(matches!(
        app.treasury(&contadora, "2026-11-30", 6).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(app.treasury(&jefe, "2026-11-30", 6).await.is_err());
    let bank = app
        .treasury_bank_save(
            &gerente,
            &TreasuryBankInput {
                id: None,
                nombre: "Santander cta. cte.".into(),
                saldo_inicial: 1_000_000,
                semana: "2026-12-02".into(),
                principal: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(bank.semana, "2026-11-30");
    let row_doc = app
        .treasury_row_save(
            &gerente,
            &TreasuryRowInput {
                id: None,
                concepto: "Arriendo oficina".into(),
                tipo: "egreso".into(),
                banco_id: None,
                montos: vec![SemanaMonto {
                    semana: "2026-12-07".into(),
                    monto: 1_500_000,
                }],
            },
        )
        .await
        .unwrap();
    let loan = app
        .loan_create(
            &gerente,
            &LoanInput {
                banco: "Banco de Chile".into(),
                descripcion: "Capital de trabajo".into(),
                banco_id: None,
                monto: 3_000_000,
                total_cuotas: 3_300_000,
                cuotas: 6,
                primera: "2026-12-15".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(loan.cuotas.iter().map(|c| c.monto).sum::<i64>(), 3_300_000);
    // paying two instalments advances the schedule
    app.loan_pay_next(&gerente, &loan.id, "2026-12-15")
        .await
        .unwrap();
    let paid = app
        .loan_pay_next(&admin, &loan.id, "2026-12-16")
        .await
        .unwrap();
    assert_eq!(paid.proxima().unwrap().n, 3);
    assert_eq!(paid.proxima().unwrap().vence, "2027-02-15");
    assert_eq!(paid.saldo(), 4 * 550_000);
    assert!(
        app.loan_pay_next(&jefe, &loan.id, "2026-12-16")
            .await
            .is_err()
    );
    // editing: unpaid instalments change, paid ones do not
    let edited = app
        .loan_update(
            &gerente,
            &LoanEdit {
                id: loan.id.clone(),
                banco: "Banco de Chile".into(),
                descripcion: "Capital de trabajo 2027".into(),
                banco_id: None,
                cuotas: vec![(3, "2027-02-20".into(), 600_000)],
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.cuotas[2].monto, 600_000);
    assert!(
        app.loan_update(
            &gerente,
            &LoanEdit {
                id: loan.id.clone(),
                banco: "Banco de Chile".into(),
                descripcion: String::new(),
                banco_id: None,
                cuotas: vec![(1, "2026-12-20".into(), 1)],
            },
        )
        .await
        .is_err()
    );

    // an overdrawn account carries its balance across weeks
    let t = app.treasury(&gerente, "2026-11-30", 4).await.unwrap();
    let g = &t.grid;
    assert_eq!(
        g.semanas,
        ["2026-11-30", "2026-12-07", "2026-12-14", "2026-12-21"]
    );
    // week 1: 1,000,000 (the obra's plan falls before the account's balance)
    // week 2: −1,500,000 rent → −500,000
    // week 3: two instalments paid (550,000 each) → −1,600,000; carried on
    let saldos = &g.bancos[0].saldos;
    assert_eq!(
        saldos,
        &[
            Some(1_000_000),
            Some(-500_000),
            Some(-1_600_000),
            Some(-1_600_000)
        ]
    );
    assert_eq!(g.saldo_total, *saldos);
    let prestamo = g.filas.iter().find(|f| f.kind == "prestamo").unwrap();
    assert_eq!(prestamo.montos, [0, 0, -1_100_000, 0]);
    // editing a row and the account: the balances follow
    app.treasury_row_save(
        &gerente,
        &TreasuryRowInput {
            id: Some(row_doc.id.clone()),
            concepto: "Arriendo oficina y bodega".into(),
            tipo: "egreso".into(),
            banco_id: None,
            montos: vec![SemanaMonto {
                semana: "2026-12-07".into(),
                monto: 1_200_000,
            }],
        },
    )
    .await
    .unwrap();
    app.treasury_bank_save(
        &gerente,
        &TreasuryBankInput {
            id: Some(bank.id.clone()),
            nombre: "Santander cuenta corriente".into(),
            saldo_inicial: 1_100_000,
            semana: "2026-11-30".into(),
            principal: true,
        },
    )
    .await
    .unwrap();
    let t = app.treasury(&gerente, "2026-11-30", 4).await.unwrap();
    assert_eq!(t.grid.bancos.len(), 1);
    assert_eq!(
        t.grid.bancos[0].saldos,
        [
            Some(1_100_000),
            Some(-100_000),
            Some(-1_200_000),
            Some(-1_200_000)
        ]
    );
    let fila = t.grid.filas.iter().find(|f| f.kind == "egreso").unwrap();
    assert_eq!(
        (fila.etiqueta.as_str(), fila.montos.as_slice()),
        ("Arriendo oficina y bodega", &[0, -1_200_000, 0, 0][..])
    );
    // deleting works, and its flows leave the grid
    app.treasury_delete(&gerente, "prestamo", &loan.id)
        .await
        .unwrap();
    app.treasury_delete(&gerente, "fila", &row_doc.id)
        .await
        .unwrap();
    let t = app.treasury(&gerente, "2026-11-30", 4).await.unwrap();
    assert!(t.prestamos.is_empty() && t.filas.is_empty());
    assert_eq!(t.grid.bancos[0].saldos, [Some(1_100_000); 4]);
    let out = dir.path().join("tesoreria.xlsx");
    app.treasury_export(&admin, "2026-11-30", 4, &out)
        .await
        .unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook(&out).unwrap();
    let r = wb.worksheet_range("Tesorería").unwrap();
    let saldo = r
        .rows()
        .find(|row| row.first() == Some(&Data::String("Saldo total".into())))
        .unwrap();
    let weeks: Vec<&Data> = saldo
        .iter()
        .skip(1)
        .filter(|c| **c != Data::Empty)
        .collect();
    assert_eq!(weeks, [&Data::Float(1_100_000.0); 4], "{saldo:?}");
}

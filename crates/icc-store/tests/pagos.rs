//! Payments, balances, import dates and interest rates on a fresh SQLite file per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use chrono::NaiveDate;
use icc_core::pagos::{InterestRate, PaymentMethod};
use icc_core::{
    Clp, DteType, Folio, Invoice, InvoiceId, InvoiceStatus, NaturalKey, Referencia, Rut, Source,
};
use icc_store::pagos::NewPayment;
use icc_store::{Store, StoreError};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("icc.db")).await.unwrap();
    (dir, store)
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const RUT: u32 = 76555835;

/// A document of the test supplier: type, folio, total, references (tipo, folio).
fn doc(tipo: DteType, folio: u64, total: i64, refs: &[(&str, &str)]) -> Invoice {
    Invoice {
        key: NaturalKey {
            rut_emisor: Rut::from_body(RUT).unwrap(),
            tipo_dte: tipo,
            folio: Folio::new(folio).unwrap(),
        },
        razon_social: "Ferretería Ñuñoa Ltda.".into(),
        fecha_emision: d("2026-10-01"),
        fecha_recepcion_sii: None,
        fecha_vencimiento: None,
        monto_neto: Clp::new(total),
        monto_exento: Clp::ZERO,
        monto_iva: Clp::ZERO,
        otros_impuestos: vec![],
        monto_total: Clp::new(total),
        referencias: refs
            .iter()
            .map(|(t, f)| Referencia {
                tipo: (*t).into(),
                folio: (*f).into(),
                fecha: None,
                codigo: Some(3),
                razon: None,
            })
            .collect(),
        obra: None,
        centro_costo: None,
        cuenta: None,
        orden_compra: None,
        glosa: None,
        estado: InvoiceStatus::Aprobada,
        motivo_rechazo: None,
        source: Source::Manual,
        external_id: None,
        fecha_importacion: None,
    }
}

async fn insert(store: &Store, docs: &[Invoice]) {
    let mut tx = store.write("contadora").await.unwrap();
    let rows: Vec<_> = docs.iter().cloned().map(|i| (i, None)).collect();
    tx.insert_invoices(&rows, &mut |_| true).await.unwrap();
    tx.commit().await.unwrap();
}

fn pay(monto: i64) -> NewPayment {
    NewPayment {
        fecha: d("2026-11-06"),
        monto: Clp::new(monto),
        medio: PaymentMethod::Transferencia,
        referencia: Some("  TRF-991 ".into()),
        run_id: None,
    }
}

async fn record(store: &Store, id: InvoiceId, monto: i64) -> Result<InvoiceStatus, StoreError> {
    let mut tx = store.write("gerente").await.unwrap();
    let (_, to) = tx.record_payment(id, &pay(monto)).await?;
    tx.commit().await.unwrap();
    Ok(to)
}

#[tokio::test]
async fn two_credit_notes_and_a_partial_payment_leave_the_right_balance_once() {
    let (_dir, store) = store().await;
    let factura = doc(DteType::FACTURA, 500, 1_190_000, &[]);
    // one note references the invoice on two lines: counted once
    let nc1 = doc(
        DteType::NOTA_CREDITO,
        70,
        119_000,
        &[("33", "500"), ("33", "500")],
    );
    let nc2 = doc(DteType::NOTA_CREDITO, 71, 11_900, &[("33", "500")]);
    // a voided note and another supplier's note with the same folio reference count nothing
    let mut nc3 = doc(DteType::NOTA_CREDITO, 72, 50_000, &[("33", "500")]);
    nc3.estado = InvoiceStatus::Anulada;
    let mut other = doc(DteType::NOTA_CREDITO, 73, 77_000, &[("33", "500")]);
    other.key.rut_emisor = Rut::from_body(76177907).unwrap();
    // a reference written otherwise than the number (033, 0500) names no document
    let odd = doc(
        DteType::NOTA_CREDITO,
        74,
        1_000,
        &[("033", "500"), ("33", "0500")],
    );
    insert(&store, &[factura.clone(), nc1, nc2, nc3, other, odd]).await;
    let id = factura.id();

    let b = store.balance(id).await.unwrap();
    assert_eq!(
        (b.total, b.notas_credito, b.pagado, b.saldo),
        (
            Clp::new(1_190_000),
            Clp::new(130_900),
            Clp::ZERO,
            Clp::new(1_059_100)
        )
    );

    assert_eq!(
        record(&store, id, 59_100).await.unwrap(),
        InvoiceStatus::ParcialmentePagada
    );
    assert_eq!(store.balance(id).await.unwrap().saldo, Clp::new(1_000_000));
    // more than the balance: refused, nothing stored
    let e = record(&store, id, 1_000_001).await.unwrap_err().to_string();
    assert!(
        e.contains("supera el saldo") && e.contains("$1.000.000"),
        "{e}"
    );
    assert_eq!(store.payments(id).await.unwrap().len(), 1);
    // the rest: pagada, through the status machine and the audit log
    assert_eq!(
        record(&store, id, 1_000_000).await.unwrap(),
        InvoiceStatus::Pagada
    );
    let b = store.balance(id).await.unwrap();
    assert_eq!((b.pagado, b.saldo), (Clp::new(1_059_100), Clp::ZERO));
    let maps = store.money_maps().await.unwrap();
    let key = id.to_string();
    assert_eq!(
        (maps.credited.get(&key), maps.paid.get(&key)),
        (Some(&130_900), Some(&1_059_100)),
        "the report's maps agree with the balance"
    );
    let e = record(&store, id, 1).await.unwrap_err().to_string();
    assert!(
        e.contains("apruébela") || e.contains("no tiene saldo"),
        "{e}"
    );

    let pagos = store.payments(id).await.unwrap();
    assert_eq!(
        pagos.iter().map(|p| p.monto).collect::<Vec<_>>(),
        [59_100, 1_000_000]
    );
    assert_eq!(pagos[0].referencia.as_deref(), Some("TRF-991"));
    assert_eq!(pagos[0].created_by, "gerente");
    let history = store.history("invoice", &id.to_string()).await.unwrap();
    let estados: Vec<_> = history
        .iter()
        .filter(|h| h.field.as_deref() == Some("estado"))
        .map(|h| (h.old_value.clone().unwrap(), h.new_value.clone().unwrap()))
        .collect();
    assert_eq!(
        estados,
        [
            ("aprobada".into(), "parcialmente_pagada".into()),
            ("parcialmente_pagada".to_owned(), "pagada".to_owned())
        ]
    );
    for p in &pagos {
        let h = store.history("payment", &p.id).await.unwrap();
        assert_eq!(h.len(), 1, "one audit row per payment");
        assert!(h[0].new_value.as_deref().unwrap().contains("06-11-2026"));
    }
}

#[tokio::test]
async fn a_note_for_several_invoices_is_credited_to_the_first_it_lists() {
    let (_dir, store) = store().await;
    let f1 = doc(DteType::FACTURA, 600, 100_000, &[]);
    let f2 = doc(DteType::FACTURA, 601, 100_000, &[]);
    let nc = doc(
        DteType::NOTA_CREDITO,
        80,
        30_000,
        &[("33", "601"), ("33", "600")],
    );
    // a note that lists itself first is credited to the next document it names
    let own = doc(
        DteType::NOTA_CREDITO,
        81,
        10_000,
        &[("61", "81"), ("33", "600")],
    );
    insert(&store, &[f1.clone(), f2.clone(), nc, own]).await;
    assert_eq!(
        store.balance(f2.id()).await.unwrap().saldo,
        Clp::new(70_000)
    );
    assert_eq!(
        store.balance(f1.id()).await.unwrap().saldo,
        Clp::new(90_000)
    );
    // the one-pass maps of reports agree
    let maps = store.money_maps().await.unwrap();
    assert_eq!(maps.credited.get(&f2.id().to_string()), Some(&30_000));
    assert_eq!(maps.credited.get(&f1.id().to_string()), Some(&10_000));
    assert_eq!(maps.applied_notes.len(), 2);
}

#[tokio::test]
async fn payments_need_an_approved_invoice_and_a_positive_amount() {
    let (_dir, store) = store().await;
    let mut f = doc(DteType::FACTURA, 700, 50_000, &[]);
    f.estado = InvoiceStatus::Recibida;
    insert(&store, std::slice::from_ref(&f)).await;
    let e = record(&store, f.id(), 10).await.unwrap_err().to_string();
    assert!(e.contains("apruébela"), "{e}");
    let mut tx = store.write("gerente").await.unwrap();
    tx.set_status(f.id(), InvoiceStatus::Aprobada, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    for monto in [0, -10] {
        let e = record(&store, f.id(), monto).await.unwrap_err().to_string();
        assert!(e.contains("mayor que cero"), "{e}");
    }
    assert!(store.payments(f.id()).await.unwrap().is_empty());
    let missing = doc(DteType::FACTURA, 701, 1, &[]).id();
    assert!(matches!(
        record(&store, missing, 1).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn without_reception_the_due_date_runs_from_the_import_date() {
    let (_dir, store) = store().await;
    let sin = doc(DteType::FACTURA, 800, 1_000, &[]);
    let mut con = doc(DteType::FACTURA, 801, 1_000, &[]);
    con.fecha_recepcion_sii = d("2026-10-03").and_hms_opt(9, 0, 0);
    let mut traida = doc(DteType::FACTURA, 802, 1_000, &[]);
    traida.fecha_importacion = Some(d("2026-10-20"));
    insert(&store, &[sin.clone(), con.clone(), traida.clone()]).await;
    let today = chrono::Local::now().date_naive();
    for (inv, vence, importada) in [
        (&sin, today + chrono::Days::new(30), Some(today)),
        (&con, d("2026-11-02"), Some(today)),
        (&traida, d("2026-11-19"), Some(d("2026-10-20"))),
    ] {
        let detail = store.invoice(inv.id()).await.unwrap().unwrap();
        assert_eq!(detail.row.vence, vence.to_string(), "{}", inv.key);
        assert_eq!(
            detail.fecha_importacion.as_deref(),
            importada.map(|i| i.to_string()).as_deref()
        );
    }
}

#[tokio::test]
async fn interest_rates_are_kept_per_month_and_checked() {
    let (_dir, store) = store().await;
    let mut tx = store.write("admin").await.unwrap();
    for (month, bp) in [(3, 2_520), (2, 2_400), (3, 2_530)] {
        tx.set_interest_rate(InterestRate {
            year: 2026,
            month,
            annual_bp: bp,
        })
        .await
        .unwrap();
    }
    for bad in [
        InterestRate {
            year: 2026,
            month: 13,
            annual_bp: 1,
        },
        InterestRate {
            year: 2026,
            month: 1,
            annual_bp: 10_001,
        },
    ] {
        let e = tx.set_interest_rate(bad).await.unwrap_err().to_string();
        assert!(e.contains("MM-AAAA") || e.contains("100 %"), "{e}");
    }
    tx.commit().await.unwrap();
    let rates = store.interest_rates().await.unwrap();
    assert_eq!(
        rates
            .iter()
            .map(|r| (r.month, r.annual_bp))
            .collect::<Vec<_>>(),
        [(2, 2_400), (3, 2_530)]
    );
    let h = store.history("interest_rate", "2026-03").await.unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].old_value.as_deref(), Some("2520"));
}

fn account(rut: u32, numero: &str) -> icc_store::cuentas::NewAccount {
    icc_store::cuentas::NewAccount {
        rut: Rut::from_body(rut).unwrap(),
        banco: "037".into(),
        tipo: icc_core::pagos::AccountType::Corriente,
        numero: numero.into(),
        titular_rut: Rut::from_body(rut).unwrap(),
        titular_nombre: "Ferretería Ñuñoa Ltda.".into(),
        email: Some("pagos@nunoa.cl".into()),
    }
}

async fn enter(
    store: &Store,
    who: &str,
    a: &icc_store::cuentas::NewAccount,
) -> Result<String, StoreError> {
    let mut tx = store.write(who).await.unwrap();
    let row = tx.add_bank_account(a, "manual").await?;
    tx.commit().await.unwrap();
    Ok(row.id)
}

async fn approve(store: &Store, who: &str, id: &str) -> Result<(), StoreError> {
    let mut tx = store.write(who).await.unwrap();
    tx.approve_bank_account(id).await?;
    tx.commit().await.unwrap();
    Ok(())
}

#[tokio::test]
async fn a_bank_account_is_payable_only_after_someone_else_approves_it() {
    let (_dir, store) = store().await;
    let rut = Rut::from_body(RUT).unwrap();
    let first = enter(&store, "contadora", &account(RUT, "0-012-34567-8"))
        .await
        .unwrap();
    assert_eq!(
        store.payable_account(&rut).await.unwrap(),
        None,
        "pending is not payable"
    );
    // the one who entered it cannot approve it
    let e = approve(&store, "contadora", &first).await.unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)), "{e}");
    assert!(e.to_string().contains("otra persona"), "{e}");
    approve(&store, "admin", &first).await.unwrap();
    let payable = store.payable_account(&rut).await.unwrap().unwrap();
    assert_eq!(
        (payable.id.as_str(), payable.numero.as_str()),
        (first.as_str(), "0012345678")
    );
    assert_eq!(payable.decided_by.as_deref(), Some("admin"));
    // approving twice is refused
    let e = approve(&store, "gerente", &first).await.unwrap_err();
    assert!(e.to_string().contains("no pendiente"), "{e}");

    // a change is a new pending version; the approved one stays payable until it is approved
    let second = enter(&store, "contadora", &account(RUT, "99887766"))
        .await
        .unwrap();
    let third = enter(&store, "contadora", &account(RUT, "11223344"))
        .await
        .unwrap();
    assert_eq!(
        store.payable_account(&rut).await.unwrap().unwrap().id,
        first
    );
    approve(&store, "admin", &third).await.unwrap();
    let versions = store.bank_accounts(Some(&rut), None).await.unwrap();
    let state = |id: &str| {
        versions
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.estado.clone())
            .unwrap()
    };
    assert_eq!(
        (state(&first), state(&second), state(&third)),
        ("reemplazada".into(), "descartada".into(), "aprobada".into())
    );
    let e = approve(&store, "admin", &second).await.unwrap_err();
    assert!(e.to_string().contains("descartada"), "{e}");
    assert_eq!(
        store.payable_account(&rut).await.unwrap().unwrap().id,
        third
    );
    let h = store.history("bank_account", &first).await.unwrap();
    assert_eq!(
        h.iter()
            .map(|e| e.new_value.clone().unwrap_or_default())
            .filter(|v| !v.contains("proveedor"))
            .collect::<Vec<_>>(),
        ["aprobada", "reemplazada"]
    );
}

#[tokio::test]
async fn the_same_account_on_two_suppliers_is_flagged_and_bad_input_stores_nothing() {
    let (_dir, store) = store().await;
    enter(&store, "contadora", &account(RUT, "55554444"))
        .await
        .unwrap();
    enter(&store, "contadora", &account(76177907, "55-554-444"))
        .await
        .unwrap();
    let all = store.bank_accounts(None, Some("pendiente")).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|a| a.duplicada), "{all:?}");

    let mut bad = account(77879240, "12ab34");
    let e = enter(&store, "contadora", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("número de cuenta") && e.contains("12ab34"),
        "{e}"
    );
    bad.numero = "12345678".into();
    bad.email = Some("pagos@".into());
    let e = enter(&store, "contadora", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("correo"), "{e}");
    bad.email = None;
    bad.banco = "999".into();
    let e = enter(&store, "contadora", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("banco") && e.contains("999"), "{e}");
    bad.banco = "037".into();
    bad.titular_nombre = "  ".into();
    let e = enter(&store, "contadora", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("titular"), "{e}");
    let rut = Rut::from_body(77879240).unwrap();
    assert!(
        store
            .bank_accounts(Some(&rut), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .banks()
            .await
            .unwrap()
            .iter()
            .find(|b| b.code == "037")
            .unwrap()
            .name,
        "Santander"
    );
}

fn cesion(folio: u64, seq: u32, monto: i64) -> icc_store::nominas::NewCesion {
    icc_store::nominas::NewCesion {
        rut_emisor: Rut::from_body(RUT).unwrap(),
        tipo: DteType::FACTURA,
        folio,
        seq,
        cedente_rut: Rut::from_body(if seq == 1 { RUT } else { 96_667_560 }).unwrap(),
        cedente_nombre: None,
        cesionario_rut: Rut::from_body(if seq == 1 { 96_667_560 } else { 76_836_040 }).unwrap(),
        cesionario_nombre: if seq == 1 {
            "Factoring Uno S.A.".into()
        } else {
            "Factoring Dos SpA".into()
        },
        monto_cedido: Clp::new(monto),
        fecha: d("2026-10-05").and_hms_opt(10, 18, 35).unwrap(),
        ultimo_vencimiento: None,
        source: "manual",
        identificador: None,
    }
}

#[tokio::test]
async fn a_payment_run_pays_each_payee_once_freezes_at_approval_and_records_payments() {
    let (_dir, store) = store().await;
    let rec = d("2026-10-01").and_hms_opt(9, 0, 0);
    let with_rec = |mut i: Invoice| {
        i.fecha_recepcion_sii = rec; // due 2026-10-31
        i
    };
    let plain = with_rec(doc(DteType::FACTURA, 900, 1_000_000, &[]));
    let nota = with_rec(doc(DteType::NOTA_CREDITO, 90, 100_000, &[("33", "900")]));
    let big = with_rec(doc(DteType::FACTURA, 901, 15_500_000, &[]));
    let partial = with_rec(doc(DteType::FACTURA, 902, 2_000_000, &[]));
    let mut later = with_rec(doc(DteType::FACTURA, 903, 5_000, &[]));
    later.fecha_vencimiento = Some(d("2026-12-31"));
    let mut pending = with_rec(doc(DteType::FACTURA, 904, 7_000, &[]));
    pending.estado = InvoiceStatus::Recibida;
    insert(
        &store,
        &[
            plain.clone(),
            nota,
            big.clone(),
            partial.clone(),
            later,
            pending,
        ],
    )
    .await;
    let mut tx = store.write("contadora").await.unwrap();
    tx.add_cesion(&cesion(901, 1, 15_500_000)).await.unwrap();
    tx.add_cesion(&cesion(901, 2, 15_500_000)).await.unwrap();
    tx.add_cesion(&cesion(902, 1, 1_200_000)).await.unwrap();
    let e = tx
        .add_cesion(&cesion(902, 1, 5))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ya existe"), "{e}");
    let mut guia = cesion(902, 2, 5);
    guia.tipo = DteType::NOTA_CREDITO;
    let e = tx.add_cesion(&guia).await.unwrap_err().to_string();
    assert!(e.contains("solo se ceden facturas"), "{e}");
    let run = tx.create_run(d("2026-11-06"), true).await.unwrap();
    tx.commit().await.unwrap();

    let (r, lines) = store.run(&run).await.unwrap();
    assert_eq!(
        (r.numero, r.estado.as_str(), r.corte.as_str()),
        (1, "borrador", "2026-11-06")
    );
    let line = |folio: i64| lines.iter().find(|l| l.folio == folio).unwrap().clone();
    assert_eq!(
        lines.len(),
        3,
        "not the later one, nor the one not approved: {lines:?}"
    );
    // credit note netted, supplier paid
    let l = line(900);
    assert_eq!(
        (l.saldo, l.monto, l.incluida, l.cedida),
        (900_000, 900_000, true, false)
    );
    assert_eq!(l.beneficiario_rut, "76555835-2");
    // assigned twice: the last cesionario; ≥ 10M at 60 days, so not in this run, explained
    let l = line(901);
    assert_eq!(
        (l.beneficiario.as_str(), l.incluida, l.vence.as_str()),
        ("Factoring Dos SpA", false, "2026-11-30")
    );
    assert!(l.nota.as_deref().unwrap().contains("60 días"), "{l:?}");
    // partial cesión: the cesionario gets what was assigned, the rest is flagged
    let l = line(902);
    assert_eq!(
        (l.beneficiario.as_str(), l.monto, l.incluida),
        ("Factoring Uno S.A.", 1_200_000, true)
    );
    assert!(
        l.nota.as_deref().unwrap().contains("cesión parcial"),
        "{l:?}"
    );
    assert_eq!(r.total, 2_100_000);

    // edit the draft: pay part of the first
    let mut tx = store.write("contadora").await.unwrap();
    let e = tx
        .set_run_line(&run, &plain.key.to_string(), None, Some(900_001))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("a lo más el saldo"), "{e}");
    tx.set_run_line(&run, &plain.key.to_string(), None, Some(400_000))
        .await
        .unwrap();
    // approval freezes the accounts the payees have now (the cesionario has none)
    let mut acc = account(RUT, "12345678");
    acc.rut = Rut::from_body(RUT).unwrap();
    let acc_id = tx.add_bank_account(&acc, "manual").await.unwrap().id;
    tx.commit().await.unwrap();
    approve(&store, "admin", &acc_id).await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    let approved = tx.approve_run(&run).await.unwrap();
    assert_eq!(
        (approved.estado.as_str(), approved.approved_by.as_deref()),
        ("aprobada", Some("gerente"))
    );
    let e = tx
        .set_run_line(&run, &plain.key.to_string(), Some(false), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("aprobada") && e.contains("nómina nueva"), "{e}");
    tx.commit().await.unwrap();
    let (_, frozen) = store.run("1").await.unwrap();
    assert_eq!(
        frozen
            .iter()
            .find(|l| l.folio == 900)
            .unwrap()
            .account_id
            .as_deref(),
        Some(acc_id.as_str())
    );
    assert_eq!(
        frozen.iter().find(|l| l.folio == 902).unwrap().account_id,
        None
    );

    // a later change of data does not rewrite the approved run
    let mut changed = plain.clone();
    changed.razon_social = "Otro Nombre SpA".into();
    let mut tx = store.write("contadora").await.unwrap();
    tx.update_document(&changed).await.unwrap();
    tx.commit().await.unwrap();
    let (_, again) = store.run(&run).await.unwrap();
    assert_eq!(again, frozen);

    // the treasury counts an approved run on its cut-off date
    let (head, _) = store.run(&run).await.unwrap();
    let outflows = |o: Vec<icc_core::presupuesto::RunOutflow>| {
        o.into_iter()
            .map(|o| (o.numero, o.fecha.to_string(), o.monto))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outflows(store.run_outflows().await.unwrap()),
        vec![(1, head.corte.clone(), head.total)]
    );

    // marking it paid records one payment per included line
    let mut tx = store.write("gerente").await.unwrap();
    let paid = tx.mark_run_paid(&run, d("2026-11-06")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(paid.estado, "pagada");
    // and the treasury moves it to the payment date given, not the day it was marked
    assert_ne!(
        paid.paid_at.as_deref().map(|t| &t[..10]),
        Some("2026-11-06")
    );
    assert_eq!(
        outflows(store.run_outflows().await.unwrap()),
        vec![(1, "2026-11-06".to_owned(), head.total)]
    );
    let p = store.payments(plain.id()).await.unwrap();
    assert_eq!(
        (p.len(), p[0].monto, p[0].run_id.as_deref()),
        (1, 400_000, Some(run.as_str()))
    );
    assert_eq!(p[0].referencia.as_deref(), Some("Nómina N° 1"));
    assert_eq!(
        store.balance(plain.id()).await.unwrap().saldo,
        Clp::new(500_000)
    );
    assert_eq!(
        store.balance(partial.id()).await.unwrap().saldo,
        Clp::new(800_000)
    );
    assert!(store.payments(big.id()).await.unwrap().is_empty());
    let mut tx = store.write("gerente").await.unwrap();
    let e = tx
        .mark_run_paid(&run, d("2026-11-06"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("pagada"), "{e}");
}

/// A run of everything due in the next 40 days, made by the contadora and approved by the
/// gerente: its id.
async fn approved_run(store: &Store) -> String {
    let corte = chrono::Local::now().date_naive() + chrono::Days::new(40);
    let mut tx = store.write("contadora").await.unwrap();
    let run = tx.create_run(corte, true).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    tx.approve_run(&run).await.unwrap();
    tx.commit().await.unwrap();
    run
}

#[tokio::test]
async fn marking_a_run_paid_records_nothing_when_an_invoice_was_paid_meanwhile() {
    let (_dir, store) = store().await;
    let a = doc(DteType::FACTURA, 950, 10_000, &[]);
    let b = doc(DteType::FACTURA, 951, 20_000, &[]);
    insert(&store, &[a.clone(), b.clone()]).await;
    let run = approved_run(&store).await;
    // someone pays b by hand after the run was approved
    record(&store, b.id(), 20_000).await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    let e = tx
        .mark_run_paid(&run, d("2026-11-06"))
        .await
        .unwrap_err()
        .to_string();
    drop(tx);
    assert!(
        e.contains(&b.key.to_string()) && e.contains("ningún pago"),
        "{e}"
    );
    assert!(
        store.payments(a.id()).await.unwrap().is_empty(),
        "nothing of the run was recorded"
    );
    assert_eq!(store.run(&run).await.unwrap().0.estado, "aprobada");
}

#[tokio::test]
async fn a_run_never_pays_again_what_an_approved_run_pays_nor_a_payee_no_longer_owed() {
    let (_dir, store) = store().await;
    let a = doc(DteType::FACTURA, 960, 1_000_000, &[]);
    let b = doc(DteType::FACTURA, 961, 5_000_000, &[]);
    let c = doc(DteType::FACTURA, 962, 2_000_000, &[]);
    insert(&store, &[a.clone(), b.clone(), c.clone()]).await;
    let corte = chrono::Local::now().date_naive() + chrono::Days::new(40);
    let lines = |run: String| {
        let store = store.clone();
        async move { store.run(&run).await.unwrap().1 }
    };
    let line = |ls: &[icc_store::nominas::RunLine], inv: &Invoice| {
        ls.iter()
            .find(|l| l.invoice_id == inv.id().to_string())
            .unwrap()
            .clone()
    };
    // b assigned in part: its cesionario is owed 3,000,000
    let mut tx = store.write("contadora").await.unwrap();
    tx.add_cesion(&cesion(961, 1, 3_000_000)).await.unwrap();
    let run1 = tx.create_run(corte, true).await.unwrap();
    tx.set_run_line(&run1, &c.key.to_string(), Some(false), None)
        .await
        .unwrap();
    // a draft commits no money: a second draft offers the same
    let run2 = tx.create_run(corte, true).await.unwrap();
    tx.commit().await.unwrap();
    let l2 = lines(run2.clone()).await;
    assert_eq!(
        (
            line(&l2, &a).monto,
            line(&l2, &b).monto,
            line(&l2, &c).monto
        ),
        (1_000_000, 3_000_000, 2_000_000)
    );
    let mut tx = store.write("gerente").await.unwrap();
    tx.approve_run(&run1).await.unwrap();
    tx.commit().await.unwrap();
    // the second draft would pay a and b twice
    let mut tx = store.write("gerente").await.unwrap();
    let e = tx.approve_run(&run2).await.unwrap_err().to_string();
    drop(tx);
    assert!(
        e.contains("se pagaría dos veces") && e.contains("ya pagan") && e.contains("N° 1"),
        "{e}"
    );
    assert_eq!(store.run(&run2).await.unwrap().0.estado, "borrador");
    // a new draft leaves out what run 1 pays, and says so; c is still owed
    let mut tx = store.write("contadora").await.unwrap();
    let run3 = tx.create_run(corte, true).await.unwrap();
    tx.commit().await.unwrap();
    let l3 = lines(run3.clone()).await;
    let la = line(&l3, &a);
    assert_eq!((la.monto, la.incluida), (0, false));
    assert!(la.nota.as_deref().unwrap().contains("N° 1"), "{la:?}");
    let lb = line(&l3, &b);
    assert_eq!((lb.monto, lb.incluida), (0, false), "{lb:?}");
    assert_eq!(
        (line(&l3, &c).monto, line(&l3, &c).incluida),
        (2_000_000, true)
    );
    // c is assigned after the draft: paying its issuer would not settle the debt
    let mut tx = store.write("contadora").await.unwrap();
    tx.add_cesion(&cesion(962, 1, 2_000_000)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    let e = tx.approve_run(&run3).await.unwrap_err().to_string();
    drop(tx);
    assert!(
        e.contains("hoy se le debe a 96667560") && e.contains("cedida después"),
        "{e}"
    );
    // once run 1 is paid, the cesionario of b got all that was assigned to it: the rest of
    // b is for a person to decide, never the cesionario again
    let mut tx = store.write("gerente").await.unwrap();
    tx.mark_run_paid(&run1, d("2026-11-06")).await.unwrap();
    let run4 = tx.create_run(corte, true).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.balance(b.id()).await.unwrap().saldo,
        Clp::new(2_000_000)
    );
    let lb = line(&lines(run4.clone()).await, &b);
    assert_eq!((lb.monto, lb.incluida), (0, false), "{lb:?}");
    assert!(
        lb.nota.as_deref().unwrap().contains("ya le pagan"),
        "{lb:?}"
    );
    // nor by hand: paying the cesionario the rest is refused at approval
    let mut tx = store.write("contadora").await.unwrap();
    tx.set_run_line(&run4, &b.key.to_string(), Some(true), Some(2_000_000))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    let e = tx.approve_run(&run4).await.unwrap_err().to_string();
    assert!(
        e.contains("se le cedieron $3.000.000") && e.contains("a lo más $0"),
        "{e}"
    );
}

#[tokio::test]
async fn a_chain_of_cesiones_that_does_not_link_keeps_its_invoice_out_of_runs() {
    let (_dir, store) = store().await;
    let e = doc(DteType::FACTURA, 970, 800_000, &[]);
    let f = doc(DteType::FACTURA, 971, 900_000, &[]);
    insert(&store, &[e.clone(), f.clone()]).await;
    let corte = chrono::Local::now().date_naive() + chrono::Days::new(40);
    let mut tx = store.write("contadora").await.unwrap();
    // e: the second cesión is ceded by someone the first did not assign it to
    tx.add_cesion(&cesion(970, 1, 800_000)).await.unwrap();
    let mut stray = cesion(970, 2, 800_000);
    stray.cedente_rut = Rut::from_body(77_879_240).unwrap();
    tx.add_cesion(&stray).await.unwrap();
    // f: only a second cesión, its first missing
    tx.add_cesion(&cesion(971, 2, 900_000)).await.unwrap();
    let run = tx.create_run(corte, true).await.unwrap();
    tx.commit().await.unwrap();
    let (_, lines) = store.run(&run).await.unwrap();
    for (inv, why) in [
        (&e, "la cesión 2 la cede 77879240"),
        (&f, "falta la secuencia 1"),
    ] {
        let l = lines
            .iter()
            .find(|l| l.invoice_id == inv.id().to_string())
            .unwrap();
        assert!(!l.incluida, "{l:?}");
        assert!(l.nota.as_deref().unwrap().contains(why), "{l:?}");
    }
    // a person who checked the chain may include it (paying its last cesionario)
    let mut tx = store.write("contadora").await.unwrap();
    tx.set_run_line(&run, &e.key.to_string(), Some(true), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    tx.approve_run(&run).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn approval_refuses_a_line_whose_invoice_is_no_longer_approved() {
    let (_dir, store) = store().await;
    let a = doc(DteType::FACTURA, 990, 1_000_000, &[]);
    insert(&store, std::slice::from_ref(&a)).await;
    let corte = chrono::Local::now().date_naive() + chrono::Days::new(40);
    let mut tx = store.write("contadora").await.unwrap();
    let run = tx.create_run(corte, true).await.unwrap();
    // disputed after the draft was made
    tx.set_status(a.id(), InvoiceStatus::EnRevision, None)
        .await
        .unwrap();
    tx.set_status(a.id(), InvoiceStatus::Rechazada, Some("precio mal cobrado"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("gerente").await.unwrap();
    let e = tx.approve_run(&run).await.unwrap_err().to_string();
    drop(tx);
    assert!(
        e.contains(&a.key.to_string()) && e.contains("hoy está rechazada"),
        "{e}"
    );
    assert_eq!(store.run(&run).await.unwrap().0.estado, "borrador");
}

#[tokio::test]
async fn the_bank_file_refuses_a_line_paid_meanwhile_until_it_is_taken_out() {
    let (_dir, store) = store().await;
    let a = doc(DteType::FACTURA, 991, 1_000_000, &[]);
    let b = doc(DteType::FACTURA, 992, 2_000_000, &[]);
    insert(&store, &[a.clone(), b.clone()]).await;
    let run = approved_run(&store).await;
    // b is paid by cheque after the approval: the file must not pay it again
    record(&store, b.id(), 2_000_000).await.unwrap();
    let mut tx = store.write("tesorera").await.unwrap();
    let e = tx.run_payments(&run).await.unwrap_err().to_string();
    drop(tx);
    assert!(
        e.contains("no se hizo el archivo del banco")
            && e.contains(&b.key.to_string())
            && e.contains("icc pagos excluir 1"),
        "{e}"
    );
    assert!(!e.contains(&a.key.to_string()), "a is still owed: {e}");
    // an approved run changes only to take out what is no longer owed as approved
    let mut tx = store.write("contadora").await.unwrap();
    let e = tx
        .set_run_line(&run, &a.key.to_string(), Some(false), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("se sigue debiendo"), "{e}");
    let e = tx
        .set_run_line(&run, &a.key.to_string(), None, Some(500_000))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("está aprobada"), "{e}");
    let l = tx
        .set_run_line(&run, &b.key.to_string(), Some(false), None)
        .await
        .unwrap();
    assert!(!l.incluida);
    let e = tx
        .set_run_line(&run, &b.key.to_string(), Some(true), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("está aprobada"), "{e}");
    tx.commit().await.unwrap();
    // the file now stops only at what it always needed: the payee's approved account
    let mut tx = store.write("tesorera").await.unwrap();
    let e = tx.run_payments(&run).await.unwrap_err().to_string();
    drop(tx);
    assert!(e.contains("sin cuenta bancaria aprobada"), "{e}");
    // and marking it paid records a's payment only
    let mut tx = store.write("tesorera").await.unwrap();
    tx.mark_run_paid(&run, d("2026-11-06")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.payments(a.id()).await.unwrap().len(), 1);
    assert_eq!(store.payments(b.id()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_bank_file_refuses_a_line_assigned_after_the_approval() {
    let (_dir, store) = store().await;
    let a = doc(DteType::FACTURA, 993, 1_000_000, &[]);
    insert(&store, std::slice::from_ref(&a)).await;
    let run = approved_run(&store).await;
    let mut tx = store.write("contadora").await.unwrap();
    tx.add_cesion(&cesion(993, 1, 1_000_000)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("tesorera").await.unwrap();
    let e = tx.run_payments(&run).await.unwrap_err().to_string();
    assert!(
        e.contains("hoy se le debe a 96667560") && e.contains("no se hizo el archivo"),
        "{e}"
    );
    drop(tx);
    // its one line taken out, the run has nothing left to pay, send or mark paid
    let mut tx = store.write("contadora").await.unwrap();
    tx.set_run_line(&run, &a.key.to_string(), Some(false), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("tesorera").await.unwrap();
    for e in [
        tx.run_payments(&run).await.map(|_| ()).unwrap_err(),
        tx.mark_run_sent(&run).await.map(|_| ()).unwrap_err(),
        tx.mark_run_paid(&run, d("2026-11-06"))
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(e.to_string().contains("no hay nada que pagar"), "{e}");
    }
}

#[tokio::test]
async fn a_partial_cesion_with_a_payment_by_hand_waits_for_a_person() {
    let (_dir, store) = store().await;
    let a = doc(DteType::FACTURA, 994, 10_000_000, &[]);
    let b = doc(DteType::FACTURA, 995, 2_000_000, &[]);
    let nc = doc(DteType::NOTA_CREDITO, 996, 800_000, &[("33", "995")]);
    insert(&store, &[a.clone(), b.clone(), nc]).await;
    // a: 6M assigned, 6M paid by hand (to whom, the register does not say)
    let mut tx = store.write("contadora").await.unwrap();
    tx.add_cesion(&cesion(994, 1, 6_000_000)).await.unwrap();
    // b: its net (2M less a 0.8M credit note) assigned whole
    tx.add_cesion(&cesion(995, 1, 1_200_000)).await.unwrap();
    tx.commit().await.unwrap();
    record(&store, a.id(), 6_000_000).await.unwrap();
    let corte = chrono::Local::now().date_naive() + chrono::Days::new(40);
    let mut tx = store.write("contadora").await.unwrap();
    let run = tx.create_run(corte, true).await.unwrap();
    tx.commit().await.unwrap();
    let lines = store.run(&run).await.unwrap().1;
    let line = |inv: &Invoice| {
        lines
            .iter()
            .find(|l| l.invoice_id == inv.id().to_string())
            .unwrap()
            .clone()
    };
    let la = line(&a);
    assert!(!la.incluida, "{la:?}");
    assert!(
        la.nota
            .as_deref()
            .unwrap()
            .contains("fuera de nóminas ($6.000.000)"),
        "{la:?}"
    );
    // b: the cesionario gets the whole balance; nothing is left for anybody to decide
    let lb = line(&b);
    assert_eq!((lb.monto, lb.incluida), (1_200_000, true), "{lb:?}");
    let nota = lb.nota.as_deref().unwrap();
    assert!(
        nota.contains("cesión parcial") && !nota.contains("el resto"),
        "{nota}"
    );
}

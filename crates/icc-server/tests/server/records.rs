//! Payment records pushed to the server: who may make each change, the four eyes over
//! bank accounts checked against server accounts, approved runs frozen, payments only of
//! invoices the server holds and that the account sees, and a site manager receiving the
//! payments of its obras' invoices (and losing them when the invoice leaves).

use super::*;
use icc_core::records::{BankAccountDoc, PaymentDoc, RunDoc, RunLineDoc};

fn record(entity: &str, id: &str, value: Value, h: Hlc) -> Op {
    serde_json::from_value(json!({
        "op_id": uuid::Uuid::new_v4(),
        "entity": entity,
        "entity_id": id,
        "field": "_doc",
        "value": value,
        "hlc": h,
        "base_hlc": null,
        "obra": null,
    }))
    .unwrap()
}

fn account(estado: &str, created_by: &str) -> BankAccountDoc {
    BankAccountDoc {
        id: "11111111-1111-4111-8111-111111111111".into(),
        rut: "76555835-2".into(),
        banco: "037".into(),
        tipo_cuenta: "corriente".into(),
        numero: "12345678".into(),
        titular_rut: "76555835-2".into(),
        titular_nombre: "Hormigones Andinos SpA".into(),
        email: None,
        estado: estado.into(),
        origen: "manual".into(),
        created_at: "2026-12-01T10:00:00Z".into(),
        created_by: created_by.into(),
        decided_at: None,
        decided_by: None,
    }
}

fn run(invoice: &str, estado: &str, monto: i64, account: Option<&str>) -> RunDoc {
    RunDoc {
        id: "22222222-2222-4222-8222-222222222222".into(),
        numero: 1,
        corte: "2026-12-04".into(),
        estado: estado.into(),
        created_at: "2026-12-01T10:00:00Z".into(),
        created_by: "ana".into(),
        approved_at: None,
        approved_by: None,
        sent_at: None,
        sent_by: None,
        paid_at: None,
        paid_by: None,
        bank_file_sha256: None,
        lineas: vec![RunLineDoc {
            pos: 1,
            invoice_id: invoice.into(),
            documento: "76555835-2:33:1".into(),
            folio: 1,
            proveedor_rut: "76555835-2".into(),
            proveedor: "Hormigones Andinos SpA".into(),
            beneficiario_rut: "76555835-2".into(),
            beneficiario: "Hormigones Andinos SpA".into(),
            cedida: false,
            vence: "2026-04-03".into(),
            saldo: 1_190_000,
            monto,
            incluida: true,
            nota: None,
            account_id: account.map(str::to_owned),
        }],
    }
}

fn payment(id: &str, invoice: &str, monto: i64) -> PaymentDoc {
    PaymentDoc {
        id: id.into(),
        invoice_id: invoice.into(),
        fecha: "2026-12-02".into(),
        monto,
        medio: "transferencia".into(),
        referencia: None,
        run_id: None,
        created_at: "2026-12-02T10:00:00Z".into(),
        created_by: "ana".into(),
    }
}

fn v<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

async fn start() -> TestServer {
    TestServer::start_for(
        &[
            ("ti", Role::Admin, &[]),
            ("ti2", Role::Admin, &[]),
            ("contadora", Role::Contabilidad, &[]),
            ("gerente", Role::Gerente, &[]),
            ("jefe", Role::AdminObra, &["OB-1"]),
        ],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn bank_accounts_runs_and_payments_are_checked_against_the_accounts_that_push_them() {
    let srv = start().await;
    let ti = srv.session("ti", "pc_ti").await;
    let ti2 = srv.session("ti2", "pc_ti2").await;
    let conta = srv.session("contadora", "pc_conta").await;
    let gerente = srv.session("gerente", "pc_ger").await;
    let jefe = srv.session("jefe", "pc_jefe").await;
    let t = now();
    let (inv, doc) = authority::invoice(1, Some("OB-1"));
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![op(&inv, "_doc", doc, hlc(t, "pc_conta"), None, "OB-1")],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let acc = account("pendiente", "ana");
    let acc_id = acc.id.clone();
    let at = |n: i64, d: &str| hlc(t + n, d);

    // a site manager enters no bank account; a new account is never born approved
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record("bank_account", &acc_id, v(&acc), at(1, "pc_jefe"))],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record(
                "bank_account",
                &acc_id,
                v(&account("aprobada", "ana")),
                at(1, "pc_ti"),
            )],
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("pendiente"),
        "{b}"
    );
    // the admin enters it; the same server account cannot approve it, whatever the
    // laptop's user is called; another admin can
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record("bank_account", &acc_id, v(&acc), at(2, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let mut approved = account("aprobada", "ana");
    approved.decided_by = Some("otro".into());
    approved.decided_at = Some("2026-12-01T11:00:00Z".into());
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record(
                "bank_account",
                &acc_id,
                v(&approved),
                at(3, "pc_ti"),
            )],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("otra persona"),
        "{b}"
    );
    assert_eq!(
        b["refused"][0]["current"]["value"]["estado"], "pendiente",
        "{b}"
    );
    // nor a role without the permission
    let (s, _) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record(
                "bank_account",
                &acc_id,
                v(&approved),
                at(3, "pc_conta"),
            )],
        )
        .await;
    assert_eq!(s, 403);

    // a run approved while its payee's account is still pending is refused
    let draft = run(&inv, "borrador", 1_190_000, None);
    let run_id = draft.id.clone();
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record("payment_run", &run_id, v(&draft), at(4, "pc_conta"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let mut run_ok = run(&inv, "aprobada", 1_190_000, Some(&acc_id));
    run_ok.approved_by = Some("gerente".into());
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record("payment_run", &run_id, v(&run_ok), at(5, "pc_ger"))],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no es una cuenta aprobada"),
        "{b}"
    );
    let (s, b) = srv
        .push(
            &ti2,
            "pc_ti2",
            vec![record(
                "bank_account",
                &acc_id,
                v(&approved),
                at(6, "pc_ti2"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // contabilidad prepares but does not approve; the gerente does
    let (s, _) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record(
                "payment_run",
                &run_id,
                v(&run_ok),
                at(7, "pc_conta"),
            )],
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record("payment_run", &run_id, v(&run_ok), at(8, "pc_ger"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // approved, its lines are frozen: paying a different amount, or going back, is refused
    let mut rewritten = run(&inv, "pagada", 990_000, Some(&acc_id));
    rewritten.approved_by = Some("gerente".into());
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record(
                "payment_run",
                &run_id,
                v(&rewritten),
                at(9, "pc_conta"),
            )],
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record("payment_run", &run_id, v(&draft), at(10, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 400);
    // a second run may not take its number
    let mut other = run(&inv, "borrador", 1_000, None);
    other.id = "33333333-3333-4333-8333-333333333333".into();
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record(
                "payment_run",
                &other.id,
                v(&other),
                at(11, "pc_conta"),
            )],
        )
        .await;
    assert_eq!(s, 409, "{b}");
    // a run that would pay the invoice to someone it is not owed to is not approved, even
    // with that someone's approved account
    let mut diverted = run(&inv, "borrador", 1_000, None);
    diverted.id = "88888888-8888-4888-8888-888888888888".into();
    diverted.numero = 2;
    diverted.lineas[0].beneficiario_rut = "96667560-8".into();
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record(
                "payment_run",
                &diverted.id,
                v(&diverted),
                at(11, "pc_conta"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let mut approved_diverted = diverted.clone();
    approved_diverted.estado = "aprobada".into();
    approved_diverted.approved_by = Some("gerente".into());
    approved_diverted.lineas[0].account_id = Some(acc_id.clone());
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record(
                "payment_run",
                &diverted.id,
                v(&approved_diverted),
                at(11, "pc_ger"),
            )],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("se le debe a 76555835-2"),
        "{b}"
    );

    // payments: not by a site manager, not of an invoice the server does not hold, never
    // rewritten
    let p = payment("44444444-4444-4444-8444-444444444444", &inv, 190_000);
    let (s, _) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record("payment", &p.id, v(&p), at(12, "pc_jefe"))],
        )
        .await;
    assert_eq!(s, 403);
    let (ghost, _) = authority::invoice(99, Some("OB-1"));
    let stray = payment("55555555-5555-4555-8555-555555555555", &ghost, 1_000);
    let (s, _) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record("payment", &stray.id, v(&stray), at(13, "pc_conta"))],
        )
        .await;
    assert_eq!(s, 409);
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record("payment", &p.id, v(&p), at(14, "pc_conta"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // another laptop, offline, paid the whole invoice too: the server holds the line at
    // its total
    let twice = payment("66666666-6666-4666-8666-666666666666", &inv, 1_190_000);
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record("payment", &twice.id, v(&twice), at(14, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert!(
        b["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("lo superaría"),
        "{b}"
    );
    let rest = payment("77777777-7777-4777-8777-777777777777", &inv, 1_000_000);
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record("payment", &rest.id, v(&rest), at(14, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let bigger = payment(&p.id, &inv, 1_190_000);
    let (s, _) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record("payment", &p.id, v(&bigger), at(15, "pc_conta"))],
        )
        .await;
    assert_eq!(s, 400);

    // the site manager receives the payment of its obra's invoice, never the bank master
    // nor the runs; when the invoice moves to another obra, the payment leaves with it
    let seen = srv.pull_all(&jefe).await;
    let entities: Vec<&str> = seen.ops.iter().map(|o| o.op.entity.as_str()).collect();
    assert_eq!(entities, ["invoice", "payment", "payment"], "{entities:?}");
    let cursor = seen.next_cursor;
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![op(
                &inv,
                "obra",
                json!("OB-2"),
                at(16, "pc_conta"),
                None,
                "OB-1",
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, page) = srv
        .get(
            &format!("/api/v1/sync/pull?cursor={cursor}&scope=OB-1"),
            Some(&jefe),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let mut removed: Vec<&str> = page["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["entity"].as_str().unwrap())
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, ["invoice", "payment", "payment"], "{page}");
    srv.stop().await;
}

/// A credit note of invoice `folio`'s issuer, of `total`, naming the documents `names`
/// (type 33) in that order, in `estado`; and its id.
fn credit_note(folio: u64, total: i64, names: &[u64], estado: &str) -> (String, Value) {
    let (_, mut doc) = authority::invoice(folio, Some("OB-1"));
    doc["key"]["tipo_dte"] = json!(61);
    doc["monto_neto"] = json!(0);
    doc["monto_iva"] = json!(0);
    doc["monto_exento"] = json!(total);
    doc["monto_total"] = json!(total);
    doc["estado"] = json!(estado);
    if estado == "rechazada" {
        doc["motivo_rechazo"] = json!("no corresponde");
    }
    doc["referencias"] = names
        .iter()
        .map(|f| json!({"tipo": "33", "folio": f.to_string(), "fecha": null, "codigo": 3, "razon": null}))
        .collect();
    let note: icc_core::Invoice = serde_json::from_value(doc.clone()).unwrap();
    (note.id().to_string(), doc)
}

#[tokio::test]
async fn the_server_nets_credit_notes_before_it_takes_a_payment() {
    let srv = start().await;
    let conta = srv.session("contadora", "pc_conta").await;
    let ti = srv.session("ti", "pc_ti").await;
    let t = now();
    let (inv1, doc1) = authority::invoice(1, Some("OB-1"));
    let (inv2, doc2) = authority::invoice(2, Some("OB-1"));
    // 200,000 credited to invoice 2; one naming 1 first goes to 1; a rejected one counts
    // nothing; one naming 2 by a folio written `02` names nothing
    let (n1, nd1) = credit_note(901, 200_000, &[2], "recibida");
    let (n2, nd2) = credit_note(902, 300_000, &[1, 2], "recibida");
    let (n3, nd3) = credit_note(903, 400_000, &[2], "rechazada");
    let (n4, mut nd4) = credit_note(904, 500_000, &[], "recibida");
    nd4["referencias"] =
        json!([{"tipo": "33", "folio": "02", "fecha": null, "codigo": 3, "razon": null}]);
    let ops = vec![
        op(&inv1, "_doc", doc1, hlc(t, "pc_conta"), None, "OB-1"),
        op(&inv2, "_doc", doc2, hlc(t, "pc_conta"), None, "OB-1"),
        op(&n1, "_doc", nd1, hlc(t, "pc_conta"), None, "OB-1"),
        op(&n2, "_doc", nd2, hlc(t, "pc_conta"), None, "OB-1"),
        op(&n3, "_doc", nd3, hlc(t, "pc_conta"), None, "OB-1"),
        op(&n4, "_doc", nd4, hlc(t, "pc_conta"), None, "OB-1"),
    ];
    let (s, b) = srv.push(&conta, "pc_conta", ops).await;
    assert_eq!(s, 200, "{b}");
    // invoice 2: 1,190,000 − 200,000 = 990,000
    let over = payment("88888888-8888-4888-8888-888888888888", &inv2, 990_001);
    let (s, b) = put(
        &srv,
        &ti,
        "pc_ti",
        "payment",
        &over.id,
        v(&over),
        hlc(t + 1, "pc_ti"),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let reason = b["refused"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("saldo de $990.000"), "{reason}");
    assert!(reason.contains("notas de crédito por $200.000"), "{reason}");
    let exact = payment("99999999-9999-4999-8999-999999999999", &inv2, 990_000);
    let (s, b) = put(
        &srv,
        &ti,
        "pc_ti",
        "payment",
        &exact.id,
        v(&exact),
        hlc(t + 2, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // invoice 1: 1,190,000 − 300,000 (the note naming it first) = 890,000, paid in two
    let first = payment("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", &inv1, 500_000);
    let (s, b) = put(
        &srv,
        &conta,
        "pc_conta",
        "payment",
        &first.id,
        v(&first),
        hlc(t + 3, "pc_conta"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let second = payment("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", &inv1, 390_001);
    let (s, b) = put(
        &srv,
        &ti,
        "pc_ti",
        "payment",
        &second.id,
        v(&second),
        hlc(t + 4, "pc_ti"),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let second = payment("cccccccc-cccc-4ccc-8ccc-cccccccccccc", &inv1, 390_000);
    let (s, b) = put(
        &srv,
        &ti,
        "pc_ti",
        "payment",
        &second.id,
        v(&second),
        hlc(t + 5, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // a laptop that paid invoice 3 in full, then imported its credit note, pushes both
    // at once: the money had left when the note arrived, so the payment is recorded
    let (inv3, doc3) = authority::invoice(3, Some("OB-1"));
    let (n5, nd5) = credit_note(905, 100_000, &[3], "recibida");
    let full = payment("dddddddd-dddd-4ddd-8ddd-dddddddddddd", &inv3, 1_190_000);
    let (s, b) = srv
        .push(
            &conta,
            "pc_conta",
            vec![
                op(&inv3, "_doc", doc3, hlc(t + 6, "pc_conta"), None, "OB-1"),
                record("payment", &full.id, v(&full), hlc(t + 7, "pc_conta")),
                op(&n5, "_doc", nd5, hlc(t + 8, "pc_conta"), None, "OB-1"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn two_accounts_of_one_supplier_approved_apart_leave_one_to_pay_into() {
    let srv = start().await;
    let ti = srv.session("ti", "pc_ti").await;
    let ti2 = srv.session("ti2", "pc_ti2").await;
    let conta = srv.session("contadora", "pc_conta").await;
    let gerente = srv.session("gerente", "pc_ger").await;
    let t = now();
    let (inv, doc) = authority::invoice(1, Some("OB-1"));
    let mut b = account("pendiente", "ana");
    let mut c = account("pendiente", "ana");
    c.id = "33333333-3333-4333-8333-333333333333".into();
    c.numero = "87654321".into();
    let ops = vec![
        op(&inv, "_doc", doc, hlc(t, "pc_conta"), None, "OB-1"),
        record("bank_account", &b.id, v(&b), hlc(t, "pc_conta")),
        record("bank_account", &c.id, v(&c), hlc(t, "pc_conta")),
    ];
    let (s, body) = srv.push(&conta, "pc_conta", ops).await;
    assert_eq!(s, 200, "{body}");
    // one administrator approves B, another (apart, later) approves C
    b.estado = "aprobada".into();
    b.decided_at = Some("2026-12-02T09:00:00Z".into());
    b.decided_by = Some("ti".into());
    let (s, body) = put(
        &srv,
        &ti,
        "pc_ti",
        "bank_account",
        &b.id,
        v(&b),
        hlc(t + 1, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    c.estado = "aprobada".into();
    c.decided_at = Some("2026-12-02T10:00:00Z".into());
    c.decided_by = Some("ti2".into());
    let (s, body) = put(
        &srv,
        &ti2,
        "pc_ti2",
        "bank_account",
        &c.id,
        v(&c),
        hlc(t + 2, "pc_ti2"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // every laptop receives B replaced, as the second approver's laptop made it
    let (bv, device) = newest(&srv, &gerente, &b.id).await;
    assert_eq!(bv["estado"], "reemplazada", "{bv}");
    assert_eq!(bv["decided_by"], "ti2", "{bv}");
    assert_eq!(bv["decided_at"], "2026-12-02T10:00:00Z", "{bv}");
    assert_eq!(device, "servidor");
    assert_eq!(newest(&srv, &gerente, &c.id).await.0["estado"], "aprobada");
    // the first approver's laptop replacing B again, or late, changes nothing
    let mut b_again = b.clone();
    b_again.estado = "reemplazada".into();
    let (s, body) = put(
        &srv,
        &ti,
        "pc_ti",
        "bank_account",
        &b.id,
        v(&b_again),
        hlc(t + 50, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(newest(&srv, &gerente, &b.id).await.0["decided_by"], "ti2");
    // a run paying into B is refused; into C it is approved
    let draft = run(&inv, "borrador", 1_190_000, None);
    let (s, body) = put(
        &srv,
        &conta,
        "pc_conta",
        "payment_run",
        &draft.id,
        v(&draft),
        hlc(t + 60, "pc_conta"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let mut into_b = run(&inv, "aprobada", 1_190_000, Some(&b.id));
    into_b.approved_by = Some("gerente".into());
    let (s, body) = put(
        &srv,
        &gerente,
        "pc_ger",
        "payment_run",
        &draft.id,
        v(&into_b),
        hlc(t + 61, "pc_ger"),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let mut into_c = run(&inv, "aprobada", 1_190_000, Some(&c.id));
    into_c.approved_by = Some("gerente".into());
    let (s, body) = put(
        &srv,
        &gerente,
        "pc_ger",
        "payment_run",
        &draft.id,
        v(&into_c),
        hlc(t + 62, "pc_ger"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

/// The newest document of bank account `id` a laptop of `token` receives, and the device
/// that wrote it.
async fn newest(srv: &TestServer, token: &str, id: &str) -> (Value, String) {
    srv.pull_all(token)
        .await
        .ops
        .into_iter()
        .filter(|o| o.op.entity == "bank_account" && o.op.entity_id == id)
        .max_by(|x, y| x.op.hlc.cmp(&y.op.hlc))
        .map(|o| (o.op.value, o.device_id))
        .unwrap()
}

/// Pushes one record document from `device`.
async fn put(
    srv: &TestServer,
    token: &str,
    device: &str,
    entity: &str,
    id: &str,
    value: Value,
    h: Hlc,
) -> (u16, Value) {
    srv.push(token, device, vec![record(entity, id, value, h)])
        .await
}

/// An obra's budget line as a laptop sends it.
fn budget_line(obra: &str, mods: Vec<icc_core::presupuesto::Modificacion>) -> Value {
    use icc_core::presupuesto::{ObraLineDoc, obra_line_id};
    v(&ObraLineDoc {
        id: obra_line_id(obra, "linea-moldajes"),
        obra: obra.into(),
        line_id: "linea-moldajes".into(),
        familia: "SUBCONTRATO".into(),
        nombre: "Moldajes".into(),
        cuentas: vec!["5101".into()],
        centros: vec![],
        inicial: 10_000_000,
        modificaciones: mods,
        semanas: vec![],
        updated_at: "2026-12-01T10:00:00.000Z".into(),
        updated_by: "jefe".into(),
    })
}

fn modificacion(por: &str, monto: i64) -> icc_core::presupuesto::Modificacion {
    icc_core::presupuesto::Modificacion {
        monto,
        motivo: "mayor obra".into(),
        por: por.into(),
        en: "2026-12-02T10:00:00.000Z".into(),
    }
}

#[tokio::test]
async fn budgets_follow_their_obra_and_the_treasury_reaches_only_who_may_see_it() {
    use icc_core::presupuesto::{
        BudgetLineDoc, LOAN_ENTITY, LoanDoc, OBRA_LINE_ENTITY, obra_line_id, schedule,
    };
    let srv = start().await;
    let ti = srv.session("ti", "pc_ti").await;
    let conta = srv.session("contadora", "pc_conta").await;
    let gerente = srv.session("gerente", "pc_ger").await;
    let jefe = srv.session("jefe", "pc_jefe").await;
    let t = now();
    let at = |n: i64, d: &str| hlc(t + n, d);
    let status = |b: &Value| b["refused"][0]["reason"].as_str().unwrap_or("").to_owned();

    // the catalogue: admin and gerente only, and it reaches the site manager
    let cat = v(&BudgetLineDoc {
        id: "linea-moldajes".into(),
        familia: "SUBCONTRATO".into(),
        nombre: "Moldajes".into(),
        cuentas: vec!["5101".into()],
        centros: vec![],
        activa: true,
        orden: 1,
        updated_at: "2026-12-01T10:00:00.000Z".into(),
        updated_by: "gerente".into(),
    });
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(
                "budget_line",
                "linea-moldajes",
                cat.clone(),
                at(1, "pc_jefe"),
            )],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record(
                "budget_line",
                "linea-moldajes",
                cat.clone(),
                at(1, "pc_ger"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // a site manager budgets its obra, not another one
    let ob1 = obra_line_id("OB-1", "linea-moldajes");
    let ob2 = obra_line_id("OB-2", "linea-moldajes");
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob1,
                budget_line("OB-1", vec![]),
                at(2, "pc_jefe"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob2,
                budget_line("OB-2", vec![]),
                at(3, "pc_jefe"),
            )],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(status(&b).contains("OB-2"), "{b}");
    // contabilidad reads budgets but does not edit them
    let (s, _) = srv
        .push(
            &conta,
            "pc_conta",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob2,
                budget_line("OB-2", vec![]),
                at(3, "pc_conta"),
            )],
        )
        .await;
    assert_eq!(s, 403);
    // the catalogue's copy in a line is not the site manager's to rewrite
    let mut renamed = budget_line("OB-1", vec![]);
    renamed["cuentas"] = json!(["9999"]);
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(OBRA_LINE_ENTITY, &ob1, renamed, at(4, "pc_jefe"))],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    // nor may it create a line whose copy is not the catalogue's
    let ob1b = obra_line_id("OB-1", "linea-inventada");
    let mut invented = budget_line("OB-1", vec![]);
    invented["id"] = json!(ob1b);
    invented["line_id"] = json!("linea-inventada");
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(OBRA_LINE_ENTITY, &ob1b, invented, at(4, "pc_jefe"))],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(status(&b).contains("catálogo"), "{b}");
    // a modification is kept: never removed or rewritten
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob1,
                budget_line("OB-1", vec![modificacion("jefe", 500)]),
                at(5, "pc_jefe"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob1,
                budget_line("OB-1", vec![]),
                at(6, "pc_ti"),
            )],
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(status(&b).contains("no se borran"), "{b}");
    // the initial budget changes only through a modification
    let mut raised = budget_line("OB-1", vec![modificacion("jefe", 500)]);
    raised["inicial"] = json!(20_000_000);
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record(OBRA_LINE_ENTITY, &ob1, raised, at(7, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 400, "{b}");

    // the gerente's modification of the site manager's line reaches the site manager
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob1,
                budget_line(
                    "OB-1",
                    vec![modificacion("jefe", 500), modificacion("gerente", -200)],
                ),
                at(8, "pc_ger"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // a modification made apart and overtaken by the gerente's newer version is refused
    // (listed on the laptop), not lost in silence
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob1,
                budget_line(
                    "OB-1",
                    vec![modificacion("jefe", 500), modificacion("jefe", 777)],
                ),
                at(7, "pc_jefe"),
            )],
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert!(status(&b).contains("no quedó"), "{b}");
    // a refusal never shows a document the account may not see
    let mut planned = budget_line("OB-2", vec![]);
    planned["semanas"] = json!([{"semana": "2026-11-30", "plan": 1, "real": null}]);
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record(
                OBRA_LINE_ENTITY,
                &ob2,
                budget_line("OB-2", vec![]),
                at(8, "pc_ger"),
            )],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = srv
        .push(
            &jefe,
            "pc_jefe",
            vec![record(OBRA_LINE_ENTITY, &ob2, planned, at(9, "pc_jefe"))],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(b["refused"][0]["current"].is_null(), "{b}");
    assert!(!b.to_string().contains("2026-11-30"), "{b}");

    // the treasury: admin and gerente push it, and only they receive it
    let loan = LoanDoc {
        id: "33333333-3333-4333-8333-333333333333".into(),
        banco: "Banco de Chile".into(),
        descripcion: "Capital de trabajo".into(),
        banco_id: None,
        monto: 3_000_000,
        cuotas: schedule(3_300_000, 6, "2026-12-15".parse().unwrap()),
        eliminado: false,
        updated_at: "2026-12-01T10:00:00.000Z".into(),
        updated_by: "gerente".into(),
    };
    for (tok, dev) in [(&conta, "pc_conta"), (&jefe, "pc_jefe")] {
        let (s, b) = srv
            .push(
                tok,
                dev,
                vec![record(LOAN_ENTITY, &loan.id, v(&loan), at(8, dev))],
            )
            .await;
        assert_eq!(s, 403, "{b}");
    }
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record(LOAN_ENTITY, &loan.id, v(&loan), at(9, "pc_ger"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let mut paid = loan.clone();
    paid.pay_next("2026-12-15", "gerente").unwrap();
    let (s, b) = srv
        .push(
            &gerente,
            "pc_ger",
            vec![record(LOAN_ENTITY, &loan.id, v(&paid), at(10, "pc_ger"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // a paid instalment stays paid
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record(LOAN_ENTITY, &loan.id, v(&loan), at(11, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 400, "{b}");

    let entities = |p: &PullResponse| -> Vec<(String, String)> {
        p.ops
            .iter()
            .map(|o| (o.op.entity.clone(), o.op.entity_id.clone()))
            .collect()
    };
    let seen_by_admin = entities(&srv.pull_all(&ti).await);
    assert!(seen_by_admin.contains(&(LOAN_ENTITY.into(), loan.id.clone())));
    assert!(seen_by_admin.contains(&(OBRA_LINE_ENTITY.into(), ob1.clone())));
    let seen_by_conta = entities(&srv.pull_all(&conta).await);
    assert!(
        !seen_by_conta.iter().any(|(e, _)| e == LOAN_ENTITY),
        "{seen_by_conta:?}"
    );
    assert!(seen_by_conta.contains(&(OBRA_LINE_ENTITY.into(), ob1.clone())));
    let seen_by_jefe = entities(&srv.pull_all(&jefe).await);
    assert!(
        !seen_by_jefe.iter().any(|(e, _)| e == LOAN_ENTITY),
        "{seen_by_jefe:?}"
    );
    assert!(seen_by_jefe.contains(&("budget_line".into(), "linea-moldajes".into())));
    assert!(seen_by_jefe.contains(&(OBRA_LINE_ENTITY.into(), ob1)));
}

#[tokio::test]
async fn a_known_invoices_payments_stay_with_it_when_a_batch_brings_an_older_document() {
    let srv = start().await;
    let ti = srv.session("ti", "pc_ti").await;
    let t = now();
    let (x, dx) = authority::invoice(8001, Some("OB-1"));
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![op(&x, "_doc", dx, hlc(t, "pc_ti"), None, "OB-1")],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let p = payment("55555555-5555-4555-8555-555555555555", &x, 100_000);
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![record("payment", &p.id, v(&p), hlc(t + 1, "pc_ti"))],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let obra_of_payment = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT obra FROM entity_obras WHERE entity = 'payment'",
        )
        .fetch_one(&srv.pool)
        .await
        .unwrap()
    };
    assert_eq!(obra_of_payment().await.as_deref(), Some("OB-1"));
    // an older document of x (another obra) comes in a batch with a new invoice: x keeps
    // OB-1 (the server's document is newer), and so do its payments
    let (_, old) = authority::invoice(8001, Some("OB-2"));
    let (z, dz) = authority::invoice(8002, Some("OB-1"));
    let (s, b) = srv
        .push(
            &ti,
            "pc_ti",
            vec![
                op(&x, "_doc", old, hlc(t - 60_000, "pc_ti"), None, "OB-2"),
                op(&z, "_doc", dz, hlc(t + 2, "pc_ti"), None, "OB-1"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let obra_of_x: Option<String> = sqlx::query_scalar(
        "SELECT obra FROM entity_obras WHERE entity = 'invoice' AND entity_id = $1",
    )
    .bind(&x)
    .fetch_one(&srv.pool)
    .await
    .unwrap();
    assert_eq!(obra_of_x.as_deref(), Some("OB-1"));
    assert_eq!(obra_of_payment().await.as_deref(), Some("OB-1"));
    let jefe = srv.session("jefe", "pc_jefe").await;
    let pulled = srv.pull_all(&jefe).await;
    assert!(
        pulled.ops.iter().any(|o| o.op.entity == "payment"),
        "the OB-1 site manager still gets x's payment"
    );
    srv.stop().await;
}

#[tokio::test]
async fn an_account_is_restamped_only_by_bank_roles_and_a_full_clock_never_breaks_pulls() {
    let srv = start().await;
    let ti = srv.session("ti", "pc_ti").await;
    let ti2 = srv.session("ti2", "pc_ti2").await;
    let conta = srv.session("contadora", "pc_conta").await;
    let gerente = srv.session("gerente", "pc_ger").await;
    let t = now();
    let mut b = account("pendiente", "ana");
    let mut c = account("pendiente", "ana");
    c.id = "33333333-3333-4333-8333-333333333333".into();
    c.numero = "87654321".into();
    let (s, body) = srv
        .push(
            &conta,
            "pc_conta",
            vec![
                record("bank_account", &b.id, v(&b), hlc(t, "pc_conta")),
                record("bank_account", &c.id, v(&c), hlc(t, "pc_conta")),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    b.estado = "aprobada".into();
    b.decided_at = Some("2026-12-02T09:00:00Z".into());
    b.decided_by = Some("ti".into());
    let (s, body) = put(
        &srv,
        &ti,
        "pc_ti",
        "bank_account",
        &b.id,
        v(&b),
        hlc(t + 1, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // the same approved account again, with a key more and a full clock counter
    let mut stamped = v(&b);
    stamped["nota"] = json!(1);
    let full = |ms: i64, device: &str| Hlc {
        wall_ms: ms,
        counter: icc_core::sync::MAX_HLC_COUNTER,
        device: device.into(),
    };
    // a role that handles no bank account may not stamp it (a newer clock would make a
    // real change made before it count as old)
    let (s, body) = put(
        &srv,
        &gerente,
        "pc_ger",
        "bank_account",
        &b.id,
        stamped.clone(),
        full(t + 120_000, "pc_ger"),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    // an administrator may; then approving C replaces B with the clock after B's newest:
    // the next millisecond, a clock every laptop can still read
    let (s, body) = put(
        &srv,
        &ti,
        "pc_ti",
        "bank_account",
        &b.id,
        stamped,
        full(t + 120_000, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    c.estado = "aprobada".into();
    c.decided_at = Some("2026-12-02T10:00:00Z".into());
    c.decided_by = Some("ti2".into());
    let (s, body) = put(
        &srv,
        &ti2,
        "pc_ti2",
        "bank_account",
        &c.id,
        v(&c),
        hlc(t + 2, "pc_ti2"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (bv, device) = newest(&srv, &gerente, &b.id).await;
    assert_eq!(
        (bv["estado"].as_str(), device.as_str()),
        (Some("reemplazada"), "servidor")
    );
    let pulled = srv.pull_all(&ti).await;
    let replaced = pulled
        .ops
        .iter()
        .filter(|o| o.op.entity_id == b.id)
        .map(|o| o.op.hlc.clone())
        .max()
        .unwrap();
    assert_eq!((replaced.wall_ms, replaced.counter), (t + 120_001, 0));
    srv.stop().await;
}

/// Pushes a payment run's document from `device` at `ms`.
async fn put_run(
    srv: &TestServer,
    token: &str,
    device: &str,
    doc: &RunDoc,
    ms: i64,
) -> (u16, Value) {
    put(
        srv,
        token,
        device,
        "payment_run",
        &doc.id,
        v(doc),
        hlc(ms, device),
    )
    .await
}

/// Invoice 1 (OB-1) pushed by the contadora, a run of it drafted by her and approved by the
/// gerente with no frozen account (clocks `t` to `t + 2`): the invoice's id and the run.
async fn approved_run_of_one(
    srv: &TestServer,
    conta: &str,
    gerente: &str,
    t: i64,
) -> (String, RunDoc) {
    let (inv, doc) = authority::invoice(1, Some("OB-1"));
    let (s, b) = srv
        .push(
            conta,
            "pc_conta",
            vec![op(&inv, "_doc", doc, hlc(t, "pc_conta"), None, "OB-1")],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let draft = run(&inv, "borrador", 1_190_000, None);
    let (s, b) = put_run(srv, conta, "pc_conta", &draft, t + 1).await;
    assert_eq!(s, 200, "{b}");
    let mut approved = run(&inv, "aprobada", 1_190_000, None);
    approved.approved_by = Some("gerente".into());
    approved.approved_at = Some("2026-12-02T10:00:00Z".into());
    let (s, b) = put_run(srv, gerente, "pc_ger", &approved, t + 2).await;
    assert_eq!(s, 200, "{b}");
    (inv, approved)
}

#[tokio::test]
async fn an_approved_run_only_gains_frozen_accounts_and_loses_lines() {
    let srv = start().await;
    let ti = srv.session("ti", "pc_ti").await;
    let conta = srv.session("contadora", "pc_conta").await;
    let gerente = srv.session("gerente", "pc_ger").await;
    let t = now();
    // approved while the payee had no approved account on the approver's laptop
    let (_, approved) = approved_run_of_one(&srv, &conta, &gerente, t).await;
    let mut acc = account("pendiente", "ana");
    let (s, b) = put(
        &srv,
        &conta,
        "pc_conta",
        "bank_account",
        &acc.id,
        v(&acc),
        hlc(t + 3, "pc_conta"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    acc.estado = "aprobada".into();
    acc.decided_at = Some("2026-12-02T09:00:00Z".into());
    acc.decided_by = Some("ti".into());
    let (s, b) = put(
        &srv,
        &ti,
        "pc_ti",
        "bank_account",
        &acc.id,
        v(&acc),
        hlc(t + 4, "pc_ti"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // the bank file freezes the payee's approved account on the line: accepted
    let mut frozen = approved.clone();
    frozen.lineas[0].account_id = Some(acc.id.clone());
    let (s, b) = put_run(&srv, &gerente, "pc_ger", &frozen, t + 5).await;
    assert_eq!(s, 200, "{b}");
    // taking out a line no longer owed: Contabilidad's, not the gerente's
    let mut out = frozen.clone();
    out.lineas[0].incluida = false;
    let (s, b) = put_run(&srv, &gerente, "pc_ger", &out, t + 6).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = put_run(&srv, &conta, "pc_conta", &out, t + 7).await;
    assert_eq!(s, 200, "{b}");
    // nothing else of a line changes: not putting it back, nor its amount
    let (s, b) = put_run(&srv, &conta, "pc_conta", &frozen, t + 8).await;
    assert_eq!(s, 400, "{b}");
    let mut more = out.clone();
    more.lineas[0].monto = 2_000_000;
    let (s, b) = put_run(&srv, &conta, "pc_conta", &more, t + 9).await;
    assert_eq!(s, 400, "{b}");
    srv.stop().await;
}

#[tokio::test]
async fn a_sent_run_loses_no_line() {
    let srv = start().await;
    let conta = srv.session("contadora", "pc_conta").await;
    let gerente = srv.session("gerente", "pc_ger").await;
    let t = now();
    let (_, mut sent) = approved_run_of_one(&srv, &conta, &gerente, t).await;
    sent.estado = "enviada".into();
    sent.sent_by = Some("gerente".into());
    sent.sent_at = Some("2026-12-03T10:00:00Z".into());
    let (s, b) = put_run(&srv, &gerente, "pc_ger", &sent, t + 3).await;
    assert_eq!(s, 200, "{b}");
    let mut out = sent.clone();
    out.lineas[0].incluida = false;
    let (s, b) = put_run(&srv, &conta, "pc_conta", &out, t + 4).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no se le quitan"),
        "{b}"
    );
    srv.stop().await;
}

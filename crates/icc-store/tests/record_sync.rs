//! Payment records pulled from the server onto a laptop: held until their invoice
//! arrives, a document the laptop cannot store skipped without stalling the page, and a
//! run number taken elsewhere moving this laptop's unsent run to the next number.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use icc_core::sync::{Hlc, Op, RawJson, ServerOp};
use icc_core::{Clp, DteType, Folio, Invoice, InvoiceStatus, NaturalKey, Rut, Source};
use icc_store::Store;
use serde_json::{Value, json};

fn invoice(folio: u64) -> Invoice {
    let emision: chrono::NaiveDate = "2026-10-01".parse().unwrap();
    Invoice {
        key: NaturalKey {
            rut_emisor: Rut::from_body(76555835).unwrap(),
            tipo_dte: DteType::FACTURA,
            folio: Folio::new(folio).unwrap(),
        },
        razon_social: "Ferretería Ñuñoa Ltda.".into(),
        fecha_emision: emision,
        fecha_recepcion_sii: None,
        fecha_vencimiento: None,
        monto_neto: Clp::new(1_000_000),
        monto_exento: Clp::ZERO,
        monto_iva: Clp::ZERO,
        otros_impuestos: vec![],
        monto_total: Clp::new(1_000_000),
        referencias: vec![],
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

fn sop(seq: i64, entity: &str, id: &str, value: Value) -> ServerOp<RawJson> {
    ServerOp {
        seq,
        op: Op {
            op_id: uuid::Uuid::new_v4(),
            entity: entity.into(),
            entity_id: id.into(),
            field: "_doc".into(),
            value: serde_json::value::RawValue::from_string(value.to_string()).unwrap(),
            hlc: Hlc {
                wall_ms: 1_796_000_000_000 + seq,
                counter: 0,
                device: "otro".into(),
            },
            base_hlc: None,
            obra: None,
            source: None,
        },
        user: "contadora".into(),
        device_id: "otro".into(),
    }
}

async fn linked() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("icc.db")).await.unwrap();
    let mut tx = store.write("ana").await.unwrap();
    tx.link_device("aqui").await.unwrap();
    tx.commit().await.unwrap();
    (dir, store)
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_payment_waits_for_its_invoice_and_a_bad_record_does_not_stall_the_page() {
    let (_dir, store) = linked().await;
    let inv = invoice(7);
    let id = inv.id().to_string();
    let payment = json!({
        "id": "44444444-4444-4444-8444-444444444444", "invoice_id": id, "fecha": "2026-11-02",
        "monto": 400_000, "medio": "transferencia", "referencia": null, "run_id": null,
        "created_at": "2026-11-02T10:00:00Z", "created_by": "ana",
    });
    let bad_account = json!({
        "id": "a1", "rut": "76555835-2", "banco": "037", "tipo_cuenta": "corriente",
        "numero": "12-AB", "titular_rut": "76555835-2", "titular_nombre": "X", "email": null,
        "estado": "pendiente", "origen": "manual", "created_at": "", "created_by": "ana",
        "decided_at": null, "decided_by": null,
    });
    let mut tx = store.write("ana").await.unwrap();
    let a = tx
        .apply_remote(
            &[
                sop(
                    1,
                    "payment",
                    "44444444-4444-4444-8444-444444444444",
                    payment,
                ),
                sop(2, "bank_account", "a1", bad_account),
            ],
            &[],
            &[],
            None,
            2,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((a.held, a.invalid, a.applied), (1, 1, 0), "{a:?}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM supplier_accounts").await,
        0
    );

    let mut tx = store.write("ana").await.unwrap();
    let a = tx
        .apply_remote(
            &[sop(3, "invoice", &id, serde_json::to_value(&inv).unwrap())],
            &[],
            &[],
            None,
            3,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(a.held, 0, "{a:?}");
    assert_eq!(
        count(&store, "SELECT COALESCE(SUM(monto), 0) FROM payments").await,
        400_000
    );
    // what was pulled is not sent back
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM sync_outbox WHERE entity = 'payment'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_run_number_taken_elsewhere_moves_the_unsent_run_here_to_the_next() {
    let (_dir, store) = linked().await;
    let mut tx = store.write("ana").await.unwrap();
    tx.insert_invoices(&[(invoice(8), None)], &mut |_| true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write("ana").await.unwrap();
    let mine = tx
        .create_run("2026-12-31".parse().unwrap(), true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let queued: i64 = sqlx::query_scalar(
        "SELECT value ->> '$.numero' FROM sync_outbox WHERE entity = 'payment_run' AND entity_id = ?",
    )
    .bind(&mine)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(queued, 1);

    let theirs = json!({
        "id": "22222222-2222-4222-8222-222222222222", "numero": 1, "corte": "2026-12-04",
        "estado": "borrador", "created_at": "2026-12-01T10:00:00Z", "created_by": "pedro",
        "approved_at": null, "approved_by": null, "sent_at": null, "sent_by": null,
        "paid_at": null, "paid_by": null, "bank_file_sha256": null, "lineas": [],
    });
    let mut tx = store.write("ana").await.unwrap();
    tx.apply_remote(
        &[sop(
            1,
            "payment_run",
            "22222222-2222-4222-8222-222222222222",
            theirs,
        )],
        &[],
        &[],
        None,
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let numbers: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, numero FROM payment_runs ORDER BY numero")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(
        numbers,
        [
            ("22222222-2222-4222-8222-222222222222".to_owned(), 1),
            (mine.clone(), 2)
        ]
    );
    let queued: i64 = sqlx::query_scalar(
        "SELECT value ->> '$.numero' FROM sync_outbox WHERE entity = 'payment_run' AND entity_id = ?",
    )
    .bind(&mine)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(queued, 2, "the queued document goes with the new number");
}

#[tokio::test]
async fn a_decoded_document_applies_only_to_the_op_it_was_read_from() {
    let (_dir, store) = linked().await;
    let (a, b) = (invoice(1), invoice(2));
    let ops = [
        sop(
            1,
            "invoice",
            &a.id().to_string(),
            serde_json::to_value(&a).unwrap(),
        ),
        sop(
            2,
            "invoice",
            &b.id().to_string(),
            serde_json::to_value(&b).unwrap(),
        ),
    ];
    let decoded = icc_store::sync::decode_invoice_docs(&ops);
    assert_eq!(decoded, [Some(a.clone()), Some(b.clone())]);
    // a caller that passes them misaligned (b's document for a's op, none for b's) gets
    // b's document refused for a's op: both go through the per-op path, which reads each
    // op's own value
    let mut tx = store.write("ana").await.unwrap();
    let out = tx
        .apply_decoded(&ops, vec![Some(b.clone()), None], &[], &[], None, 2)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((out.applied, out.invalid), (2, 0), "{out:?}");
    for inv in [&a, &b] {
        let folio: i64 = sqlx::query_scalar("SELECT folio FROM invoices WHERE id = ?")
            .bind(inv.id().to_string())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(folio, inv.key.folio.get() as i64);
    }
    assert_eq!(count(&store, "SELECT COUNT(*) FROM sync_docs").await, 2);
}

/// A field edit of invoice `id` as the server sends it.
fn edit(seq: i64, id: &str, field: &str, value: Value) -> ServerOp<RawJson> {
    let mut op = sop(seq, "invoice", id, value);
    op.op.field = field.into();
    op
}

async fn text(store: &Store, sql: &'static str, id: &str) -> Option<String> {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_invoice_edit_waits_for_its_document_and_bad_values_are_counted_not_stored() {
    let (_dir, store) = linked().await;
    let inv = invoice(8);
    let id = inv.id().to_string();
    // the edit arrives first (the document comes in a later page)
    let mut tx = store.write("ana").await.unwrap();
    let a = tx
        .apply_remote(
            &[edit(1, &id, "glosa", json!("losa piso 3"))],
            &[],
            &[],
            None,
            1,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((a.held, a.applied, a.invalid), (1, 0, 0), "{a:?}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM invoices").await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM sync_held").await, 1);

    // the document (older than the edit) arrives: both apply, the edit wins its field
    let mut doc = sop(0, "invoice", &id, serde_json::to_value(&inv).unwrap());
    doc.seq = 2;
    let mut tx = store.write("ana").await.unwrap();
    let a = tx.apply_remote(&[doc], &[], &[], None, 2).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(a.held, 0, "{a:?}");
    assert_eq!(
        text(&store, "SELECT glosa FROM invoices WHERE id = ?", &id).await,
        Some("losa piso 3".into())
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM sync_held").await, 0);

    // values this laptop cannot hold: skipped and counted, the page still moves the
    // cursor, and a good edit of the same page applies
    let mut tx = store.write("ana").await.unwrap();
    let a = tx
        .apply_remote(
            &[
                edit(3, &id, "razon_social", Value::Null),
                edit(4, &id, "monto_total", json!("mil")),
                edit(5, &id, "estado", json!("regalada")),
                edit(6, &id, "cuenta", json!("5101")),
            ],
            &[],
            &[],
            None,
            6,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((a.invalid, a.applied), (3, 1), "{a:?}");
    assert_eq!(
        text(
            &store,
            "SELECT razon_social FROM invoices WHERE id = ?",
            &id
        )
        .await,
        Some("Ferretería Ñuñoa Ltda.".into())
    );
    assert_eq!(
        count(&store, "SELECT monto_total FROM invoices").await,
        1_000_000
    );
    assert_eq!(
        text(&store, "SELECT estado FROM invoices WHERE id = ?", &id).await,
        Some("aprobada".into())
    );
    assert_eq!(
        text(&store, "SELECT cuenta FROM invoices WHERE id = ?", &id).await,
        Some("5101".into())
    );
    assert_eq!(
        text(
            &store,
            "SELECT value FROM settings WHERE key = ?",
            "sync.cursor"
        )
        .await,
        Some("6".into())
    );
}

#[tokio::test]
async fn an_invoice_that_leaves_takes_its_conflicts_refused_and_unsent_changes_along() {
    let (_dir, store) = linked().await;
    let (gone, kept) = (invoice(9), invoice(10));
    let mut tx = store.write("ana").await.unwrap();
    let docs: Vec<_> = [&gone, &kept]
        .iter()
        .enumerate()
        .map(|(i, inv)| {
            sop(
                i as i64 + 1,
                "invoice",
                &inv.id().to_string(),
                serde_json::to_value(inv).unwrap(),
            )
        })
        .collect();
    tx.apply_remote(&docs, &[], &[], None, 2).await.unwrap();
    tx.commit().await.unwrap();
    // what the laptop holds of both: a conflict, a refused change and an unsent one each
    for inv in [&gone, &kept] {
        let id = inv.id().to_string();
        let n: i64 = inv.key.folio.get() as i64;
        sqlx::query(
            "INSERT INTO sync_conflicts (id, entity, entity_id, field, winner_value, winner_hlc, loser_value, loser_hlc, loser_user, obra) \
             VALUES (?, 'invoice', ?, 'glosa', '\"a\"', 'h1', '\"b\"', 'h0', 'ana', NULL)",
        )
        .bind(n)
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sync_refused (op_id, entity, entity_id, field, value, hlc, obra, reason, refused_at) \
             VALUES (?, 'invoice', ?, 'estado', '\"pagada\"', 'h2', NULL, 'no', '2026-12-01T00:00:00Z')",
        )
        .bind(format!("r{n}"))
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sync_outbox (op_id, entity, entity_id, field, value, hlc, base_hlc, obra) \
             VALUES (?, 'invoice', ?, 'glosa', '\"c\"', 'h3', NULL, NULL)",
        )
        .bind(format!("o{n}"))
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let mut tx = store.write("ana").await.unwrap();
    let a = tx
        .apply_remote(
            &[],
            &[],
            &[icc_core::sync::Removal {
                entity: "invoice".into(),
                entity_id: gone.id().to_string(),
                obra: Some("OB-2".into()),
            }],
            None,
            3,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(a.removed.len(), 1, "{a:?}");
    for table in ["sync_conflicts", "sync_refused", "sync_outbox"] {
        let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT entity_id FROM {table} WHERE entity = 'invoice'"
        )))
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(ids, [kept.id().to_string()], "{table}");
    }
    assert_eq!(count(&store, "SELECT COUNT(*) FROM invoices").await, 1);
}

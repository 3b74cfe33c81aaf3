//! Integration tests of the local store on a fresh SQLite file per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use chrono::{Days, NaiveDate};
use icc_core::{
    Clp, DteType, Folio, Invoice, InvoiceStatus, NaturalKey, OtroImpuesto, Referencia, Rut, Source,
};
use icc_store::{AssignmentChange, InvoiceFilter, Store, StoreError};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("icc.db")).await.unwrap();
    (dir, store)
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const RUTS: [u32; 4] = [76555835, 76177907, 76369187, 77879240];
const OBRAS: [&str; 3] = ["OB-1", "OB-2", "OB-3"];
const NAMES: [&str; 4] = [
    "Ferretería Ñuñoa Ltda.",
    "Hormigones del Sur S.A.",
    "Áridos Maipú SpA",
    "Grúas Andes",
];

/// A deterministic, varied invoice number `i`.
fn invoice(i: u64) -> Invoice {
    let r = (i % 4) as usize;
    let neto = 1000 * (i as i64 + 1);
    let tipo = if i % 10 == 9 {
        DteType::NOTA_CREDITO
    } else {
        DteType::FACTURA
    };
    let emision = d("2026-01-01")
        .checked_add_days(Days::new(i % 300))
        .unwrap();
    Invoice {
        key: NaturalKey {
            rut_emisor: Rut::from_body(RUTS[r]).unwrap(),
            tipo_dte: tipo,
            folio: Folio::new(1000 + i).unwrap(),
        },
        razon_social: NAMES[r].into(),
        fecha_emision: emision,
        fecha_recepcion_sii: (!i.is_multiple_of(7)).then(|| emision.and_hms_opt(10, 0, 0).unwrap()),
        fecha_vencimiento: None,
        monto_neto: Clp::new(neto),
        monto_exento: Clp::ZERO,
        monto_iva: Clp::new(neto).percent(19),
        otros_impuestos: if i.is_multiple_of(5) {
            vec![OtroImpuesto {
                codigo: 28,
                tasa: Some(1.5),
                valor: Clp::new(10),
            }]
        } else {
            vec![]
        },
        monto_total: Clp::new(
            neto + Clp::new(neto).percent(19).pesos() + if i.is_multiple_of(5) { 10 } else { 0 },
        ),
        referencias: if i.is_multiple_of(3) {
            vec![Referencia {
                tipo: "801".into(),
                folio: format!("AS-{i}"),
                fecha: None,
                codigo: None,
                razon: None,
            }]
        } else {
            vec![]
        },
        obra: (i % 8 != 7).then(|| OBRAS[(i % 3) as usize].to_owned()),
        centro_costo: None,
        cuenta: None,
        orden_compra: None,
        glosa: Some(if i.is_multiple_of(2) {
            "Hormigón H-30 para losa".into()
        } else {
            "Arriendo de andamios".into()
        }),
        estado: [
            InvoiceStatus::Recibida,
            InvoiceStatus::Aprobada,
            InvoiceStatus::Pagada,
        ][(i % 3) as usize],
        motivo_rechazo: None,
        source: Source::Manual,
        external_id: None,
        fecha_importacion: None,
    }
}

async fn with_obras(store: &Store) {
    let mut tx = store.write("tester").await.unwrap();
    for o in OBRAS {
        tx.create_obra(o, &format!("Obra {o}")).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn insert(store: &Store, invoices: Vec<Invoice>) -> icc_store::InsertReport {
    let mut tx = store.write("tester").await.unwrap();
    let rows: Vec<_> = invoices.into_iter().map(|i| (i, None)).collect();
    let r = tx.insert_invoices(&rows, &mut |_| true).await.unwrap();
    tx.commit().await.unwrap();
    r
}

async fn all_ids(store: &Store, filter: &InvoiceFilter, page: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = store
            .list_invoices(filter, page, cursor.as_ref())
            .await
            .unwrap();
        out.extend(p.items.iter().map(|r| r.id.clone()));
        match p.next_cursor {
            Some(c) => cursor = Some(icc_store::Cursor::decode(&c).unwrap()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn opening_creates_the_schema_and_reopening_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icc.db");
    let s = Store::open(&path).await.unwrap();
    assert_eq!(
        s.schema_version().await.unwrap(),
        Store::supported_schema_version()
    );
    assert_eq!(s.integrity_check().await.unwrap(), ["ok"]);
    with_obras(&s).await;
    insert(&s, vec![invoice(1)]).await;
    s.close().await;
    let s = Store::open(&path).await.unwrap();
    assert_eq!(
        s.invoice_count().await.unwrap(),
        1,
        "data survives a reopen"
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icc.db");
    let s = Store::open(&path).await.unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99999, 'future', 1, x'00', 0)")
        .execute(s.pool())
        .await
        .unwrap();
    s.close().await;
    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99999, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("actualice"),
        "says what to do: {err}"
    );
}

#[tokio::test]
async fn inserts_record_who_and_when_and_skip_duplicates() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let r = insert(&s, (0..1200).map(invoice).collect()).await;
    assert_eq!(r.inserted.len(), 1200);
    assert_eq!(r.duplicates, 0);
    let batch: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT user_name, new_value FROM audit_log WHERE entity = 'invoice_batch' AND action = 'create'")
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(
        batch,
        [("tester".to_owned(), Some("1200".to_owned()))],
        "one audit row for the batch, in the same transaction"
    );
    let detail = s.invoice(r.inserted[0]).await.unwrap().unwrap();
    assert_eq!(detail.created_by, "tester", "each row records its creator");
    let taxes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoice_taxes")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(taxes, 240, "every 5th invoice has an otro impuesto");
    let r = insert(&s, (1100..1300).map(invoice).collect()).await;
    assert_eq!(
        (r.inserted.len(), r.duplicates),
        (100, 100),
        "the natural key decides what is new"
    );
    assert_eq!(s.invoice_count().await.unwrap(), 1300);
    // each row once, under its list key, -(day number << 32 | seq)
    let fts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM invoices_search JOIN invoices i \
         ON invoices_search.rowid = -((CAST(julianday(i.fecha_emision) AS INTEGER) << 32) | i.seq) \
         WHERE invoices_search MATCH 'andamios'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(
        fts, 650,
        "every inserted row is in the full-text index exactly once"
    );
    let terms: Vec<String> =
        sqlx::query_scalar("SELECT term FROM search_terms WHERE term LIKE 'a%' ORDER BY term")
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(
        terms,
        ["a", "andamios", "andes", "aridos", "arriendo"],
        "the vocabulary holds the tokenizer's terms"
    );
}

#[tokio::test]
async fn a_key_twice_in_one_batch_is_stored_once_with_its_lines_once() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    // invoice 3 has a reference, 5 a tax; each comes twice, the second a changed copy
    let mut again3 = invoice(3);
    again3.razon_social = "Otro nombre".into();
    let r = insert(&s, vec![invoice(3), invoice(5), again3, invoice(5)]).await;
    assert_eq!((r.inserted.len(), r.duplicates), (2, 2));
    let count = |sql: &'static str| {
        let pool = s.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM invoice_taxes").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM invoice_references").await, 1);
    let id = s.invoice_id_by_key(&invoice(3).key).await.unwrap().unwrap();
    let detail = s.invoice(id).await.unwrap().unwrap();
    assert_eq!(
        detail.row.razon_social,
        invoice(3).razon_social,
        "the first of the two is the one stored"
    );
}

#[tokio::test]
async fn a_supplier_named_in_several_batches_of_one_transaction_keeps_the_last_name() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let name = |store: &Store, rut: String| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT razon_social FROM suppliers WHERE rut = ?")
                .bind(rut)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    // invoices 0, 4, 8 and 12 share a supplier
    let rut = invoice(0).key.rut_emisor;
    let named = |i: u64, razon: &str| {
        let mut inv = invoice(i);
        assert_eq!(inv.key.rut_emisor, rut);
        inv.razon_social = razon.into();
        (inv, None)
    };
    let (original, nuevo) = (invoice(0).razon_social, "Nombre Nuevo Ltda.");
    // one transaction: the same name in two batches, then another name
    let mut tx = s.write("tester").await.unwrap();
    for batch in [named(0, &original), named(4, &original), named(8, nuevo)] {
        tx.insert_invoices(&[batch], &mut |_| true).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(name(&s, rut.to_string()).await, nuevo);
    // another: the stored name, then back to the first one
    let mut tx = s.write("tester").await.unwrap();
    for batch in [named(12, nuevo), named(16, &original)] {
        tx.insert_invoices(&[batch], &mut |_| true).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(name(&s, rut.to_string()).await, original);
}

#[tokio::test]
async fn a_transaction_dropped_or_cancelled_leaves_nothing_behind() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    {
        let mut tx = s.write("tester").await.unwrap();
        let rows: Vec<_> = (0..50).map(|i| (invoice(i), None)).collect();
        tx.insert_invoices(&rows, &mut |_| true).await.unwrap();
        // dropped without commit
    }
    let mut tx = s.write("tester").await.unwrap();
    let rows: Vec<_> = (0..1500).map(|i| (invoice(i), None)).collect();
    let err = tx
        .insert_invoices(&rows, &mut |done| done < 1000)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Cancelled));
    drop(tx);
    assert_eq!(s.invoice_count().await.unwrap(), 0);
    let audits: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE entity IN ('invoice', 'invoice_batch')",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(audits, 0, "no audit row without its change");
}

#[tokio::test]
async fn unknown_obra_codes_are_refused_and_nothing_is_written() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let mut bad = invoice(1);
    bad.obra = Some("OB-NO-EXISTE".into());
    let mut tx = s.write("tester").await.unwrap();
    let err = tx
        .insert_invoices(&[(invoice(2), None), (bad, None)], &mut |_| true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OB-NO-EXISTE"), "{err}");
}

#[tokio::test]
async fn keyset_pages_return_every_row_once_in_list_order() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let invoices: Vec<Invoice> = (0..437).map(invoice).collect();
    let mut want: Vec<String> = invoices.iter().map(|i| i.id().to_string()).collect();
    insert(&s, invoices).await;
    let mut seen: Vec<(String, i64, String)> = Vec::new();
    let mut cursor = None;
    loop {
        let p = s
            .list_invoices(&InvoiceFilter::default(), 37, cursor.as_ref())
            .await
            .unwrap();
        seen.extend(
            p.items
                .iter()
                .map(|r| (r.fecha_emision.clone(), r.seq, r.id.clone())),
        );
        match p.next_cursor {
            Some(c) => cursor = Some(icc_store::Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert!(
        seen.windows(2)
            .all(|w| (&w[0].0, w[0].1) > (&w[1].0, w[1].1)),
        "strictly newest emission first, then newest row"
    );
    let mut got: Vec<String> = seen.into_iter().map(|(_, _, id)| id).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every row exactly once");
}

#[tokio::test]
async fn filters_select_exactly_the_matching_invoices() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let invoices: Vec<Invoice> = (0..600).map(invoice).collect();
    insert(&s, invoices.clone()).await;
    let today = d("2026-06-01");
    let ids = |pred: &dyn Fn(&Invoice) -> bool| {
        let mut v: Vec<String> = invoices
            .iter()
            .filter(|i| pred(i))
            .map(|i| i.id().to_string())
            .collect();
        v.sort();
        v
    };
    let check = |name: &'static str, filter: InvoiceFilter, want: Vec<String>| {
        let s = s.clone();
        async move {
            let mut got = all_ids(&s, &filter, 53).await;
            got.sort();
            assert!(
                !want.is_empty(),
                "{name}: the fixture must exercise the filter"
            );
            assert_eq!(got, want, "filter {name}");
        }
    };
    let base = InvoiceFilter {
        today: Some(today),
        ..Default::default()
    };
    check(
        "obra",
        InvoiceFilter {
            obra: Some("OB-2".into()),
            ..base.clone()
        },
        ids(&|i| i.obra.as_deref() == Some("OB-2")),
    )
    .await;
    check(
        "estado",
        InvoiceFilter {
            estado: Some(InvoiceStatus::Aprobada),
            ..base.clone()
        },
        ids(&|i| i.estado == InvoiceStatus::Aprobada),
    )
    .await;
    let rut = Rut::from_body(RUTS[2]).unwrap();
    check(
        "proveedor",
        InvoiceFilter {
            proveedor: Some(rut),
            ..base.clone()
        },
        ids(&|i| i.key.rut_emisor == rut),
    )
    .await;
    check(
        "desde-hasta",
        InvoiceFilter {
            desde: Some(d("2026-03-01")),
            hasta: Some(d("2026-03-31")),
            ..base.clone()
        },
        ids(&|i| i.fecha_emision >= d("2026-03-01") && i.fecha_emision <= d("2026-03-31")),
    )
    .await;
    check(
        "obra+estado",
        InvoiceFilter {
            obra: Some("OB-1".into()),
            estado: Some(InvoiceStatus::Recibida),
            ..base.clone()
        },
        ids(&|i| i.obra.as_deref() == Some("OB-1") && i.estado == InvoiceStatus::Recibida),
    )
    .await;
    check(
        "vencidas",
        InvoiceFilter {
            vencidas: true,
            ..base.clone()
        },
        ids(&|i| i.estado.is_payable() && due(i) < today),
    )
    .await;
    check(
        "plazo por vencer",
        InvoiceFilter {
            plazo_por_vencer: Some(5),
            ..base.clone()
        },
        ids(&|i| {
            matches!(
                i.estado,
                InvoiceStatus::Recibida | InvoiceStatus::EnRevision | InvoiceStatus::Rechazada
            ) && icc_core::claim_deadline(i.key.tipo_dte, i.fecha_recepcion_sii)
                .is_some_and(|p| p >= today && p <= d("2026-06-06"))
        }),
    )
    .await;
    check(
        "visible obras",
        InvoiceFilter {
            visible_obras: Some(vec!["OB-3".into()]),
            ..base.clone()
        },
        ids(&|i| i.obra.as_deref() == Some("OB-3")),
    )
    .await;
    check(
        "two visible obras, merged in order, with a filter",
        InvoiceFilter {
            visible_obras: Some(vec!["OB-1".into(), "OB-3".into()]),
            estado: Some(InvoiceStatus::Recibida),
            ..base.clone()
        },
        ids(&|i| {
            matches!(i.obra.as_deref(), Some("OB-1" | "OB-3"))
                && i.estado == InvoiceStatus::Recibida
        }),
    )
    .await;
    check(
        "vencidas + estado",
        InvoiceFilter {
            vencidas: true,
            estado: Some(InvoiceStatus::Aprobada),
            ..base.clone()
        },
        ids(&|i| i.estado == InvoiceStatus::Aprobada && due(i) < today),
    )
    .await;
    check(
        "obra + vencidas",
        InvoiceFilter {
            vencidas: true,
            obra: Some("OB-1".into()),
            ..base.clone()
        },
        ids(&|i| i.obra.as_deref() == Some("OB-1") && i.estado.is_payable() && due(i) < today),
    )
    .await;
    for combo in [
        InvoiceFilter {
            vencidas: true,
            plazo_por_vencer: Some(5),
            ..base.clone()
        },
        InvoiceFilter {
            plazo_por_vencer: Some(5),
            estado: Some(InvoiceStatus::Pagada),
            ..base.clone()
        },
        InvoiceFilter {
            q: Some("andamios".into()),
            vencidas: true,
            obra: Some("OB-2".into()),
            ..base.clone()
        },
    ] {
        // any combination must plan (no "no query solution" from a forced index)
        s.list_invoices(&combo, 10, None).await.unwrap();
    }
    let outside = all_ids(
        &s,
        &InvoiceFilter {
            visible_obras: Some(vec!["OB-1".into()]),
            obra: Some("OB-2".into()),
            ..base.clone()
        },
        50,
    )
    .await;
    assert!(
        outside.is_empty(),
        "an obra filter outside the visible set selects nothing"
    );
    let none = all_ids(
        &s,
        &InvoiceFilter {
            visible_obras: Some(vec![]),
            ..base.clone()
        },
        50,
    )
    .await;
    assert!(none.is_empty(), "a site manager without obras sees nothing");
}

#[tokio::test]
async fn search_finds_by_supplier_rut_folio_and_glosa_ignoring_accents() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let invoices: Vec<Invoice> = (0..40).map(invoice).collect();
    insert(&s, invoices.clone()).await;
    let count = |q: &str| {
        let s = s.clone();
        let q = q.to_owned();
        async move {
            all_ids(
                &s,
                &InvoiceFilter {
                    q: Some(q),
                    ..Default::default()
                },
                100,
            )
            .await
            .len()
        }
    };
    assert_eq!(
        count("ferreteria nunoa").await,
        10,
        "razón social without accents"
    );
    assert_eq!(count("76.555.835").await, 10, "RUT in display form");
    assert_eq!(count("76555835-2").await, 10, "RUT in canonical form");
    assert_eq!(count("1017").await, 1, "folio");
    assert_eq!(
        count("hormigon losa").await,
        20,
        "glosa words, any order, accents ignored"
    );
    assert_eq!(count("andam").await, 20, "prefix");
    assert_eq!(
        count("\"OR NEAR(").await,
        0,
        "operators are neutralised, not errors"
    );
}

/// The ids `list_invoices` must return for a predicate, in list order (`invoice(i)` is
/// inserted in `i` order, so `seq` follows `i`).
fn expected_order(invoices: &[Invoice], keep: impl Fn(&Invoice) -> bool) -> Vec<String> {
    let mut hits: Vec<(NaiveDate, usize, String)> = invoices
        .iter()
        .enumerate()
        .filter(|(_, i)| keep(i))
        .map(|(n, i)| (i.fecha_emision, n, i.id().to_string()))
        .collect();
    hits.sort();
    hits.into_iter().rev().map(|(_, _, id)| id).collect()
}

#[tokio::test]
async fn search_pages_follow_the_list_order_and_follow_edits() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    // 40 words sharing the prefix «andamio» (more than a prefix is expanded to), and dates
    // that repeat, so the list order needs both the date and the seq
    let mut invoices: Vec<Invoice> = (0..400)
        .map(|i| {
            let mut inv = invoice(i);
            inv.fecha_emision = d("2026-03-01")
                .checked_add_days(Days::new((i * 7) % 90))
                .unwrap();
            inv.glosa = Some(format!(
                "Arriendo andamio{} torre",
                char::from(b'a' + (i % 26) as u8).to_string() + &(i % 40 / 26).to_string()
            ));
            inv
        })
        .collect();
    insert(&s, invoices.clone()).await;
    let base = InvoiceFilter {
        today: Some(d("2026-06-15")),
        ..Default::default()
    };
    let glosa = |i: &Invoice| i.glosa.clone().unwrap_or_default();
    let check = |name: &'static str, filter: InvoiceFilter, want: Vec<String>| {
        let s = s.clone();
        async move {
            for page in [1, 7, 50] {
                assert_eq!(
                    all_ids(&s, &filter, page).await,
                    want,
                    "{name}, pages of {page}"
                );
            }
        }
    };
    let q = |text: &str| InvoiceFilter {
        q: Some(text.into()),
        ..base.clone()
    };
    check(
        "a prefix of 40 terms",
        q("andamio"),
        expected_order(&invoices, |_| true),
    )
    .await;
    check(
        "a prefix of a few terms",
        q("ANDAMIOB"),
        expected_order(&invoices, |i| glosa(i).contains("andamiob")),
    )
    .await;
    check(
        "two words, one exact",
        q("torre andamioc1"),
        expected_order(&invoices, |i| glosa(i).contains("andamioc1")),
    )
    .await;
    check(
        "search within an obra",
        InvoiceFilter {
            obra: Some("OB-2".into()),
            ..q("andamioa")
        },
        expected_order(&invoices, |i| {
            glosa(i).contains("andamioa") && i.obra.as_deref() == Some("OB-2")
        }),
    )
    .await;
    check(
        "a site manager's two obras, vencidas",
        InvoiceFilter {
            visible_obras: Some(vec!["OB-1".into(), "OB-3".into()]),
            vencidas: true,
            ..q("arriendo")
        },
        expected_order(&invoices, |i| {
            matches!(i.obra.as_deref(), Some("OB-1" | "OB-3"))
                && i.estado.is_payable()
                && due(i) < d("2026-06-15")
        }),
    )
    .await;
    // OB-3 is obra id 3, indexed as the term «3» in the obra column; no folio, RUT or
    // check digit here starts with 3
    check("the obra column is not searchable text", q("3"), vec![]).await;
    check("a word no term starts with", q("zanja"), vec![]).await;

    // edits move documents in the index: new words, another obra, another date
    let mut tx = s.write("tester").await.unwrap();
    let change = icc_store::AssignmentChange {
        glosa: Some(Some("Grúa horquilla".into())),
        obra: Some(Some("OB-3".into())),
        ..Default::default()
    };
    assert_eq!(invoices[10].obra.as_deref(), Some("OB-2"));
    tx.update_assignment(invoices[10].id(), &change)
        .await
        .unwrap();
    invoices[10].glosa = Some("Grúa horquilla".into());
    invoices[10].obra = Some("OB-3".into());
    invoices[20].fecha_emision = d("2026-09-30");
    tx.update_document(&invoices[20]).await.unwrap();
    tx.commit().await.unwrap();
    check(
        "a word that arrived with an edit",
        q("horq"),
        vec![invoices[10].id().to_string()],
    )
    .await;
    check(
        "the edited obra",
        InvoiceFilter {
            obra: Some("OB-3".into()),
            ..q("grua horq")
        },
        vec![invoices[10].id().to_string()],
    )
    .await;
    check(
        "not in its old obra",
        InvoiceFilter {
            obra: Some("OB-2".into()),
            ..q("grua horq")
        },
        vec![],
    )
    .await;
    check(
        "the old words are gone, the new date leads",
        q("arriendo"),
        expected_order(&invoices, |i| glosa(i).contains("Arriendo")),
    )
    .await;
    assert_eq!(
        all_ids(&s, &q("arriendo"), 1).await[0],
        invoices[20].id().to_string()
    );
}

#[tokio::test]
async fn any_search_text_is_a_valid_query() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    insert(&s, (0..30).map(invoice).collect()).await;
    // FTS5 syntax, quotes, column filters, digits, accents, characters left to SQLite's
    // tokenizer and separators, in random strings (a fixed xorshift seed: reproducible)
    let pool: Vec<char> = "aAnñÑéÉøØ°º·–'\"*^:(){}[]-+.,;_/\\ \t0123456789kK"
        .chars()
        .collect();
    let words = [
        "NEAR",
        "OR",
        "AND",
        "NOT",
        "obra",
        "rut_emisor",
        "andam",
        "hormig",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    // and very long ones (a pasted paragraph, a runaway script)
    for (long, hits) in [
        ("andamios ".repeat(3000), 5),
        ("x\" ".repeat(3000), 0),
        ("7".repeat(100_000), 0),
    ] {
        let filter = InvoiceFilter {
            q: Some(long.clone()),
            ..Default::default()
        };
        let page = s.list_invoices(&filter, 5, None).await.unwrap();
        assert_eq!(page.items.len(), hits, "{} characters", long.len());
    }
    for _ in 0..600 {
        let mut q = String::new();
        for _ in 0..next(24) {
            if next(5) == 0 {
                q.push_str(words[next(words.len())]);
            } else {
                q.push(pool[next(pool.len())]);
            }
        }
        let filter = InvoiceFilter {
            q: Some(q.clone()),
            visible_obras: (next(2) == 0).then(|| vec!["OB-1".into(), "OB-2".into()]),
            ..Default::default()
        };
        if let Err(e) = s.list_invoices(&filter, 5, None).await {
            panic!("search {q:?}: {e}");
        }
    }
}

#[tokio::test]
async fn words_in_text_with_unusual_characters_are_found_by_prefix() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let mut a = invoice(1);
    // «°» and «ø» are left to SQLite's tokenizer (search_scratch), the rest is tokenized in Rust
    a.glosa = Some("Señalética N° 5 – Øresund".into());
    let mut b = invoice(2);
    b.glosa = Some("Señaléticas".into());
    insert(&s, vec![a.clone(), b.clone()]).await;
    let found = |q: &str| {
        let s = s.clone();
        let q = q.to_owned();
        async move {
            let mut ids = all_ids(
                &s,
                &InvoiceFilter {
                    q: Some(q),
                    ..Default::default()
                },
                10,
            )
            .await;
            ids.sort();
            ids
        }
    };
    let mut both = vec![a.id().to_string(), b.id().to_string()];
    both.sort();
    assert_eq!(found("senal").await, both);
    assert_eq!(found("SEÑALÉTICA n").await, vec![a.id().to_string()]);
    assert_eq!(found("øre").await, vec![a.id().to_string()]);
}

#[tokio::test]
async fn overdue_and_claim_filters_follow_edits_of_dates_and_states() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let today = d("2026-06-15");
    // recent documents, none due yet, and older ones, some due
    let mut invoices: Vec<Invoice> = (0..200)
        .map(|i| {
            let mut inv = invoice(i);
            let age = if i < 120 { i % 120 } else { i % 60 };
            inv.fecha_emision = today.checked_sub_days(Days::new(age)).unwrap();
            inv.fecha_recepcion_sii = Some(inv.fecha_emision.and_hms_opt(9, 0, 0).unwrap());
            inv.estado = InvoiceStatus::Recibida;
            if i >= 120 && (i / 60) % 2 == 0 {
                // due the next day: on the same days as the first batch and as later ones of
                // its own batch, but overdue sooner
                inv.fecha_vencimiento = inv.fecha_emision.checked_add_days(Days::new(1));
            }
            inv
        })
        .collect();
    insert(&s, invoices[..120].to_vec()).await;
    insert(&s, invoices[120..].to_vec()).await;
    let vencidas = InvoiceFilter {
        today: Some(today),
        vencidas: true,
        ..Default::default()
    };
    let plazo = InvoiceFilter {
        today: Some(today),
        plazo_por_vencer: Some(3),
        ..Default::default()
    };
    let due = |i: &Invoice| i.estado.is_payable() && due(i) < today;
    let claimable = |i: &Invoice| {
        matches!(
            i.estado,
            InvoiceStatus::Recibida | InvoiceStatus::EnRevision | InvoiceStatus::Rechazada
        ) && icc_core::claim_deadline(i.key.tipo_dte, i.fecha_recepcion_sii).is_some_and(|last| {
            last >= today && last <= today.checked_add_days(Days::new(3)).unwrap()
        })
    };
    assert!(!expected_order(&invoices, due).is_empty());
    assert!(!expected_order(&invoices, claimable).is_empty());
    for page in [1, 9] {
        assert_eq!(
            all_ids(&s, &vencidas, page).await,
            expected_order(&invoices, due)
        );
        assert_eq!(
            all_ids(&s, &plazo, page).await,
            expected_order(&invoices, claimable)
        );
    }
    // today's document gets a due date in the past: it is overdue now, newest of all
    let newest = invoices
        .iter()
        .position(|i| i.fecha_emision == today)
        .unwrap();
    invoices[newest].fecha_vencimiento = Some(d("2026-06-01"));
    // an old one, long past its claim deadline, is re-dated into the claim window
    let old = invoices
        .iter()
        .position(|i| i.fecha_emision < d("2026-03-01"))
        .unwrap();
    invoices[old].fecha_emision = d("2026-06-09");
    invoices[old].fecha_recepcion_sii = Some(d("2026-06-09").and_hms_opt(9, 0, 0).unwrap());
    let mut tx = s.write("tester").await.unwrap();
    tx.update_document(&invoices[newest]).await.unwrap();
    tx.update_document(&invoices[old]).await.unwrap();
    // and documents leave and re-enter the payable states
    for n in [3, 4] {
        for to in [InvoiceStatus::EnRevision, InvoiceStatus::Rechazada] {
            tx.set_status(invoices[n].id(), to, Some("precio"))
                .await
                .unwrap();
        }
        invoices[n].estado = InvoiceStatus::Rechazada;
    }
    tx.commit().await.unwrap();
    assert_eq!(
        all_ids(&s, &vencidas, 1).await[0],
        invoices[newest].id().to_string()
    );
    for page in [1, 9] {
        assert_eq!(
            all_ids(&s, &vencidas, page).await,
            expected_order(&invoices, due)
        );
        assert_eq!(
            all_ids(&s, &plazo, page).await,
            expected_order(&invoices, claimable)
        );
    }
    assert!(expected_order(&invoices, claimable).contains(&invoices[old].id().to_string()));
    // a site manager's obras are checked inside the walk
    let mine = |i: &Invoice| matches!(i.obra.as_deref(), Some("OB-1" | "OB-3"));
    for page in [1, 9] {
        let scoped = |f: &InvoiceFilter| InvoiceFilter {
            visible_obras: Some(vec!["OB-1".into(), "OB-3".into()]),
            ..f.clone()
        };
        assert_eq!(
            all_ids(&s, &scoped(&vencidas), page).await,
            expected_order(&invoices, |i| due(i) && mine(i))
        );
        assert_eq!(
            all_ids(&s, &scoped(&plazo), page).await,
            expected_order(&invoices, |i| claimable(i) && mine(i))
        );
    }
}

#[tokio::test]
async fn status_changes_follow_the_machine_and_are_audited() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let inv = invoice(0); // recibida
    insert(&s, vec![inv.clone()]).await;
    let mut tx = s.write("gerente1").await.unwrap();
    let err = tx
        .set_status(inv.id(), InvoiceStatus::Pagada, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("recibida") && err.to_string().contains("pagada"),
        "{err}"
    );
    let err = tx
        .set_status(inv.id(), InvoiceStatus::Rechazada, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("motivo"), "{err}");
    tx.set_status(
        inv.id(),
        InvoiceStatus::Rechazada,
        Some("no corresponde a la OC"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let detail = s.invoice(inv.id()).await.unwrap().unwrap();
    assert_eq!(detail.row.estado, "rechazada");
    assert_eq!(
        detail.motivo_rechazo.as_deref(),
        Some("no corresponde a la OC")
    );
    assert_eq!(detail.updated_by, "gerente1");
    let h = s.history("invoice", &inv.id().to_string()).await.unwrap();
    let estado = h
        .iter()
        .find(|e| e.field.as_deref() == Some("estado"))
        .unwrap();
    assert_eq!(
        (
            estado.user_name.as_str(),
            estado.old_value.as_deref(),
            estado.new_value.as_deref()
        ),
        ("gerente1", Some("recibida"), Some("rechazada"))
    );
    assert!(h.iter().any(|e| e.field.as_deref() == Some("motivo")));
}

#[tokio::test]
async fn assignment_changes_audit_only_fields_that_really_changed() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let inv = invoice(0);
    insert(&s, vec![inv.clone()]).await;
    let mut tx = s.write("conta").await.unwrap();
    let change = AssignmentChange {
        obra: Some(Some("OB-3".into())),
        glosa: Some(inv.glosa.clone()),
        cuenta: Some(Some("410105".into())),
        ..Default::default()
    };
    assert_eq!(
        tx.update_assignment(inv.id(), &change).await.unwrap(),
        2,
        "glosa was unchanged"
    );
    tx.commit().await.unwrap();
    let h = s.history("invoice", &inv.id().to_string()).await.unwrap();
    let fields: Vec<_> = h.iter().filter_map(|e| e.field.clone()).collect();
    assert_eq!(fields, ["obra", "cuenta"]);
    assert_eq!(h[0].old_value.as_deref(), Some("OB-1"));
    let detail = s.invoice(inv.id()).await.unwrap().unwrap();
    assert_eq!(detail.row.obra.as_deref(), Some("OB-3"));
    let mut tx = s.write("conta").await.unwrap();
    let err = tx
        .update_assignment(
            inv.id(),
            &AssignmentChange {
                obra: Some(Some("OB-9".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OB-9"), "{err}");
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let err = sqlx::query("UPDATE audit_log SET user_name = 'mallory'")
        .execute(s.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = sqlx::query("DELETE FROM audit_log")
        .execute(s.pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn details_round_trip_taxes_and_references() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let inv = invoice(105); // has a tax, a reference and no SII reception
    insert(&s, vec![inv.clone()]).await;
    let key: NaturalKey = inv.key.to_string().parse().unwrap();
    let id = s.invoice_id_by_key(&key).await.unwrap().unwrap();
    let detail = s.invoice(id).await.unwrap().unwrap();
    assert_eq!(detail.otros_impuestos, inv.otros_impuestos);
    assert_eq!(detail.referencias, inv.referencias);
    assert_eq!(detail.row.monto_total, inv.monto_total.pesos());
    assert_eq!(
        detail.row.plazo_reclamo, None,
        "no SII reception for i % 7 == 0: unknown, never guessed"
    );
}

async fn list_indexes(s: &Store) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('invoices', 'invoice_references') AND name LIKE '%_by_%' ORDER BY name",
    )
        .fetch_all(s.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bulk_load_rebuilds_the_list_indexes_at_commit_and_a_rollback_keeps_them() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let before = list_indexes(&s).await;
    assert!(
        before.len() >= 4 && before.iter().any(|n| n == "invoice_references_by_folio"),
        "{before:?}"
    );
    {
        let mut tx = s.write("tester").await.unwrap();
        tx.expect_bulk(30_000).await.unwrap();
        let rows: Vec<_> = (0..100).map(|i| (invoice(i), None)).collect();
        tx.insert_invoices(&rows, &mut |_| true).await.unwrap();
        // dropped: rolled back, DROP INDEX included
    }
    assert_eq!(
        list_indexes(&s).await,
        before,
        "a rollback restores the indexes"
    );
    let mut tx = s.write("tester").await.unwrap();
    tx.expect_bulk(30_000).await.unwrap();
    let rows: Vec<_> = (0..30_000).map(|i| (invoice(i), None)).collect();
    tx.insert_invoices(&rows, &mut |_| true).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(list_indexes(&s).await, before, "rebuilt at commit");
    assert_eq!(s.integrity_check().await.unwrap(), ["ok"]);
    let page = s
        .list_invoices(
            &InvoiceFilter {
                obra: Some("OB-2".into()),
                ..Default::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 10);
    assert!(page.items.iter().all(|r| r.obra.as_deref() == Some("OB-2")));
}

/// Ids of the invoices a search `q` finds (at most 50).
async fn search_ids(s: &Store, q: &str) -> Vec<String> {
    let page = s
        .list_invoices(
            &InvoiceFilter {
                q: Some(q.into()),
                ..Default::default()
            },
            50,
            None,
        )
        .await
        .unwrap();
    page.items.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn a_bulk_load_indexes_its_rows_for_search_at_commit_as_they_end() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let mut tx = s.write("tester").await.unwrap();
    tx.expect_bulk(30_000).await.unwrap();
    let first: Vec<_> = (0..15_000).map(|i| (invoice(i), None)).collect();
    tx.insert_invoices(&first, &mut |_| true).await.unwrap();
    // changed and removed in the same transaction, before the search index is written
    let moldaje = AssignmentChange {
        glosa: Some(Some("moldaje quimérico".into())),
        ..Default::default()
    };
    tx.update_assignment(invoice(7).id(), &moldaje)
        .await
        .unwrap();
    let gone = |i: u64| invoice(i).id().to_string();
    sqlx::query("DELETE FROM invoices WHERE id = ?")
        .bind(gone(8))
        .execute(&mut *tx.conn())
        .await
        .unwrap();
    let second: Vec<_> = (15_000..30_000).map(|i| (invoice(i), None)).collect();
    tx.insert_invoices(&second, &mut |_| true).await.unwrap();
    // the last row changed, then removed: its seq is given to the next row inserted
    let last = invoice(29_999).id();
    let zapallo = AssignmentChange {
        glosa: Some(Some("zapallo perdido".into())),
        ..Default::default()
    };
    tx.update_assignment(last, &zapallo).await.unwrap();
    let seq_of =
        |id: String| sqlx::query_scalar::<_, i64>("SELECT seq FROM invoices WHERE id = ?").bind(id);
    let last_seq = seq_of(last.to_string())
        .fetch_one(&mut *tx.conn())
        .await
        .unwrap();
    sqlx::query("DELETE FROM invoices WHERE id = ?")
        .bind(last.to_string())
        .execute(&mut *tx.conn())
        .await
        .unwrap();
    let mut heir = invoice(30_000);
    heir.glosa = Some("heredero del número".into());
    tx.insert_invoices(&[(heir.clone(), None)], &mut |_| true)
        .await
        .unwrap();
    assert_eq!(
        seq_of(heir.id().to_string())
            .fetch_one(&mut *tx.conn())
            .await
            .unwrap(),
        last_seq,
        "the test needs the seq reused"
    );
    tx.commit().await.unwrap();

    assert_eq!(search_ids(&s, "quimérico").await, [gone(7)]);
    assert_eq!(search_ids(&s, "heredero").await, [heir.id().to_string()]);
    assert!(search_ids(&s, "zapallo").await.is_empty());
    // the removed row's folio is indexed no more, its neighbour's is, once
    let folio_hits = |folio: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM invoices_search WHERE invoices_search MATCH 'folio : ' || ?",
        )
        .bind(folio)
    };
    assert_eq!(folio_hits("1008").fetch_one(s.pool()).await.unwrap(), 0);
    assert_eq!(folio_hits("1009").fetch_one(s.pool()).await.unwrap(), 1);
    // every row once: as many entries for a supplier as its rows
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE razon_social = 'Grúas Andes'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    let entries: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM invoices_search WHERE invoices_search MATCH 'razon_social : gruas'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!((entries, rows), (7_499, 7_499));
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices_search")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(total, 29_999, "30,001 inserted, 2 removed");
    assert_eq!(s.integrity_check().await.unwrap(), ["ok"]);
}

#[tokio::test]
async fn a_push_batch_is_the_outbox_encoded_as_sent_within_its_limits() {
    let (_d, s) = store().await;
    with_obras(&s).await;
    let mut invs: Vec<Invoice> = (0..12).map(invoice).collect();
    invs[3].glosa = Some("comillas \" barra \\ tab \t salto \n ñandú «grado»".into());
    insert(&s, invs.clone()).await;
    let mut tx = s.write("conta").await.unwrap();
    tx.link_device("pc1").await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.write("conta").await.unwrap();
    let change = AssignmentChange {
        glosa: Some(Some("editada".into())),
        ..Default::default()
    };
    tx.update_assignment(invs[5].id(), &change).await.unwrap();
    tx.commit().await.unwrap();

    let typed = s.outbox(i64::MAX).await.unwrap();
    assert_eq!(typed.len(), 13, "12 documents and 1 edit");
    let parsed = |json: &str| -> Vec<icc_core::sync::Op> { serde_json::from_str(json).unwrap() };
    let expected = |from: usize, to: usize| -> Vec<icc_core::sync::Op> {
        typed[from..to]
            .iter()
            .map(|o| o.op.parsed().unwrap())
            .collect()
    };

    let b = s.outbox_batch(0, 10, i64::MAX).await.unwrap().unwrap();
    assert_eq!((b.len, b.last_seq, b.edits), (10, typed[9].seq, false));
    assert_eq!(parsed(&b.ops_json), expected(0, 10));
    let rest = s
        .outbox_batch(b.last_seq, 10, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rest.len, rest.edits), (3, true));
    assert_eq!(parsed(&rest.ops_json), expected(10, 13));
    assert!(
        s.outbox_batch(rest.last_seq, 10, i64::MAX)
            .await
            .unwrap()
            .is_none()
    );

    // the byte budget counts values and always lets one op through
    let size = |i: usize| typed[i].op.value.get().len() as i64;
    let one = s.outbox_batch(0, 10, 1).await.unwrap().unwrap();
    assert_eq!(one.len, 1);
    let two = s
        .outbox_batch(0, 10, size(0) + size(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(two.len, 2);
    let three = s
        .outbox_batch(0, 10, size(0) + size(1) + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(three.len, 3);
}

/// The due date the store derives for an invoice imported today by this test.
fn due(i: &Invoice) -> chrono::NaiveDate {
    icc_core::due_date(
        i.fecha_vencimiento,
        i.fecha_recepcion_sii,
        i.fecha_importacion
            .or(Some(chrono::Local::now().date_naive())),
        i.fecha_emision,
    )
}

/// Whether `needle` appears anywhere in the file's bytes.
fn file_has(path: &std::path::Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn key(b: u8) -> icc_store::DbKey {
    icc_store::DbKey::new([b; 32])
}

#[tokio::test]
async fn an_encrypted_store_keeps_no_plaintext_and_opens_only_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icc.db");
    let store = Store::open_encrypted(&path, key(1)).await.unwrap();
    assert!(store.is_encrypted());
    with_obras(&store).await;
    insert(&store, (0..50).map(invoice).collect()).await;
    store.close().await;
    assert_eq!(
        icc_store::file_kind(&path).unwrap(),
        icc_store::FileKind::Encrypted
    );
    // RUT, supplier name and obra codes of the rows are nowhere in the file
    for needle in ["76369187", "Hormigones", "OB-2", "SQLite format 3"] {
        assert!(!file_has(&path, needle), "«{needle}» in the encrypted file");
    }
    assert!(icc_store::key_opens(&path, &key(1)).await);
    assert!(!icc_store::key_opens(&path, &key(2)).await);
    let wrong = Store::open_encrypted(&path, key(2)).await.unwrap_err();
    assert!(matches!(wrong, StoreError::Open { .. }), "{wrong}");
    assert!(Store::open(&path).await.is_err(), "opened without the key");

    let store = Store::open_encrypted(&path, key(1)).await.unwrap();
    let ids = all_ids(&store, &InvoiceFilter::default(), 20).await;
    assert_eq!(ids.len(), 50);
    // a snapshot (the backup's copy) is encrypted with the same key
    let snap = dir.path().join("copia.db");
    store.snapshot_to(&snap).await.unwrap();
    assert!(!file_has(&snap, "76369187"));
    assert!(icc_store::key_opens(&snap, &key(1)).await);
    let facts = icc_store::backup::inspect(&snap, Some(&key(1)))
        .await
        .unwrap();
    assert_eq!(facts.invoices, 50);
    assert!(
        icc_store::backup::inspect(&snap, Some(&key(2)))
            .await
            .is_err()
    );
    store.close().await;
}

#[tokio::test]
async fn a_plain_store_is_encrypted_in_place_with_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icc.db");
    let store = Store::open(&path).await.unwrap();
    with_obras(&store).await;
    insert(&store, (0..120).map(invoice).collect()).await;
    let before = all_ids(&store, &InvoiceFilter::default(), 50).await;
    let facts = store.facts().await.unwrap();
    // a store still open elsewhere: the encryption waits rather than orphan its writes
    assert!(!icc_store::encrypt_in_place(&path, &key(3)).await.unwrap());
    assert_eq!(
        icc_store::file_kind(&path).unwrap(),
        icc_store::FileKind::Plain
    );
    store.close().await;
    assert!(file_has(&path, "76369187"));

    // an interrupted earlier attempt left its half copy: it is discarded
    std::fs::write(dir.path().join("icc.db.cifrando"), b"basura").unwrap();
    assert!(icc_store::encrypt_in_place(&path, &key(3)).await.unwrap());
    assert!(!dir.path().join("icc.db.cifrando").exists());
    assert!(!file_has(&path, "76369187"));
    let store = Store::open_encrypted(&path, key(3)).await.unwrap();
    assert_eq!(all_ids(&store, &InvoiceFilter::default(), 50).await, before);
    assert_eq!(store.facts().await.unwrap(), facts);
    assert_eq!(store.integrity_check().await.unwrap(), ["ok"]);
    // and it keeps working: writes after the switch
    insert(&store, (120..130).map(invoice).collect()).await;
    assert_eq!(
        all_ids(&store, &InvoiceFilter::default(), 50).await.len(),
        130
    );
    store.close().await;
}

#[test]
fn file_kinds_are_told_by_their_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    assert_eq!(
        icc_store::file_kind(&p).unwrap(),
        icc_store::FileKind::Absent
    );
    std::fs::write(&p, b"").unwrap();
    assert_eq!(
        icc_store::file_kind(&p).unwrap(),
        icc_store::FileKind::Absent
    );
    std::fs::write(&p, b"SQLite format 3\0rest").unwrap();
    assert_eq!(
        icc_store::file_kind(&p).unwrap(),
        icc_store::FileKind::Plain
    );
    std::fs::write(&p, b"SQLite").unwrap();
    assert_eq!(
        icc_store::file_kind(&p).unwrap(),
        icc_store::FileKind::Plain
    );
    std::fs::write(&p, [0x9c_u8; 64]).unwrap();
    assert_eq!(
        icc_store::file_kind(&p).unwrap(),
        icc_store::FileKind::Encrypted
    );
}

#[tokio::test]
async fn kame_records_keep_local_fichas_and_never_resend_a_posted_voucher() {
    use icc_store::kame::NewFicha;
    let (_d, store) = store().await;
    with_obras(&store).await;
    insert(&store, vec![invoice(1)]).await;
    let id = invoice(1).id().to_string();
    let rut = Rut::from_body(RUTS[1]).unwrap();
    let ficha = |concepto: &str| NewFicha {
        rut,
        nombre: None,
        concepto: Some(concepto.into()),
        proveedor: true,
        honorario: false,
    };

    // a pull, a local edit, a pull again: the local edit stays
    let mut tx = store.write("conta").await.unwrap();
    let r = tx
        .store_kame_fichas(&[ficha("MATERIALES")], false)
        .await
        .unwrap();
    assert_eq!(r.nuevas, 1);
    tx.store_kame_fichas(&[ficha("ARRIENDO")], true)
        .await
        .unwrap();
    let r = tx
        .store_kame_fichas(&[ficha("SUBCONTRATO")], false)
        .await
        .unwrap();
    assert_eq!(r.locales_conservadas, 1);
    tx.commit().await.unwrap();
    let k = store.kame_invoice(&id).await.unwrap().unwrap();
    assert_eq!(k.concepto.as_deref(), Some("ARRIENDO"));
    assert!(k.envio.is_none());
    assert!(store.kame_invoice("no-existe").await.unwrap().is_none());

    // sending, then posted: a second send is refused by the store itself
    let mut tx = store.write("conta").await.unwrap();
    tx.kame_sending(&id, "{}", None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.kame_envios(Some("enviando")).await.unwrap().len(), 1);
    let mut tx = store.write("conta").await.unwrap();
    // an unanswered request is sent again only by the run that checked it (attempts seen)
    assert!(matches!(
        tx.kame_sending(&id, "{}", None).await,
        Err(StoreError::Refused(_))
    ));
    assert!(tx.kame_sending(&id, "{}", Some(7)).await.is_err());
    tx.kame_sending(&id, "{}", Some(1)).await.unwrap();
    tx.kame_sent(&id, "publicado", Some("77"), None, false)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let e = store
        .kame_invoice(&id)
        .await
        .unwrap()
        .unwrap()
        .envio
        .unwrap();
    assert_eq!(
        (e.estado.as_str(), e.intentos, e.kame_id.as_deref()),
        ("publicado", 2, Some("77"))
    );
    let mut tx = store.write("conta").await.unwrap();
    assert!(matches!(
        tx.kame_sending(&id, "{}", Some(2)).await,
        Err(StoreError::Refused(_))
    ));
    assert!(
        tx.kame_sent(&id, "rechazado", None, Some("x"), false)
            .await
            .is_err()
    );
    drop(tx);

    // templates and business units
    let mut tx = store.write("conta").await.unwrap();
    let mut p = icc_core::kame::Plantilla {
        concepto: "arriendo".into(),
        cuenta_neto: "5103".into(),
        cuenta_exento: Some(" ".into()),
        cuenta_iva: "1109".into(),
        cuenta_otros: None,
        cuenta_proveedor: "2101".into(),
        tipo: icc_core::kame::TipoComprobante::Traspaso,
        misma_cuenta: false,
    };
    tx.set_kame_plantilla(&p).await.unwrap();
    p.cuenta_iva = String::new();
    assert!(tx.set_kame_plantilla(&p).await.is_err());
    assert_eq!(
        tx.set_kame_unidad("OB01-ADMIN", " UN-OB01 ").await.unwrap(),
        ("OB01".to_owned(), "UN-OB01".to_owned()),
        "answered as stored"
    );
    assert!(tx.set_kame_unidad(" ", "x").await.is_err());
    tx.commit().await.unwrap();
    let stored = store.kame_plantilla("ARRIENDO").await.unwrap().unwrap();
    assert_eq!(stored.cuenta_exento, None, "a blank account is no account");
    assert_eq!(
        store.kame_unidad("ob01-otra").await.unwrap().as_deref(),
        Some("UN-OB01")
    );
    assert_eq!(store.kame_unidad("").await.unwrap(), None);
}

#[tokio::test]
async fn a_guia_de_despacho_is_never_overdue() {
    let (_d, s) = store().await;
    let received = d("2026-04-01");
    let doc = |tipo: DteType, folio: u64| {
        let mut i = invoice(folio);
        i.key.tipo_dte = tipo;
        i.fecha_emision = received;
        i.fecha_recepcion_sii = received.and_hms_opt(10, 0, 0);
        i.fecha_vencimiento = None;
        i.obra = None;
        i.estado = InvoiceStatus::Recibida;
        i
    };
    let factura = doc(DteType::FACTURA, 9001);
    let guia = doc(DteType::GUIA_DESPACHO, 9002);
    insert(&s, vec![factura.clone(), guia]).await;
    // both were received 61 days before: only the factura is a debt
    let filter = InvoiceFilter {
        today: Some(d("2026-06-01")),
        vencidas: true,
        ..Default::default()
    };
    assert_eq!(
        all_ids(&s, &filter, 10).await,
        vec![factura.id().to_string()]
    );
}

//! Pulling from iConstruye against the fake server (a real HTTP server on 127.0.0.1), with
//! keys in the real OS keyring (run inside `scripts/with-keyring`, as `scripts/test` does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use icc_app::{App, AppError, PullReport, Session};
use icc_core::Role;
use icc_iconstruye::fake::{Burst, FakeConfig, FakeDoc, FakeServer};

const ADMIN_PW: &str = "caballo correcto batería grapa";
const USER_PW: &str = "Quilicura-Andamio-Losa-77";
const KEY: &str = "apim-3c1e8f0b9a7d4e62b5c4";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn app_with(fake: &FakeServer, key: Option<&str>) -> (tempfile::TempDir, App, Session) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    app.set_iconstruye_url(&admin, &fake.url()).await.unwrap();
    app.set_iconstruye_interval_ms(&admin, 0).await.unwrap();
    if let Some(k) = key {
        app.set_credential(Some(&admin), "iconstruye-facturas", k)
            .await
            .unwrap();
    }
    (dir, app, admin)
}

async fn pull(
    app: &App,
    s: &Session,
    desde: Option<&str>,
    hasta: &str,
) -> Result<PullReport, AppError> {
    app.iconstruye_pull(
        s,
        desde.map(day),
        Some(day(hasta)),
        Arc::default(),
        &mut |_| {},
    )
    .await
}

/// key → (signed total, estado, external id) of every stored invoice.
async fn stored(app: &App) -> HashMap<String, (i64, String, Option<String>)> {
    let rows: Vec<(String, i64, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT rut_emisor || ':' || tipo_dte || ':' || folio, tipo_dte, monto_total, estado, external_id FROM invoices",
    )
    .fetch_all(app.store().pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(k, tipo, total, estado, ext)| {
            (k, (if tipo == 61 { -total } else { total }, estado, ext))
        })
        .collect()
}

fn keys_of(docs: &[FakeDoc]) -> HashSet<String> {
    docs.iter().map(FakeDoc::key).collect()
}

#[tokio::test]
async fn a_90_day_pull_of_5000_invoices_with_429_bursts_stores_exactly_the_expected_documents() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(21, 5000, from, KEY);
    cfg.burst_429 = Some(Burst { every: 97, len: 3 });
    cfg.retry_after_secs = 0;
    cfg.empty_days = Some((60, 66));
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let (_d, app, admin) = app_with(&fake, Some(KEY)).await;

    let r = pull(&app, &admin, Some("2026-01-01"), "2026-03-31")
        .await
        .unwrap();
    let expected = fake.expected(from, day("2026-03-31"));
    assert!(
        expected.len() >= 5000,
        "invoices and notes: {}",
        expected.len()
    );
    assert_eq!(r.windows, 3);
    assert_eq!(
        (r.inserted, r.updated, r.rejected),
        (expected.len() as u64, 0, 0),
        "{:?}",
        r.errors
    );
    assert_eq!(r.fetched, expected.len() as u64);
    assert!(
        fake.seen().iter().filter(|s| s.status == 429).count() > 100,
        "bursts happened"
    );

    let db = stored(&app).await;
    assert_eq!(
        db.keys().cloned().collect::<HashSet<_>>(),
        keys_of(&expected)
    );
    let want_total: i64 = expected.iter().map(FakeDoc::signed_total).sum();
    assert_eq!(
        db.values().map(|v| v.0).sum::<i64>(),
        want_total,
        "totals, credit notes negative"
    );
    for d in &expected {
        let (_, estado, ext) = &db[&d.key()];
        assert_eq!(
            ext.as_deref(),
            Some(d.id.to_string().as_str()),
            "idDocumento kept"
        );
        let want = icc_iconstruye::map_estado(Some(&d.estado_doc), Some(&d.estado_pago));
        assert_eq!(estado, want.as_str(), "{}", d.key());
    }

    // a credit note is linked to the invoice it corrects
    let note = expected.iter().find(|d| d.nota).unwrap();
    let target = expected
        .iter()
        .find(|d| !d.nota && d.rut == note.rut && Some(d.folio) == note.fact_asociada)
        .expect("the note's invoice was pulled too");
    let view = app.show_invoice(&admin, &target.key()).await.unwrap();
    assert!(
        view.relacionados
            .iter()
            .any(|r| r.folio as u64 == note.folio && r.tipo_dte == 61),
        "the invoice lists its credit note"
    );
    // the document detail: amounts from the detail, OC reference, raw payload
    let with_oc = expected.iter().find(|d| d.oc.is_some() && !d.nota).unwrap();
    let v = app.show_invoice(&admin, &with_oc.key()).await.unwrap();
    assert_eq!(v.detail.row.monto_neto, with_oc.neto);
    assert_eq!(v.detail.row.monto_iva, with_oc.iva);
    assert_eq!(v.detail.orden_compra, with_oc.oc);
    assert!(
        v.detail
            .referencias
            .iter()
            .any(|r| r.tipo == "801" && Some(&r.folio) == with_oc.oc.as_ref())
    );
    assert_eq!(
        v.detail.centro_costo.as_deref(),
        Some(with_oc.centro.as_str())
    );
    assert_eq!(
        v.detail.fecha_vencimiento,
        Some(with_oc.fecha_pago.to_string())
    );
    assert_eq!(v.detail.source, "iconstruye");
}

#[tokio::test]
async fn pulling_again_updates_changed_fields_through_the_audit_log_and_never_duplicates() {
    let from = day("2026-03-01");
    let mut cfg = FakeConfig::new(4, 120, from, KEY);
    cfg.days = 20;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let (_d, app, admin) = app_with(&fake, Some(KEY)).await;
    let first = pull(&app, &admin, Some("2026-03-01"), "2026-03-20")
        .await
        .unwrap();
    assert!(first.inserted > 100);

    // iConstruye registers a payment and corrects an amount
    let docs = fake.docs();
    let paid = docs
        .iter()
        .find(|d| !d.nota && d.estado_doc == "Ingresada" && d.estado_pago == "No Pagada")
        .unwrap()
        .clone();
    let corrected = docs
        .iter()
        .find(|d| {
            !d.nota
                && d.key() != paid.key()
                && d.neto > 0
                && d.estado_doc == "Aprobada"
                && d.estado_pago == "No Pagada"
        })
        .unwrap()
        .clone();
    fake.edit_docs(|docs| {
        for d in docs.iter_mut() {
            if d.id == paid.id {
                d.estado_doc = "Aprobada".into();
                d.estado_pago = "Pagada".into();
            }
            if d.id == corrected.id {
                d.neto += 1000;
                d.iva = (d.neto * 19 + 50) / 100;
                d.total = d.neto + d.exento + d.iva;
            }
        }
    });
    let again = pull(&app, &admin, Some("2026-03-01"), "2026-03-20")
        .await
        .unwrap();
    assert_eq!(again.inserted, 0, "nothing is duplicated");
    assert_eq!(again.updated, 2);
    assert_eq!(again.unchanged, first.inserted - 2);
    assert_eq!(stored(&app).await.len() as u64, first.inserted);

    let h = app.invoice_history(&admin, &paid.key()).await.unwrap();
    let estados: Vec<_> = h
        .iter()
        .filter(|e| e.field.as_deref() == Some("estado"))
        .map(|e| e.new_value.clone().unwrap())
        .collect();
    assert_eq!(
        estados,
        vec!["aprobada", "pagada"],
        "recibida → aprobada → pagada, each audited"
    );
    let h = app.invoice_history(&admin, &corrected.key()).await.unwrap();
    let neto = h
        .iter()
        .find(|e| e.field.as_deref() == Some("monto_neto"))
        .unwrap();
    assert_eq!(
        neto.new_value.as_deref(),
        Some((corrected.neto + 1000).to_string().as_str())
    );
    assert_eq!(neto.user_name, "admin");

    // a local decision is never undone by an older state in iConstruye
    let local = docs
        .iter()
        .find(|d| {
            !d.nota
                && d.estado_doc == "Ingresada"
                && d.estado_pago == "No Pagada"
                && d.id != paid.id
        })
        .unwrap();
    app.set_invoice_status(
        &admin,
        &local.key(),
        icc_core::InvoiceStatus::Aprobada,
        None,
    )
    .await
    .unwrap();
    let third = pull(&app, &admin, Some("2026-03-01"), "2026-03-20")
        .await
        .unwrap();
    assert_eq!(third.updated, 0);
    assert!(
        third
            .estados_no_aplicados
            .iter()
            .any(|e| e.contains(&local.key())),
        "{:?}",
        third.estados_no_aplicados
    );
    assert_eq!(stored(&app).await[&local.key()].1, "aprobada");
}

#[tokio::test]
async fn malformed_rows_are_reported_without_stopping_the_pull() {
    let from = day("2026-02-01");
    let mut cfg = FakeConfig::new(5, 300, from, KEY);
    cfg.days = 28;
    cfg.malformed_every = Some(11);
    cfg.casing_variants = true;
    cfg.error_500_every = Some(37);
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let (_d, app, admin) = app_with(&fake, Some(KEY)).await;
    let r = pull(&app, &admin, Some("2026-02-01"), "2026-02-28")
        .await
        .unwrap();
    let bad = fake.docs().iter().filter(|d| d.malformed.is_some()).count() as u64;
    assert!(bad > 20);
    assert_eq!(r.rejected, bad);
    assert_eq!(r.errors.len() as u64, bad);
    assert!(r.errors.iter().all(|e| !e.message.is_empty()));
    let expected = fake.expected(from, day("2026-02-28"));
    assert_eq!(r.inserted, expected.len() as u64);
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<HashSet<_>>(),
        keys_of(&expected)
    );
}

#[tokio::test]
async fn cancelling_mid_pull_keeps_whole_windows_and_the_next_pull_continues() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(9, 600, from, KEY);
    cfg.days = 90;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let (_d, app, admin) = app_with(&fake, Some(KEY)).await;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let r = app
        .iconstruye_pull(
            &admin,
            Some(from),
            Some(day("2026-03-31")),
            cancel,
            &mut move |p| {
                if p.ventanas_hechas == 1 && p.documentos == 50 {
                    flag.store(true, Ordering::Relaxed);
                }
            },
        )
        .await
        .unwrap();
    assert!(r.cancelled);
    assert_eq!(
        r.windows, 1,
        "the first window was stored, the second was not"
    );
    // exactly the first window's documents: nothing of the interrupted one
    let first_window = fake.expected(from, day("2026-01-30"));
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<HashSet<_>>(),
        keys_of(&first_window)
    );
    let settings = app.iconstruye_settings().await.unwrap();
    assert_eq!(settings.completado_hasta.as_deref(), Some("2026-01-30"));
    let integrity = app.store().integrity_check().await.unwrap();
    assert_eq!(integrity, vec!["ok"]);

    // without --desde the pull continues where the last one ended
    let rest = pull(&app, &admin, None, "2026-03-31").await.unwrap();
    assert_eq!(rest.desde, "2026-01-30");
    let all = fake.expected(from, day("2026-03-31"));
    assert_eq!(
        stored(&app).await.keys().cloned().collect::<HashSet<_>>(),
        keys_of(&all)
    );
}

#[tokio::test]
async fn missing_and_refused_keys_say_what_to_do_without_showing_the_key() {
    let fake = FakeServer::start(FakeConfig::new(1, 10, day("2026-01-01"), KEY), 0)
        .await
        .unwrap();
    let (_d, app, admin) = app_with(&fake, None).await;
    let e = pull(&app, &admin, Some("2026-01-01"), "2026-01-31")
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Credentials(_)), "{e}");
    assert!(
        e.to_string()
            .contains("icc credentials set iconstruye-facturas"),
        "{e}"
    );
    assert_eq!(e.code(), "credentials");
    assert!(fake.seen().is_empty());

    let wrong = "clave-equivocada-99f1e2d3";
    app.set_credential(Some(&admin), "iconstruye-facturas", wrong)
        .await
        .unwrap();
    let e = pull(&app, &admin, Some("2026-01-01"), "2026-01-31")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, AppError::Credentials(_)), "{msg}");
    assert!(
        msg.contains("rechazó la clave") && !msg.contains(wrong),
        "{msg}"
    );
    assert_eq!(stored(&app).await.len(), 0);

    // rotation: the secondary key works
    app.set_credential(Some(&admin), "iconstruye-facturas-secundaria", KEY)
        .await
        .unwrap();
    let r = pull(&app, &admin, Some("2026-01-01"), "2026-01-31")
        .await
        .unwrap();
    assert!(r.inserted > 0);
}

#[tokio::test]
async fn credentials_live_in_the_os_keyring_only_and_need_the_right_role() {
    let fake = FakeServer::start(FakeConfig::new(1, 1, day("2026-01-01"), KEY), 0)
        .await
        .unwrap();
    let (dir, app, admin) = app_with(&fake, None).await;
    let secret = "k-unica-5e0c7d1a2b3f";
    app.set_credential(Some(&admin), "iconstruye-facturas", secret)
        .await
        .unwrap();
    let status = app.credentials_status().await.unwrap();
    assert!(
        status
            .iter()
            .find(|c| c.name == "iconstruye-facturas")
            .unwrap()
            .configured
    );
    assert!(
        !status
            .iter()
            .find(|c| c.name == "iconstruye-ordenes")
            .unwrap()
            .configured
    );
    assert!(!serde_json::to_string(&status).unwrap().contains(secret));

    // in the real keyring, under this database's own service name
    let id: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'install_id'")
        .fetch_one(app.store().pool())
        .await
        .unwrap();
    let entry = keyring::Entry::new(&format!("icc-facturas:{id}"), "iconstruye-facturas").unwrap();
    assert_eq!(entry.get_password().unwrap(), secret);
    // and nowhere in the data folder
    app.close().await;
    for f in walk(dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the key is in {}",
            f.display()
        );
    }
    let app = App::open(dir.path()).await.unwrap();
    let admin = app.login("admin", ADMIN_PW).await.unwrap();

    app.add_obra(&admin, "OB-1", "Obra uno").await.unwrap();
    app.add_user(&admin, "jefe", Role::AdminObra, &["OB-1".into()], USER_PW)
        .await
        .unwrap();
    let jefe = app.login("jefe", USER_PW).await.unwrap();
    for e in [
        app.set_credential(Some(&jefe), "iconstruye-facturas", "x-y-z")
            .await
            .unwrap_err(),
        pull(&app, &jefe, Some("2026-01-01"), "2026-01-02")
            .await
            .unwrap_err(),
        app.set_iconstruye_url(&jefe, "https://otra.example")
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, AppError::Forbidden(_)), "{e}");
    }
    assert!(matches!(
        app.set_credential(Some(&admin), "clave-rara", "x").await,
        Err(AppError::Invalid(m)) if m.contains("iconstruye-facturas")
    ));
    assert!(
        app.delete_credential(Some(&admin), "iconstruye-facturas")
            .await
            .unwrap()
    );
    assert!(
        !app.delete_credential(Some(&admin), "iconstruye-facturas")
            .await
            .unwrap()
    );
    assert!(matches!(entry.get_password(), Err(keyring::Error::NoEntry)));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An iConstruye pull run by an accountant's laptop moves invoices to `pagada` (through
/// `aprobada`, which an accountant may not decide): the changes are marked as coming from
/// iConstruye, so the server accepts them under the permission to pull, and a gerente's
/// laptop receives them.
#[tokio::test]
async fn an_accountants_iconstruye_pull_that_pays_invoices_syncs_to_the_other_laptops() {
    const SERVER_PW: &str = "Moldaje-Andamio-Losa-2026";
    let srv = icc_server::testing::TestServer::start(
        &[
            ("contadora", Role::Contabilidad, &[]),
            ("gerente", Role::Gerente, &[]),
        ],
        SERVER_PW,
    )
    .await;
    let from = day("2026-03-01");
    let mut cfg = FakeConfig::new(4, 60, from, KEY);
    cfg.days = 10;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let (_d, office, admin) = app_with(&fake, Some(KEY)).await;
    office
        .login_server(&admin, &srv.url, "contadora", SERVER_PW)
        .await
        .unwrap();
    pull(&office, &admin, Some("2026-03-01"), "2026-03-10")
        .await
        .unwrap();
    office.sync(&admin).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let other = App::open(dir.path()).await.unwrap();
    let g = other.init("admin", ADMIN_PW).await.unwrap();
    other
        .login_server(&g, &srv.url, "gerente", SERVER_PW)
        .await
        .unwrap();
    other.sync(&g).await.unwrap();

    let paid = fake
        .docs()
        .into_iter()
        .find(|d| !d.nota && d.estado_doc == "Ingresada" && d.estado_pago == "No Pagada")
        .unwrap();
    fake.edit_docs(|docs| {
        for d in docs.iter_mut() {
            if d.id == paid.id {
                d.estado_doc = "Aprobada".into();
                d.estado_pago = "Pagada".into();
            }
        }
    });
    pull(&office, &admin, Some("2026-03-01"), "2026-03-10")
        .await
        .unwrap();
    let r = office.sync(&admin).await.unwrap();
    assert!(
        r.refused.is_empty() && r.pending == 0,
        "the server accepts iConstruye's status steps from an accountant: {r:?}"
    );
    let sources: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT value #>> '{}', source FROM ops WHERE field = 'estado' ORDER BY seq",
    )
    .fetch_all(&srv.pool)
    .await
    .unwrap();
    assert_eq!(
        sources,
        vec![
            ("aprobada".to_owned(), Some("iconstruye".to_owned())),
            ("pagada".to_owned(), Some("iconstruye".to_owned()))
        ],
        "the server keeps where each step came from"
    );
    other.sync(&g).await.unwrap();
    assert_eq!(stored(&other).await[&paid.key()].1, "pagada");

    // the same step typed by the accountant (not from iConstruye) is refused and set aside
    let another = fake
        .docs()
        .into_iter()
        .find(|d| !d.nota && d.estado_doc == "Ingresada" && d.estado_pago == "No Pagada")
        .unwrap();
    office
        .set_invoice_status(
            &admin,
            &another.key(),
            icc_core::InvoiceStatus::Aprobada,
            None,
        )
        .await
        .unwrap();
    let r = office.sync(&admin).await.unwrap();
    assert_eq!(r.refused.len(), 1, "{r:?}");
    assert!(
        r.refused[0].reason.contains("aprobar"),
        "{:?}",
        r.refused[0]
    );
    srv.stop().await;
}

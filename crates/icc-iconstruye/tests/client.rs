//! The client against the fake iConstruye: a real HTTP server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use icc_iconstruye::fake::{Burst, FakeConfig, FakeServer, Malformation};
use icc_iconstruye::{
    ApiKey, Client, ClientConfig, IconstruyeError, KeyPair, Keys, WindowFetch, fetch_window,
    windows,
};

const KEY: &str = "k-primaria-7f3a9c2e51b04d88";
const KEY2: &str = "k-secundaria-0b1c2d3e4f5a6978";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn fast(url: &str) -> ClientConfig {
    ClientConfig {
        base_url: url.into(),
        min_interval: Duration::ZERO,
        max_retries: 8,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
    }
}

fn keys(primary: &str, secondary: Option<&str>) -> Keys {
    let pair = KeyPair {
        primary: ApiKey::new(primary).unwrap(),
        secondary: secondary.and_then(ApiKey::new),
    };
    Keys {
        facturas: Some(pair.clone()),
        ordenes: Some(pair),
    }
}

fn client(url: &str, k: Keys) -> Client {
    Client::new(fast(url), k, Arc::default()).unwrap()
}

async fn pull_all(
    c: &Client,
    desde: NaiveDate,
    hasta: NaiveDate,
) -> Result<WindowFetch, IconstruyeError> {
    let mut all = WindowFetch::default();
    for (a, b) in windows(desde, hasta) {
        let w = fetch_window(c, a, b, &mut |_, _| {}).await?;
        all.fetched += w.fetched;
        all.documents.extend(w.documents);
        all.rejected.extend(w.rejected);
    }
    Ok(all)
}

#[tokio::test]
async fn a_90_day_pull_with_429_bursts_brings_exactly_the_expected_documents() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(11, 600, from, KEY);
    cfg.burst_429 = Some(Burst { every: 40, len: 3 });
    cfg.retry_after_secs = 0;
    cfg.empty_days = Some((40, 52));
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let c = client(&fake.url(), keys(KEY, None));
    let hasta = day("2026-03-31");
    let got = pull_all(&c, from, hasta).await.unwrap();

    let expected = fake.expected(from, hasta);
    assert_eq!(got.rejected, vec![], "no row is bad");
    let got_keys: HashSet<String> = got
        .documents
        .iter()
        .map(|m| m.invoice.key.to_string())
        .collect();
    let want_keys: HashSet<String> = expected.iter().map(|d| d.key()).collect();
    assert_eq!(got_keys.len(), got.documents.len(), "no document twice");
    assert_eq!(got_keys, want_keys);
    let got_total: i64 = got
        .documents
        .iter()
        .map(|m| m.invoice.signed(m.invoice.monto_total).pesos())
        .sum();
    assert_eq!(
        got_total,
        expected.iter().map(|d| d.signed_total()).sum::<i64>()
    );
    for m in &got.documents {
        let d = expected
            .iter()
            .find(|d| d.key() == m.invoice.key.to_string())
            .unwrap();
        assert_eq!(m.invoice.monto_neto.pesos(), d.neto, "{}", d.key());
        assert_eq!(m.invoice.monto_exento.pesos(), d.exento);
        assert_eq!(m.invoice.monto_iva.pesos(), d.iva);
        assert_eq!(
            m.invoice.external_id.as_deref(),
            Some(d.id.to_string().as_str())
        );
        assert_eq!(m.invoice.fecha_vencimiento, Some(d.fecha_pago));
        assert_eq!(m.invoice.orden_compra, d.oc);
    }

    let seen = fake.seen();
    assert!(
        seen.iter().filter(|s| s.status == 429).count() >= 3,
        "bursts happened"
    );
    for s in seen.iter().filter(|s| s.path.ends_with("Buscar")) {
        let a = day(&s.query["FechaRecepDesde"]);
        let b = day(&s.query["FechaRecepHasta"]);
        assert!(
            (b - a).num_days() < 30,
            "window {a}..{b} longer than 30 days"
        );
        assert_eq!(s.query["api-version"], "1.0");
        assert_eq!(s.query["IdOrgc"], "-1");
    }
    assert!(seen.iter().all(|s| s.key_index == Some(0)));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(3, 5, from, KEY);
    cfg.burst_429 = Some(Burst { every: 2, len: 1 }); // every even request is refused
    cfg.retry_after_secs = 1;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let c = client(&fake.url(), keys(KEY, None));
    let t = Instant::now();
    c.buscar_facturas(from, day("2026-01-10")).await.unwrap(); // n = 1: passes
    c.buscar_facturas(from, day("2026-01-10")).await.unwrap(); // n = 2: 429, retry n = 3
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "waited {:?}, Retry-After said 1 s",
        t.elapsed()
    );
    let statuses: Vec<u16> = fake.seen().iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![200, 429, 200]);
}

#[tokio::test]
async fn endless_429s_give_up_with_a_clear_message() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(3, 5, from, KEY);
    cfg.burst_429 = Some(Burst { every: 1, len: 1 });
    cfg.retry_after_secs = 0;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let c = client(&fake.url(), keys(KEY, None));
    let e = c.buscar_facturas(from, from).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            IconstruyeError::GaveUp {
                status: 429,
                attempts: 9,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("429") && msg.contains("intente más tarde"),
        "{msg}"
    );
    assert_eq!(fake.seen().len(), 9, "one try and eight retries");
}

#[tokio::test]
async fn five_hundreds_and_slow_answers_are_retried() {
    let from = day("2026-02-01");
    let mut cfg = FakeConfig::new(5, 120, from, KEY);
    cfg.days = 30;
    cfg.error_500_every = Some(9);
    cfg.slow_every = Some(13);
    cfg.slow_ms = 1_500;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let mut conf = fast(&fake.url());
    conf.timeout = Duration::from_millis(400);
    let c = Client::new(conf, keys(KEY, None), Arc::default()).unwrap();
    let got = pull_all(&c, from, day("2026-03-02")).await.unwrap();
    assert_eq!(
        got.documents.len(),
        fake.expected(from, day("2026-03-02")).len()
    );
    let seen = fake.seen();
    assert!(seen.iter().any(|s| s.status == 500));
}

#[tokio::test]
async fn malformed_rows_are_reported_and_the_rest_goes_on() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(8, 200, from, KEY);
    cfg.days = 60;
    cfg.malformed_every = Some(7);
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let c = client(&fake.url(), keys(KEY, None));
    let hasta = day("2026-03-01");
    let got = pull_all(&c, from, hasta).await.unwrap();
    let bad: Vec<_> = fake
        .docs()
        .into_iter()
        .filter(|d| d.malformed.is_some() && (from..=hasta).contains(&d.recepcion.date()))
        .collect();
    assert!(bad.len() >= 10);
    assert_eq!(got.rejected.len(), bad.len(), "{:#?}", got.rejected);
    assert_eq!(got.documents.len(), fake.expected(from, hasta).len());
    // each kind of breakage says what is wrong
    for d in &bad {
        let r = got
            .rejected
            .iter()
            .find(|r| r.folio.as_deref() == Some(d.folio.to_string().as_str()))
            .unwrap_or_else(|| panic!("{d:?} not reported"));
        let want = match d.malformed.unwrap() {
            Malformation::BadRut => "rutProveedor",
            Malformation::MissingId => "idDocumento",
            Malformation::GarbageTotal => "montoTotal",
            Malformation::EmptyDetail => "vacío",
            Malformation::MissingNeto => "montoNeto",
        };
        assert!(r.message.contains(want), "{:?}: {}", d.malformed, r.message);
    }
}

#[tokio::test]
async fn casing_variants_are_read_like_the_usual_spelling() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(9, 90, from, KEY);
    cfg.days = 25;
    cfg.casing_variants = true;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let c = client(&fake.url(), keys(KEY, None));
    let got = pull_all(&c, from, day("2026-01-25")).await.unwrap();
    assert_eq!(got.rejected, vec![]);
    assert_eq!(
        got.documents.len(),
        fake.expected(from, day("2026-01-25")).len()
    );
    let recased: Vec<_> = fake.docs().into_iter().filter(|d| d.casing).collect();
    assert!(!recased.is_empty());
    for d in recased {
        let m = got
            .documents
            .iter()
            .find(|m| m.invoice.key.to_string() == d.key())
            .unwrap();
        assert_eq!(m.invoice.centro_costo.as_deref(), Some(d.centro.as_str()));
        assert!(
            m.raw.contains("\"IdDocumento\""),
            "raw JSON kept as received"
        );
    }
}

#[tokio::test]
async fn empty_windows_are_fine() {
    let from = day("2026-01-01");
    let fake = FakeServer::start(FakeConfig::new(1, 0, from, KEY), 0)
        .await
        .unwrap();
    let c = client(&fake.url(), keys(KEY, None));
    let got = pull_all(&c, from, day("2026-02-15")).await.unwrap();
    assert_eq!(
        (got.fetched, got.documents.len(), got.rejected.len()),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_refused_primary_key_falls_back_to_the_secondary_and_stays_there() {
    let from = day("2026-01-01");
    let fake = FakeServer::start(FakeConfig::new(2, 20, from, KEY2), 0)
        .await
        .unwrap();
    let c = client(&fake.url(), keys(KEY, Some(KEY2)));
    let got = pull_all(&c, from, day("2026-01-31")).await.unwrap();
    assert!(!got.documents.is_empty());
    let seen = fake.seen();
    assert_eq!(seen[0].status, 401);
    assert_eq!(
        seen.iter().filter(|s| s.status == 401).count(),
        1,
        "the primary is tried once"
    );
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.key_index == Some(0) && s.status == 200)
    );
}

#[tokio::test]
async fn a_missing_key_says_how_to_set_it() {
    let fake = FakeServer::start(FakeConfig::new(1, 1, day("2026-01-01"), KEY), 0)
        .await
        .unwrap();
    let c = client(&fake.url(), Keys::default());
    let e = c
        .buscar_facturas(day("2026-01-01"), day("2026-01-02"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("icc credentials set iconstruye-facturas"),
        "{msg}"
    );
    assert!(fake.seen().is_empty(), "nothing is sent without a key");
}

#[tokio::test]
async fn cancelling_stops_at_the_next_request() {
    let from = day("2026-01-01");
    let fake = FakeServer::start(FakeConfig::new(6, 100, from, KEY), 0)
        .await
        .unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let c = Client::new(fast(&fake.url()), keys(KEY, None), cancel.clone()).unwrap();
    let flag = cancel.clone();
    let e = fetch_window(&c, from, day("2026-01-30"), &mut move |done, _| {
        if done == 5 {
            flag.store(true, Ordering::Relaxed);
        }
    })
    .await
    .unwrap_err();
    assert!(matches!(e, IconstruyeError::Cancelled));
    let details = fake
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("PorId"))
        .count();
    assert_eq!(details, 5, "no request after the cancel");
}

#[tokio::test]
async fn purchase_orders_and_centros_de_gestion_use_their_own_key() {
    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(12, 40, from, KEY);
    cfg.ordenes_keys = vec![KEY2.into()];
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let c = client(
        &fake.url(),
        Keys {
            facturas: Some(KeyPair {
                primary: ApiKey::new(KEY).unwrap(),
                secondary: None,
            }),
            ordenes: Some(KeyPair {
                primary: ApiKey::new(KEY2).unwrap(),
                secondary: None,
            }),
        },
    );
    let ocs = c.buscar_ordenes(from, day("2026-01-30")).await.unwrap();
    assert!(!ocs.is_empty());
    let id = ocs[0]["idOc"].to_string();
    let det = c.orden_detalle(&id).await.unwrap();
    assert_eq!(det[0]["numOC"], ocs[0]["numOC"]);
    assert_eq!(c.centros_gestion().await.unwrap().len(), 4);
    // the invoices key is not valid for purchase orders
    let wrong = client(&fake.url(), keys(KEY, None));
    let e = wrong.centros_gestion().await.unwrap_err();
    assert!(e.to_string().contains("órdenes de compra"), "{e}");
    assert!(
        e.to_string()
            .contains("icc credentials set iconstruye-ordenes"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error_naming_the_address() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let mut conf = fast(&url);
    conf.max_retries = 2;
    let c = Client::new(conf, keys(KEY, None), Arc::default()).unwrap();
    let e = c
        .buscar_facturas(day("2026-01-01"), day("2026-01-02"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, IconstruyeError::Network { .. }), "{msg}");
    assert!(
        msg.contains("127.0.0.1") && msg.contains("Configuración"),
        "{msg}"
    );
}

//! The client against the fake Kame over real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use icc_core::Secret;
use icc_core::kame::{Comprobante, Linea, TipoComprobante};
use icc_kame::fake::{FakeConfig, FakeServer};
use icc_kame::{Client, ClientConfig, KameError};

const ID: &str = "icc-pruebas";
const SECRET: &str = "secreto-de-prueba-kame-7c1f";

fn config(url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(ID, Secret::new(SECRET), "contabilidad@icc.cl");
    c.base_url = url.into();
    c.min_interval = Duration::from_millis(2);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(1100);
    c
}

fn voucher(folio: u64, amount: i64) -> Comprobante {
    let line = |cuenta: &str, debe: i64, haber: i64| Linea {
        cuenta: cuenta.into(),
        debe,
        haber,
        comentario: "x".into(),
        rut_ficha: (haber > 0).then(|| "76.369.187-K".into()),
        documento: (haber > 0).then(|| "33".into()),
        folio_documento: (haber > 0).then(|| folio.to_string()),
        unidad_negocio: None,
        fecha_vencimiento: (haber > 0).then(|| "2026-12-31".parse().unwrap()),
    };
    Comprobante {
        tipo: TipoComprobante::Traspaso,
        fecha: "2026-12-01".parse().unwrap(),
        comentario: format!("ICC 33 {folio} 76369187-K"),
        lineas: vec![line("5101", amount, 0), line("2101", 0, amount)],
    }
}

/// Every ficha, page after page until an empty one.
async fn every_ficha(client: &Client) -> Vec<icc_kame::Ficha> {
    let mut all = Vec::new();
    for page in 1.. {
        let p = client.fichas_page(page).await.unwrap();
        if p.items == 0 {
            break;
        }
        all.extend(p.fichas);
    }
    all
}

#[tokio::test]
async fn one_token_per_expiry_and_429s_are_waited_out() {
    let fake = FakeServer::start(
        {
            let mut c = FakeConfig::new(ID, SECRET).with_fichas(120);
            c.inject_429_every = Some(4);
            c
        },
        0,
    )
    .await
    .unwrap();
    let client = Client::new(config(&fake.url())).unwrap();
    let all = every_ficha(&client).await;
    assert_eq!(all.len(), 120);
    for f in 1..=10 {
        client.add_comprobante(&voucher(f, 1000)).await.unwrap();
    }
    assert!(fake.refused_429() >= 3, "429s were injected");
    assert_eq!(fake.vouchers().len(), 10, "each voucher recorded once");
    assert_eq!(fake.token_requests(), 1, "the token is reused");
    assert_eq!(client.token_requests(), 1);

    // a revoked token: asked for again once, and the call goes through
    fake.revoke_tokens();
    client.fichas_page(1).await.unwrap();
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn an_expired_token_is_renewed() {
    let fake = FakeServer::start(
        {
            let mut c = FakeConfig::new(ID, SECRET).with_fichas(3);
            c.token_ttl_secs = 61; // the client stops using it a minute early: 1 s
            c
        },
        0,
    )
    .await
    .unwrap();
    let client = Client::new(config(&fake.url())).unwrap();
    client.fichas_page(1).await.unwrap();
    client.fichas_page(1).await.unwrap();
    assert_eq!(fake.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.fichas_page(1).await.unwrap();
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn a_lost_answer_is_uncertain_and_never_resent() {
    let fake = FakeServer::start(
        {
            let mut c = FakeConfig::new(ID, SECRET);
            c.lose_answer_every = Some(1);
            c
        },
        0,
    )
    .await
    .unwrap();
    let client = Client::new(config(&fake.url())).unwrap();
    let e = client.add_comprobante(&voucher(7, 500)).await.unwrap_err();
    assert!(matches!(e, KameError::Uncertain { .. }), "{e}");
    assert_eq!(fake.voucher_requests(), 1, "not retried");
    // and the payables lookup finds it
    let due = "2026-12-31".parse().unwrap();
    let found = client.cuentas_por_pagar(due, due).await.unwrap();
    let rut = "76369187-K".parse().unwrap();
    assert!(found.iter().any(|c| c.is(&rut, 33, 7)), "{found:?}");
}

#[tokio::test]
async fn refusals_and_bad_credentials_say_what_to_do() {
    let fake = FakeServer::start(FakeConfig::new(ID, SECRET), 0)
        .await
        .unwrap();
    let client = Client::new(config(&fake.url())).unwrap();
    let mut bad = voucher(1, 100);
    bad.lineas[1].haber = 90;
    let e = client.add_comprobante(&bad).await.unwrap_err();
    assert!(matches!(e, KameError::Refused { status: 400, .. }), "{e}");
    assert!(e.to_string().contains("no cuadra"), "{e}");
    assert!(fake.vouchers().is_empty());

    let mut wrong = config(&fake.url());
    wrong.client_secret = Secret::new("otro");
    let e = Client::new(wrong)
        .unwrap()
        .fichas_page(1)
        .await
        .unwrap_err();
    assert!(e.is_credentials(), "{e}");
    assert!(e.to_string().contains("icc credentials set kame"), "{e}");
    assert!(!e.to_string().contains(SECRET));
    assert!(!format!("{e:?}").contains(SECRET));

    let mut none = config(&fake.url());
    none.client_secret = Secret::new(" ");
    assert!(matches!(
        Client::new(none),
        Err(KameError::MissingCredentials)
    ));
    let mut url = config("ftp://x");
    url.base_url = "ftp://x".into();
    assert!(matches!(Client::new(url), Err(KameError::BadUrl(_))));
}

#[tokio::test]
async fn nothing_listening_is_a_network_error_for_reads_and_safe_for_vouchers() {
    // a port that was free a moment ago
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config(&format!("http://127.0.0.1:{port}"));
    cfg.max_retries = 1;
    let client = Client::new(cfg).unwrap();
    let e = client.fichas_page(1).await.unwrap_err();
    assert!(matches!(e, KameError::Network { .. }), "{e}");
    assert!(!client.base_url().is_empty());
}

#[tokio::test]
async fn the_pace_keeps_under_the_limit() {
    let fake = FakeServer::start(
        {
            let mut c = FakeConfig::new(ID, SECRET).with_fichas(5);
            c.per_minute = 1000;
            c
        },
        0,
    )
    .await
    .unwrap();
    let mut cfg = config(&fake.url());
    cfg.min_interval = Duration::from_millis(50);
    let client = Client::new(cfg).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..5 {
        client.fichas_page(1).await.unwrap();
    }
    // token + 5 reads, 50 ms apart
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(fake.refused_429(), 0);
}

/// A 5xx on a read is retried with backoff (nothing was done), until the page comes.
#[tokio::test]
async fn reads_answered_503_are_retried() {
    let fake = FakeServer::start(
        {
            let mut c = FakeConfig::new(ID, SECRET).with_fichas(30);
            c.per_page = 10;
            c.fail_read_every = Some(2);
            c
        },
        0,
    )
    .await
    .unwrap();
    let client = Client::new(config(&fake.url())).unwrap();
    let all = every_ficha(&client).await;
    assert_eq!(all.len(), 30);
    assert!(
        fake.failed_reads() >= 3,
        "503s were injected: {}",
        fake.failed_reads()
    );
}

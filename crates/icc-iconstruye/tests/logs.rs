//! Keys never reach logs or error messages: a whole run (refused keys, rotation, 429s and
//! retries) is logged at TRACE, every crate included, and searched for the keys. Alone in its
//! test binary because it installs the global log subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use icc_iconstruye::fake::{Burst, FakeConfig, FakeServer};
use icc_iconstruye::{
    ApiKey, Client, ClientConfig, IconstruyeError, KeyPair, Keys, WindowFetch, fetch_window,
    windows,
};

const KEY: &str = "k-primaria-7f3a9c2e51b04d88";
const KEY2: &str = "k-secundaria-0b1c2d3e4f5a6978";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn client(url: &str, primary: &str, secondary: Option<&str>) -> Client {
    let pair = KeyPair {
        primary: ApiKey::new(primary).unwrap(),
        secondary: secondary.and_then(ApiKey::new),
    };
    let cfg = ClientConfig {
        base_url: url.into(),
        min_interval: Duration::ZERO,
        max_retries: 8,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
    };
    let keys = Keys {
        facturas: Some(pair.clone()),
        ordenes: Some(pair),
    };
    Client::new(cfg, keys, Arc::default()).unwrap()
}

async fn pull_all(
    c: &Client,
    desde: NaiveDate,
    hasta: NaiveDate,
) -> Result<WindowFetch, IconstruyeError> {
    let mut all = WindowFetch::default();
    for (a, b) in windows(desde, hasta) {
        let w = fetch_window(c, a, b, &mut |_, _| {}).await?;
        all.documents.extend(w.documents);
    }
    Ok(all)
}

#[tokio::test]
async fn keys_never_reach_logs_or_errors() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // the only test of this binary: a global subscriber sees every thread and callsite
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let from = day("2026-01-01");
    let mut cfg = FakeConfig::new(4, 30, from, "otra-clave-vigente");
    cfg.burst_429 = Some(Burst { every: 5, len: 1 });
    cfg.retry_after_secs = 0;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    // both of our keys are wrong: 401, 401, then the error
    let c = client(&fake.url(), KEY, Some(KEY2));
    let e = pull_all(&c, from, day("2026-01-31")).await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_credentials());
    assert!(
        msg.contains("rechazó la clave") && msg.contains("también la secundaria"),
        "{msg}"
    );
    assert!(
        msg.contains("icc credentials set iconstruye-facturas-secundaria"),
        "{msg}"
    );
    let dbg = format!("{e:?} {c:?}");
    // and a successful run with retries, logged at TRACE
    fake.edit_config(|c| c.facturas_keys = vec![KEY.into()]);
    let c = client(&fake.url(), KEY, None);
    pull_all(&c, from, day("2026-01-31")).await.unwrap();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the run was logged: {logs}");
    for secret in [KEY, KEY2, "otra-clave-vigente"] {
        assert!(!logs.contains(secret), "a key leaked into the logs");
        assert!(
            !msg.contains(secret) && !dbg.contains(secret),
            "a key leaked into an error"
        );
    }
}

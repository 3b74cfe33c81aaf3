//! The real server on the real PostgreSQL (a fresh database per test), over real HTTP on
//! 127.0.0.1. `ICC_TEST_DATABASE_URL` names the PostgreSQL to use (scripts/test sets it);
//! the default is the development machines' `postgres://postgres@127.0.0.1:5432/postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use icc_core::Role;
use icc_core::sync::{Hlc, Op, PullResponse, PushRequest, PushResponse};
use serde_json::{Value, json};
use sqlx::PgPool;

const SECRET: &str = icc_server::testing::TEST_SECRET;
const PW: &str = "Moldaje-Andamio-Losa-2026";

use icc_server::testing::{admin_url as base_url, database_url as db_url};

struct TestServer {
    url: String,
    pool: PgPool,
    t: icc_server::testing::TestServer,
    http: reqwest::Client,
}

/// The metrics token of servers started with one.
const METRICS_TOKEN: &str = "metricas-de-prueba-0123456789";

impl TestServer {
    async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server whose configuration `tweak` changes first.
    async fn start_with(tweak: impl FnOnce(&mut icc_server::Config)) -> TestServer {
        TestServer::start_for(
            &[
                ("admin", Role::Admin, &[]),
                ("jefe", Role::AdminObra, &["OB-1"]),
            ],
            tweak,
        )
        .await
    }

    /// A server with these accounts (all with the password `PW`).
    async fn start_for(
        users: &[(&str, Role, &[&str])],
        tweak: impl FnOnce(&mut icc_server::Config),
    ) -> TestServer {
        let t = icc_server::testing::TestServer::start_with(users, PW, tweak).await;
        TestServer {
            url: t.url.clone(),
            pool: t.pool.clone(),
            t,
            http: reqwest::Client::new(),
        }
    }

    async fn stop(self) {
        self.t.stop().await;
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("icc-protocol", "1")
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        )
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self
            .http
            .get(format!("{}{path}", self.url))
            .header("icc-protocol", "1");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn login(&self, user: &str) -> (String, String) {
        let (s, v, _) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": user, "password": PW}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        (
            v["access_token"].as_str().unwrap().into(),
            v["refresh_token"].as_str().unwrap().into(),
        )
    }

    /// An access token of `user` on the device `device` (a free id the login binds to the
    /// account): pushes must come from their session's device.
    async fn session(&self, user: &str, device: &str) -> String {
        let (s, v) = self.login_as(user, PW, None, Some(device)).await;
        assert_eq!((s, v["device_id"].as_str()), (200, Some(device)), "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// A login as `user` with `password`, from `X-Forwarded-For: xff` when given (servers
    /// with a trusted proxy), presenting `device` when given.
    async fn login_as(
        &self,
        user: &str,
        password: &str,
        xff: Option<&str>,
        device: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({"username": user, "password": password});
        if let Some(d) = device {
            body["device_id"] = json!(d);
        }
        let mut r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&body);
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Exchanges a refresh token.
    async fn refresh(&self, token: &str, new_device: bool) -> (u16, Value) {
        let (s, v, _) = self
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": token, "new_device": new_device}),
            )
            .await;
        (s, v)
    }

    /// `/metrics` with `Authorization: Bearer token` when given: status and text.
    async fn metrics(&self, token: Option<&str>) -> (u16, String) {
        let mut r = self.http.get(format!("{}/metrics", self.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn push(&self, token: &str, device: &str, ops: Vec<Op>) -> (u16, Value) {
        let req = PushRequest {
            device_id: device.into(),
            sent_at_ms: chrono::Utc::now().timestamp_millis(),
            ops,
        };
        let (s, v, _) = self
            .post(
                "/api/v1/sync/push",
                Some(token),
                serde_json::to_value(req).unwrap(),
            )
            .await;
        (s, v)
    }

    /// Posts a push body exactly as given (whitespace and escapes as written).
    async fn push_raw(&self, token: &str, body: String) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/sync/push", self.url))
            .header("icc-protocol", "1")
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn pull_all(&self, token: &str) -> PullResponse {
        let mut cursor = 0;
        let mut all: Option<PullResponse> = None;
        loop {
            let (s, v) = self
                .get(
                    &format!("/api/v1/sync/pull?cursor={cursor}&limit=2"),
                    Some(token),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            let page: PullResponse = serde_json::from_value(v).unwrap();
            cursor = page.next_cursor;
            let more = page.more;
            match &mut all {
                None => all = Some(page),
                Some(a) => {
                    a.ops.extend(page.ops);
                    a.conflicts.extend(page.conflicts);
                    a.next_cursor = page.next_cursor;
                }
            }
            if !more {
                return all.unwrap();
            }
        }
    }
}

fn hlc(ms: i64, device: &str) -> Hlc {
    Hlc {
        wall_ms: ms,
        counter: 0,
        device: device.into(),
    }
}

/// The id of the test invoice called `name` (`inv-a`, `inv-7`): a real invoice id (the
/// server checks that a document is the invoice its id says), folio derived from the name.
fn id(name: &str) -> String {
    authority::invoice(folio_of(name), None).0
}

fn folio_of(name: &str) -> u64 {
    name.bytes().fold(1_469_598_103_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
    }) % 900_000_000
        + 1
}

fn op(entity_id: &str, field: &str, value: Value, h: Hlc, base: Option<Hlc>, obra: &str) -> Op {
    let entity_id = if uuid::Uuid::parse_str(entity_id).is_ok() {
        entity_id.to_owned()
    } else {
        id(entity_id)
    };
    // through serde, as the server reads it: a field the wire type gains with a default
    // needs no change here
    serde_json::from_value(json!({
        "op_id": uuid::Uuid::new_v4(),
        "entity": "invoice",
        "entity_id": entity_id,
        "field": field,
        "value": value,
        "hlc": h,
        "base_hlc": base,
        "obra": obra,
    }))
    .unwrap()
}

/// `inv-a` in OB-1 and `inv-b` in OB-2, pushed by `pc1`; returns the clock used.
async fn two_invoices(srv: &TestServer, token: &str) -> i64 {
    let t = now();
    let (s, v) = srv
        .push(
            token,
            "pc1",
            vec![
                doc("inv-a", "OB-1", hlc(t, "pc1"), json!({"glosa": "cemento"})),
                doc(
                    "inv-b",
                    "OB-2",
                    hlc(t + 1, "pc1"),
                    json!({"glosa": "fierro"}),
                ),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    t
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let srv = TestServer::start().await;
    let (access, refresh) = srv.login("admin").await;
    let (s, me) = srv.get("/api/v1/me", Some(&access)).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("admin")));

    let (s, v, _) = srv
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (access2, refresh2) = (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(refresh2, refresh);
    assert_eq!(srv.get("/api/v1/me", Some(&access2)).await.0, 200);
    // the successor is used: the session moved on
    let (s, v) = srv.refresh(&refresh2, false).await;
    assert_eq!(s, 200, "{v}");
    let (access3, refresh3) = (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    );

    // the first refresh token again, after its successor was used: stolen, so the whole
    // family goes
    let (s, v, _) = srv
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("ya se usó"), "{v}");
    assert_eq!(srv.refresh(&refresh3, false).await.0, 401);
    assert_eq!(
        srv.get("/api/v1/me", Some(&access3)).await.0,
        401,
        "the family's access tokens die too"
    );

    // logout revokes
    let (access4, refresh4) = srv.login("admin").await;
    assert_eq!(
        srv.post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": refresh4})
        )
        .await
        .0,
        204
    );
    let (s, v) = srv.get("/api/v1/me", Some(&access4)).await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("cerrada"), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn tampered_expired_and_missing_tokens_are_refused() {
    let srv = TestServer::start().await;
    let (access, _) = srv.login("jefe").await;
    // change the role in the payload, keep the signature
    let parts: Vec<&str> = access.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    let (s, v) = srv.get("/api/v1/me", Some(&forged)).await;
    assert_eq!(s, 401, "{v}");
    // a correctly signed but expired token
    let mut c: icc_server::auth::Claims =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    c.exp = chrono::Utc::now().timestamp() - 1;
    let expired = icc_server::auth::sign(&c, SECRET.as_bytes());
    let (s, v) = srv.get("/api/v1/me", Some(&expired)).await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("venció"), "{v}");
    // signed with another key
    let other = icc_server::auth::sign(&c, b"another-key-entirely-0123456789abcdef");
    assert_eq!(srv.get("/api/v1/me", Some(&other)).await.0, 401);
    assert_eq!(srv.get("/api/v1/me", None).await.0, 401);
    assert!(
        c.exp - c.iat <= 15 * 60,
        "access tokens live at most 15 minutes"
    );
    // a disabled account's token stops working
    icc_server::users::disable(&srv.pool, "jefe").await.unwrap();
    assert_eq!(srv.get("/api/v1/me", Some(&access)).await.0, 401);
    srv.stop().await;
}

#[tokio::test]
async fn brute_force_logins_get_429_with_retry_after() {
    let srv = TestServer::start().await;
    let mut last = 0;
    let mut retry_after = None;
    for _ in 0..12 {
        let (s, _, h) = srv
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "admin", "password": "no-es-la-clave-123"}),
            )
            .await;
        last = s;
        if s == 429 {
            retry_after = h
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            break;
        }
        assert_eq!(s, 401);
    }
    assert_eq!(last, 429);
    assert!(retry_after.is_some_and(|s| s > 0 && s <= 900));
    // even the right password waits now
    let (s, v, _) = srv
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "admin", "password": PW}),
        )
        .await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["code"], "rate_limited");
    // another account from the same address is not locked by these failures
    assert_eq!(srv.login_as("jefe", PW, None, None).await.0, 200);
    // but one address trying many accounts is limited as a whole...
    let mut n = 0;
    loop {
        let (s, _) = srv
            .login_as(&format!("nadie{n}"), "no-es-la-clave-123", None, None)
            .await;
        if s == 429 {
            break;
        }
        assert_eq!(s, 401);
        n += 1;
        assert!(
            n <= icc_server::auth::MAX_ADDRESS_FAILURES,
            "no limit per address"
        );
    }
    icc_server::users::add(&srv.pool, "ana", Role::Contabilidad, &[], PW)
        .await
        .unwrap();
    let (s, _) = srv.login_as("ana", PW, None, None).await;
    assert_eq!(s, 429, "per address");
    // ...except for an account that signed in from this address before
    let (s, v) = srv.login_as("jefe", PW, None, None).await;
    assert_eq!(s, 200, "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn a_site_manager_pushes_and_pulls_only_their_obras() {
    let srv = TestServer::start().await;
    let admin = srv.session("admin", "pc1").await;
    let jefe = srv.session("jefe", "pc2").await;
    let t = two_invoices(&srv, &admin).await;
    let mine = srv.pull_all(&jefe).await;
    assert_eq!(
        mine.ops
            .iter()
            .map(|o| o.op.entity_id.clone())
            .collect::<Vec<_>>(),
        vec![id("inv-a")]
    );
    // another laptop of the admin's (a pull leaves out the puller's own device's ops)
    let (reader, _) = srv.login("admin").await;
    assert_eq!(srv.pull_all(&reader).await.ops.len(), 2);

    // another obra's invoice, one the server does not hold, or moving one out: refused
    // whole (403 for what the account may not do, 409 for what the server does not hold)
    for (bad, status) in [
        (
            vec![
                op(
                    "inv-a",
                    "glosa",
                    json!("x"),
                    hlc(t + 5, "pc2"),
                    None,
                    "OB-1",
                ),
                op(
                    "inv-b",
                    "glosa",
                    json!("robado"),
                    hlc(t + 6, "pc2"),
                    None,
                    "OB-2",
                ),
            ],
            403,
        ),
        (
            vec![op(
                "inv-c",
                "glosa",
                json!("nuevo"),
                hlc(t + 7, "pc2"),
                None,
                "OB-2",
            )],
            409,
        ),
        (
            vec![op(
                "inv-a",
                "obra",
                json!("OB-2"),
                hlc(t + 8, "pc2"),
                None,
                "OB-1",
            )],
            403,
        ),
    ] {
        let (s, v) = srv.push(&jefe, "pc2", bad).await;
        assert_eq!(s, status, "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("no se guardó ningún cambio"),
            "{v}"
        );
    }
    let all = srv.pull_all(&reader).await;
    assert_eq!(all.ops.len(), 2, "nothing of a refused batch was stored");
    srv.stop().await;
}

#[tokio::test]
async fn concurrent_edits_merge_per_field_and_keep_the_loser() {
    let srv = TestServer::start().await;
    let admin = srv.session("admin", "pc1").await;
    // the same account on three more laptops
    let pc2 = srv.session("admin", "pc2").await;
    let pc3 = srv.session("admin", "pc3").await;
    let pc4 = srv.session("admin", "pc4").await;
    let t = now();
    let base = hlc(t, "pc1");
    let first = op(
        "inv-1",
        "glosa",
        json!("original"),
        base.clone(),
        None,
        "OB-1",
    );
    let (s, v) = srv
        .push(
            &admin,
            "pc1",
            vec![
                doc("inv-1", "OB-1", hlc(t - 1, "pc1"), json!({})),
                first.clone(),
                op(
                    "inv-1",
                    "cuenta",
                    json!("5101"),
                    hlc(t + 1, "pc1"),
                    None,
                    "OB-1",
                ),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // a retry of the same batch is harmless
    let (_, v) = srv.push(&admin, "pc1", vec![first.clone()]).await;
    let r: PushResponse = serde_json::from_value(v).unwrap();
    assert_eq!((r.accepted, r.duplicates), (0, 1));

    // two laptops, both having seen `base`: pc2 edits glosa later than pc3; pc3 also edits
    // another field
    let (s, v) = srv
        .push(
            &pc3,
            "pc3",
            vec![
                op(
                    "inv-1",
                    "glosa",
                    json!("de pc3"),
                    hlc(t + 10, "pc3"),
                    Some(base.clone()),
                    "OB-1",
                ),
                op(
                    "inv-1",
                    "centro_costo",
                    json!("CC-9"),
                    hlc(t + 11, "pc3"),
                    None,
                    "OB-1",
                ),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = srv
        .push(
            &pc2,
            "pc2",
            vec![op(
                "inv-1",
                "glosa",
                json!("de pc2"),
                hlc(t + 20, "pc2"),
                Some(base.clone()),
                "OB-1",
            )],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conflicts"], 1);

    let p = srv.pull_all(&admin).await;
    assert_eq!(p.conflicts.len(), 1);
    let c = &p.conflicts[0];
    assert_eq!(
        (c.winner_value.clone(), c.loser_value.clone()),
        (json!("de pc2"), json!("de pc3"))
    );
    let glosa: Value =
        sqlx::query_scalar("SELECT value FROM fields WHERE entity_id = $1 AND field = 'glosa'")
            .bind(id("inv-1"))
            .fetch_one(&srv.pool)
            .await
            .unwrap();
    assert_eq!(glosa, json!("de pc2"));
    let cc: Value = sqlx::query_scalar(
        "SELECT value FROM fields WHERE entity_id = $1 AND field = 'centro_costo'",
    )
    .bind(id("inv-1"))
    .fetch_one(&srv.pool)
    .await
    .unwrap();
    assert_eq!(cc, json!("CC-9"), "a different field survives");

    // an older edit arriving late loses, and is kept as a conflict too
    let (_, v) = srv
        .push(
            &pc4,
            "pc4",
            vec![op(
                "inv-1",
                "glosa",
                json!("tardío"),
                hlc(t + 5, "pc4"),
                Some(base),
                "OB-1",
            )],
        )
        .await;
    assert_eq!(v["conflicts"], 1);
    let p2 = srv.pull_all(&admin).await;
    assert_eq!(p2.conflicts.len(), 2);
    assert!(
        p2.conflicts
            .iter()
            .any(|c| c.loser_value == json!("tardío") && c.winner_value == json!("de pc2"))
    );

    // resolving is pulled like any change
    let cursor = p2.next_cursor;
    let (s, _, _) = srv
        .post(
            &format!("/api/v1/conflicts/{}/resolve", c.id),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(s, 204);
    let (_, v) = srv
        .get(&format!("/api/v1/sync/pull?cursor={cursor}"), Some(&admin))
        .await;
    let after: PullResponse = serde_json::from_value(v).unwrap();
    assert_eq!(after.conflicts.len(), 1);
    assert_eq!(after.conflicts[0].resolved_by.as_deref(), Some("admin"));
    srv.stop().await;
}

#[tokio::test]
async fn old_clients_and_skewed_clocks_get_clear_answers() {
    let srv = TestServer::start().await;
    let (admin, _) = srv.login("admin").await;
    let resp = srv
        .http
        .get(format!("{}/api/v1/sync/pull", srv.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 426);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "client_outdated");
    assert!(v["message"].as_str().unwrap().contains("actualícela"));
    let req: PushRequest = PushRequest {
        device_id: "pc1".into(),
        sent_at_ms: now() - 3_600_000,
        ops: vec![],
    };
    let (s, v, _) = srv
        .post(
            "/api/v1/sync/push",
            Some(&admin),
            serde_json::to_value(req).unwrap(),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("clock_skew")));
    assert!(v["message"].as_str().unwrap().contains("60 minutos"), "{v}");
    // any number a client sends is a skew, never an overflow
    for sent_at_ms in [i64::MIN, i64::MAX] {
        let (s, v, _) = srv
            .post(
                "/api/v1/sync/push",
                Some(&admin),
                json!({"device_id": "pc1", "sent_at_ms": sent_at_ms, "ops": []}),
            )
            .await;
        assert_eq!((s, v["code"].as_str()), (400, Some("clock_skew")), "{v}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn health_ready_metrics_and_the_api_document() {
    let srv = TestServer::start_with(|c| {
        c.metrics_token = Some(icc_server::config::SecretString::new(METRICS_TOKEN));
    })
    .await;
    assert_eq!(srv.get("/health", None).await.0, 200);
    let (s, v) = srv.get("/ready", None).await;
    assert_eq!((s, v["migrations"].as_bool()), (200, Some(true)));
    srv.login("admin").await;
    let (s, text) = srv.metrics(Some(METRICS_TOKEN)).await;
    assert_eq!(s, 200);
    let text = text.as_str();
    assert!(
        text.contains(
            "icc_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("icc_db_pool_connections"));
    let (s, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/sync/push"]["post"].is_object());
    let (s, page) = srv.get("/api/v1/docs", None).await;
    assert_eq!(s, 200);
    assert!(
        page.as_str().unwrap().contains("openapi.json")
            && !page.as_str().unwrap().contains("https://"),
        "no CDN"
    );
    // every response carries a request id
    let resp = srv
        .http
        .get(format!("{}/health", srv.url))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    srv.stop().await;
}

#[test]
fn the_binary_refuses_to_start_without_a_strong_secret_and_manages_users() {
    let bin = env!("CARGO_BIN_EXE_icc-server");
    let run = |envs: &[(&str, &str)], args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = std::process::Command::new(bin)
            .args(args)
            .env_clear()
            .envs(envs.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = format!("icc_test_{}", uuid::Uuid::new_v4().simple());
    rt.block_on(async {
        let admin = PgPool::connect(&base_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .unwrap();
    });
    let url = db_url(&db);
    let out = run(&[("DATABASE_URL", &url)], &["serve"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("falta ICC_SERVER_SECRET"), "{err}");
    let out = run(
        &[("DATABASE_URL", &url), ("ICC_SERVER_SECRET", "changeme")],
        &["serve"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ICC_SERVER_SECRET"));
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("ICC_SERVER_SECRET", SECRET),
    ];
    let out = run(
        &env,
        &[
            "user",
            "add",
            "ana",
            "--role",
            "contabilidad",
            "--password-stdin",
        ],
        "corta\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("contraseña rechazada"));
    let out = run(
        &env,
        &[
            "user",
            "add",
            "ana",
            "--role",
            "contabilidad",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &env,
        &[
            "user",
            "add",
            "obra",
            "--role",
            "admin_obra",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--obras"));
    let out = run(&env, &["user", "list", "--json"], "");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["username"], "ana");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("argon2"),
        "no hashes printed"
    );
    let out = run(
        &env,
        &[
            "user",
            "set",
            "ana",
            "--role",
            "admin_obra",
            "--obras",
            "ob-1,ob-3",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OB-1,OB-3"));
    let out = run(&env, &["user", "set", "ana", "--role", "jefe"], "");
    assert_eq!(out.status.code(), Some(1));
    let out = run(&env, &["user", "list", "--json"], "");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&list[0]["role"], &list[0]["obras"]),
        (&json!("admin_obra"), &json!(["OB-1", "OB-3"]))
    );
    let out = run(&env, &["user", "disable", "ana"], "");
    assert!(out.status.success());
    rt.block_on(async {
        let admin = PgPool::connect(&base_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
    });
}

#[tokio::test]
async fn native_tls_serves_https_with_the_given_certificate() {
    let dir = std::env::temp_dir().join(format!("icc-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    // a throwaway CA and a server certificate for 127.0.0.1 signed by it
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=icc-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext",
        "-out",
        "cert.pem",
    ]);
    let db = format!("icc_test_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&base_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_icc-server"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", db_url(&db))
        .env("ICC_SERVER_SECRET", SECRET)
        .env("ICC_BIND", format!("127.0.0.1:{port}"))
        .env("ICC_TLS_CERT", &cert)
        .env("ICC_TLS_KEY", &key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let mut status = None;
    let mut last_err = String::new();
    for _ in 0..100 {
        match https
            .get(format!("https://127.0.0.1:{port}/health"))
            .send()
            .await
        {
            Ok(r) => {
                status = Some(r.status().as_u16());
                break;
            }
            Err(e) => last_err = format!("{e:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/health")).await;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        status,
        Some(200),
        "https: {last_err}; server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "no plain HTTP on the TLS port"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    std::fs::remove_dir_all(dir).ok();
}

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/backup")
        .join(name)
}

#[tokio::test]
async fn the_backup_and_restore_scripts_round_trip_the_database() {
    let srv = TestServer::start().await;
    let admin = srv.session("admin", "pc1").await;
    let t = two_invoices(&srv, &admin).await;
    let (s, v) = srv
        .push(
            &admin,
            "pc1",
            vec![op(
                "inv-a",
                "cuenta",
                json!("5101"),
                hlc(t + 2, "pc1"),
                None,
                "OB-1",
            )],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let dir = std::env::temp_dir().join(format!("icc-pgdump-{}", uuid::Uuid::new_v4().simple()));
    let out = std::process::Command::new("bash")
        .arg(script("backup.sh"))
        .env("DATABASE_URL", db_url(&srv.t.db))
        .env("BACKUP_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dumps: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    assert!(dumps[0].starts_with("icc-") && dumps[0].ends_with(".dump"));

    // restore into an empty database and compare the content
    let copy = format!("icc_test_{}", uuid::Uuid::new_v4().simple());
    let root = PgPool::connect(&base_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {copy}")))
        .execute(&root)
        .await
        .unwrap();
    let out = std::process::Command::new("bash")
        .arg(script("restore.sh"))
        .arg(dir.join(&dumps[0]))
        .env("DATABASE_URL", db_url(&copy))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = PgPool::connect(&db_url(&copy)).await.unwrap();
    for q in [
        "SELECT string_agg(username || role || disabled::text, ',' ORDER BY username) FROM users",
        "SELECT string_agg(op_id::text || field || value::text || hlc, ',' ORDER BY seq) FROM ops",
        "SELECT string_agg(entity_id || field || value::text, ',' ORDER BY entity_id, field) FROM fields",
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM _sqlx_migrations",
    ] {
        let a: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&srv.pool)
            .await
            .unwrap();
        let b: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&restored)
            .await
            .unwrap();
        assert!(a.is_some());
        assert_eq!(a, b, "{q}");
    }
    restored.close().await;
    // a damaged file is refused and changes nothing
    let bad = dir.join("roto.dump");
    std::fs::write(&bad, b"esto no es un respaldo").unwrap();
    let out = std::process::Command::new("bash")
        .arg(script("restore.sh"))
        .arg(&bad)
        .env("DATABASE_URL", db_url(&copy))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no se cambió nada"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {copy} WITH (FORCE)"
    )))
    .execute(&root)
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    srv.stop().await;
}

#[test]
fn the_backup_script_rotates_like_the_laptops() {
    let dir = std::env::temp_dir().join(format!("icc-rot-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    // 400 days of nightly dumps, two on the newest day
    let newest = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    for back in 0..400u64 {
        let d = newest - chrono::Days::new(back);
        std::fs::write(
            dir.join(format!("icc-{}-030000.dump", d.format("%Y%m%d"))),
            b"x",
        )
        .unwrap();
    }
    std::fs::write(dir.join("icc-20261128-150000.dump"), b"x").unwrap();
    std::fs::write(dir.join("notas.txt"), b"no es un respaldo").unwrap();
    let out = std::process::Command::new("bash")
        .arg(script("backup.sh"))
        .arg("--rotate-only")
        .env("BACKUP_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut kept: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".dump"))
        .collect();
    kept.sort();
    // the newest of each of 7 days, 4 ISO weeks and 12 months (overlapping)
    let mut want = std::collections::BTreeSet::new();
    want.insert("icc-20261128-150000.dump".to_owned());
    for back in 1..7u64 {
        want.insert(format!(
            "icc-{}-030000.dump",
            (newest - chrono::Days::new(back)).format("%Y%m%d")
        ));
    }
    // weeks: the newest day of each of the last 4 ISO weeks (Sundays before the current week)
    for sunday in ["20261122", "20261115", "20261108"] {
        want.insert(format!("icc-{sunday}-030000.dump"));
    }
    // months: the last day of each earlier month, back to December 2025
    for m in [
        "20261031", "20260930", "20260831", "20260731", "20260630", "20260531", "20260430",
        "20260331", "20260228", "20260131", "20251231",
    ] {
        want.insert(format!("icc-{m}-030000.dump"));
    }
    assert_eq!(kept, want.into_iter().collect::<Vec<_>>());
    assert!(dir.join("notas.txt").exists(), "other files are left alone");
    std::fs::remove_dir_all(&dir).ok();
}

/// The `server` service of deploy/docker-compose.yml: its command and environment.
fn compose_server() -> (Vec<String>, Vec<(String, String)>) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/docker-compose.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let server = &docs[0]["services"]["server"];
    let command = server["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let env = server["environment"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                yaml_rust2::Yaml::String(s) => s.clone(),
                yaml_rust2::Yaml::Integer(i) => i.to_string(),
                other => panic!("unexpected value {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), v)
        })
        .collect();
    // every secret the service reads is declared
    let secrets: Vec<&str> = server["secrets"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(secrets, ["db_password", "icc_server_secret"]);
    (command, env)
}

/// The compose file's server environment, run here: the same variables and values, with
/// the two things a container gives differently mapped to this machine (the `db` host is
/// the local PostgreSQL, `/run/secrets/*` are files in a temporary folder, the port is a
/// free one).
#[tokio::test]
async fn the_server_runs_with_exactly_the_compose_files_environment() {
    let (command, env) = compose_server();
    assert_eq!(command, ["serve"]);
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "DATABASE_URL",
        "DATABASE_PASSWORD_FILE",
        "ICC_SERVER_SECRET_FILE",
        "ICC_BIND",
        "ICC_TRUSTED_PROXIES",
        "ICC_METRICS_BIND",
    ] {
        assert!(keys.contains(&k), "compose sets {k}");
    }
    assert!(
        !keys
            .iter()
            .any(|k| *k == "ICC_SERVER_SECRET" || *k == "DATABASE_PASSWORD"),
        "no secret inline"
    );

    // a role with a password and its own database, as the postgres image creates them
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (role, db) = (
        format!("icc_compose_{}", &id[..12]),
        format!("icc_compose_{}", &id[..12]),
    );
    let password = format!("pw-{id}");
    let admin = PgPool::connect(&base_url()).await.unwrap();
    for sql in [
        format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
        format!("CREATE DATABASE {db} OWNER {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    let secrets = tempfile_dir();
    std::fs::write(secrets.join("db_password"), &password).unwrap();
    std::fs::write(secrets.join("icc_server_secret"), SECRET).unwrap();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics_port) = (free_port(), free_port());
    let host = base_url()
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(h, _)| h.to_owned())
        .unwrap();
    let here: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace("@db:5432/icc", &format!("@{host}/{db}"))
                .replace("postgres://icc@", &format!("postgres://{role}@"))
                .replace("/run/secrets", &secrets.display().to_string())
                .replace("0.0.0.0:8787", &format!("0.0.0.0:{port}"))
                .replace("0.0.0.0:9787", &format!("0.0.0.0:{metrics_port}"));
            (k.clone(), v)
        })
        .collect();
    let bin = env!("CARGO_BIN_EXE_icc-server");
    let mut child = std::process::Command::new(bin)
        .args(&command)
        .env_clear()
        .envs(here.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/ready")).await {
            ready = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // metrics on their own port only
    let public_metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .map(|r| r.status().as_u16());
    let metrics = match reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    };
    // the image's HEALTHCHECK, with the same environment
    let health = std::process::Command::new(bin)
        .arg("healthcheck")
        .env_clear()
        .envs(here.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    // SIGTERM, as docker stop sends: a clean exit
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            stopped = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if stopped.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        ready,
        Some(200),
        "server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        public_metrics.ok(),
        Some(404),
        "no /metrics on the public port"
    );
    assert_eq!(metrics.0, 200, "{}", metrics.1);
    assert!(
        metrics.1.contains("icc_password_hashes_peak"),
        "{}",
        metrics.1
    );
    assert!(
        health.status.success(),
        "healthcheck: {}",
        String::from_utf8_lossy(&health.stderr)
    );
    assert!(
        stopped.is_some_and(|s| s.success()),
        "SIGTERM stops it cleanly"
    );
    // JSON logs with the request, and no secret in them
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("/ready")),
        "{logs}"
    );
    assert!(!logs.contains(&password) && !logs.contains(SECRET));
    // the healthcheck fails when nothing listens
    let down = std::process::Command::new(bin)
        .arg("healthcheck")
        .env_clear()
        .env("ICC_BIND", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!down.status.success());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&admin)
        .await
        .unwrap();
    std::fs::remove_dir_all(secrets).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("icc-secrets-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The whole document of the test invoice `name` in `obra`, with `extra` members set.
fn doc(name: &str, obra: &str, h: Hlc, extra: Value) -> Op {
    let (id, mut value) = authority::invoice(folio_of(name), Some(obra));
    if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
        v.extend(e.clone());
    }
    op(&id, "_doc", value, h, None, obra)
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_full_batch_of_documents_is_stored_once_exactly_as_sent() {
    let srv = TestServer::start().await;
    let token = srv.session("admin", "pc1").await;
    let t = now();
    // 5,000 documents of ~1.3 KB: over axum's default 2 MB body limit
    let long = "hormigón premezclado H-30 «grado» \\ \"comillas\" \t tab ñandú ".repeat(20);
    let mut ops: Vec<Op> = (0..4_999)
        .map(|i| {
            doc(
                &format!("inv-{i}"),
                "OB-1",
                Hlc {
                    wall_ms: t,
                    counter: i,
                    device: "pc1".into(),
                },
                json!({"glosa": format!("{long}{i}"), "nested": {"a": [1, "\\n", null]}}),
            )
        })
        .collect();
    ops.push(ops[0].clone()); // the same op twice in one batch
    let (s, v) = srv.push(&token, "pc1", ops.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(4_999), Some(1))
    );
    // a retried push stores nothing again
    let (s, v) = srv.push(&token, "pc1", ops.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(5_000))
    );
    assert_eq!(count(&srv.pool, "SELECT COUNT(*) FROM ops").await, 4_999);
    assert_eq!(
        count(
            &srv.pool,
            "SELECT COUNT(*) FROM entity_obras WHERE obra = 'OB-1'"
        )
        .await,
        4_999
    );

    // JSON with whitespace between tokens (raw tab, newline, CR) goes through COPY intact
    let op_id = uuid::Uuid::new_v4();
    let (ws_id, mut ws_doc) = authority::invoice(folio_of("inv-ws"), Some("OB-1"));
    let members = ws_doc.as_object_mut().unwrap();
    members.remove("glosa");
    members.remove("obra");
    let rest = serde_json::to_string(&ws_doc).unwrap();
    let body = format!(
        "{{\"device_id\":\"pc1\",\"sent_at_ms\":{t},\"ops\":[{{\"op_id\":\"{op_id}\",\"entity\":\"invoice\",\
         \"entity_id\":\"{ws_id}\",\"field\":\"_doc\",\"value\":{{\n\t\"obra\" :\r\n \"OB-1\",\t\"glosa\": \"a\\\\b\\tc\",\n{}}},\
         \"hlc\":\"{}\",\"base_hlc\":null,\"obra\":\"OB-1\"}}]}}",
        &rest[1..rest.len() - 1],
        hlc(t + 1, "pc1")
    );
    let (s, v) = srv.push_raw(&token, body).await;
    assert_eq!(s, 200, "{v}");

    let (reader, _) = srv.login("admin").await;
    let pulled = srv.pull_all(&reader).await;
    assert_eq!(pulled.ops.len(), 5_000);
    for (sent, got) in ops[..4_999].iter().zip(&pulled.ops) {
        assert_eq!(&got.op, sent, "pulled as pushed, in order");
    }
    let ws = &pulled.ops[4_999].op;
    let mut expected = authority::invoice(folio_of("inv-ws"), Some("OB-1")).1;
    expected["glosa"] = json!("a\\b\tc");
    assert_eq!(ws.value, expected);
    srv.stop().await;
}

#[tokio::test]
async fn a_document_that_cannot_be_stored_refuses_the_whole_batch_naming_it() {
    let srv = TestServer::start().await;
    let token = srv.session("admin", "pc1").await;
    let t = now();
    let good = doc("inv-1", "OB-1", hlc(t, "pc1"), json!({}));
    let nul = doc(
        "inv-2",
        "OB-1",
        hlc(t + 1, "pc1"),
        json!({"glosa": "a\u{0}b"}),
    );
    let (s, v) = srv
        .push(&token, "pc1", vec![good.clone(), nul.clone()])
        .await;
    assert_eq!(s, 400, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains(&nul.op_id.to_string()) && m.contains("no se guardó"),
        "{m}"
    );

    let mut list = good.clone();
    list.value = json!([1, 2]);
    let mut numeric_obra = good.clone();
    numeric_obra.value = json!({"obra": 5});
    let mut control_id = good.clone();
    control_id.entity_id = "inv\u{0}1".into();
    for bad in [list, numeric_obra, control_id] {
        let (s, v) = srv
            .push(&token, "pc1", vec![good.clone(), bad.clone()])
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains(&bad.op_id.to_string()),
            "{v}"
        );
    }
    assert_eq!(
        count(&srv.pool, "SELECT COUNT(*) FROM ops").await,
        0,
        "nothing stored"
    );
    assert_eq!(
        count(&srv.pool, "SELECT COUNT(*) FROM entity_obras").await,
        0
    );
    srv.stop().await;
}

#[tokio::test]
async fn an_entity_has_the_obra_of_its_newest_document_unless_an_edit_moved_it() {
    let srv = TestServer::start().await;
    let token = srv.session("admin", "pc1").await;
    let (jefe, _) = srv.login("jefe").await;
    let t = now();
    let obra = |pool: PgPool| async move {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT obra FROM entity_obras WHERE entity = 'invoice' AND entity_id = $1",
        )
        .bind(id("inv-x"))
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let x = id("inv-x");
    let sees = |r: PullResponse| r.ops.iter().any(|o| o.op.entity_id == x);
    let push = |ops: Vec<Op>| {
        let (srv, token) = (&srv, token.clone());
        async move {
            let (s, v) = srv.push(&token, "pc1", ops).await;
            assert_eq!(s, 200, "{v}");
        }
    };

    push(vec![doc("inv-x", "OB-2", hlc(t + 10, "pc1"), json!({}))]).await;
    assert_eq!(obra(srv.pool.clone()).await.as_deref(), Some("OB-2"));
    assert!(
        !sees(srv.pull_all(&jefe).await),
        "OB-2 is not the site manager's"
    );
    // an older document (another laptop imported it earlier) changes nothing
    push(vec![doc("inv-x", "OB-1", hlc(t, "pc1"), json!({}))]).await;
    assert_eq!(obra(srv.pool.clone()).await.as_deref(), Some("OB-2"));
    // a newer one moves it; two in one batch: the newest counts
    push(vec![
        doc("inv-x", "OB-3", hlc(t + 21, "pc1"), json!({})),
        doc("inv-x", "OB-1", hlc(t + 20, "pc1"), json!({})),
    ])
    .await;
    assert_eq!(obra(srv.pool.clone()).await.as_deref(), Some("OB-3"));
    push(vec![doc("inv-x", "OB-1", hlc(t + 22, "pc1"), json!({}))]).await;
    assert_eq!(obra(srv.pool.clone()).await.as_deref(), Some("OB-1"));
    assert!(sees(srv.pull_all(&jefe).await));
    // an edit of the obra beats every document, even newer ones
    push(vec![op(
        "inv-x",
        "obra",
        json!("OB-2"),
        hlc(t + 30, "pc1"),
        None,
        "OB-1",
    )])
    .await;
    push(vec![doc("inv-x", "OB-1", hlc(t + 40, "pc1"), json!({}))]).await;
    assert_eq!(obra(srv.pool.clone()).await.as_deref(), Some("OB-2"));
    assert!(!sees(srv.pull_all(&jefe).await));
    srv.stop().await;
}

#[tokio::test]
async fn metrics_need_their_token_and_unknown_methods_add_no_label() {
    // neither a token nor a listener of their own: not served on the public listener
    let open = TestServer::start().await;
    assert_eq!(open.metrics(None).await.0, 404);
    open.stop().await;

    let srv = TestServer::start_with(|c| {
        c.metrics_token = Some(icc_server::config::SecretString::new(METRICS_TOKEN));
    })
    .await;
    let (s, body) = srv.metrics(None).await;
    assert_eq!(s, 401);
    assert!(body.contains("ICC_METRICS_TOKEN"), "{body}");
    assert_eq!(
        srv.metrics(Some("metricas-de-prueba-012345678")).await.0,
        401
    );
    for (method, path) in [
        ("BREW", "/health"),
        ("PROPFIND", "/api/v1/me"),
        ("X-INVENTADO-1", "/no/existe/123"),
        ("X-INVENTADO-2", "/api/v1/no-existe-456"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        srv.http
            .request(m, format!("{}{path}", srv.url))
            .send()
            .await
            .unwrap();
    }
    let (s, text) = srv.metrics(Some(METRICS_TOKEN)).await;
    assert_eq!(s, 200);
    // (in the labels: a duration's value may well contain the digits 123)
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('{').and_then(|(_, r)| r.split_once('}')))
        .map(|(labels, _)| labels)
        .collect();
    for unbounded in ["BREW", "PROPFIND", "INVENTADO", "123", "456"] {
        assert!(
            !labels.iter().any(|l| l.contains(unbounded)),
            "{unbounded} in\n{text}"
        );
    }
    assert!(text.contains("method=\"OTHER\""), "{text}");
    srv.stop().await;
}

/// The value of a metric line `NAME VALUE` in a Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A login server behind one trusted proxy, hashing two passwords at most at once, with
/// metrics behind a token.
async fn behind_a_proxy() -> TestServer {
    TestServer::start_with(|c| {
        c.trusted_proxies = 1;
        c.hash_concurrency = 2;
        c.metrics_token = Some(icc_server::config::SecretString::new(METRICS_TOKEN));
    })
    .await
}

#[tokio::test]
async fn parallel_wrong_passwords_are_counted_at_once_and_hashed_two_at_a_time() {
    let srv = behind_a_proxy().await;
    // the leftmost entry is the client's to forge; the proxy appended the real one
    let from = "198.51.100.250, 203.0.113.7";
    let tries: Vec<_> = (0..20)
        .map(|_| srv.login_as("admin", "no-es-la-clave-123", Some(from), None))
        .collect();
    let results = futures_util::future::join_all(tries).await;
    let status: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    let refused = |code| status.iter().filter(|s| **s == code).count();
    assert_eq!(
        (refused(401), refused(429)),
        (icc_server::auth::MAX_FAILURES as usize, 20 - 10),
        "{status:?}"
    );
    // every attempt counted once, on the real address; nothing on the forged one
    let counted: i32 = sqlx::query_scalar("SELECT failures FROM login_failures WHERE key = $1")
        .bind("acct:admin@203.0.113.7")
        .fetch_one(&srv.pool)
        .await
        .unwrap();
    assert_eq!(counted, 20);
    let forged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE key LIKE '%198.51.100.250%'")
            .fetch_one(&srv.pool)
            .await
            .unwrap();
    assert_eq!(
        forged, 0,
        "the leftmost X-Forwarded-For entry is never the address"
    );
    // only the attempts under the limit were hashed, never more than two at once
    let (s, text) = srv.metrics(Some(METRICS_TOKEN)).await;
    assert_eq!(s, 200, "{text}");
    let peak = metric(&text, "icc_password_hashes_peak").unwrap();
    assert!((1..=2).contains(&peak), "peak {peak}\n{text}");
    assert_eq!(
        metric(&text, "icc_password_hashes_total"),
        Some(10),
        "{text}"
    );

    // the right password from that address waits, even with the other address forged
    // to the left
    for xff in ["203.0.113.7", "198.51.100.9, 203.0.113.7"] {
        let (s, v) = srv.login_as("admin", PW, Some(xff), None).await;
        assert_eq!(s, 429, "{xff}: {v}");
    }
    // from another address it gets in
    let (s, v) = srv.login_as("admin", PW, Some("198.51.100.9"), None).await;
    assert_eq!(s, 200, "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn failures_from_everywhere_never_lock_an_account_out_of_its_known_address() {
    let srv = behind_a_proxy().await;
    let home = "192.0.2.10";
    assert_eq!(srv.login_as("admin", PW, Some(home), None).await.0, 200);
    // MAX_ACCOUNT_FAILURES wrong passwords spread over addresses, none over its own limit
    let per_address = icc_server::auth::MAX_FAILURES;
    let addresses = icc_server::auth::MAX_ACCOUNT_FAILURES / per_address + 1;
    let waves = (0..addresses).map(|a| {
        let srv = &srv;
        async move {
            let xff = format!("203.0.113.{a}");
            for _ in 0..per_address {
                srv.login_as("admin", "no-es-la-clave-123", Some(&xff), None)
                    .await;
            }
        }
    });
    futures_util::future::join_all(waves).await;
    // a new address is refused even with the right password...
    let (s, v) = srv.login_as("admin", PW, Some("198.51.100.77"), None).await;
    assert_eq!(s, 429, "{v}");
    // ...the address it signed in from before is not
    let (s, v) = srv.login_as("admin", PW, Some(home), None).await;
    assert_eq!(s, 200, "{v}");
    srv.stop().await;
}

/// The claims inside an access token (not verified: the server did that).
fn claims_of(access: &str) -> Value {
    use base64::Engine;
    let payload = access.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn device_ids_are_issued_kept_per_account_and_renewed_on_request() {
    let srv = TestServer::start().await;
    let device = |v: &Value| v["device_id"].as_str().unwrap().to_owned();
    let (s, v) = srv.login_as("admin", PW, None, None).await;
    assert_eq!(s, 200, "{v}");
    let d1 = device(&v);
    assert!(icc_server::auth::valid_device_id(&d1), "{d1}");
    assert_eq!(
        claims_of(v["access_token"].as_str().unwrap())["dev"],
        json!(d1)
    );
    // the same account presenting it keeps it
    let (_, v) = srv.login_as("admin", PW, None, Some(&d1)).await;
    assert_eq!(device(&v), d1);
    // another account never gets it
    let (_, v) = srv.login_as("jefe", PW, None, Some(&d1)).await;
    let jefe_device = device(&v);
    assert_ne!(jefe_device, d1);
    // a free id the laptop made is bound to the first account presenting it
    let (_, v) = srv.login_as("jefe", PW, None, Some("equipo_obra_1")).await;
    assert_eq!(device(&v), "equipo_obra_1");
    let (_, v) = srv.login_as("admin", PW, None, Some("equipo_obra_1")).await;
    assert_ne!(device(&v), "equipo_obra_1");
    // an id that cannot end a clock is replaced
    let (_, v) = srv.login_as("admin", PW, None, Some("con-guion")).await;
    assert!(icc_server::auth::valid_device_id(&device(&v)));

    let mine = icc_server::auth::user_devices(
        &srv.pool,
        "ADMIN",
        &[
            d1.clone(),
            jefe_device.clone(),
            "equipo_obra_1".into(),
            "nada".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(mine, std::slice::from_ref(&d1));
    assert!(
        !icc_server::auth::device_is_free(&srv.pool, &d1)
            .await
            .unwrap()
    );
    assert!(
        icc_server::auth::device_is_free(&srv.pool, "nada")
            .await
            .unwrap()
    );

    // after a restore the laptop asks for a new id: the family keeps it from then on, and
    // the old one stays the account's
    let (_, v) = srv.login_as("admin", PW, None, Some(&d1)).await;
    let (s, v) = srv
        .refresh(v["refresh_token"].as_str().unwrap(), true)
        .await;
    assert_eq!(s, 200, "{v}");
    let d3 = device(&v);
    assert_ne!(d3, d1);
    assert_eq!(
        claims_of(v["access_token"].as_str().unwrap())["dev"],
        json!(d3)
    );
    let (s, v) = srv
        .refresh(v["refresh_token"].as_str().unwrap(), false)
        .await;
    assert_eq!((s, device(&v)), (200, d3.clone()));
    let mut mine = icc_server::auth::user_devices(&srv.pool, "admin", &[d1.clone(), d3.clone()])
        .await
        .unwrap();
    mine.sort();
    let mut want = vec![d1, d3];
    want.sort();
    assert_eq!(mine, want);
    srv.stop().await;
}

#[tokio::test]
async fn a_role_or_obra_change_applies_to_tokens_already_issued() {
    let srv = TestServer::start().await;
    let (access, _) = srv.login("jefe").await;
    let (_, me) = srv.get("/api/v1/me", Some(&access)).await;
    assert_eq!(me["obras"], json!(["OB-1"]));
    let set = |role: Option<Role>, obras: Option<Vec<String>>| {
        let pool = srv.pool.clone();
        async move { icc_server::users::set(&pool, "jefe", role, obras.as_deref()).await }
    };
    let u = set(None, Some(vec![" ob-2 ".into()])).await.unwrap();
    assert_eq!(
        (u.role.as_str(), u.obras.clone()),
        ("admin_obra", vec!["OB-2".to_owned()])
    );
    let (_, me) = srv.get("/api/v1/me", Some(&access)).await;
    assert_eq!(me["obras"], json!(["OB-2"]));
    // what IT may not leave behind: a site manager without obras, obras on another role,
    // an empty change, an unknown account
    for (role, obras, says) in [
        (None, Some(vec![]), "--obras"),
        (
            Some(Role::Gerente),
            Some(vec!["OB-1".into()]),
            "solo un administrador de obra",
        ),
        (None, None, "indique qué cambiar"),
    ] {
        let e = set(role, obras).await.unwrap_err();
        assert!(e.contains(says), "{e}");
    }
    let e = icc_server::users::set(&srv.pool, "nadie", Some(Role::Gerente), None)
        .await
        .unwrap_err();
    assert!(e.contains("no existe"), "{e}");
    let (_, me) = srv.get("/api/v1/me", Some(&access)).await;
    assert_eq!(
        me["obras"],
        json!(["OB-2"]),
        "a refused change changes nothing"
    );
    // a new role drops the obras
    let u = set(Some(Role::Contabilidad), None).await.unwrap();
    assert!(u.obras.is_empty());
    let (_, me) = srv.get("/api/v1/me", Some(&access)).await;
    assert_eq!(
        (me["role"].as_str(), &me["obras"]),
        (Some("contabilidad"), &json!([]))
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_can_be_repeated_within_the_grace() {
    let srv = TestServer::start().await;
    let token = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();
    let (_, v) = srv.login_as("admin", PW, None, None).await;
    let (device, r0) = (token(&v, "device_id"), token(&v, "refresh_token"));
    let (s, v) = srv.refresh(&r0, false).await;
    assert_eq!(s, 200, "{v}");
    let lost = token(&v, "refresh_token");
    // the answer never arrived: the laptop presents r0 again
    let (s, v) = srv.refresh(&r0, false).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(token(&v, "device_id"), device, "same family, same device");
    assert_ne!(token(&v, "refresh_token"), lost);
    let access = token(&v, "access_token");
    assert_eq!(srv.get("/api/v1/me", Some(&access)).await.0, 200);
    // the session goes on
    let (s, v) = srv.refresh(&token(&v, "refresh_token"), false).await;
    assert_eq!(s, 200, "{v}");
    let (access, next) = (token(&v, "access_token"), token(&v, "refresh_token"));
    assert_eq!(srv.get("/api/v1/me", Some(&access)).await.0, 200);
    // the withdrawn successor no longer works; someone holding it had a copy, so the
    // family is closed
    let (s, v) = srv.refresh(&lost, false).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(srv.refresh(&next, false).await.0, 401);

    // after the grace, a second presentation is a copy even with the successor unused
    let (_, v) = srv.login_as("admin", PW, None, None).await;
    let (r0, access0) = (token(&v, "refresh_token"), token(&v, "access_token"));
    let (_, v) = srv.refresh(&r0, false).await;
    let successor = token(&v, "refresh_token");
    let family = claims_of(&access0)["fam"].as_str().unwrap().to_owned();
    sqlx::query(
        "UPDATE refresh_tokens SET used_at = now() - make_interval(secs => $2) \
         WHERE family = $1::uuid AND used_at IS NOT NULL",
    )
    .bind(&family)
    .bind(icc_server::auth::REFRESH_GRACE.as_secs_f64() + 1.0)
    .execute(&srv.pool)
    .await
    .unwrap();
    assert_eq!(srv.refresh(&r0, false).await.0, 401);
    assert_eq!(
        srv.refresh(&successor, false).await.0,
        401,
        "family revoked"
    );
    srv.stop().await;
}

#[path = "server/authority.rs"]
mod authority;
#[path = "server/records.rs"]
mod records;

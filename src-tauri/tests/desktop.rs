//! The desktop's commands called directly: a hidden button is only a courtesy, the refusal
//! happens in Rust; the lock holds until the same user's password is given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use icc_app::ListFilter;
use icc_desktop::Desktop;
use icc_desktop::desktop::{Assignment, ExportRequest, ImportRequest};

const ADMIN_PW: &str = "caballo correcto batería grapa";
const SITE_PW: &str = "Quilicura-Andamio-Losa-77";

async fn desktop(lock: Duration) -> (tempfile::TempDir, Desktop) {
    let dir = tempfile::tempdir().unwrap();
    let d = Desktop::open(dir.path(), lock, false).await.unwrap();
    (dir, d)
}

#[tokio::test]
async fn first_run_has_no_account_and_creates_the_administrator() {
    let (_dir, d) = desktop(Duration::from_secs(600)).await;
    let st = d.status().await.unwrap();
    assert!(!st.initialized);
    assert!(st.session.is_none());
    assert_eq!(
        d.login("admin", "admin").await.unwrap_err().code,
        "not_initialized"
    );
    assert_eq!(
        d.init_admin("admin", "admin12345").await.unwrap_err().code,
        "weak_password"
    );
    let s = d.init_admin("admin", ADMIN_PW).await.unwrap();
    assert_eq!(s.role_label, "Administrador");
    assert!(s.permissions.iter().any(|p| p == "manage_users"));
    let st = d.status().await.unwrap();
    assert!(st.initialized && !st.locked);
    assert_eq!(st.session.unwrap().username, "admin");
}

#[tokio::test]
async fn commands_refuse_what_the_role_may_not_do() {
    let (dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.add_obra("OB-1", "Edificio Uno").await.unwrap();
    d.add_user("jperez", "admin_obra", &["OB-1".into()], SITE_PW)
        .await
        .unwrap();
    d.logout();
    assert_eq!(
        d.list_invoices(&ListFilter::default(), 50, None)
            .await
            .unwrap_err()
            .code,
        "not_signed_in"
    );
    let s = d.login("jperez", SITE_PW).await.unwrap();
    assert!(
        !s.permissions
            .iter()
            .any(|p| p == "import" || p == "manage_users")
    );
    // what the UI hides, the commands refuse
    assert_eq!(d.list_users().await.unwrap_err().code, "forbidden");
    assert_eq!(
        d.add_user("otro", "admin", &[], SITE_PW)
            .await
            .unwrap_err()
            .code,
        "forbidden"
    );
    let req = ImportRequest {
        paths: vec![dir.path().join("x.csv").display().to_string()],
        dry_run: true,
        update_duplicates: false,
        sheet: None,
        mapping: None,
        profile: None,
        save_profile: None,
        crear_obras: None,
    };
    assert_eq!(
        d.import("j1", &req, &|_| {}).await.unwrap_err().code,
        "forbidden"
    );
    let other = ListFilter {
        obra: Some("OB-2".into()),
        ..Default::default()
    };
    let out = dir.path().join("x.xlsx").display().to_string();
    let err = d
        .export(
            "j2",
            &ExportRequest {
                report: "facturas".into(),
                out,
                mes: None,
                filter: other,
            },
            &|_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "forbidden", "{err:?}");
    let r = d
        .assign(
            &["76555835-2:33:1".into()],
            &Assignment {
                obra: Some("OB-2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(r.ok.is_empty());
    assert_eq!(r.failed[0].code, "not_found");
    // iConstruye: keys and pulls are for roles that import
    assert_eq!(
        d.set_credential("iconstruye-facturas", "k-1-2-3")
            .await
            .unwrap_err()
            .code,
        "forbidden"
    );
    assert_eq!(
        d.iconstruye_pull("j3", Some("2026-01-01"), Some("2026-01-02"), &|_| {})
            .await
            .unwrap_err()
            .code,
        "forbidden"
    );
    assert_eq!(
        d.set_iconstruye_url("https://x.example")
            .await
            .unwrap_err()
            .code,
        "forbidden"
    );
    let elsewhere = dir.path().join("otro-disco");
    assert_eq!(
        d.set_backup_dir(elsewhere.to_str().unwrap())
            .await
            .unwrap_err()
            .code,
        "forbidden"
    );
    assert!(!elsewhere.exists());
    d.logout();
    d.login("admin", ADMIN_PW).await.unwrap();
    let moved = d.set_backup_dir(elsewhere.to_str().unwrap()).await.unwrap();
    assert_eq!(moved, elsewhere.display().to_string());
    assert_eq!(d.backup_dir().await.unwrap(), moved);
    let b = d.create_backup().await.unwrap();
    assert!(std::path::Path::new(&b.path).starts_with(&elsewhere));
}

#[tokio::test]
async fn the_lock_holds_until_the_same_users_password() {
    let (_dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.lock();
    let e = d
        .list_invoices(&ListFilter::default(), 50, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, "locked");
    assert!(d.status().await.unwrap().locked);
    assert_eq!(
        d.unlock("no es la clave").await.unwrap_err().code,
        "bad_credentials"
    );
    d.unlock(ADMIN_PW).await.unwrap();
    d.list_invoices(&ListFilter::default(), 50, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_idle_session_locks_by_itself() {
    let (_dir, d) = desktop(Duration::from_millis(300)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.list_obras().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(d.list_obras().await.unwrap_err().code, "locked");
    d.unlock(ADMIN_PW).await.unwrap();
    d.list_obras().await.unwrap();
    // what the window does by itself (the sync status line, background sync) is not
    // activity: it must not keep an idle session open
    let mut calls = 0;
    let locked = loop {
        tokio::time::sleep(Duration::from_millis(60)).await;
        match d.sync_status().await {
            Ok(_) => calls += 1,
            Err(e) => break e.code,
        }
        assert!(calls < 20, "polling the status kept the session open");
    };
    assert_eq!(locked, "locked");
    assert!(
        calls >= 2,
        "the status line works while the session is open"
    );
}

#[tokio::test]
async fn a_column_mapping_can_be_saved_as_a_profile_and_reused() {
    let (dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.add_obra("OB-1", "Edificio Uno").await.unwrap();
    let file = dir.path().join("compras.csv");
    std::fs::write(
        &file,
        "RUT;Proveedor;Folio;Fecha;Neto;IVA;Total;Proyecto\r\n76555835-2;Áridos Norte;10;01-10-2026;1000;190;1190;OB-1\r\n",
    )
    .unwrap();
    let base = ImportRequest {
        paths: vec![file.display().to_string()],
        dry_run: true,
        update_duplicates: false,
        sheet: None,
        mapping: None,
        profile: None,
        save_profile: None,
        crear_obras: None,
    };
    let first = d.import("j1", &base, &|_| {}).await.unwrap();
    let parsed = first.files[0].parsed.clone().unwrap();
    let mut spec = parsed.mapping_letters.clone();
    spec.insert(icc_app::Field::Obra, "H".into());
    let with_obra = ImportRequest {
        mapping: Some(spec),
        save_profile: Some("Compras con proyecto".into()),
        ..base.clone()
    };
    d.import("j2", &with_obra, &|_| {}).await.unwrap();
    assert_eq!(
        d.mapping_profiles().await.unwrap(),
        vec!["Compras con proyecto"]
    );
    let by_profile = ImportRequest {
        dry_run: false,
        profile: Some("Compras con proyecto".into()),
        ..base
    };
    let r = d.import("j3", &by_profile, &|_| {}).await.unwrap();
    assert_eq!(r.total.counts.inserted, 1, "{r:?}");
    let page = d
        .list_invoices(&ListFilter::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(page.items[0].obra.as_deref(), Some("OB-1"));
}

#[tokio::test]
async fn administrators_set_the_inactivity_lock_and_it_survives_a_restart() {
    let (dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    assert_eq!(d.set_lock_minutes(0).await.unwrap_err().code, "invalid");
    d.set_lock_minutes(3).await.unwrap();
    assert_eq!(d.status().await.unwrap().lock_minutes, 3);
    d.add_user("contadora", "contabilidad", &[], SITE_PW)
        .await
        .unwrap();
    d.login("contadora", SITE_PW).await.unwrap();
    assert_eq!(d.set_lock_minutes(60).await.unwrap_err().code, "forbidden");
    d.app().close().await;
    drop(d);
    let again = Desktop::open(dir.path(), Duration::from_secs(600), false)
        .await
        .unwrap();
    assert_eq!(again.status().await.unwrap().lock_minutes, 3);
    // IT's fixed value wins over the setting
    let fixed = Desktop::open(dir.path(), Duration::from_secs(300), true)
        .await
        .unwrap();
    assert_eq!(fixed.status().await.unwrap().lock_minutes, 5);
}

#[tokio::test]
async fn obras_and_users_are_edited_and_the_last_administrator_is_kept() {
    let (_dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.add_obra("OB-1", "Edificio Uno").await.unwrap();
    d.add_obra("OB-2", "Edificio Dos").await.unwrap();
    let o = d
        .update_obra("OB-1", "Edificio Uno (etapa 2)", false)
        .await
        .unwrap();
    assert_eq!(
        (o.nombre.as_str(), o.activa),
        ("Edificio Uno (etapa 2)", false)
    );
    assert_eq!(
        d.update_obra("OB-9", "x", true).await.unwrap_err().code,
        "not_found"
    );
    assert_eq!(
        d.update_obra("OB-2", " ", true).await.unwrap_err().code,
        "invalid"
    );
    d.add_user("jperez", "admin_obra", &["OB-1".into()], SITE_PW)
        .await
        .unwrap();
    let u = d
        .update_user(
            "jperez",
            "admin_obra",
            &["OB-1".into(), "OB-2".into()],
            false,
        )
        .await
        .unwrap();
    assert_eq!(u.obras, vec!["OB-1", "OB-2"]);
    assert_eq!(
        d.update_user("jperez", "admin_obra", &[], false)
            .await
            .unwrap_err()
            .code,
        "invalid"
    );
    assert_eq!(
        d.update_user("admin", "gerente", &[], false)
            .await
            .unwrap_err()
            .code,
        "conflict",
        "the only administrator keeps the role"
    );
    let u = d.update_user("jperez", "gerente", &[], true).await.unwrap();
    assert!(u.disabled && u.obras.is_empty());
    assert_eq!(
        d.login("jperez", SITE_PW).await.unwrap_err().code,
        "disabled"
    );
}

#[tokio::test]
async fn an_iconstruye_pull_reports_progress_and_can_be_cancelled() {
    use icc_iconstruye::fake::{FakeConfig, FakeServer};
    const KEY: &str = "desk-clave-0f9e8d7c";
    let from: chrono::NaiveDate = "2026-01-01".parse().unwrap();
    let fake = FakeServer::start(FakeConfig::new(3, 300, from, KEY), 0)
        .await
        .unwrap();
    let (_dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.set_iconstruye_url(&fake.url()).await.unwrap();
    let s = d.session().unwrap();
    d.app().set_iconstruye_interval_ms(&s, 0).await.unwrap();
    let creds = d.credentials().await.unwrap();
    assert!(creds.iter().all(|c| !c.configured));
    d.set_credential("iconstruye-facturas", KEY).await.unwrap();
    assert!(
        d.credentials()
            .await
            .unwrap()
            .iter()
            .any(|c| c.name == "iconstruye-facturas" && c.configured)
    );

    // cancel (as the Cancelar button does) once the first window is stored: whole windows
    // stay, the rest is not fetched
    let events = std::sync::Mutex::new(Vec::new());
    let r = d
        .iconstruye_pull("job-1", Some("2026-01-01"), Some("2026-03-31"), &|p| {
            if p.phase.starts_with("ventana 2") && p.total.is_none() {
                d.cancel_job("job-1");
            }
            events.lock().unwrap().push(p);
        })
        .await
        .unwrap();
    assert!(r.cancelled);
    assert_eq!(r.windows, 1);
    let events = events.into_inner().unwrap();
    assert!(events.iter().all(|p| p.job == "job-1"));
    assert!(
        events.iter().any(|p| p.total.is_some()),
        "a bar with a total"
    );
    let first = fake.expected(from, "2026-01-30".parse().unwrap()).len() as u64;
    assert_eq!(r.inserted, first);

    // again, without a start date: it continues and finishes
    let r = d
        .iconstruye_pull("job-2", None, Some("2026-03-31"), &|_| {})
        .await
        .unwrap();
    assert!(!r.cancelled);
    let all = fake.expected(from, "2026-03-31".parse().unwrap()).len() as u64;
    let page = d
        .list_invoices(&ListFilter::default(), 5000, None)
        .await
        .unwrap();
    assert_eq!(page.items.len() as u64, all);
    let st = d.iconstruye_settings().await.unwrap();
    assert_eq!(st.completado_hasta.as_deref(), Some("2026-03-31"));
}

#[tokio::test]
async fn the_desktop_links_to_the_server_syncs_and_lists_conflicts() {
    const SPW: &str = "Moldaje-Andamio-Losa-2026";
    let srv = icc_server::testing::TestServer::start(
        &[("contadora", icc_core::Role::Contabilidad, &[])],
        SPW,
    )
    .await;
    let server = srv.url.clone();

    let (_dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    let st = d.sync_status().await.unwrap();
    assert!(st.server.is_none());
    assert_eq!(
        d.sync_now().await.unwrap_err().code,
        "invalid",
        "not linked yet"
    );
    let e = d
        .login_server(&server, "contadora", "no-es-esta-1234")
        .await
        .unwrap_err();
    assert_eq!(e.code, "credentials");
    let r = d.login_server(&server, "contadora", SPW).await.unwrap();
    assert_eq!(r.server_user, "contadora");
    // the signed-in session now acts as the server account (the window's menus follow)
    let who = d.status().await.unwrap().session.unwrap();
    assert_eq!(
        (who.account.as_deref(), who.role_label.as_str()),
        (Some("contadora"), "Contabilidad")
    );
    assert!(
        who.permissions.iter().any(|p| p == "import")
            && !who.permissions.iter().any(|p| p == "approve")
            && who.permissions.iter().any(|p| p == "manage_users"),
        "{:?}",
        who.permissions
    );
    let s = d.session().unwrap();
    d.app().seed(50, 3, &mut |_, _| true).await.unwrap();
    let st = d.sync_status().await.unwrap();
    assert_eq!(st.pending, 50);
    let r = d.sync_now().await.unwrap();
    assert_eq!((r.pushed, r.pending), (50, 0));
    let st = d.sync_status().await.unwrap();
    assert!(st.last_sync.is_some() && st.conflicts == 0);
    assert!(d.conflicts().await.unwrap().is_empty());
    assert!(
        r.refused.is_empty() && r.removed.is_empty() && st.refused == 0,
        "the server took every seeded invoice and took none away"
    );
    assert!(
        d.refused_changes().await.unwrap().is_empty(),
        "the Sincronización screen gets an empty list, not an error"
    );
    assert!(d.removed_invoices().await.unwrap().is_empty());
    assert_eq!(
        d.discard_refused("no-existe").await.unwrap_err().code,
        "not_found",
        "discarding a change that is not set aside names it as unknown"
    );
    assert_eq!(
        d.resolve_conflict(99, "mine").await.unwrap_err().code,
        "not_found"
    );
    assert_eq!(
        d.resolve_conflict(99, "ambos").await.unwrap_err().code,
        "invalid"
    );
    d.logout_server().await.unwrap();
    assert_eq!(d.sync_now().await.unwrap_err().code, "credentials");
    let who = d.status().await.unwrap().session.unwrap();
    assert_eq!(
        (who.account, who.role_label.as_str()),
        (None, "Administrador")
    );
    drop(s);
    srv.stop().await;
}

/// A local update server: answers `…/latest.json` with the manifest and `/artifact` with
/// the package, and remembers the paths asked for.
struct UpdateServer {
    url: String,
    manifest: std::sync::Arc<std::sync::Mutex<String>>,
    artifact: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    paths: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl UpdateServer {
    fn start() -> UpdateServer {
        use std::io::{Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let manifest = Arc::new(Mutex::new(String::new()));
        let artifact = Arc::new(Mutex::new(Vec::new()));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (m, a, p) = (manifest.clone(), artifact.clone(), paths.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                p.lock().unwrap().push(path.clone());
                let (ctype, body) = if path.ends_with("/latest.json") {
                    ("application/json", m.lock().unwrap().clone().into_bytes())
                } else if path == "/artifact" {
                    ("application/octet-stream", a.lock().unwrap().clone())
                } else {
                    ("text/plain", b"no".to_vec())
                };
                let status = if ctype == "text/plain" {
                    "404 Not Found"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            }
        });
        UpdateServer {
            url,
            manifest,
            artifact,
            paths,
        }
    }
}

/// A minisign key pair as Tauri uses it: the public key and signatures base64 of their
/// text form.
struct SigningKey {
    pk: minisign::PublicKey,
    sk: minisign::SecretKey,
}

impl SigningKey {
    fn new() -> SigningKey {
        let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        SigningKey {
            pk: kp.pk,
            sk: kp.sk,
        }
    }
    fn public(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.pk.to_box().unwrap().to_string())
    }
    fn sign(&self, bytes: &[u8], version: &str) -> String {
        use base64::Engine;
        let sig = minisign::sign(
            Some(&self.pk),
            &self.sk,
            std::io::Cursor::new(bytes),
            Some(&format!(
                "timestamp:1795000000\tfile:icc-facturas.deb\tversion:{version}"
            )),
            Some("signature from tauri secret key"),
        )
        .unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.to_string())
    }
}

fn mock_app_with_updater() -> tauri::App<tauri::test::MockRuntime> {
    let mut ctx = tauri::test::mock_context(tauri::test::noop_assets());
    ctx.config_mut().plugins.0.insert(
        "updater".into(),
        // as tauri.conf.json has it: the signature must name the version it was made for
        serde_json::json!({"pubkey": "", "endpoints": [], "requireSignedVersion": true}),
    );
    tauri::test::mock_builder()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .build(ctx)
        .unwrap()
}

fn manifest(version: &str, url: &str, signature: &str) -> String {
    let target = tauri_plugin_updater::target().unwrap();
    let entry = serde_json::json!({"url": url, "signature": signature});
    serde_json::json!({
        "version": version,
        "notes": "Corrige el cálculo de vencimientos.",
        "pub_date": "2026-11-28T12:00:00Z",
        "platforms": {
            target.clone(): entry,
            format!("{target}-deb"): entry,
            format!("{target}-rpm"): entry,
        }
    })
    .to_string()
}

/// The update is offered but its download fails the signature check.
async fn assert_download_refused(
    handle: &tauri::AppHandle<tauri::test::MockRuntime>,
    endpoint: &tauri::Url,
    key: &str,
) {
    let (update, _) = icc_desktop::updates::check(handle, vec![endpoint.clone()], Some(key))
        .await
        .unwrap()
        .unwrap();
    let e = icc_desktop::updates::download(&update, |_, _| {})
        .await
        .unwrap_err();
    assert!(e.message.contains("firma"), "{}", e.message);
}

#[tokio::test]
async fn the_updater_takes_only_a_newer_version_signed_with_our_key() {
    use icc_desktop::updates;
    let srv = UpdateServer::start();
    let ours = SigningKey::new();
    let other = SigningKey::new();
    let app = mock_app_with_updater();
    let handle = app.handle().clone();
    let endpoint: tauri::Url = format!(
        "{}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/latest.json",
        srv.url
    )
    .parse()
    .unwrap();
    let artifact = b"paquete de ICC Facturas 99.1.0 (deb)".to_vec();
    *srv.artifact.lock().unwrap() = artifact.clone();
    let artifact_url = format!("{}/artifact", srv.url);

    // a newer version, signed with our key: offered, downloaded and verified
    *srv.manifest.lock().unwrap() =
        manifest("99.1.0", &artifact_url, &ours.sign(&artifact, "99.1.0"));
    let (update, offer) = updates::check(&handle, vec![endpoint.clone()], Some(&ours.public()))
        .await
        .unwrap()
        .expect("a newer version is offered");
    assert_eq!(offer.version, "99.1.0");
    assert_eq!(
        offer.notes.as_deref(),
        Some("Corrige el cálculo de vencimientos.")
    );
    let asked = srv.paths.lock().unwrap().clone();
    let expected = format!(
        "/{}/{}/{}/latest.json",
        std::env::consts::OS,
        std::env::consts::ARCH,
        offer.current_version
    );
    assert!(
        asked.contains(&expected),
        "target, arch and current version are in the request: {asked:?}"
    );
    let mut seen = 0;
    let bytes = updates::download(&update, |done, _| seen = done)
        .await
        .unwrap();
    assert_eq!(bytes, artifact);
    assert_eq!(
        seen,
        artifact.len() as u64,
        "progress reaches the whole size"
    );

    // the same manifest, the artifact changed on the server: refused
    let mut tampered = artifact.clone();
    tampered[5] ^= 0x20;
    *srv.artifact.lock().unwrap() = tampered;
    assert_download_refused(&handle, &endpoint, &ours.public()).await;
    *srv.artifact.lock().unwrap() = artifact.clone();

    // signed with another key: refused
    *srv.manifest.lock().unwrap() =
        manifest("99.1.0", &artifact_url, &other.sign(&artifact, "99.1.0"));
    assert_download_refused(&handle, &endpoint, &ours.public()).await;

    // an old release's genuine package and signature announced as a new version: refused
    // (the signature's trusted comment names the version it was made for)
    *srv.manifest.lock().unwrap() =
        manifest("99.1.0", &artifact_url, &ours.sign(&artifact, "0.0.9"));
    assert_download_refused(&handle, &endpoint, &ours.public()).await;

    // a lower version, even properly signed: not offered
    *srv.manifest.lock().unwrap() =
        manifest("0.0.1", &artifact_url, &ours.sign(&artifact, "0.0.1"));
    assert!(
        updates::check(&handle, vec![endpoint.clone()], Some(&ours.public()))
            .await
            .unwrap()
            .is_none()
    );
    // no endpoint at all: nothing is asked, nothing offered
    assert!(
        updates::check(&handle, vec![], Some(&ours.public()))
            .await
            .unwrap()
            .is_none()
    );
    // a manifest that is not JSON: a clear error, nothing offered
    *srv.manifest.lock().unwrap() = "<html>mantención</html>".into();
    let Err(e) = updates::check(&handle, vec![endpoint], Some(&ours.public())).await else {
        panic!("a broken manifest is an error");
    };
    assert!(
        e.message.starts_with("actualización: al buscar"),
        "{}",
        e.message
    );
}

#[test]
fn update_endpoints_must_be_https_and_it_may_set_them_per_machine() {
    use icc_desktop::updates;
    let configured: Vec<tauri::Url> = vec![
        "https://actualizaciones.constructoraicc.cl/icc-facturas/estable/{{target}}/{{arch}}/{{current_version}}/latest.json"
            .parse()
            .unwrap(),
    ];
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    // a build without an endpoint (development, or not made by scripts/release) has none,
    // and IT may still give this machine one
    let (urls, shown) = updates::source_from(&[], &env(&[])).unwrap();
    assert!(urls.is_empty() && shown.endpoints.is_empty(), "{urls:?}");
    let (urls, _) = updates::source_from(
        &[],
        &env(&[("ICC_UPDATE_URL", "https://updates.example.cl/latest.json")]),
    )
    .unwrap();
    assert_eq!(urls.len(), 1);
    let (urls, shown) = updates::source_from(&configured, &env(&[])).unwrap();
    assert_eq!(urls, configured);
    assert_eq!(shown.channel, "estable");
    assert!(!shown.set_by_it);
    let (urls, shown) =
        updates::source_from(&configured, &env(&[("ICC_UPDATE_CHANNEL", "piloto")])).unwrap();
    assert!(urls[0].as_str().contains("/piloto/"), "{urls:?}");
    assert!(shown.set_by_it);
    let (urls, _) = updates::source_from(
        &configured,
        &env(&[(
            "ICC_UPDATE_URL",
            "https://ti.example.cl/icc/{{target}}/latest.json",
        )]),
    )
    .unwrap();
    assert_eq!(urls[0].host_str(), Some("ti.example.cl"));
    let e = updates::source_from(
        &configured,
        &env(&[(
            "ICC_UPDATE_URL",
            "http://actualizaciones.example.cl/latest.json",
        )]),
    )
    .unwrap_err();
    assert!(e.message.contains("HTTPS"), "{}", e.message);
    assert!(updates::source_from(&configured, &env(&[("ICC_UPDATE_CHANNEL", "../otro")])).is_err());
    assert!(
        updates::source_from(&configured, &env(&[("ICC_UPDATE_URL", "no es una url")])).is_err()
    );
}

#[tokio::test]
async fn attachments_are_read_for_the_in_app_viewer_only_by_who_may_see_them() {
    use base64::Engine;
    let (dir, d) = desktop(Duration::from_secs(600)).await;
    d.init_admin("admin", ADMIN_PW).await.unwrap();
    d.app().seed(20, 4, &mut |_, _| true).await.unwrap();
    let page = d
        .list_invoices(&ListFilter::default(), 5, None)
        .await
        .unwrap();
    let id = page.items[0].id.clone();
    let pdf = dir.path().join("factura.pdf");
    let pdf_bytes = b"%PDF-1.4\n% ICC\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".to_vec();
    std::fs::write(&pdf, &pdf_bytes).unwrap();
    let xml = dir.path().join("dte.xml");
    let xml_bytes = "\u{feff}<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><DTE/>"
        .as_bytes()
        .to_vec();
    std::fs::write(&xml, &xml_bytes).unwrap();
    d.add_attachment(&id, &pdf.display().to_string())
        .await
        .unwrap();
    let list = d
        .add_attachment(&id, &xml.display().to_string())
        .await
        .unwrap();
    let by_name = |n: &str| list.iter().find(|a| a.file_name == n).unwrap().id;
    let decode = |b64: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };

    let c = d.read_attachment(by_name("factura.pdf")).await.unwrap();
    assert_eq!(c.kind, "pdf");
    assert_eq!(decode(&c.data_base64), pdf_bytes);
    let c = d.read_attachment(by_name("dte.xml")).await.unwrap();
    assert_eq!(c.kind, "xml");
    assert_eq!(decode(&c.data_base64), xml_bytes);
    assert!(d.read_attachment(999_999).await.is_err());
    assert_eq!(icc_desktop::desktop::attachment_kind(b"PK\x03\x04"), "otro");

    // a site manager of another obra cannot read it, whatever the UI shows
    d.add_obra("OB-VACIA", "Sin facturas").await.unwrap();
    d.add_user("jperez", "admin_obra", &["OB-VACIA".into()], SITE_PW)
        .await
        .unwrap();
    d.logout();
    d.login("jperez", SITE_PW).await.unwrap();
    assert!(d.read_attachment(by_name("factura.pdf")).await.is_err());
    d.logout();
    assert_eq!(
        d.read_attachment(by_name("factura.pdf"))
            .await
            .unwrap_err()
            .code,
        "not_signed_in"
    );
}

//! The `icc` contract of DESIGN.md, exercised on the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PW: &str = "Fixture-Check-Pass-2026!";

fn icc(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_icc"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("ICC_PASSWORD", PW)
        .env_remove("ICC_USER")
        .env_remove("RUST_LOG");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok_json(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `icc args` and checks it fails saying `needle`.
fn refused(dir: &Path, args: &[&str], needle: &str) {
    let out = icc(dir, args, None);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
}

fn init(dir: &Path) {
    let out = icc(
        dir,
        &["init", "--admin-user", "admin", "--password-stdin"],
        Some(&format!("{PW}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Adds a user (password `PW`) as the admin; `obras` comma-separated, or empty.
/// The company's RUT (the payer of runs and cesiones), set by the administrator.
fn set_company_rut(dir: &Path) {
    ok_json(icc(
        dir,
        &[
            "--user",
            "admin",
            "pagos",
            "configurar",
            "--rut-empresa",
            "77.777.777-7",
            "--json",
        ],
        None,
    ));
}

fn add_user(dir: &Path, name: &str, role: &str, obras: &str) {
    ok_json(icc(
        dir,
        &[
            "--user",
            "admin",
            "users",
            "add",
            name,
            "--role",
            role,
            "--obras",
            obras,
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{PW}\n")),
    ));
}

fn seeded() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let out = icc(
        d.path(),
        &["dev", "seed", "--invoices", "2000", "--seed", "3"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    d
}

#[test]
fn list_json_has_the_contract_fields_and_pages_with_a_cursor() {
    let d = seeded();
    let page = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "invoices", "list", "--json", "--limit", "1000",
        ],
        None,
    ));
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1000);
    for key in [
        "id",
        "rut_emisor",
        "tipo_dte",
        "folio",
        "razon_social",
        "fecha_emision",
        "monto_neto",
        "monto_exento",
        "monto_iva",
        "monto_total",
        "estado",
        "obra",
    ] {
        assert!(
            items[0].get(key).is_some(),
            "list item lacks {key}: {}",
            items[0]
        );
    }
    assert!(
        items[0]["tipo_dte"].is_u64(),
        "tipo_dte is the numeric code"
    );
    let rut: icc_core::Rut = items[0]["rut_emisor"].as_str().unwrap().parse().unwrap();
    assert_eq!(items[0]["rut_emisor"], rut.to_string(), "canonical RUT");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    // global flags after the command work too
    let next = ok_json(icc(
        d.path(),
        &[
            "invoices", "list", "--user", "admin", "--json", "--limit", "1000", "--cursor", &cursor,
        ],
        None,
    ));
    let n2 = next["items"].as_array().unwrap().len();
    assert!(
        n2 > 0 && next["next_cursor"].is_null(),
        "two pages cover 2000 rows"
    );
    let first_ids: std::collections::HashSet<_> = items.iter().map(|i| i["id"].clone()).collect();
    assert!(
        next["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !first_ids.contains(&i["id"])),
        "no row twice"
    );

    let filtered = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "invoices",
            "list",
            "--json",
            "--obra",
            "OB-2026-017",
            "--estado",
            "aprobada",
        ],
        None,
    ));
    let f = filtered["items"].as_array().unwrap();
    assert!(!f.is_empty());
    assert!(
        f.iter()
            .all(|i| i["obra"] == "OB-2026-017" && i["estado"] == "aprobada")
    );
}

#[test]
fn show_set_estado_and_history_work_by_natural_key() {
    let d = seeded();
    let page = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "invoices", "list", "--json", "--estado", "recibida", "--limit", "1",
        ],
        None,
    ));
    let it = &page["items"][0];
    let key = format!(
        "{}:{}:{}",
        it["rut_emisor"].as_str().unwrap(),
        it["tipo_dte"],
        it["folio"]
    );
    let shown = ok_json(icc(
        d.path(),
        &["--user", "admin", "invoices", "show", &key, "--json"],
        None,
    ));
    for k in [
        "glosa",
        "centro_costo",
        "cuenta",
        "orden_compra",
        "fecha_recepcion_sii",
        "fecha_vencimiento",
        "plazo_reclamo",
        "referencias",
        "otros_impuestos",
        "id",
        "monto_total",
        "obra",
    ] {
        assert!(shown.get(k).is_some(), "show lacks {k}");
    }
    assert_eq!(shown["id"], it["id"]);
    let target = if it["obra"] == "OB-2026-002" {
        "OB-2026-003"
    } else {
        "OB-2026-002"
    };
    let set = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "invoices",
            "set",
            &key,
            "--obra",
            target,
            "--cuenta",
            "999001",
            "--glosa",
            "Hormigón piso 3",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (
            set["obra"].as_str(),
            set["cuenta"].as_str(),
            set["glosa"].as_str()
        ),
        (Some(target), Some("999001"), Some("Hormigón piso 3"))
    );
    let out = icc(
        d.path(),
        &["--user", "admin", "invoices", "estado", &key, "rechazada"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "rejection without motivo is refused"
    );
    assert!(stderr(&out).contains("motivo"), "{}", stderr(&out));
    let rej = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "invoices",
            "estado",
            &key,
            "rechazada",
            "--motivo",
            "Precio distinto a la OC",
            "--json",
        ],
        None,
    ));
    assert_eq!(rej["estado"], "rechazada");
    let hist = ok_json(icc(
        d.path(),
        &["--user", "admin", "invoices", "history", &key, "--json"],
        None,
    ));
    let fields: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["obra", "cuenta", "glosa", "estado", "motivo"]);
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .all(|e| e["user_name"] == "admin" || e["user_name"] == "dev-seed")
    );
    // people read Chile's time and Spanish actions, never `create`/`update`
    let acciones: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["accion"].as_str().unwrap())
        .collect();
    assert_eq!(acciones[0], "creación", "{acciones:?}");
    assert!(
        acciones.contains(&"cambio") && acciones.contains(&"cambio de estado"),
        "{acciones:?}"
    );
    for e in hist.as_array().unwrap() {
        let utc: chrono::DateTime<chrono::Utc> = e["at"].as_str().unwrap().parse().unwrap();
        let local = utc.with_timezone(&chrono_tz::America::Santiago);
        assert_eq!(
            e["fecha_local"],
            local.format("%d-%m-%Y %H:%M:%S").to_string(),
            "{e}"
        );
    }
    let text = icc(
        d.path(),
        &["--user", "admin", "invoices", "history", &key],
        None,
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        !text.contains(" UTC") && !text.contains("update") && text.contains("cambio de estado"),
        "{text}"
    );
}

#[test]
fn a_password_with_a_trailing_newline_is_stored_without_it() {
    let d = tempfile::tempdir().unwrap();
    let out = icc(
        d.path(),
        &["init", "--admin-user", "admin", "--password-stdin"],
        Some(&format!("{PW}\r\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = icc(d.path(), &["--user", "admin", "obras", "list"], None);
    assert!(
        out.status.success(),
        "ICC_PASSWORD without the newline logs in: {}",
        stderr(&out)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = icc(
        empty.path(),
        &["init", "--admin-user", "admin", "--password-stdin"],
        Some("\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("vacía"), "{}", stderr(&out));
}

#[test]
fn malformed_values_get_spanish_messages_naming_field_and_value() {
    let d = seeded();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["invoices", "list", "--proveedor", "76123456-5"],
            "RUT",
            "76123456-5",
        ),
        (
            &["invoices", "list", "--desde", "31/02/2026"],
            "--desde",
            "31/02/2026",
        ),
        (
            &["invoices", "list", "--estado", "pagadisima"],
            "estado",
            "pagadisima",
        ),
        (&["invoices", "list", "--limit", "5000"], "--limit", "5000"),
        (
            &["invoices", "list", "--cursor", "basura"],
            "cursor",
            "basura",
        ),
        (&["invoices", "show", "76123456-0:33:0"], "folio", "0"),
        (
            &["invoices", "show", "76123456-0:33"],
            "documento",
            "76123456-0:33",
        ),
        (
            &["invoices", "show", "no-es-un-id"],
            "id de factura",
            "no-es-un-id",
        ),
        (
            &["invoices", "estado", "76123456-0:33:5", "volando"],
            "estado",
            "volando",
        ),
        (&["invoices", "set", "76123456-0:33:5"], "--obra", ""),
    ];
    for (args, field, value) in cases {
        let mut full = vec!["--user", "admin"];
        full.extend_from_slice(args);
        let out = icc(d.path(), &full, None);
        let err = stderr(&out);
        assert!(
            matches!(out.status.code(), Some(2 | 3)),
            "{args:?}: exit {:?} {err}",
            out.status.code()
        );
        assert!(
            err.contains(field) && err.contains(value),
            "{args:?}: message must name {field} and {value}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = icc(
        d.path(),
        &["--user", "admin", "invoices", "show", "76123456-0:33:5"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no existe"));
}

#[test]
fn exit_codes_follow_the_contract() {
    let d = tempfile::tempdir().unwrap();
    let out = icc(d.path(), &["--user", "admin", "invoices", "list"], None);
    assert_eq!(out.status.code(), Some(1), "not initialised");
    assert!(
        stderr(&out).contains("icc init"),
        "says what to do: {}",
        stderr(&out)
    );
    init(d.path());
    let out = Command::new(env!("CARGO_BIN_EXE_icc"))
        .arg("--data-dir")
        .arg(d.path())
        .args(["--user", "admin", "obras", "list"])
        .env("ICC_PASSWORD", "not the password!")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("incorrectos"));
    let out = icc(d.path(), &["invoices", "frobnicate"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("comando desconocido"),
        "{}",
        stderr(&out)
    );
    let out = icc(d.path(), &["invoices", "list"], None);
    assert_eq!(out.status.code(), Some(2), "no --user");
    let out = icc(
        d.path(),
        &[
            "--user",
            "admin",
            "users",
            "add",
            "ana",
            "--role",
            "jefa",
            "--password-stdin",
        ],
        Some("x\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rol") && stderr(&out).contains("jefa"));
    let out = icc(
        d.path(),
        &[
            "--user",
            "admin",
            "users",
            "add",
            "ana",
            "--role",
            "gerente",
            "--password-stdin",
        ],
        Some("corta\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "weak password is rejected input"
    );
    assert!(stderr(&out).contains("12"), "{}", stderr(&out));
    // no backup yet on a fresh install: a warning with what to do, and exit 0 (a healthy
    // install is not a broken one)
    let out = icc(d.path(), &["doctor", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&report["ok"], &report["level"]),
        (&serde_json::json!(true), &serde_json::json!("aviso"))
    );
    let backup = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "backup")
        .unwrap()
        .clone();
    assert_eq!(
        (&backup["ok"], &backup["level"]),
        (&serde_json::json!(true), &serde_json::json!("aviso"))
    );
    let text = icc(d.path(), &["doctor"], None);
    assert!(String::from_utf8_lossy(&text.stdout).contains("[AVISO] Último respaldo"));
    assert!(
        backup["hint"]
            .as_str()
            .unwrap()
            .contains("icc backup create"),
        "{backup}"
    );
    let out = icc(d.path(), &["--user", "admin", "backup", "create"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = icc(d.path(), &["doctor", "--json"], None);
    let report = ok_json(out);
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "backup")
            .unwrap()["level"],
        "ok"
    );
    for id in ["backup", "sync", "keyring"] {
        assert!(
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id && c["ok"] == true),
            "{id}: {report}"
        );
    }
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "integrity" && c["ok"] == true)
    );
    // a headless box with no keyring, while no credential needs one: a warning, exit 0;
    // its folder was created there, so it is plain, which is a warning too
    let headless = tempfile::tempdir().unwrap();
    let out = icc_without_keyring(
        headless.path(),
        &[
            "init",
            "--admin-user",
            "admin",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{PW}\n")),
    );
    let created = ok_json(out);
    assert_eq!(created["encrypted"], false, "{created}");
    let out = icc_without_keyring(headless.path(), &["doctor", "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let keyring = check("keyring");
    assert_ne!(keyring["detail"], "responde", "{keyring}");
    assert_eq!(keyring["level"], "aviso", "{keyring}");
    assert_eq!(check("encryption")["level"], "aviso", "{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
}

/// `icc` on a box where no keyring answers (no D-Bus session bus).
fn icc_without_keyring(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    icc_env(
        dir,
        args,
        stdin,
        &[(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/icc-no-bus",
        )],
    )
}

fn file_has(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_folder_made_without_keyring_is_encrypted_in_place_when_one_answers() {
    let d = tempfile::tempdir().unwrap();
    let out = icc_without_keyring(
        d.path(),
        &["init", "--admin-user", "admin", "--password-stdin"],
        Some(&format!("{PW}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sin cifrar"));
    let out = icc_without_keyring(
        d.path(),
        &["--user", "admin", "dev", "seed", "--invoices", "300"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // an import of the plain days keeps its original, plain
    let rcv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rcv/rcv_registro_utf8.csv");
    let supplier = std::fs::read_to_string(&rcv)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(';')
        .nth(4)
        .unwrap()
        .to_owned();
    let out = icc_without_keyring(
        d.path(),
        &["--user", "admin", "import", rcv.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let originals = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(d.path().join("importaciones"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    assert_eq!(originals().len(), 1);
    assert!(file_has(&originals()[0], &supplier));
    let list = |out: Output| ok_json(out)["items"].as_array().unwrap().clone();
    let before = list(icc_without_keyring(
        d.path(),
        &[
            "--user", "admin", "--json", "invoices", "list", "--limit", "500",
        ],
        None,
    ));
    assert!(before.len() > 300, "{}", before.len());
    let name = before[0]["razon_social"].as_str().unwrap().to_owned();
    let db = d.path().join("icc.db");
    let status = ok_json(icc_without_keyring(
        d.path(),
        &["--json", "encryption", "status"],
        None,
    ));
    assert_eq!(status["encrypted"], false);
    // the WAL may hold the rows; the file and its WAL together do
    let plain_somewhere = file_has(&db, &name)
        || d.path().join("icc.db-wal").exists() && file_has(&d.path().join("icc.db-wal"), &name);
    assert!(plain_somewhere, "the plain database should show «{name}»");

    // the next command where the keyring answers encrypts it, rows and all
    let status = ok_json(icc(d.path(), &["--json", "encryption", "status"], None));
    assert_eq!(status["encrypted"], true, "{status}");
    for f in ["icc.db", "icc.db-wal"] {
        let p = d.path().join(f);
        if p.exists() {
            assert!(!file_has(&p, &name), "«{name}» still in plaintext in {f}");
        }
    }
    // and the original, sealed; nothing left pending
    assert_eq!(originals().len(), 1);
    assert!(!file_has(&originals()[0], &supplier));
    assert!(!d.path().join("sellado-pendiente").exists());
    let after = list(icc(
        d.path(),
        &[
            "--user", "admin", "--json", "invoices", "list", "--limit", "500",
        ],
        None,
    ));
    assert_eq!(after, before);
    // the recovery key prints for an administrator, and brings a lost keyring back
    let key = ok_json(icc(
        d.path(),
        &["--user", "admin", "--json", "encryption", "recovery-key"],
        None,
    ))["recovery_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let id: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("cifrado.json")).unwrap())
            .unwrap();
    let service = format!("icc-facturas:cifrado:{}", id["key_id"].as_str().unwrap());
    let gone = Command::new("secret-tool")
        .args(["clear", "service", &service, "username", "clave-de-datos"])
        .status()
        .unwrap();
    assert!(gone.success());
    let out = icc(d.path(), &["doctor", "--json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let enc = &report["checks"][0];
    assert_eq!(
        (&enc["id"], &enc["level"]),
        (
            &serde_json::json!("encryption"),
            &serde_json::json!("falla")
        ),
        "{report}"
    );
    assert!(
        enc["hint"]
            .as_str()
            .unwrap()
            .contains("icc encryption recover"),
        "{report}"
    );
    refused(d.path(), &["invoices", "list"], "icc encryption recover");
    let out = icc(
        d.path(),
        &["encryption", "recover"],
        Some(&format!("{key}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let again = list(icc(
        d.path(),
        &[
            "--user", "admin", "--json", "invoices", "list", "--limit", "500",
        ],
        None,
    ));
    assert_eq!(again, before);
}

#[test]
fn a_stolen_laptops_backup_comes_back_on_a_new_one_with_the_recovery_key() {
    let old = tempfile::tempdir().unwrap();
    let out = icc(
        old.path(),
        &[
            "--json",
            "init",
            "--admin-user",
            "admin",
            "--password-stdin",
        ],
        Some(&format!("{PW}\n")),
    );
    let key = ok_json(out)["recovery_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 69, "{key}");
    let out = icc(
        old.path(),
        &["--user", "admin", "dev", "seed", "--invoices", "120"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = icc(old.path(), &["--user", "admin", "backup", "create"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = |dir: &Path| {
        ok_json(icc(
            dir,
            &[
                "--user", "admin", "--json", "invoices", "list", "--limit", "500",
            ],
            None,
        ))["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let before = list(old.path());

    // a new laptop: its data folder holds only the old one's backup folder
    let new = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(old.path().join("respaldos"))
        .arg(new.path())
        .status()
        .unwrap();
    assert!(status.success());
    let wrong = icc_core::recovery::encode(&[3; 32]);
    let out = icc(
        new.path(),
        &["encryption", "recover"],
        Some(&format!("{wrong}\n")),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no abre"), "{}", stderr(&out));
    let out = icc(
        new.path(),
        &["encryption", "recover"],
        Some(&format!("{key}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = icc(
        new.path(),
        &["--user", "admin", "--json", "backup", "restore", "--latest"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(list(new.path()), before);
    let status = ok_json(icc(new.path(), &["--json", "encryption", "status"], None));
    assert_eq!(status["encrypted"], true);
}

#[test]
fn users_and_obras_round_trip_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let o = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "obras",
            "add",
            "OB-2026-017",
            "Edificio Los Aromos",
            "--json",
        ],
        None,
    ));
    assert_eq!(o["codigo"], "OB-2026-017");
    ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "obras",
            "add",
            "--codigo",
            "OB-2026-018",
            "--nombre",
            "Torre",
            "--json",
        ],
        None,
    ));
    let out = icc(
        d.path(),
        &["--user", "admin", "obras", "add", "OB-2026-017", "otra vez"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ya existe"));
    // acting password from ICC_PASSWORD, the new user's from stdin
    let u = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "users",
            "add",
            "jperez",
            "--role",
            "admin_obra",
            "--obras",
            "OB-2026-017",
            "--password-stdin",
            "--json",
        ],
        Some("Quilicura-Andamio-Losa-77\n"),
    ));
    assert_eq!(u["obras"], serde_json::json!(["OB-2026-017"]));
    assert!(
        u.get("password_hash").is_none(),
        "hashes never leave the store"
    );
    let list = ok_json(icc(
        d.path(),
        &["--user", "admin", "users", "list", "--json"],
        None,
    ));
    assert_eq!(list.as_array().unwrap().len(), 2);
    let out = Command::new(env!("CARGO_BIN_EXE_icc"))
        .arg("--data-dir")
        .arg(d.path())
        .args(["--user", "jperez", "obras", "list", "--json"])
        .env("ICC_PASSWORD", "Quilicura-Andamio-Losa-77")
        .output()
        .unwrap();
    let obras: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        obras.as_array().unwrap().len(),
        1,
        "a site manager lists only their obras"
    );
    ok_json(icc(
        d.path(),
        &["--user", "admin", "users", "disable", "jperez", "--json"],
        None,
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_icc"))
        .arg("--data-dir")
        .arg(d.path())
        .args(["--user", "jperez", "obras", "list"])
        .env("ICC_PASSWORD", "Quilicura-Andamio-Losa-77")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deshabilitada"));
    let logs = std::fs::read_dir(d.path().join("logs")).unwrap().count();
    assert!(logs >= 1, "JSON log file in the data dir's logs folder");
}

#[test]
fn a_writer_killed_mid_transaction_leaves_a_sound_database_and_no_partial_write() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_icc"))
        .arg("--data-dir")
        .arg(d.path())
        .args(["dev", "seed", "--invoices", "400000", "--seed", "9"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wait until it has written at least one progress step, so the kill lands mid-write
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("generadas"), "{first}");
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_integrity_ok(d.path());
    let page = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "invoices", "list", "--json", "--limit", "5",
        ],
        None,
    ));
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        0,
        "the killed transaction left no invoice"
    );
    let obras = ok_json(icc(
        d.path(),
        &["--user", "admin", "obras", "list", "--json"],
        None,
    ));
    assert_eq!(
        obras.as_array().unwrap().len(),
        0,
        "nor the obras it created in the same transaction"
    );
}

#[test]
fn export_writes_every_report_and_reports_in_json() {
    let d = seeded();
    let dir = d.path();
    for (report, extra) in [
        ("facturas", vec![]),
        ("libro-compras", vec!["--mes", "2026-10"]),
        ("vencimientos", vec![]),
        ("por-obra", vec![]),
    ] {
        for ext in ["xlsx", "csv"] {
            let out = dir.join(format!("{report}.{ext}"));
            let mut args = vec![
                "--user",
                "admin",
                "export",
                report,
                "--out",
                out.to_str().unwrap(),
                "--json",
            ];
            args.extend(&extra);
            let v = ok_json(icc(dir, &args, None));
            assert_eq!(v["report"], report);
            assert_eq!(v["format"], ext);
            assert_eq!(v["path"], out.to_str().unwrap());
            assert!(v["documents"].as_u64().unwrap() > 0, "{report}");
            assert!(v["sheets"].is_array());
            assert!(out.metadata().unwrap().len() > 100);
            if ext == "xlsx" {
                assert_eq!(
                    v["sheets"].as_array().unwrap().last().unwrap(),
                    "Parámetros"
                );
            }
        }
    }
    // filters as in invoices list; --format overrides the extension
    let out = dir.join("aprobadas.txt");
    let v = ok_json(icc(
        dir,
        &[
            "--user",
            "admin",
            "export",
            "facturas",
            "--estado",
            "aprobada",
            "--obra",
            "OB-2026-002",
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
        None,
    ));
    let list = ok_json(icc(
        dir,
        &[
            "--user",
            "admin",
            "invoices",
            "list",
            "--estado",
            "aprobada",
            "--obra",
            "OB-2026-002",
            "--limit",
            "1000",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        v["documents"].as_u64().unwrap() as usize,
        list["items"].as_array().unwrap().len()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert_eq!(
        text.lines().count(),
        list["items"].as_array().unwrap().len() + 1
    );

    // usage errors
    let bad = |args: &[&str]| {
        let o = icc(dir, args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        stderr(&o)
    };
    let x = dir.join("x.xlsx");
    let x = x.to_str().unwrap();
    assert!(bad(&["--user", "admin", "export", "balance", "--out", x]).contains("libro-compras"));
    assert!(bad(&["--user", "admin", "export", "libro-compras", "--out", x]).contains("--mes"));
    assert!(
        bad(&[
            "--user",
            "admin",
            "export",
            "libro-compras",
            "--mes",
            "10-2026",
            "--out",
            x
        ])
        .contains("AAAA-MM")
    );
    assert!(
        bad(&[
            "--user", "admin", "export", "facturas", "--mes", "2026-10", "--out", x
        ])
        .contains("--mes")
    );
    assert!(
        bad(&[
            "--user", "admin", "export", "facturas", "--format", "pdf", "--out", x
        ])
        .contains("xlsx o csv")
    );
    // a folder that does not exist: a failure that names it, and nothing written
    let o = icc(
        dir,
        &[
            "--user",
            "admin",
            "export",
            "facturas",
            "--out",
            dir.join("no/hay/x.xlsx").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no/hay"), "{}", stderr(&o));
}

#[test]
fn backups_are_created_listed_verified_and_restored_from_the_command_line() {
    let d = seeded();
    let dir = d.path();
    // the folder can move to another disk; the next backups go there
    let shown = ok_json(icc(
        dir,
        &["--user", "admin", "backup", "dir", "--json"],
        None,
    ));
    assert!(
        shown["dir"].as_str().unwrap().ends_with("respaldos"),
        "{shown}"
    );
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("icc-respaldos");
    let moved = ok_json(icc(
        dir,
        &[
            "--user",
            "admin",
            "backup",
            "dir",
            target.to_str().unwrap(),
            "--json",
        ],
        None,
    ));
    assert_eq!(moved["dir"], target.to_str().unwrap());
    let made = ok_json(icc(
        dir,
        &["--user", "admin", "backup", "create", "--json"],
        None,
    ));
    let id = made[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(made[0]["facts"]["invoices"], 2000);
    assert!(
        target.join(&id).join("icc.db").exists(),
        "the backup is in the new folder"
    );
    let list = ok_json(icc(
        dir,
        &["--user", "admin", "backup", "list", "--json"],
        None,
    ));
    assert_eq!(list[0]["id"], id.as_str());
    ok_json(icc(
        dir,
        &["--user", "admin", "backup", "verify", &id, "--json"],
        None,
    ));
    let o = icc(
        dir,
        &["--user", "admin", "backup", "verify", "19990101-000000"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("19990101-000000"), "{}", stderr(&o));
    let o = icc(dir, &["--user", "admin", "backup", "restore"], None);
    assert_eq!(o.status.code(), Some(2), "restore needs an id or --latest");
    ok_json(icc(
        dir,
        &["--user", "admin", "backup", "restore", "--latest", "--json"],
        None,
    ));
    // the database answers after the restore
    let page = ok_json(icc(
        dir,
        &[
            "--user", "admin", "invoices", "list", "--json", "--limit", "5",
        ],
        None,
    ));
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
}

fn icc_env(dir: &Path, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_icc"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("ICC_PASSWORD", PW)
        .env_remove("ICC_USER")
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_containing(&p, needle));
        } else if std::fs::read(&p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconstruye_pull_and_credentials_follow_the_contract() {
    use icc_iconstruye::fake::{Burst, FakeConfig, FakeServer};
    const KEY: &str = "cli-clave-9a8b7c6d5e4f";
    let from: chrono::NaiveDate = "2026-01-01".parse().unwrap();
    let mut cfg = FakeConfig::new(31, 400, from, KEY);
    cfg.malformed_every = Some(25);
    cfg.burst_429 = Some(Burst { every: 60, len: 2 });
    cfg.retry_after_secs = 0;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let url = fake.url();
    let expected = fake.expected(from, "2026-03-31".parse().unwrap()).len() as u64;
    let bad = fake.docs().iter().filter(|d| d.malformed.is_some()).count() as u64;

    let result = tokio::task::spawn_blocking(move || {
        let env = [
            ("ICC_ICONSTRUYE_URL", url.as_str()),
            ("ICC_ICONSTRUYE_INTERVALO_MS", "0"),
        ];
        let d = tempfile::tempdir().unwrap();
        init(d.path());
        let pull = [
            "--user",
            "admin",
            "iconstruye",
            "pull",
            "--desde",
            "2026-01-01",
            "--hasta",
            "31-03-2026",
            "--json",
        ];

        // no key yet: a Spanish message saying how to set it
        let out = icc_env(d.path(), &pull, None, &env);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("icc credentials set iconstruye-facturas"),
            "{}",
            stderr(&out)
        );

        // a wrong key: refused, never printed
        let wrong = "cli-clave-equivocada-1234";
        let out = icc_env(
            d.path(),
            &["credentials", "set", "iconstruye-facturas"],
            Some(&format!("{wrong}\n")),
            &env,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let out = icc_env(d.path(), &pull, None, &env);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("rechazó la clave"),
            "{}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains(wrong) && !String::from_utf8_lossy(&out.stdout).contains(wrong)
        );

        // the right key, with --user (the role is checked): the acting user's password comes
        // from ICC_PASSWORD, the key from stdin
        let out = icc_env(
            d.path(),
            &[
                "--user",
                "admin",
                "credentials",
                "set",
                "iconstruye-facturas",
                "--json",
            ],
            Some(&format!("{KEY}\n")),
            &env,
        );
        assert_eq!(ok_json(out)["name"], "iconstruye-facturas");
        let list = ok_json(icc_env(
            d.path(),
            &["credentials", "list", "--json"],
            None,
            &env,
        ));
        let item = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "iconstruye-facturas")
            .unwrap()
            .clone();
        assert_eq!(item["configured"], true);
        assert!(!list.to_string().contains(KEY));

        // the pull: bad rows reported (exit 3), the rest stored
        let out = icc_env(d.path(), &pull, None, &env);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for k in [
            "fetched", "inserted", "updated", "rejected", "windows", "errors", "desde", "hasta",
        ] {
            assert!(r.get(k).is_some(), "missing {k}: {r}");
        }
        assert_eq!(r["inserted"], expected);
        assert_eq!(r["rejected"], bad);
        assert_eq!(r["fetched"], expected + bad);
        assert_eq!(r["errors"].as_array().unwrap().len() as u64, bad);
        assert_eq!(r["hasta"], "2026-03-31");

        // again: nothing new, nothing duplicated
        let out = icc_env(d.path(), &pull, None, &env);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (r["inserted"].as_u64(), r["updated"].as_u64()),
            (Some(0), Some(0))
        );
        let list = ok_json(icc_env(
            d.path(),
            &[
                "--user", "admin", "invoices", "list", "--json", "--limit", "1000",
            ],
            None,
            &env,
        ));
        assert_eq!(list["items"].as_array().unwrap().len() as u64, expected);

        // an admin_obra may not pull or set keys
        let out = icc_env(
            d.path(),
            &["--user", "admin", "obras", "add", "OB-9", "Obra nueve"],
            None,
            &env,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let out = icc_env(
            d.path(),
            &[
                "--user",
                "admin",
                "users",
                "add",
                "jefe",
                "--role",
                "admin_obra",
                "--obras",
                "OB-9",
                "--password-stdin",
            ],
            Some(&format!("{PW}\n")),
            &env,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let jefe_pull = [
            "--user",
            "jefe",
            "iconstruye",
            "pull",
            "--desde",
            "2026-01-01",
            "--hasta",
            "2026-01-05",
        ];
        let out = icc_env(d.path(), &jefe_pull, None, &env);
        assert!(
            stderr(&out).contains("permiso denegado"),
            "{}",
            stderr(&out)
        );
        let out = icc_env(
            d.path(),
            &[
                "--user",
                "jefe",
                "credentials",
                "delete",
                "iconstruye-facturas",
            ],
            None,
            &env,
        );
        assert!(
            stderr(&out).contains("permiso denegado"),
            "{}",
            stderr(&out)
        );

        // the key is in no file of the data folder (database, logs, copies)
        for k in [KEY, wrong] {
            assert_eq!(
                files_containing(d.path(), k),
                Vec::<std::path::PathBuf>::new()
            );
        }
        let out = icc_env(
            d.path(),
            &["credentials", "delete", "iconstruye-facturas", "--json"],
            None,
            &env,
        );
        assert_eq!(ok_json(out)["existed"], true);
    })
    .await;
    drop(fake);
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sync_conflicts_and_logout_follow_the_contract() {
    const SPW: &str = "Moldaje-Andamio-Losa-2026";
    let srv = icc_server::testing::TestServer::start(
        &[("contadora", icc_core::Role::Contabilidad, &[])],
        SPW,
    )
    .await;
    let (server, pool) = (srv.url.clone(), srv.pool.clone());

    let result = tokio::task::spawn_blocking(move || {
        let env = [("ICC_SERVER_PASSWORD", SPW)];
        let a = seeded();
        let b = tempfile::tempdir().unwrap();
        init(b.path());
        for d in [a.path(), b.path()] {
            let out = icc_env(
                d,
                &[
                    "--user",
                    "admin",
                    "login",
                    "--server",
                    &server,
                    "--server-user",
                    "contadora",
                    "--json",
                ],
                None,
                &env,
            );
            let v = ok_json(out);
            assert_eq!(v["server_user"], "contadora");
        }
        let r = ok_json(icc_env(
            a.path(),
            &["--user", "admin", "sync", "--json"],
            None,
            &[],
        ));
        for k in ["pushed", "pulled", "conflicts"] {
            assert!(r.get(k).is_some(), "missing {k}: {r}");
        }
        assert!(r["pushed"].as_u64().unwrap() >= 2000, "{r}");
        let r = ok_json(icc_env(
            b.path(),
            &["--user", "admin", "sync", "--json"],
            None,
            &[],
        ));
        assert!(r["pulled"].as_u64().unwrap() >= 2000, "{r}");
        let list = ok_json(icc_env(
            b.path(),
            &[
                "--user", "admin", "invoices", "list", "--json", "--limit", "1",
            ],
            None,
            &[],
        ));
        let key = format!(
            "{}:{}:{}",
            list["items"][0]["rut_emisor"].as_str().unwrap(),
            list["items"][0]["tipo_dte"],
            list["items"][0]["folio"]
        );
        // the same field edited on both, offline: a conflict on both after syncing
        for (d, g) in [(a.path(), "glosa A"), (b.path(), "glosa B")] {
            let out = icc_env(
                d,
                &["--user", "admin", "invoices", "set", &key, "--glosa", g],
                None,
                &[],
            );
            assert!(out.status.success(), "{}", stderr(&out));
        }
        for d in [a.path(), b.path(), a.path()] {
            ok_json(icc_env(
                d,
                &["--user", "admin", "sync", "--json"],
                None,
                &[],
            ));
        }
        let ca = ok_json(icc_env(
            a.path(),
            &["--user", "admin", "conflicts", "list", "--json"],
            None,
            &[],
        ));
        let cb = ok_json(icc_env(
            b.path(),
            &["--user", "admin", "conflicts", "list", "--json"],
            None,
            &[],
        ));
        assert_eq!(ca.as_array().unwrap().len(), 1, "{ca}");
        assert_eq!(ca[0]["id"], cb[0]["id"]);
        assert_eq!(ca[0]["winner_value"], "\"glosa B\"");
        let id = ca[0]["id"].to_string();
        let out = icc_env(
            a.path(),
            &[
                "--user",
                "admin",
                "conflicts",
                "resolve",
                &id,
                "--keep",
                "ambos",
            ],
            None,
            &[],
        );
        assert_eq!(out.status.code(), Some(2));
        let resolved = ok_json(icc_env(
            a.path(),
            &[
                "--user",
                "admin",
                "conflicts",
                "resolve",
                &id,
                "--keep",
                "theirs",
                "--json",
            ],
            None,
            &[],
        ));
        // the server answered: sent now, nothing waits
        assert_eq!(
            (&resolved["ok"], &resolved["enviado"], &resolved["aviso"]),
            (
                &serde_json::json!(true),
                &serde_json::json!(true),
                &serde_json::Value::Null
            ),
            "{resolved}"
        );
        let ok = ok_json(icc_env(
            a.path(),
            &["--user", "admin", "logout", "--json"],
            None,
            &[],
        ));
        assert_eq!(ok["ok"], true);
        let out = icc_env(a.path(), &["--user", "admin", "sync"], None, &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("icc login"), "{}", stderr(&out));
    })
    .await;
    drop(pool);
    srv.stop().await;
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laptop_killed_mid_sync_resumes_without_loss_or_duplicates() {
    const SPW: &str = "Moldaje-Andamio-Losa-2026";
    const METRICS: &str = "metricas-de-la-prueba-de-cortes-2026";
    let srv = icc_server::testing::TestServer::start_with(
        &[("contadora", icc_core::Role::Contabilidad, &[])],
        SPW,
        |c| c.metrics_token = Some(icc_server::config::SecretString::new(METRICS)),
    )
    .await;
    let (server, pool) = (srv.url.clone(), srv.pool.clone());
    let a = tempfile::tempdir().unwrap();
    init(a.path());
    let env = [("ICC_SERVER_PASSWORD", SPW)];
    ok_json(icc_env(
        a.path(),
        &[
            "--user",
            "admin",
            "login",
            "--server",
            &server,
            "--server-user",
            "contadora",
            "--json",
        ],
        None,
        &env,
    ));
    let out = icc(
        a.path(),
        &["dev", "seed", "--invoices", "6000", "--seed", "9"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // a sync in its own process, to be killed
    let sync = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_icc"))
            .arg("--data-dir")
            .arg(dir)
            .args(["--user", "admin", "sync"])
            .env("ICC_PASSWORD", PW)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // kill -9 once the server has started receiving
    let mut child = sync(a.path());
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n > 0 || child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        partial < 6000,
        "killed in the middle ({partial} of 6000 sent)"
    );
    // 19 more kills at other moments, each with more invoices to send: before the push,
    // while batches travel, while the server stores them, during the pull
    let mut expected = 6000u64;
    for round in 1..20u64 {
        let seeded = ok_json(icc(
            a.path(),
            &[
                "--json",
                "dev",
                "seed",
                "--invoices",
                "300",
                "--seed",
                &(100 + round).to_string(),
            ],
            None,
        ));
        expected += seeded["inserted"].as_u64().unwrap();
        let mut child = sync(a.path());
        tokio::time::sleep(std::time::Duration::from_millis(round * 37 % 450)).await;
        child.kill().unwrap(); // SIGKILL, or already done
        child.wait().unwrap();
    }

    let a_path = a.path().to_owned();
    let server2 = server.clone();
    let (r, list_b) = tokio::task::spawn_blocking(move || {
        // the laptop's database is sound after kill -9
        assert_integrity_ok(&a_path);
        let r = ok_json(icc_env(
            &a_path,
            &["--user", "admin", "sync", "--json"],
            None,
            &[],
        ));
        let b = tempfile::tempdir().unwrap();
        init(b.path());
        ok_json(icc_env(
            b.path(),
            &[
                "--user",
                "admin",
                "login",
                "--server",
                &server2,
                "--server-user",
                "contadora",
                "--json",
            ],
            None,
            &[("ICC_SERVER_PASSWORD", SPW)],
        ));
        ok_json(icc_env(
            b.path(),
            &["--user", "admin", "sync", "--json"],
            None,
            &[],
        ));
        let mut n = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            let mut args = vec![
                "--user", "admin", "invoices", "list", "--json", "--limit", "1000",
            ];
            let c;
            if let Some(cur) = &cursor {
                c = cur.clone();
                args.extend(["--cursor", c.as_str()]);
            }
            let p = ok_json(icc_env(b.path(), &args, None, &[]));
            n += p["items"].as_array().unwrap().len() as u64;
            match p["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        (r, n)
    })
    .await
    .unwrap();
    assert_eq!(r["pending"], 0);
    let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops WHERE field = '_doc'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let distinct: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT (entity, entity_id)) FROM ops WHERE field = '_doc'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let expected = i64::try_from(expected).unwrap();
    assert_eq!(
        (docs, distinct),
        (expected, expected),
        "every invoice once, none lost"
    );
    assert_eq!(list_b, expected as u64, "the other laptop has them all");
    // no request the kills cut, nor any after them, made the server answer 500
    let metrics = reqwest::Client::new()
        .get(format!("{server}/metrics"))
        .bearer_auth(METRICS)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("route=\"/api/v1/sync/push\",status=\"200\""),
        "{metrics}"
    );
    assert!(!metrics.contains("status=\"5"), "{metrics}");
    drop(pool);
    srv.stop().await;
}

/// Every file under `dir` and every console output, as one haystack per source.
fn log_haystacks(dir: &Path, consoles: &[Output]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push((
            e.path().display().to_string(),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    for (i, o) in consoles.iter().enumerate() {
        out.push((format!("stderr of step {i}"), o.stderr.clone()));
        out.push((format!("stdout of step {i}"), o.stdout.clone()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_at_trace_level_logs_no_secret() {
    use icc_iconstruye::fake::{FakeConfig, FakeServer};
    const KEY: &str = "traza-clave-iconstruye-5f4e3d2c1b";
    const SPW: &str = "Hormigon-Fraguado-Lento-2026";
    const JEFE_PW: &str = "Cubicacion-Moldaje-Tres-77!";
    const WRONG: &str = "Clave-Equivocada-Zeta-31";
    let from: chrono::NaiveDate = "2026-02-01".parse().unwrap();
    let mut cfg = FakeConfig::new(7, 30, from, KEY);
    cfg.retry_after_secs = 0;
    let fake = FakeServer::start(cfg, 0).await.unwrap();
    let iconstruye = fake.url();
    let srv = icc_server::testing::TestServer::start(
        &[("contadora", icc_core::Role::Contabilidad, &[])],
        SPW,
    )
    .await;
    let server = srv.url.clone();

    let result = tokio::task::spawn_blocking(move || {
        let d = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let logs_dir = logs.path().display().to_string();
        let env = [
            ("ICC_ENV", "dev"),
            ("RUST_LOG", "trace"),
            ("ICC_LOG_DIR", logs_dir.as_str()),
            ("ICC_ICONSTRUYE_URL", iconstruye.as_str()),
            ("ICC_ICONSTRUYE_INTERVALO_MS", "0"),
            ("ICC_SERVER_PASSWORD", SPW),
        ];
        let mut steps = Vec::new();
        let mut step = |args: &[&str], stdin: Option<&str>, extra: &[(&str, &str)]| {
            let mut all: Vec<(&str, &str)> = env.to_vec();
            all.extend_from_slice(extra);
            let out = icc_env(d.path(), args, stdin, &all);
            let code = out.status.code();
            if code != Some(0) {
                eprintln!("{args:?} → {code:?}: {}", stderr(&out));
            }
            steps.push(out);
            code
        };
        let admin_pw = format!("{PW}\n");
        assert_eq!(
            step(
                &["init", "--admin-user", "admin", "--password-stdin"],
                Some(&admin_pw),
                &[]
            ),
            Some(0)
        );
        let jefe_pw = format!("{JEFE_PW}\n");
        assert_eq!(
            step(
                &[
                    "--user",
                    "admin",
                    "users",
                    "add",
                    "jefe",
                    "--role",
                    "contabilidad",
                    "--password-stdin"
                ],
                Some(&jefe_pw),
                &[]
            ),
            Some(0)
        );
        // a failed login, then a good one
        assert_ne!(
            step(
                &["--user", "jefe", "invoices", "list"],
                None,
                &[("ICC_PASSWORD", WRONG)]
            ),
            Some(0)
        );
        assert_eq!(
            step(
                &["--user", "jefe", "invoices", "list", "--json"],
                None,
                &[("ICC_PASSWORD", JEFE_PW)]
            ),
            Some(0)
        );
        let key = format!("{KEY}\n");
        assert_eq!(
            step(
                &["credentials", "set", "iconstruye-facturas"],
                Some(&key),
                &[]
            ),
            Some(0)
        );
        assert!(matches!(
            step(
                &[
                    "--user",
                    "admin",
                    "iconstruye",
                    "pull",
                    "--desde",
                    "2026-02-01",
                    "--hasta",
                    "2026-02-28",
                    "--json"
                ],
                None,
                &[]
            ),
            Some(0) | Some(3) // 3: the fake's rejected rows
        ));
        assert_eq!(
            step(
                &[
                    "--user",
                    "admin",
                    "login",
                    "--server",
                    &server,
                    "--server-user",
                    "contadora"
                ],
                None,
                &[]
            ),
            Some(0)
        );
        assert_eq!(
            step(&["--user", "admin", "sync", "--json"], None, &[]),
            Some(0)
        );
        // the refresh token as the keyring holds it now (it rotated at the sync)
        let install_id = tokio::runtime::Runtime::new().unwrap().block_on(async {
            use sqlx::Connection;
            let key = icc_app::encryption::database_key(d.path()).await.unwrap();
            let opts = icc_store::connect_options(&d.path().join("icc.db"), key.as_ref()).unwrap();
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let id: String =
                sqlx::query_scalar("SELECT value FROM settings WHERE key = 'install_id'")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            id
        });
        let refresh = Command::new("secret-tool")
            .args([
                "lookup",
                "service",
                &format!("icc-facturas:{install_id}"),
                "username",
                "servidor-sincronizacion",
            ])
            .output()
            .unwrap();
        let refresh = String::from_utf8(refresh.stdout).unwrap().trim().to_owned();
        assert!(refresh.len() >= 20, "the refresh token is in the keyring");
        assert_eq!(
            step(&["--user", "admin", "sync", "--json"], None, &[]),
            Some(0)
        );
        assert_eq!(step(&["--user", "admin", "logout"], None, &[]), Some(0));

        let hay = log_haystacks(logs.path(), &steps);
        let bytes: usize = hay.iter().map(|(_, h)| h.len()).sum();
        assert!(
            std::fs::read_dir(logs.path()).unwrap().count() >= 1,
            "the session wrote its log file"
        );
        assert!(bytes > 100_000, "trace level logs plenty ({bytes} bytes)");
        // the log covers what was done with the secrets, so the search below means something
        let files: Vec<u8> = hay
            .iter()
            .filter(|(n, _)| !n.starts_with("std"))
            .flat_map(|(_, h)| h.clone())
            .collect();
        let text = String::from_utf8_lossy(&files);
        for event in [
            "login refused: wrong password",
            "credential stored in the OS keyring",
            "linked to the sync server",
            "cvbf/api/Factura/Buscar",
        ] {
            assert!(text.contains(event), "the log mentions {event:?}");
        }
        // the data folder's key as the keyring holds it, and any statement that carries a
        // SQLCipher key (`PRAGMA key = "x'…'"`, `ATTACH … KEY "x'…'"`)
        let key_file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join("cifrado.json")).unwrap())
                .unwrap();
        let master = Command::new("secret-tool")
            .args([
                "lookup",
                "service",
                &format!(
                    "icc-facturas:cifrado:{}",
                    key_file["key_id"].as_str().unwrap()
                ),
                "username",
                "clave-de-datos",
            ])
            .output()
            .unwrap();
        let master = String::from_utf8(master.stdout).unwrap().trim().to_owned();
        assert_eq!(master.len(), 64, "the folder's key is in the keyring");
        for secret in [
            PW,
            JEFE_PW,
            WRONG,
            KEY,
            SPW,
            refresh.as_str(),
            "eyJhbGci",
            master.as_str(),
            "PRAGMA key",
            "KEY \"x'",
        ] {
            for (name, h) in &hay {
                assert!(
                    !h.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a secret ({}…) is in {name}",
                    &secret[..4]
                );
            }
        }
    })
    .await;
    srv.stop().await;
    result.unwrap();
}

/// `icc doctor` says the database passes `integrity_check` (other checks may fail here:
/// no backup yet, no keyring).
fn assert_integrity_ok(dir: &Path) {
    let out = icc(dir, &["doctor", "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let integrity = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "integrity")
        .unwrap()
        .clone();
    assert_eq!(integrity["ok"], true, "{integrity}");
}

/// Every row of every table of a database file, as text, table by table.
async fn db_content(path: &Path) -> Vec<(String, Vec<String>)> {
    use sqlx::Connection;
    let key = icc_app::encryption::database_key(path.parent().unwrap())
        .await
        .unwrap();
    let opts = icc_store::connect_options(path, key.as_ref())
        .unwrap()
        .read_only(true);
    let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(&t)
            .fetch_all(&mut c)
            .await
            .unwrap();
        let expr = cols
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {expr} FROM \"{t}\" ORDER BY 1"
        )))
        .fetch_all(&mut c)
        .await
        .unwrap();
        out.push((t, rows));
    }
    c.close().await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_a_damaged_live_database_comes_back_identical() {
    let d = seeded();
    let b = ok_json(icc(
        d.path(),
        &["--user", "admin", "backup", "create", "--json"],
        None,
    ));
    let id = b[0]["id"].as_str().unwrap().to_owned();
    let db = d.path().join("icc.db");
    let before = db_content(&db).await;
    assert!(
        before
            .iter()
            .any(|(t, r)| t == "invoices" && r.len() == 2000)
    );

    // the disk fails: pages in the middle of the live file are overwritten
    let mut bytes = std::fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64 * 1024].fill(0x5A);
    bytes[4096..8192].fill(0xC3);
    std::fs::write(&db, &bytes).unwrap();
    let damaged = bytes;
    let doctor = icc(d.path(), &["doctor", "--json"], None);
    assert!(!doctor.status.success(), "doctor notices the damage");

    let out = icc(
        d.path(),
        &["--user", "admin", "backup", "restore", "--latest", "--json"],
        None,
    );
    let v = ok_json(out);
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(
        db_content(&db).await,
        before,
        "identical content after the restore"
    );
    assert_integrity_ok(d.path());
    // the damaged file was kept, byte for byte, in the safety copy
    let safety = std::fs::read_dir(d.path().join("respaldos"))
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".antes-de-restaurar-")
        })
        .unwrap();
    assert_eq!(
        std::fs::read(safety.path().join("icc.db")).unwrap(),
        damaged
    );

    // with the live database gone bad, a wrong password still restores nothing
    std::fs::write(&db, b"not a database at all").unwrap();
    let out = icc_env(
        d.path(),
        &["--user", "admin", "backup", "restore", "--latest"],
        None,
        &[("ICC_PASSWORD", "Otra-Clave-Cualquiera-99")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("administrador activo del respaldo"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&db).unwrap(), b"not a database at all");
    ok_json(icc(
        d.path(),
        &["--user", "admin", "backup", "restore", &id, "--json"],
        None,
    ));
    assert_eq!(db_content(&db).await, before);
}

#[test]
fn a_backup_killed_mid_way_leaves_earlier_backups_and_the_database_sound() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let out = icc(
        d.path(),
        &["dev", "seed", "--invoices", "100000", "--seed", "5"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let first = ok_json(icc(
        d.path(),
        &["--user", "admin", "backup", "create", "--json"],
        None,
    ));
    let first_id = first[0]["id"].as_str().unwrap().to_owned();
    // the next backup gets a later name
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let backups = d.path().join("respaldos");
    let mut child = Command::new(env!("CARGO_BIN_EXE_icc"))
        .arg("--data-dir")
        .arg(d.path())
        .args(["--user", "admin", "backup", "create"])
        .env("ICC_PASSWORD", PW)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let partial = loop {
        let p = std::fs::read_dir(&backups)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".partial"));
        if let Some(p) = p {
            break p.path();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the backup never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(partial.exists(), "killed while still partial");

    // the earlier backup is intact and the only one listed
    let list = ok_json(icc(
        d.path(),
        &["--user", "admin", "backup", "list", "--json"],
        None,
    ));
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first_id.as_str()]);
    ok_json(icc(
        d.path(),
        &["--user", "admin", "backup", "verify", &first_id, "--json"],
        None,
    ));
    // the live database is healthy and whole
    assert_integrity_ok(d.path());
    let page = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "invoices", "list", "--limit", "1", "--json",
        ],
        None,
    ));
    assert!(page["items"].as_array().unwrap().len() == 1, "{page}");
    // and the next backup works
    let again = ok_json(icc(
        d.path(),
        &["--user", "admin", "backup", "create", "--json"],
        None,
    ));
    assert_ne!(again[0]["id"], first_id.as_str());
}

#[test]
fn migrate_legacy_follows_the_contract() {
    let d = tempfile::tempdir().unwrap();
    let legacy = tempfile::tempdir().unwrap();
    let out = legacy.path().display().to_string();
    let facts = ok_json(icc(
        d.path(),
        &[
            "dev",
            "legacy-fixture",
            "--out",
            &out,
            "--invoices",
            "20",
            "--json",
        ],
        None,
    ));
    let db = facts["db"].as_str().unwrap();
    let files = facts["files"].as_str().unwrap();
    let run = icc(
        d.path(),
        &["migrate-legacy", "--db", db, "--files", files, "--json"],
        None,
    );
    assert_eq!(
        run.status.code(),
        Some(3),
        "rejected rows: {}",
        stderr(&run)
    );
    let r: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for k in [
        "users",
        "users_disabled",
        "obras",
        "invoices_read",
        "invoices",
        "merged",
        "existing",
        "rejected",
        "archived",
        "skipped",
        "entries",
    ] {
        assert!(r.get(k).is_some(), "missing {k}: {r}");
    }
    assert_eq!(r["invoices"], facts["distinct_invoices"]);
    assert_eq!(r["rejected"], 2);
    assert!(stderr(&run).contains("no se migraron"));
    // a migrated administrator works from the command line with the old password
    let out = icc_env(
        d.path(),
        &[
            "--user",
            "mlopez@constructoraicc.cl",
            "invoices",
            "list",
            "--json",
        ],
        None,
        &[("ICC_PASSWORD", "Contab-Sur-2024")],
    );
    let page = ok_json(out);
    assert!(!page["items"].as_array().unwrap().is_empty());
    // a second run needs that administrator, and adds nothing
    let again = icc_env(
        d.path(),
        &[
            "--user",
            "mlopez@constructoraicc.cl",
            "migrate-legacy",
            "--db",
            db,
            "--files",
            files,
            "--json",
        ],
        None,
        &[("ICC_PASSWORD", "Contab-Sur-2024")],
    );
    let r: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(r["invoices"], 0);
    assert_eq!(r["existing"], facts["distinct_invoices"]);
    // what the predecessor kept for Kame: its account and business-unit maps become
    // templates and units, its upload log marks those invoices posted; once
    let old_admin = [("ICC_PASSWORD", "Contab-Sur-2024")];
    let kame = |args: &[&str]| {
        let mut a = vec!["--user", "mlopez@constructoraicc.cl", "kame"];
        a.extend_from_slice(args);
        a.push("--json");
        ok_json(icc_env(d.path(), &a, None, &old_admin))
    };
    let maps = [
        "importar-anterior",
        "--iva",
        "1109001",
        "--proveedor",
        "2101001",
    ];
    let k = kame(&maps);
    assert_eq!(
        (k["plantillas_nuevas"].as_u64(), k["unidades"].as_u64()),
        (Some(3), Some(3)),
        "{k}"
    );
    let logged =
        k["contabilizadas_antes"].as_u64().unwrap() + k["subidas_sin_factura"].as_u64().unwrap();
    assert_eq!(logged, 3, "every entry of subidas.csv accounted for: {k}");
    // 31000000 and 31000001 from facturas.csv, 32000001 from facturas_subidas_datos.csv
    assert_eq!(
        k["contabilizadas_antes"], 3,
        "the uploaded documents were migrated: {k}"
    );
    let list = kame(&["plantilla", "list"]);
    let materiales = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["concepto"] == "Materiales")
        .unwrap();
    assert_eq!(materiales["cuenta_neto"], "4.01.02.01");
    assert_eq!(materiales["cuenta_proveedor"], "2101001");
    let k = kame(&maps);
    assert_eq!(
        (
            k["plantillas_nuevas"].as_u64(),
            k["plantillas_existentes"].as_u64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(
        k["contabilizadas_antes"], 0,
        "a second run marks nothing again"
    );
    let denied = icc(
        d.path(),
        &["migrate-legacy", "--db", db, "--files", files],
        None,
    );
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains("administrador"),
        "{}",
        stderr(&denied)
    );
}

#[test]
fn payments_and_interest_rates_follow_the_contract() {
    let d = seeded();
    let page = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "invoices", "list", "--json", "--estado", "aprobada", "--limit",
            "100",
        ],
        None,
    ));
    let it = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tipo_dte"] == 33)
        .expect("an approved factura");
    let key = format!(
        "{}:{}:{}",
        it["rut_emisor"].as_str().unwrap(),
        it["tipo_dte"],
        it["folio"]
    );
    let saldo = ok_json(icc(
        d.path(),
        &["--user", "admin", "pagos", "saldo", &key, "--json"],
        None,
    ));
    let owed = saldo["saldo"]["saldo"].as_i64().unwrap();
    assert!(owed > 1, "{saldo}");
    assert_eq!(
        owed,
        saldo["saldo"]["total"].as_i64().unwrap()
            - saldo["saldo"]["notas_credito"].as_i64().unwrap()
    );

    // a partial payment, then more than what is left: refused with the balance named
    let part = (owed / 2).to_string();
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "pagos",
            "registrar",
            &key,
            "--monto",
            &part,
            "--fecha",
            "02-12-2026",
            "--medio",
            "cheque",
            "--referencia",
            "CH-0042",
            "--json",
        ],
        None,
    ));
    assert_eq!(r["factura"], key.as_str());
    assert_eq!(r["estado"], "parcialmente_pagada");
    assert_eq!(r["pago"]["monto"].as_i64().unwrap(), owed / 2);
    assert_eq!(r["pago"]["fecha"], "2026-12-02");
    assert_eq!(r["pago"]["medio"], "cheque");
    let left = owed - owed / 2;
    assert_eq!(r["saldo"]["saldo"].as_i64().unwrap(), left);
    let too_much = (left + 1).to_string();
    let out = icc(
        d.path(),
        &[
            "--user",
            "admin",
            "pagos",
            "registrar",
            &key,
            "--monto",
            &too_much,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("supera el saldo"), "{}", stderr(&out));
    for (flag, value, needle) in [
        ("--monto", "1,5", "pesos enteros"),
        ("--fecha", "31-02-2026", "fecha"),
        ("--medio", "tarjeta", "vale_vista"),
    ] {
        let mut args = vec![
            "--user",
            "admin",
            "pagos",
            "registrar",
            &key,
            "--monto",
            "1",
        ];
        if flag == "--monto" {
            args[6] = value;
        } else {
            args.extend([flag, value]);
        }
        refused(d.path(), &args, needle);
    }
    // the rest settles it
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "pagos",
            "registrar",
            &key,
            "--monto",
            &left.to_string(),
            "--json",
        ],
        None,
    ));
    assert_eq!(r["estado"], "pagada");
    assert_eq!(r["saldo"]["saldo"], 0);
    let shown = ok_json(icc(
        d.path(),
        &["--user", "admin", "invoices", "show", &key, "--json"],
        None,
    ));
    assert_eq!(shown["estado"], "pagada");
    assert_eq!(shown["pagos"]["pagos"].as_array().unwrap().len(), 2);
    assert!(shown["vence_fuente"].is_string(), "{shown}");

    // the rates IT enters
    let r = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "pagos", "tasa", "03-2026", "24,32", "--json",
        ],
        None,
    ));
    assert_eq!(r["annual_bp"], 2432);
    let rates = ok_json(icc(
        d.path(),
        &["--user", "admin", "pagos", "tasas", "--json"],
        None,
    ));
    assert_eq!(rates[0]["month"], 3);
    let out = icc(
        d.path(),
        &["--user", "admin", "pagos", "tasa", "13-2026", "24"],
        None,
    );
    assert!(stderr(&out).contains("MM-AAAA"), "{}", stderr(&out));
}

#[test]
fn bank_accounts_need_a_second_person_to_become_payable() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "obras", "add", "OB-1", "Obra uno", "--json",
        ],
        None,
    ));
    add_user(d.path(), "contadora", "contabilidad", "OB-1");
    add_user(d.path(), "jperez", "admin_obra", "OB-1");
    let a = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cuentas-bancarias",
            "add",
            "--rut",
            "76.555.835-2",
            "--banco",
            "Santander",
            "--tipo",
            "Cuenta Corriente",
            "--numero",
            "0-012-34567-8",
            "--titular",
            "Ferretería Ñuñoa Ltda.",
            "--email",
            "pagos@nunoa.cl",
            "--json",
        ],
        None,
    ));
    for k in [
        "id",
        "rut",
        "banco",
        "banco_nombre",
        "tipo_cuenta",
        "numero",
        "titular_rut",
        "titular_nombre",
        "email",
        "estado",
        "created_by",
        "duplicada",
    ] {
        assert!(a.get(k).is_some(), "account lacks {k}: {a}");
    }
    assert_eq!(
        (&a["estado"], &a["banco"], &a["numero"], &a["titular_rut"]),
        (
            &serde_json::json!("pendiente"),
            &serde_json::json!("037"),
            &serde_json::json!("0012345678"),
            &serde_json::json!("76555835-2")
        )
    );
    let id = a["id"].as_str().unwrap();
    // the one who entered it, and a role without the permission, cannot approve it
    let out = icc(
        d.path(),
        &["--user", "contadora", "cuentas-bancarias", "aprobar", id],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("aprobar"), "{}", stderr(&out));
    let out = icc(
        d.path(),
        &["--user", "jperez", "cuentas-bancarias", "list"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "an admin_obra does not see bank accounts"
    );
    let ok = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "cuentas-bancarias",
            "aprobar",
            id,
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (&ok["estado"], &ok["decided_by"]),
        (&serde_json::json!("aprobada"), &serde_json::json!("admin"))
    );
    let list = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cuentas-bancarias",
            "list",
            "--rut",
            "76555835-2",
            "--estado",
            "aprobada",
            "--json",
        ],
        None,
    ));
    assert_eq!(list.as_array().unwrap().len(), 1);
    for (flag, value, needle) in [
        ("--banco", "999", "tabla de bancos"),
        ("--tipo", "tarjeta", "corriente"),
        ("--numero", "12ab", "número de cuenta"),
        ("--rut", "76555835-3", "RUT"),
    ] {
        let mut args = vec![
            "--user",
            "contadora",
            "cuentas-bancarias",
            "add",
            "--rut",
            "77879240-0",
            "--banco",
            "037",
            "--tipo",
            "vista",
            "--numero",
            "123456",
            "--titular",
            "Grúas Andes",
        ];
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        refused(d.path(), &args, needle);
    }
    let banks = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cuentas-bancarias",
            "bancos",
            "--json",
        ],
        None,
    ));
    assert!(
        banks
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["code"] == "012" && b["name"] == "BancoEstado")
    );
}

#[test]
fn a_payment_run_is_prepared_approved_by_the_gerente_and_marked_paid() {
    let d = seeded();
    add_user(d.path(), "contadora", "contabilidad", "");
    add_user(d.path(), "gerente", "gerente", "");
    // the payment rules: defaults, changed by the admin only, checked
    let c = ok_json(icc(
        d.path(),
        &["--user", "contadora", "pagos", "configuracion", "--json"],
        None,
    ));
    assert_eq!(
        (
            &c["regla_60_dias"],
            &c["limite_transferencia"],
            &c["agrupar_transferencias"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!(7_000_000),
            &serde_json::json!(false)
        )
    );
    let out = icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "pagos",
            "configurar",
            "--agrupar",
            "si",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let c = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "pagos",
            "configurar",
            "--agrupar",
            "si",
            "--limite",
            "5.000.000",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (&c["limite_transferencia"], &c["agrupar_transferencias"]),
        (&serde_json::json!(5_000_000), &serde_json::json!(true))
    );
    // the run e-mail: not configured says what to set; the admin configures it, checked
    let out = icc(
        d.path(),
        &["--user", "contadora", "pagos", "enviar-correo", "1"],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--correo-servidor"),
        "{}",
        stderr(&out)
    );
    let c = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "pagos",
            "configurar",
            "--correo-servidor",
            "smtp.icc.cl",
            "--correo-usuario",
            "nominas@icc.cl",
            "--correo-remitente",
            "Nóminas ICC <nominas@icc.cl>",
            "--correo-destinatarios",
            "gerente@icc.cl, tesoreria@icc.cl",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (
            &c["correo"]["servidor"],
            &c["correo"]["puerto"],
            &c["correo"]["destinatarios"]
        ),
        (
            &serde_json::json!("smtp.icc.cl"),
            &serde_json::json!(587),
            &serde_json::json!(["gerente@icc.cl", "tesoreria@icc.cl"])
        )
    );
    let out = icc(
        d.path(),
        &[
            "--user",
            "admin",
            "pagos",
            "configurar",
            "--correo-destinatarios",
            "gerente",
        ],
        None,
    );
    assert!(
        stderr(&out).contains("no es una dirección de correo"),
        "{}",
        stderr(&out)
    );
    for bad in [["--agrupar", "quizas"], ["--limite", "0"]] {
        let out = icc(
            d.path(),
            &["--user", "admin", "pagos", "configurar", bad[0], bad[1]],
            None,
        );
        assert!(!out.status.success(), "{bad:?}");
    }
    let out = icc(
        d.path(),
        &[
            "--user",
            "gerente",
            "pagos",
            "nueva",
            "--corte",
            "31-12-2099",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the gerente does not prepare runs"
    );
    assert!(
        stderr(&out).contains("preparar nóminas"),
        "{}",
        stderr(&out)
    );
    let run = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "pagos",
            "nueva",
            "--corte",
            "31-12-2099",
            "--json",
        ],
        None,
    ));
    for k in [
        "id",
        "numero",
        "corte",
        "estado",
        "total",
        "lineas_incluidas",
        "lineas",
        "beneficiarios",
        "created_by",
    ] {
        assert!(run.get(k).is_some(), "run lacks {k}");
    }
    assert_eq!(
        (&run["estado"], &run["corte"]),
        (
            &serde_json::json!("borrador"),
            &serde_json::json!("2099-12-31")
        )
    );
    let lines = run["lineas"].as_array().unwrap();
    assert!(lines.len() > 10, "{}", lines.len());
    let sum: i64 = lines
        .iter()
        .filter(|l| l["incluida"] == true)
        .map(|l| l["monto"].as_i64().unwrap())
        .sum();
    assert_eq!(run["total"].as_i64().unwrap(), sum);
    let by_payee: i64 = run["beneficiarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["total"].as_i64().unwrap())
        .sum();
    assert_eq!(by_payee, sum);
    for l in lines {
        assert!(
            l["monto"].as_i64().unwrap() <= l["saldo"].as_i64().unwrap(),
            "{l}"
        );
        for k in [
            "documento",
            "beneficiario_rut",
            "beneficiario",
            "vence",
            "saldo",
            "monto",
            "incluida",
            "nota",
            "cedida",
        ] {
            assert!(l.get(k).is_some(), "line lacks {k}");
        }
    }
    let numero = run["numero"].to_string();
    let first = lines[0]["documento"].as_str().unwrap().to_owned();
    let second = lines[1]["documento"].as_str().unwrap().to_owned();
    let second_saldo = lines[1]["saldo"].as_i64().unwrap();
    ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "pagos",
            "excluir",
            &numero,
            &first,
            "--json",
        ],
        None,
    ));
    let part = (second_saldo / 2).max(1).to_string();
    let edited = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "pagos",
            "parcial",
            &numero,
            &second,
            "--monto",
            &part,
            "--json",
        ],
        None,
    ));
    assert_eq!(
        edited["total"].as_i64().unwrap(),
        sum - lines[0]["monto"].as_i64().unwrap() - lines[1]["monto"].as_i64().unwrap()
            + (second_saldo / 2).max(1)
    );
    let out = icc(
        d.path(),
        &["--user", "contadora", "pagos", "aprobar", &numero],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "contabilidad does not approve runs"
    );
    let approved = ok_json(icc(
        d.path(),
        &["--user", "gerente", "pagos", "aprobar", &numero, "--json"],
        None,
    ));
    assert_eq!(
        (&approved["estado"], &approved["approved_by"]),
        (
            &serde_json::json!("aprobada"),
            &serde_json::json!("gerente")
        )
    );
    let out = icc(
        d.path(),
        &["--user", "contadora", "pagos", "incluir", &numero, &first],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nómina nueva"), "{}", stderr(&out));
    let paid = ok_json(icc(
        d.path(),
        &[
            "--user",
            "gerente",
            "pagos",
            "marcar-pagada",
            &numero,
            "--json",
        ],
        None,
    ));
    assert_eq!(paid["estado"], "pagada");
    let shown = ok_json(icc(
        d.path(),
        &["--user", "admin", "invoices", "show", &second, "--json"],
        None,
    ));
    assert_eq!(shown["estado"], "parcialmente_pagada");
    assert_eq!(shown["pagos"]["pagos"][0]["run_id"], run["id"]);
    let untouched = ok_json(icc(
        d.path(),
        &["--user", "admin", "invoices", "show", &first, "--json"],
        None,
    ));
    assert!(untouched["pagos"]["pagos"].as_array().unwrap().is_empty());
    let list = ok_json(icc(
        d.path(),
        &["--user", "gerente", "pagos", "lista", "--json"],
        None,
    ));
    assert_eq!(list[0]["estado"], "pagada");

    // cesiones by hand
    let c = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "add",
            "--documento",
            "76555835-2:33:424242",
            "--cesionario-rut",
            "96667560-8",
            "--cesionario",
            "Factoring Uno S.A.",
            "--monto",
            "1.000.000",
            "--fecha",
            "05-10-2026 10:18",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (&c["seq"], &c["invoice_id"]),
        (&serde_json::json!(1), &serde_json::Value::Null)
    );
    let cs = ok_json(icc(
        d.path(),
        &["--user", "gerente", "cesiones", "list", "--json"],
        None,
    ));
    assert_eq!(cs.as_array().unwrap().len(), 1);
}

#[test]
fn the_predecessors_transfer_sheet_creates_pending_accounts_only() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let legacy = tempfile::tempdir().unwrap();
    let out = legacy.path().display().to_string();
    let facts = ok_json(icc(
        d.path(),
        &[
            "dev",
            "legacy-fixture",
            "--out",
            &out,
            "--invoices",
            "5",
            "--json",
        ],
        None,
    ));
    let sheet = std::path::Path::new(facts["files"].as_str().unwrap()).join("Santander.xlsx");
    let sheet = sheet.to_str().unwrap();
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "cuentas-bancarias",
            "importar",
            sheet,
            "--json",
        ],
        None,
    ));
    // the fixture's rows: one good, one with a wrong check digit, one supplier twice
    assert_eq!(r["creadas"], 1, "{r}");
    let errores = r["errores"].as_array().unwrap();
    assert!(
        errores.iter().any(|e| e["column"] == "RUT beneficiario"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("dígito verificador")),
        "{r}"
    );
    assert!(
        errores
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("se usa la primera")),
        "{r}"
    );
    assert_eq!(r["repetidas"], 0);
    let avisos = r["avisos"].as_array().unwrap();
    assert!(
        avisos
            .iter()
            .any(|a| a.as_str().unwrap().contains("CONTACTO@GMAIL,COM")),
        "the malformed e-mail is dropped and said: {r}"
    );
    assert!(
        avisos
            .iter()
            .any(|a| a.as_str().unwrap().contains("cuenta corriente"))
    );
    let accounts = ok_json(icc(
        d.path(),
        &["--user", "admin", "cuentas-bancarias", "list", "--json"],
        None,
    ));
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len() as u64, r["creadas"].as_u64().unwrap());
    assert!(
        accounts
            .iter()
            .all(|a| a["estado"] == "pendiente" && a["origen"] == "santander_xlsx")
    );
    assert!(
        accounts
            .iter()
            .any(|a| a["rut"] == "76001013-8" && a["banco"] == "001")
    );
    // importing again changes nothing
    let again = ok_json(icc(
        d.path(),
        &[
            "--user",
            "admin",
            "cuentas-bancarias",
            "importar",
            sheet,
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (again["creadas"].as_u64(), again["repetidas"].as_u64()),
        (Some(0), r["creadas"].as_u64())
    );
    // a file that is not a transfer sheet is refused with the reason
    let csv = d.path().join("otra.csv");
    std::fs::write(&csv, "Folio;Monto\n1;2\n").unwrap();
    let out = icc(
        d.path(),
        &[
            "--user",
            "admin",
            "cuentas-bancarias",
            "importar",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no es una planilla de transferencias"),
        "{}",
        stderr(&out)
    );
}

/// `icc … | head`: the reader goes away, the command ends quietly (no panic message).
#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    let d = seeded();
    let mut child = Command::new(env!("CARGO_BIN_EXE_icc"))
        .arg("--data-dir")
        .arg(d.path())
        .args(["--user", "admin", "invoices", "list", "--limit", "1000"])
        .env("ICC_PASSWORD", PW)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // as `head` does: read a little, then close the pipe
    let mut out = child.stdout.take().unwrap();
    let mut first = [0_u8; 16];
    let _ = std::io::Read::read(&mut out, &mut first);
    drop(out);
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_ne!(done.status.code(), Some(101), "{err}");
}

/// An accountant's workbook whose rows name obras: OB-1 (exists) and three the office has
/// not created yet (OB-7 twice, OB-8, OB-9).
fn workbook_with_obras(path: &Path) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let headers = [
        "RUT Proveedor",
        "Razón social",
        "Tipo Doc",
        "Folio",
        "Fecha emisión",
        "Monto Neto",
        "IVA",
        "Monto Total",
        "Obra",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let rows = [
        (101, "OB-1"),
        (102, "OB-7"),
        (103, "ob-7"),
        (104, "OB-8"),
        (105, "OB-9"),
        (106, ""),
    ];
    for (i, (folio, obra)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, "76.555.835-2").unwrap();
        ws.write_string(r, 1, "Hormigones Andinos SpA").unwrap();
        ws.write_number(r, 2, 33.0).unwrap();
        ws.write_number(r, 3, f64::from(*folio)).unwrap();
        ws.write_string(r, 4, "03-10-2026").unwrap();
        ws.write_number(r, 5, 100_000.0).unwrap();
        ws.write_number(r, 6, 19_000.0).unwrap();
        ws.write_number(r, 7, 119_000.0).unwrap();
        if !obra.is_empty() {
            ws.write_string(r, 8, *obra).unwrap();
        }
    }
    wb.save(path).unwrap();
}

/// (folio, obra) of every invoice, by folio.
fn obras_by_folio(dir: &Path) -> Vec<(i64, Option<String>)> {
    let list = ok_json(icc(
        dir,
        &[
            "--user", "admin", "invoices", "list", "--json", "--limit", "100",
        ],
        None,
    ));
    let mut v: Vec<(i64, Option<String>)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["folio"].as_i64().unwrap(),
                i["obra"].as_str().map(str::to_owned),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn unknown_obras_never_cost_an_invoice_and_crear_obras_assigns_them() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    add_user(d.path(), "contadora", "contabilidad", "");
    ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "obras", "add", "OB-1", "Obra uno", "--json",
        ],
        None,
    ));
    let book = d.path().join("compras.xlsx");
    workbook_with_obras(&book);
    let file = book.to_str().unwrap();

    // every invoice imported; the rows naming unknown obras are warnings, exit 0
    let r = ok_json(icc(
        d.path(),
        &["--user", "contadora", "import", file, "--json"],
        None,
    ));
    assert_eq!(
        (
            r["total"]["inserted"].as_u64(),
            r["total"]["rejected"].as_u64()
        ),
        (Some(6), Some(0))
    );
    assert_eq!(
        r["total"]["obras_nuevas"],
        serde_json::json!(["OB-7", "OB-8", "OB-9"])
    );
    let warnings = r["total"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(
        (w["row"].as_u64(), w["value"].as_str()),
        (Some(3), Some("OB-7")),
        "{w}"
    );
    assert!(w["column"].as_str().unwrap().contains("Obra"), "{w}");
    assert!(w["message"].as_str().unwrap().contains("sin obra"), "{w}");
    let none = |v: &[(i64, Option<String>)]| v.iter().filter(|(_, o)| o.is_none()).count();
    assert_eq!(
        none(&obras_by_folio(d.path())),
        5,
        "OB-7, ob-7, OB-8, OB-9 and the blank row"
    );

    // creating obras needs the permission: the accountant may import but not create obras
    let out = icc(
        d.path(),
        &["--user", "contadora", "import", file, "--crear-obras"],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("administrar obras"),
        "{}",
        stderr(&out)
    );

    // the admin creates them, and the invoices stored without obra get theirs
    let r = ok_json(icc(
        d.path(),
        &["--user", "admin", "import", file, "--crear-obras", "--json"],
        None,
    ));
    assert_eq!(
        r["total"]["obras_creadas"],
        serde_json::json!(["OB-7", "OB-8", "OB-9"])
    );
    assert_eq!(r["total"]["obras_asignadas"], 4);
    assert_eq!(r["total"]["inserted"], 0);
    let got = obras_by_folio(d.path());
    assert_eq!(
        got,
        [
            (101, Some("OB-1".to_owned())),
            (102, Some("OB-7".to_owned())),
            (103, Some("OB-7".to_owned())),
            (104, Some("OB-8".to_owned())),
            (105, Some("OB-9".to_owned())),
            (106, None),
        ]
    );

    // importing again changes nothing
    for args in [vec!["--crear-obras"], vec![]] {
        let mut a = vec!["--user", "admin", "import", file, "--json"];
        a.extend(args);
        let r = ok_json(icc(d.path(), &a, None));
        assert_eq!(
            (
                r["total"]["inserted"].as_u64(),
                r["total"]["obras_asignadas"].as_u64(),
                r["total"]["warnings"].as_array().map(Vec::len)
            ),
            (Some(0), Some(0), Some(0)),
            "{r}"
        );
    }
    assert_eq!(obras_by_folio(d.path()), got);
}

/// An AEC of folio 5001 of Hormigones Andinos received by `receptor`, assigned twice.
fn aec_file(receptor: &str) -> String {
    let cesion = |seq: u32, cedente: &str, cesionario: (&str, &str), tmst: &str| {
        format!(
            "<Cesion><DocumentoCesion><SeqCesion>{seq}</SeqCesion><IdDTE><TipoDTE>33</TipoDTE>\
             <RUTEmisor>76555835-2</RUTEmisor><RUTReceptor>{receptor}</RUTReceptor><Folio>5001</Folio>\
             <FchEmis>2026-03-03</FchEmis><MntTotal>1190000</MntTotal></IdDTE><Cedente><RUT>{cedente}</RUT>\
             <RazonSocial>Cedente</RazonSocial></Cedente><Cesionario><RUT>{}</RUT><RazonSocial>{}</RazonSocial>\
             </Cesionario><MontoCesion>1190000</MontoCesion><TmstCesion>{tmst}</TmstCesion></DocumentoCesion></Cesion>",
            cesionario.0, cesionario.1
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><AEC xmlns=\"http://www.sii.cl/SiiDte\"><DocumentoAEC>\
         <Caratula><RutCedente>76086428-5</RutCedente></Caratula><Cesiones>{}{}</Cesiones></DocumentoAEC></AEC>",
        cesion(
            1,
            "76555835-2",
            ("76086428-5", "Factoring Uno"),
            "2026-03-10T10:00:00"
        ),
        cesion(
            2,
            "76086428-5",
            ("96667560-8", "Banco Dos"),
            "2026-03-12T11:30:00"
        ),
    )
}

#[test]
fn cesiones_are_imported_from_the_sii_files_by_content_and_checked_against_the_company() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    add_user(d.path(), "contadora", "contabilidad", "");
    // the invoice of the AEC is in the register; the SII file also names one that is not
    let rcv = d.path().join("rcv.csv");
    std::fs::write(&rcv, "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Fecha Acuse;Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total;Monto Neto Activo Fijo;IVA Activo Fijo;IVA uso Comun;Impto. Sin Derecho a Credito;IVA No Retenido;Tabacos Puros;Tabacos Cigarrillos;Tabacos Elaborados;NCE o NDE sobre Fact. de Compra;Codigo Otro Impuesto;Valor Otro Impuesto;Tasa Otro Impuesto\r\n1;33;Del Giro;76555835-2;Hormigones Andinos SpA;5001;03/03/2026;04/03/2026 10:15:00;;0;1000000;190000;0;;1190000;0;0;0;0;0;0;0;0;0;;;\r\n").unwrap();
    ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "import",
            rcv.to_str().unwrap(),
            "--json",
        ],
        None,
    ));
    // a name that says nothing: the content decides
    let aec = d.path().join("archivo.dat");
    std::fs::write(&aec, encoding_rs_free_latin1(&aec_file("77777777-7"))).unwrap();
    let aec = aec.to_str().unwrap();

    // no company RUT yet: says how to set it
    let out = icc(
        d.path(),
        &["--user", "contadora", "cesiones", "import", aec],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--rut-empresa"), "{}", stderr(&out));
    let out = icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "pagos",
            "configurar",
            "--rut-empresa",
            "77.777.777-7",
        ],
        None,
    );
    assert!(!out.status.success(), "only administration sets it");
    set_company_rut(d.path());

    let r = ok_json(icc(
        d.path(),
        &["--user", "contadora", "cesiones", "import", aec, "--json"],
        None,
    ));
    let f = &r["files"][0];
    assert_eq!(
        (
            &f["kind"],
            &f["cesiones"],
            &f["nuevas"],
            &f["matched"],
            &f["unmatched"]
        ),
        (
            &serde_json::json!("aec"),
            &serde_json::json!(2),
            &serde_json::json!(2),
            &serde_json::json!(2),
            &serde_json::json!(0)
        ),
        "{r}"
    );
    // the payee is the cesionario of the highest sequence
    let list = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "list",
            "--documento",
            "76555835-2:33:5001",
            "--json",
        ],
        None,
    ));
    let last = list.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["seq"], &last["cesionario_nombre"], &last["source"]),
        (
            &serde_json::json!(2),
            &serde_json::json!("Banco Dos"),
            &serde_json::json!("aec")
        )
    );

    // the same cesiones from the SII's text file are not stored twice; a line of another
    // debtor is reported; the cesión of an invoice not here waits for review
    let txt = d.path().join("cesiones.csv");
    std::fs::write(&txt, "VENDEDOR;ESTADO_CESION;DEUDOR;MAIL_DEUDOR;TIPO_DOC;NOMBRE_DOC;FOLIO_DOC;FCH_EMIS_DTE;MNT_TOTAL;CEDENTE;RZ_CEDENTE;MAIL_CEDENTE;CESIONARIO;RZ_CESIONARIO;MAIL_CESIONARIO;FCH_CESION;MNT_CESION;FCH_VENCIMIENTO\n\
        76555835-2;Cesion Vigente;77777777-7;a@icc.cl;b@icc.cl;33;Factura;5001;2026-03-03;1190000;76555835-2;Hormigones;null;76086428-5;Factoring Uno;f@x.cl;2026-03-10 10:00;1190000;null\n\
        76555835-2;Cesion Vigente;77777777-7;null;33;Factura;5001;2026-03-03;1190000;76086428-5;Factoring Uno;null;96667560-8;Banco Dos;null;2026-03-12 11:30;1190000;null\n\
        76177907-9;Cesion Vigente;77777777-7;null;34;Factura Exenta;88;2026-03-05;500000;76177907-9;'';'';76086428-5;Factoring Uno;'';2026-03-20 09:00;500000;null\n\
        76177907-9;Cesion Vigente;76086428-5;null;33;Factura;90;2026-03-05;500000;76177907-9;'';'';76086428-5;Factoring Uno;'';2026-03-20 09:00;500000;null\n").unwrap();
    let out = icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "import",
            txt.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &r["files"][0];
    assert_eq!(
        (
            &f["kind"],
            &f["cesiones"],
            &f["nuevas"],
            &f["matched"],
            &f["unmatched"]
        ),
        (
            &serde_json::json!("sii_txt"),
            &serde_json::json!(3),
            &serde_json::json!(1),
            &serde_json::json!(2),
            &serde_json::json!(1)
        ),
        "{r}"
    );
    assert_eq!(f["errors"][0]["line"], 5, "{r}");

    // an AEC of a document another company received changes nothing
    let other = d.path().join("otro.xml");
    std::fs::write(&other, aec_file("76086428-5")).unwrap();
    let out = icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "import",
            other.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        r["files"][0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no la empresa"),
        "{r}"
    );
    let all = ok_json(icc(
        d.path(),
        &["--user", "contadora", "cesiones", "list", "--json"],
        None,
    ));
    assert_eq!(all.as_array().unwrap().len(), 3);
    // the invoice's detail shows its chain
    let shown = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "invoices",
            "show",
            "76555835-2:33:5001",
            "--json",
        ],
        None,
    ));
    let chain: Vec<&str> = shown["cesiones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cesionario_nombre"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["Factoring Uno", "Banco Dos"]);
    // `icc import` tells a cesión file from invoice files by content; a preview stores nothing
    let cert = d.path().join("aviso.txt");
    std::fs::write(
        &cert,
        "Documento: Factura Electronica\nRUT Emisor: 76.555.835-2 Folio N° : 5001\nSeq: 3\n\
         Cedido por BANCO DOS, RUT N° 96.667.560-8\nCedido a FONDO TRES, RUT N° 77.201.351-5\n\
         Fecha de la Cesion: 2026-03-15 09:00:00\nMonto Cedido: $ 1.190.000\n",
    )
    .unwrap();
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "import",
            cert.to_str().unwrap(),
            rcv.to_str().unwrap(),
            "--dry-run",
            "--json",
        ],
        None,
    ));
    assert_eq!(r["cesiones"]["files"][0]["kind"], "certificado", "{r}");
    assert_eq!(r["cesiones"]["files"][0]["cesiones"], 1, "{r}");
    assert_eq!(
        r["files"].as_array().unwrap().len(),
        1,
        "the RCV stays an invoice file"
    );
    let all = ok_json(icc(
        d.path(),
        &["--user", "contadora", "cesiones", "list", "--json"],
        None,
    ));
    assert_eq!(all.as_array().unwrap().len(), 3, "a preview stores nothing");
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "import",
            cert.to_str().unwrap(),
            "--json",
        ],
        None,
    ));
    assert_eq!(r["cesiones"]["files"][0]["nuevas"], 1, "{r}");
    // a later SII file holding only the next re-cesión: placed after the stored chain,
    // never taken for the first cesión
    let later = d.path().join("cesiones-abril.csv");
    std::fs::write(&later, "VENDEDOR;ESTADO_CESION;DEUDOR;MAIL_DEUDOR;TIPO_DOC;NOMBRE_DOC;FOLIO_DOC;FCH_EMIS_DTE;MNT_TOTAL;CEDENTE;RZ_CEDENTE;MAIL_CEDENTE;CESIONARIO;RZ_CESIONARIO;MAIL_CESIONARIO;FCH_CESION;MNT_CESION;FCH_VENCIMIENTO\n\
        76555835-2;Cesion Vigente;77777777-7;null;33;Factura;5001;2026-03-03;1190000;77201351-5;Fondo Tres;null;76177907-9;Fondo Cuatro;null;2026-04-02 12:00;1190000;null\n").unwrap();
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "import",
            later.to_str().unwrap(),
            "--json",
        ],
        None,
    ));
    assert_eq!(r["files"][0]["nuevas"], 1, "{r}");
    let chain = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "list",
            "--documento",
            "76555835-2:33:5001",
            "--json",
        ],
        None,
    ));
    let seqs: Vec<(i64, &str)> = chain
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["seq"].as_i64().unwrap(),
                c["cesionario_nombre"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seqs,
        [
            (1, "Factoring Uno"),
            (2, "Banco Dos"),
            (3, "FONDO TRES"),
            (4, "Fondo Cuatro")
        ]
    );
    // the same file again with the registry's time a few minutes off: the same cesión,
    // not a fifth one that would break the chain
    std::fs::write(
        &later,
        std::fs::read_to_string(&later)
            .unwrap()
            .replace("2026-04-02 12:00", "2026-04-02 12:07"),
    )
    .unwrap();
    let r = ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "import",
            later.to_str().unwrap(),
            "--json",
        ],
        None,
    ));
    assert_eq!(r["files"][0]["nuevas"], 0, "{r}");
    // a broken file says why
    let broken = d.path().join("roto.xml");
    std::fs::write(&broken, &aec_file("77777777-7")[..200]).unwrap();
    let out = icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "import",
            broken.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cortado"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// ISO-8859-1 bytes of ASCII-and-Latin-1 text (as the SII writes AEC files).
fn encoding_rs_free_latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

#[test]
fn a_cesion_typed_by_hand_at_another_sequence_is_reported_when_the_file_disagrees() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    add_user(d.path(), "contadora", "contabilidad", "");
    set_company_rut(d.path());
    // the last cesión of the chain, typed by hand with the default sequence 1
    ok_json(icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "add",
            "--documento",
            "76555835-2:33:5001",
            "--cesionario-rut",
            "77879240-0",
            "--cesionario",
            "Banco Tres",
            "--monto",
            "1.190.000",
            "--fecha",
            "20-03-2026 14:05",
            "--json",
        ],
        None,
    ));
    // the AEC gives sequence 1 to another cesionario: said, not swallowed
    let aec = d.path().join("aec.xml");
    std::fs::write(&aec, encoding_rs_free_latin1(&aec_file("77777777-7"))).unwrap();
    let out = icc(
        d.path(),
        &[
            "--user",
            "contadora",
            "cesiones",
            "import",
            aec.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = r["files"][0]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("la cesión 1 ya está registrada a 77879240-0")
            && message.contains("revise la cadena"),
        "{r}"
    );
}

#[test]
fn a_cuenta_rut_from_a_transfer_sheet_is_its_holders_rut_body() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let sheet = d.path().join("cuentas.csv");
    std::fs::write(
        &sheet,
        "RUT beneficiario;Nombre beneficiario;Banco destino;Tipo de cuenta destino;Número de cuenta destino\n\
         76001013-8;Áridos Uno SpA;012;Cuenta RUT;76.001.013-8\n\
         2.345.678-8;Juan Dos;012;Cuenta RUT;23456785\n",
    )
    .unwrap();
    let sheet = sheet.to_str().unwrap();
    let args = [
        "--user",
        "admin",
        "cuentas-bancarias",
        "importar",
        sheet,
        "--json",
    ];
    let out = icc(d.path(), &args, None);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // the right one is stored as the body; the wrong one is its own finding, not the file's
    assert_eq!(r["creadas"], 1, "{r}");
    let e = &r["errores"][0];
    assert_eq!(
        (&e["row"], &e["column"]),
        (
            &serde_json::json!(3),
            &serde_json::json!("Número de cuenta destino")
        ),
        "{r}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("sin dígito verificador (2345678"),
        "{r}"
    );
    let accounts = ok_json(icc(
        d.path(),
        &["--user", "admin", "cuentas-bancarias", "list", "--json"],
        None,
    ));
    assert_eq!(accounts[0]["numero"], "76001013", "{accounts}");
    // importing again finds it (compared as stored)
    let out = icc(d.path(), &args, None);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&again["creadas"], &again["repetidas"]),
        (&serde_json::json!(0), &serde_json::json!(1)),
        "{again}"
    );
}

/// Kame posting (issue 21's proof): 200 invoices against the fake with injected 429s and
/// lost answers, the posting process killed (-9) mid-run and run again: every invoice
/// posted exactly once, every voucher balanced, one token per process, no secret logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kame_posting_survives_429s_lost_answers_and_a_kill_without_posting_twice() {
    use icc_kame::fake::{FakeConfig, FakeServer};
    const ID: &str = "icc-cli-pruebas";
    const SECRET: &str = "kame-secreto-cli-5d4c3b2a";
    let mut cfg = FakeConfig::new(ID, SECRET).with_fichas(60);
    cfg.per_minute = 100_000;
    cfg.per_page = 25;
    cfg.inject_429_every = Some(9);
    cfg.lose_answer_every = Some(37);
    let fake = std::sync::Arc::new(FakeServer::start(cfg, 0).await.unwrap());
    let url = fake.url();
    let f = fake.clone();
    tokio::task::spawn_blocking(move || {
        let env = [
            ("ICC_KAME_URL", url.as_str()),
            ("ICC_KAME_INTERVALO_MS", "3"),
            // look up unanswered vouchers at once (the product waits two minutes)
            ("ICC_KAME_VERIFICAR_TRAS_S", "0"),
        ];
        let d = tempfile::tempdir().unwrap();
        init(d.path());
        let admin = |args: &[&str]| {
            let mut a = vec!["--user", "admin"];
            a.extend_from_slice(args);
            a.push("--json");
            icc_env(d.path(), &a, None, &env)
        };
        // not configured: says how
        let out = admin(&["kame", "fichas"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("icc credentials set kame"), "{}", stderr(&out));
        ok_json(admin(&["kame", "configurar", "--client-id", ID, "--usuario", "conta@icc.cl"]));
        let out = icc_env(
            d.path(),
            &["--user", "admin", "credentials", "set", "kame"],
            Some(&format!("{SECRET}\n")),
            &env,
        );
        assert!(out.status.success(), "{}", stderr(&out));

        // fichas: 60 in pages of 25
        let r = ok_json(admin(&["kame", "fichas"]));
        assert_eq!((r["recibidas"].as_u64(), r["paginas"].as_u64()), (Some(60), Some(3)));
        assert_eq!(r["nuevas"], 60);
        for (concepto, neto) in [("MATERIALES", "5101"), ("SUBCONTRATO", "5102"), ("ARRIENDO", "5103")] {
            ok_json(admin(&[
                "kame", "plantilla", "set", "--concepto", concepto, "--neto", neto, "--iva",
                "1109", "--proveedor", "2101",
            ]));
        }
        // a template with a blank account is refused as bad input
        let out = admin(&[
            "kame",
            "plantilla",
            "set",
            "--concepto",
            "X",
            "--neto",
            " ",
            "--iva",
            "1",
            "--proveedor",
            "2",
        ]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("falta la cuenta de neto"), "{}", stderr(&out));

        // 200 invoices of the 60 suppliers (every tenth a credit note), one of a supplier
        // Kame has no ficha for
        let mut csv = String::from(
            "RUT Proveedor;Razón social;Tipo Doc;Folio;Fecha emisión;Monto Neto;Monto Exento;IVA;Monto Total\n",
        );
        let mut expected = std::collections::BTreeSet::new();
        for i in 0..200u32 {
            let rut = icc_core::Rut::from_body(76_000_000 + (i % 60) * 37).unwrap();
            let tipo = if i % 10 == 9 { 61 } else { 33 };
            let neto = 10_000 + i64::from(i) * 1_313;
            let iva = neto * 19 / 100;
            csv.push_str(&format!(
                "{rut};Proveedor {};{tipo};{};{:02}-11-2026;{neto};0;{iva};{}\n",
                i % 60,
                5000 + i,
                1 + i % 28,
                neto + iva
            ));
            expected.insert(format!("ICC {tipo} {} {rut}", 5000 + i));
        }
        csv.push_str("11.111.111-1;Sin Ficha;33;1;02-11-2026;1000;0;190;1190\n");
        let file = d.path().join("facturas.csv");
        std::fs::write(&file, csv).unwrap();
        let imp = ok_json(admin(&["import", file.to_str().unwrap(), "--format", "generic"]));
        assert_eq!(imp["total"]["inserted"], 201, "{imp}");
        // the list marks the invoice no template reaches, and only it
        let page = ok_json(admin(&["invoices", "list", "--limit", "1000"]));
        let unmapped: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sin_cuenta"] == true)
            .map(|r| r["razon_social"].as_str().unwrap())
            .collect();
        assert_eq!(unmapped, ["Sin Ficha"], "{page}");

        // the first run, killed once 80 vouchers reached Kame
        let mut child = Command::new(env!("CARGO_BIN_EXE_icc"))
            .arg("--data-dir")
            .arg(d.path())
            .args(["--user", "admin", "kame", "post", "--json"])
            .env("ICC_PASSWORD", PW)
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while f.vouchers().len() < 80 {
            assert!(t.elapsed() < std::time::Duration::from_secs(120), "posting stalled");
            assert!(child.try_wait().unwrap().is_none(), "finished before the kill");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_integrity_ok(d.path());
        let lost_before = f.voucher_requests();
        assert!(lost_before >= 80);

        // the rerun: no lost answers now; the one without a ficha is refused (exit 3)
        f.configure(|c| c.lose_answer_every = None);
        let out = admin(&["kame", "post"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        for console in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(console);
            assert!(!text.contains(SECRET) && !text.contains("tok-"), "{text}");
        }
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["rechazadas"], 1, "{r}");
        assert_eq!(r["pendientes"], 0, "{r}");
        let sin_ficha = r["resultados"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["resultado"] == "rechazado")
            .unwrap();
        assert!(sin_ficha["mensaje"].as_str().unwrap().contains("sin cuenta"), "{sin_ficha}");
        let recovered = r["resultados"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["resultado"] == "recuperado")
            .count();
        assert!(recovered >= 2, "the answers lost in the first run were found in Kame: {r}");

        // the fake did refuse requests with 429 along the way (every ninth)
        assert!(f.refused_429() >= 20, "429s were injected: {}", f.refused_429());
        // exactly once, balanced
        let counts = f.voucher_counts();
        let got: std::collections::BTreeSet<String> = counts.keys().cloned().collect();
        assert_eq!(got, expected);
        assert!(counts.values().all(|n| *n == 1), "{counts:?}");
        for v in f.vouchers() {
            let lines = v.body["detalle"].as_array().unwrap();
            let sum = |k: &str| lines.iter().map(|l| l[k].as_i64().unwrap()).sum::<i64>();
            assert_eq!(sum("debe"), sum("haber"), "{}", v.body);
            let debit: Vec<&str> = lines.iter().filter(|l| l["debe"].as_i64() > Some(0)).map(|l| l["cuenta"].as_str().unwrap()).collect();
            let credit: Vec<&str> = lines.iter().filter(|l| l["haber"].as_i64() > Some(0)).map(|l| l["cuenta"].as_str().unwrap()).collect();
            assert!(debit.iter().all(|c| !credit.contains(c)), "{}", v.body);
        }

        // a third run sends nothing
        let before = f.voucher_requests();
        let out = admin(&["kame", "post"]);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(f.voucher_requests(), before, "nothing sent twice");
        // --ids: only the invoices named, the same rules
        let posted = format!("{}:33:5000", icc_core::Rut::from_body(76_000_000).unwrap());
        let ids = format!("{posted},11.111.111-1:33:1");
        let out = admin(&["kame", "post", "--ids", &ids]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<&str> = r["resultados"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["resultado"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["ya_publicado", "rechazado"], "{r}");
        assert_eq!(f.voucher_requests(), before, "nothing sent for --ids either");

        // one token per process that talked to Kame: fichas, the killed run, the rerun (the
        // third run had nothing to ask Kame, so it asked for no token)
        assert_eq!(f.token_requests(), 3);
        assert!(files_containing(d.path(), SECRET).is_empty(), "the secret is nowhere on disk");
        assert!(files_containing(&d.path().join("logs"), "tok-").is_empty(), "no token in logs");
    })
    .await
    .unwrap();
}

/// `icc kame asignar` and `icc kame ficha` (issue 21 item 1): a concepto given to the
/// suppliers of the invoices named or filtered, never to the whole list by accident; a
/// ficha shown and its flags edited.
#[test]
fn kame_conceptos_are_assigned_in_bulk_and_fichas_edited_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let admin = |args: &[&str]| {
        let mut a = vec!["--user", "admin"];
        a.extend_from_slice(args);
        icc(d.path(), &a, None)
    };
    let csv = d.path().join("f.csv");
    std::fs::write(
        &csv,
        "RUT Proveedor;Razón social;Tipo Doc;Folio;Fecha emisión;Monto Neto;Monto Exento;IVA;Monto Total\n\
         76.086.428-5;Áridos Uno SpA;33;11;02-11-2026;1000;0;190;1190\n\
         76.086.428-5;Áridos Uno SpA;33;12;03-11-2026;1000;0;190;1190\n\
         77.879.240-0;Ferretería Dos Ltda.;33;21;04-11-2026;1000;0;190;1190\n\
         96.874.030-K;Moldajes Tres S.A.;33;31;05-11-2026;1000;0;190;1190\n",
    )
    .unwrap();
    ok_json(admin(&[
        "import",
        csv.to_str().unwrap(),
        "--format",
        "generic",
        "--json",
    ]));
    // a unidad de negocio: the centro is kept, and answered, by its first 4 characters
    assert_eq!(
        ok_json(admin(&[
            "kame",
            "unidad",
            "OB01-ADMIN",
            "UN-OB01",
            "--json"
        ])),
        serde_json::json!({"centro": "OB01", "unidad": "UN-OB01"})
    );
    ok_json(admin(&[
        "kame",
        "plantilla",
        "set",
        "--concepto",
        "MATERIALES",
        "--neto",
        "5101",
        "--iva",
        "1109",
        "--proveedor",
        "2101",
        "--json",
    ]));
    let unmapped = || -> Vec<String> {
        let page = ok_json(admin(&["invoices", "list", "--json"]));
        let mut v: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sin_cuenta"] == true)
            .map(|r| r["folio"].to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(unmapped(), ["11", "12", "21", "31"]);

    // nothing named: refused as a usage error, nothing changed
    let out = admin(&["kame", "asignar", "--concepto", "MATERIALES"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("indique las facturas"),
        "{}",
        stderr(&out)
    );
    let out = admin(&[
        "kame",
        "asignar",
        "--concepto",
        "OTRO",
        "--ids",
        "76086428-5:33:11",
    ]);
    assert!(
        stderr(&out).contains("«OTRO» no tiene plantilla contable"),
        "{}",
        stderr(&out)
    );
    assert_eq!(unmapped().len(), 4);

    // one invoice named maps its supplier's other invoice too
    let r = ok_json(admin(&[
        "kame",
        "asignar",
        "--concepto",
        "materiales",
        "--ids",
        "76086428-5:33:11",
        "--json",
    ]));
    assert_eq!(
        r,
        serde_json::json!({"concepto": "MATERIALES", "facturas": 1, "proveedores": 1, "sin_cambio": 0})
    );
    assert_eq!(unmapped(), ["21", "31"]);
    // by a list filter
    let r = ok_json(admin(&[
        "kame",
        "asignar",
        "--concepto",
        "MATERIALES",
        "--proveedor",
        "96874030-K",
        "--json",
    ]));
    assert_eq!(
        (&r["facturas"], &r["proveedores"]),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
    assert_eq!(unmapped(), ["21"]);

    // a ficha: shown, flags edited, a bad flag refused
    let f = ok_json(admin(&[
        "kame",
        "ficha",
        "76.086.428-5",
        "--honorario",
        "si",
        "--json",
    ]));
    assert_eq!(
        (
            &f["concepto"],
            &f["proveedor"],
            &f["honorario"],
            &f["origen"]
        ),
        (
            &serde_json::json!("MATERIALES"),
            &serde_json::json!(true),
            &serde_json::json!(true),
            &serde_json::json!("local")
        ),
        "{f}"
    );
    let out = admin(&["kame", "ficha", "76.086.428-5", "--proveedor", "quizás"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--proveedor: «quizás» no es válido"),
        "{}",
        stderr(&out)
    );
    let f = ok_json(admin(&["kame", "ficha", "77.879.240-0", "--json"]));
    assert!(f.is_null(), "no ficha yet: {f}");
    let out = admin(&["kame", "ficha", "77.879.240-0"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no tiene ficha"));
}

#[test]
fn a_rejected_import_reports_every_bad_row_without_json_too() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    // 70 rows with an invalid RUT, then one good row
    let mut csv = String::from(
        "RUT Proveedor;Razón social;Tipo Doc;Folio;Fecha emisión;Monto Neto;Monto Exento;IVA;Monto Total\n",
    );
    for i in 0..70 {
        csv.push_str(&format!(
            "76555835-0;Mala {i};33;{};03-11-2026;1000;0;190;1190\n",
            100 + i
        ));
    }
    csv.push_str("76555835-2;Buena;33;999;03-11-2026;1000;0;190;1190\n");
    let file = d.path().join("compras.csv");
    std::fs::write(&file, csv).unwrap();
    let out = icc(
        d.path(),
        &["--user", "admin", "import", file.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // the CSV's lines 2..=71 hold the bad rows
    for line in 2..=71 {
        assert!(
            text.contains(&format!("fila {line}, columna")),
            "row {line} is reported: {text}"
        );
    }
    assert!(!text.contains("use --json para verlos"), "{text}");
    // the good row went in, and `--filtro` is the list's text search
    let list = ok_json(icc(
        d.path(),
        &[
            "--user", "admin", "invoices", "list", "--filtro", "Buena", "--json",
        ],
        None,
    ));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["folio"], 999);
}

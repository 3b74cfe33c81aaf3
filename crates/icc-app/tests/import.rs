//! The import use case against the RCV sample files and the database: counts, signed sums and
//! keys exactly as `expected.json` says; refused files change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use icc_app::{App, AppError, ImportOptions, ImportReport, InvoiceFilter, OnDuplicate, Session};
use icc_core::Role;

const PW: &str = "caballo correcto batería grapa";

/// The RCV sample set: the repository's own copy (`testdata/rcv`), or the set
/// `ICC_FIXTURES_DIR` names (scripts/test runs these tests again on the shared set when it
/// is beside the clone).
fn fixtures() -> PathBuf {
    let dir = std::env::var_os("ICC_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rcv"));
    assert!(
        dir.join("expected.json").exists(),
        "fixtures not found at {} (set ICC_FIXTURES_DIR)",
        dir.display()
    );
    dir
}

async fn app() -> (tempfile::TempDir, App, Session) {
    let d = tempfile::tempdir().unwrap();
    let app = App::open(d.path()).await.unwrap();
    let s = app.init("admin", PW).await.unwrap();
    (d, app, s)
}

async fn import(app: &App, s: &Session, files: &[PathBuf], opts: &ImportOptions) -> ImportReport {
    app.import_files(s, files, opts, &mut |_| true)
        .await
        .unwrap()
}

async fn keys(app: &App, s: &Session) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = app
            .list_invoices(s, InvoiceFilter::default(), 1000, cursor.as_deref())
            .await
            .unwrap();
        out.extend(
            p.items
                .iter()
                .map(|i| format!("{}:{}:{}", i.rut_emisor, i.tipo_dte, i.folio)),
        );
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.sort();
    out
}

/// Row counts of every table a write could touch.
async fn fingerprint(app: &App) -> Vec<i64> {
    let mut v = Vec::new();
    for t in [
        "invoices",
        "suppliers",
        "invoice_taxes",
        "invoice_references",
        "audit_log",
        "import_batches",
        "settings",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {t}");
        v.push(
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(app.store().pool())
                .await
                .unwrap(),
        );
    }
    v
}

#[tokio::test]
async fn every_fixture_imports_exactly_as_expected_and_refused_ones_change_nothing() {
    let dir = fixtures();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    for (name, want) in expected.as_object().unwrap() {
        let (_d, app, s) = app().await;
        let before = fingerprint(&app).await;
        let r = import(&app, &s, &[dir.join(name)], &ImportOptions::default()).await;
        let t = &r.total.counts;
        if want.get("must_fail").and_then(|v| v.as_bool()) == Some(true) {
            assert!(r.has_rejections(), "{name} must be refused");
            assert!(
                !r.total.errors.is_empty() && r.total.errors.iter().all(|e| !e.message.is_empty()),
                "{name}: a message says why"
            );
            assert_eq!(
                fingerprint(&app).await,
                before,
                "{name}: the database is unchanged"
            );
            continue;
        }
        assert!(!r.has_rejections(), "{name}: {:?}", r.total.errors);
        assert_eq!(
            t.documents,
            want["documents"].as_u64().unwrap(),
            "{name}: documents"
        );
        for (k, got) in [
            ("credit_notes", t.credit_notes as i64),
            ("sum_total_signed", t.sum_total_signed),
            ("sum_neto_signed", t.sum_neto_signed),
            ("sum_iva_signed", t.sum_iva_signed),
        ] {
            if let Some(w) = want.get(k) {
                assert_eq!(got, w.as_i64().unwrap(), "{name}: {k}");
            }
        }
        let want_keys: Vec<String> = want["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys(&app, &s).await, want_keys, "{name}: stored keys");
        if let Some(n) = want.get("suppliers") {
            let suppliers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM suppliers")
                .fetch_one(app.store().pool())
                .await
                .unwrap();
            assert_eq!(suppliers, n.as_i64().unwrap(), "{name}: distinct suppliers");
        }
    }
}

#[tokio::test]
async fn reimporting_a_file_is_a_recognised_no_op_and_the_original_is_kept() {
    let (d, app, s) = app().await;
    let f = fixtures().join("rcv_registro_utf8.csv");
    let first = import(
        &app,
        &s,
        std::slice::from_ref(&f),
        &ImportOptions::default(),
    )
    .await;
    assert_eq!(first.total.counts.inserted, 40);
    let sha = first.files[0].sha256.clone().unwrap();
    assert!(
        d.path()
            .join(icc_app::IMPORTS_DIR)
            .join(format!("{sha}.csv"))
            .exists(),
        "original kept by its hash"
    );
    let before = fingerprint(&app).await;
    let again = import(&app, &s, &[f], &ImportOptions::default()).await;
    assert!(again.files[0].already_imported);
    assert_eq!(
        (again.total.counts.inserted, again.total.counts.duplicates),
        (0, 40)
    );
    assert_eq!(fingerprint(&app).await, before, "nothing written");
}

#[tokio::test]
async fn a_dry_run_previews_new_and_duplicate_documents_and_writes_nothing() {
    let (_d, app, s) = app().await;
    let dir = fixtures();
    import(
        &app,
        &s,
        &[dir.join("rcv_pendiente.csv")],
        &ImportOptions::default(),
    )
    .await;
    let before = fingerprint(&app).await;
    let opts = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let r = import(
        &app,
        &s,
        &[dir.join("rcv_pendiente.csv"), dir.join("rcv_reclamado.csv")],
        &opts,
    )
    .await;
    assert_eq!(fingerprint(&app).await, before, "a preview writes nothing");
    let p0 = r.files[0].preview.as_ref().unwrap();
    assert!(
        p0.iter()
            .all(|p| p.estado == "duplicado" && p.motivo.is_some()),
        "already imported file"
    );
    let p1 = r.files[1].preview.as_ref().unwrap();
    assert_eq!(p1.len(), 40);
    assert!(p1.iter().all(|p| p.estado == "nuevo"));
    assert_eq!(r.total.counts.inserted, 0);
}

#[tokio::test]
async fn duplicates_can_update_changed_amounts_through_the_audit_log() {
    let (d, app, s) = app().await;
    let src = std::fs::read_to_string(fixtures().join("rcv_registro_utf8.csv")).unwrap();
    import(
        &app,
        &s,
        &[fixtures().join("rcv_registro_utf8.csv")],
        &ImportOptions::default(),
    )
    .await;
    // the supplier corrected one document: same key, other amounts
    let changed = src.replacen(
        ";0;77467446;14718815;0;;92186261;",
        ";0;77467447;14718815;0;;92186262;",
        1,
    );
    assert_ne!(changed, src);
    let f = d.path().join("corregido.csv");
    std::fs::write(&f, changed).unwrap();
    let skip = import(
        &app,
        &s,
        std::slice::from_ref(&f),
        &ImportOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(skip.total.counts.duplicates, 40);
    let r = import(
        &app,
        &s,
        &[f],
        &ImportOptions {
            on_duplicate: OnDuplicate::Update,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (
            r.total.counts.updated,
            r.total.counts.duplicates,
            r.total.counts.inserted
        ),
        (1, 39, 0)
    );
    let h = app
        .invoice_history(&s, "60123316-9:33:611317")
        .await
        .unwrap();
    let fields: Vec<_> = h.iter().filter_map(|e| e.field.clone()).collect();
    assert_eq!(fields, ["monto_neto", "monto_total"]);
}

#[tokio::test]
async fn only_roles_that_import_can_import() {
    let (_d, app, admin) = app().await;
    app.add_obra(&admin, "OB-1", "Uno").await.unwrap();
    app.add_user(
        &admin,
        "ana",
        Role::AdminObra,
        &["OB-1".into()],
        "Quilicura-Andamio-Losa-77",
    )
    .await
    .unwrap();
    app.add_user(
        &admin,
        "gerente",
        Role::Gerente,
        &[],
        "Quilicura-Andamio-Losa-77",
    )
    .await
    .unwrap();
    for who in ["ana", "gerente"] {
        let s = app.login(who, "Quilicura-Andamio-Losa-77").await.unwrap();
        let r = app
            .import_files(
                &s,
                &[fixtures().join("rcv_pendiente.csv")],
                &ImportOptions::default(),
                &mut |_| true,
            )
            .await;
        assert!(matches!(r, Err(AppError::Forbidden(_))), "{who}");
    }
}

#[tokio::test]
async fn a_cancelled_import_writes_nothing() {
    let (d, app, s) = app().await;
    let mut csv = String::from("RUT;Razón social;Tipo;Folio;Fecha;Neto;IVA;Total\n");
    for i in 1..=3000 {
        csv.push_str(&format!(
            "76555835-2;Ferretería;33;{i};01/10/2026;1000;190;1190\n"
        ));
    }
    let f = d.path().join("grande.csv");
    std::fs::write(&f, csv).unwrap();
    let before = fingerprint(&app).await;
    let saving = app
        .import_files(
            &s,
            std::slice::from_ref(&f),
            &ImportOptions::default(),
            &mut |p| !(p.phase == "guardando" && p.done >= 1000),
        )
        .await;
    assert!(matches!(saving, Err(AppError::Cancelled)), "{saving:?}");
    let reading = app
        .import_files(&s, &[f], &ImportOptions::default(), &mut |p| {
            p.phase != "leyendo"
        })
        .await;
    assert!(matches!(reading, Err(AppError::Cancelled)));
    assert_eq!(fingerprint(&app).await, before);
}

#[tokio::test]
async fn rows_naming_an_unknown_obra_are_kept_without_it_and_mapping_profiles_are_reused() {
    let (d, app, s) = app().await;
    app.add_obra(&s, "OB-2026-017", "Los Aromos").await.unwrap();
    let f = d.path().join("obras.csv");
    std::fs::write(
        &f,
        "Emisor;Número;Día;Base;Impuesto;Bruto;Proyecto\n\
         76555835-2;1;01/10/2026;1000;190;1190;OB-2026-017\n\
         76555835-2;2;01/10/2026;1000;190;1190;OB-9999\n",
    )
    .unwrap();
    let spec: icc_app::MappingSpec =
        serde_json::from_str(r#"{"rut": "Emisor", "folio": "Número", "fecha_emision": "Día", "neto": "Base", "iva": "Impuesto", "total": "Bruto"}"#).unwrap();
    app.save_mapping_profile(&s, "proveedor raro", &spec)
        .await
        .unwrap();
    let mapping = app.mapping_profile("proveedor raro").await.unwrap();
    // the preview says what the import will do, in the future tense
    let preview = import(
        &app,
        &s,
        std::slice::from_ref(&f),
        &ImportOptions {
            mapping: Some(mapping.clone()),
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(preview.total.obras_nuevas, ["OB-9999"]);
    assert_eq!(preview.total.warnings.len(), 1);
    assert!(
        preview.total.warnings[0]
            .message
            .contains("la factura se importará sin obra"),
        "{}",
        preview.total.warnings[0].message
    );
    let r = import(
        &app,
        &s,
        &[f],
        &ImportOptions {
            mapping: Some(mapping),
            ..Default::default()
        },
    )
    .await;
    // the invoice naming an obra that does not exist is imported without it, with a warning
    assert_eq!(r.total.counts.inserted, 2);
    assert!(
        r.total.errors.is_empty() && !r.has_rejections(),
        "{:?}",
        r.total.errors
    );
    assert_eq!(r.total.warnings.len(), 1);
    let w = &r.total.warnings[0];
    assert_eq!((w.row, w.value.as_deref()), (Some(3), Some("OB-9999")));
    assert!(
        w.message.contains("crear-obras") && w.message.contains("la factura se importó sin obra"),
        "says what happened and what to do: {}",
        w.message
    );
    assert_eq!(r.total.obras_nuevas, ["OB-9999"]);
    let v = app.show_invoice(&s, "76555835-2:33:1").await.unwrap();
    assert_eq!(v.detail.row.obra.as_deref(), Some("OB-2026-017"));
    let v = app.show_invoice(&s, "76555835-2:33:2").await.unwrap();
    assert_eq!(v.detail.row.obra, None);
}

#[tokio::test]
async fn an_invoices_pdf_among_the_files_is_told_to_be_attached_not_read_as_cesiones() {
    let (dir, app, s) = app().await;
    // no company RUT is set: a cesión file would be refused for that
    let pdf = dir.path().join("factura-5001.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n%%EOF\n").unwrap();
    let r = import(&app, &s, &[pdf], &ImportOptions::default()).await;
    assert!(r.cesiones.is_none(), "{:?}", r.cesiones);
    let errors = &r.files[0].errors;
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("es un PDF, no una planilla")),
        "{errors:?}"
    );
}

//! Use-case tests: no default account, password policy, back-off, roles and obra scope.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use icc_app::{App, AppError, AssignmentChange, InvoiceFilter, Session};
use icc_core::{InvoiceStatus, Role};

const ADMIN_PW: &str = "caballo correcto batería grapa";
const USER_PW: &str = "Quilicura-Andamio-Losa-77";

async fn app() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    (dir, app)
}

async fn seeded() -> (tempfile::TempDir, App, Session) {
    let (d, app) = app().await;
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    let r = app.seed(3000, 7, &mut |_, _| true).await.unwrap();
    assert_eq!(r.inserted + r.duplicates, 3000);
    (d, app, admin)
}

/// `jperez`, site manager of OB-2026-017, signed in.
async fn site_manager(app: &App, admin: &Session) -> Session {
    app.add_user(
        admin,
        "jperez",
        Role::AdminObra,
        &["OB-2026-017".into()],
        USER_PW,
    )
    .await
    .unwrap();
    app.login("jperez", USER_PW).await.unwrap()
}

async fn all(app: &App, s: &Session, filter: InvoiceFilter) -> Vec<icc_app::InvoiceRow> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = app
            .list_invoices(s, filter.clone(), 1000, cursor.as_deref())
            .await
            .unwrap();
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test]
async fn no_account_exists_before_init_and_init_happens_once() {
    let (_d, app) = app().await;
    assert!(
        matches!(
            app.login("admin", "admin").await,
            Err(AppError::NotInitialized(_))
        ),
        "no default account"
    );
    assert!(matches!(
        app.init("admin", "admin12345").await,
        Err(AppError::WeakPassword(_))
    ));
    app.init("admin", ADMIN_PW).await.unwrap();
    assert!(matches!(
        app.init("otro", ADMIN_PW).await,
        Err(AppError::AlreadyInitialized)
    ));
    let s = app.login("ADMIN", ADMIN_PW).await.unwrap();
    assert_eq!(s.role, Role::Admin, "user names are case-insensitive");
}

#[tokio::test]
async fn failed_logins_back_off_and_the_count_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let app = App::open(dir.path()).await.unwrap();
        app.init("admin", ADMIN_PW).await.unwrap();
        for _ in 0..3 {
            assert!(matches!(
                app.login("admin", "wrong password here").await,
                Err(AppError::BadCredentials)
            ));
        }
        app.close().await;
    }
    let app = App::open(dir.path()).await.unwrap();
    match app.login("admin", ADMIN_PW).await {
        Err(AppError::Locked { seconds, .. }) => assert!(
            (1..=2).contains(&seconds),
            "third failure locks for 2 s, got {seconds}"
        ),
        other => panic!("expected a lock-out after a restart, got {other:?}"),
    }
    let user = app.store().user("admin").await.unwrap().unwrap();
    assert_eq!(user.failed_logins, 3);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.login("admin", ADMIN_PW).await.unwrap();
    assert_eq!(
        app.store()
            .user("admin")
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        0,
        "reset after success"
    );
    assert!(
        matches!(
            app.login("nadie", ADMIN_PW).await,
            Err(AppError::BadCredentials)
        ),
        "unknown users look like wrong passwords"
    );
}

#[tokio::test]
async fn a_site_manager_sees_and_changes_only_their_obras() {
    let (_d, app, admin) = seeded().await;
    let jp = site_manager(&app, &admin).await;
    let mine = all(&app, &jp, InvoiceFilter::default()).await;
    assert!(!mine.is_empty());
    assert!(
        mine.iter()
            .all(|r| r.obra.as_deref() == Some("OB-2026-017")),
        "only OB-2026-017"
    );
    let everything = all(&app, &admin, InvoiceFilter::default()).await;
    assert_eq!(
        mine.len(),
        everything
            .iter()
            .filter(|r| r.obra.as_deref() == Some("OB-2026-017"))
            .count()
    );

    let other = everything
        .iter()
        .find(|r| r.obra.as_deref() == Some("OB-2026-001"))
        .unwrap();
    assert!(matches!(
        app.show_invoice(&jp, &other.id).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.invoice_history(&jp, &other.id).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.set_invoice_status(&jp, &other.id, InvoiceStatus::Anulada, None)
            .await,
        Err(AppError::Forbidden(_))
    ));
    let unassigned = everything.iter().find(|r| r.obra.is_none()).unwrap();
    assert!(matches!(
        app.show_invoice(&jp, &unassigned.id).await,
        Err(AppError::Forbidden(_))
    ));
    let filtered = app
        .list_invoices(
            &jp,
            InvoiceFilter {
                obra: Some("OB-2026-001".into()),
                ..Default::default()
            },
            10,
            None,
        )
        .await;
    assert!(matches!(filtered, Err(AppError::Forbidden(_))));

    let own = &mine[0];
    let moved = app
        .set_invoice_fields(
            &jp,
            &own.id,
            AssignmentChange {
                obra: Some(Some("OB-2026-001".into())),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(moved, Err(AppError::Forbidden(_))),
        "cannot move an invoice out of their obras"
    );
    let cc = app
        .set_invoice_fields(
            &jp,
            &own.id,
            AssignmentChange {
                centro_costo: Some(Some("017 TERMINACIONES".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cc.detail.centro_costo.as_deref(), Some("017 TERMINACIONES"));
    assert!(
        app.list_obras(&jp)
            .await
            .unwrap()
            .iter()
            .all(|o| o.codigo == "OB-2026-017")
    );
}

#[tokio::test]
async fn roles_are_enforced_in_the_use_cases() {
    let (_d, app, admin) = seeded().await;
    app.add_user(&admin, "gerente", Role::Gerente, &[], USER_PW)
        .await
        .unwrap();
    app.add_user(&admin, "conta", Role::Contabilidad, &[], USER_PW)
        .await
        .unwrap();
    let g = app.login("gerente", USER_PW).await.unwrap();
    let c = app.login("conta", USER_PW).await.unwrap();
    let recibida = all(
        &app,
        &admin,
        InvoiceFilter {
            estado: Some(InvoiceStatus::Recibida),
            ..Default::default()
        },
    )
    .await;
    let id = &recibida[0].id;

    assert!(
        matches!(
            app.set_invoice_status(&c, id, InvoiceStatus::Aprobada, None)
                .await,
            Err(AppError::Forbidden(_))
        ),
        "accounting does not approve"
    );
    assert!(matches!(
        app.set_invoice_fields(
            &g,
            id,
            AssignmentChange {
                cuenta: Some(Some("1".into())),
                ..Default::default()
            }
        )
        .await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.add_user(&c, "x1", Role::Admin, &[], USER_PW).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.add_obra(&g, "OB-X", "x").await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.list_users(&g).await,
        Err(AppError::Forbidden(_))
    ));

    let v = app
        .set_invoice_status(&g, id, InvoiceStatus::Aprobada, None)
        .await
        .unwrap();
    assert_eq!(v.detail.row.estado, "aprobada");
    // paid only through its payments, never by choosing the status
    let err = app
        .set_invoice_status(&c, id, InvoiceStatus::Pagada, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("icc pagos registrar"), "{err}");
    let total = app
        .invoice_payments(&c, id)
        .await
        .unwrap()
        .saldo
        .saldo
        .pesos();
    let r = app
        .record_payment(
            &c,
            id,
            icc_app::PaymentRequest {
                monto: total,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.estado, "pagada");
    let h = app.invoice_history(&admin, id).await.unwrap();
    let who: Vec<_> = h
        .iter()
        .filter(|e| e.field.as_deref() == Some("estado"))
        .map(|e| (e.user_name.as_str(), e.new_value.as_deref()))
        .collect();
    assert_eq!(
        who,
        [("gerente", Some("aprobada")), ("conta", Some("pagada"))],
        "who changed what is recorded"
    );
    let err = app
        .set_invoice_status(&admin, id, InvoiceStatus::Recibida, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("pagada") && err.to_string().contains("recibida"),
        "{err}"
    );
}

#[tokio::test]
async fn users_can_be_disabled_but_not_the_last_administrator() {
    let (_d, app) = app().await;
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    assert!(matches!(
        app.disable_user(&admin, "admin").await,
        Err(AppError::Conflict(_))
    ));
    app.add_obra(&admin, "OB-1", "Obra uno").await.unwrap();
    assert!(matches!(
        app.add_user(&admin, "sinobra", Role::AdminObra, &[], USER_PW)
            .await,
        Err(AppError::Invalid(_))
    ));
    assert!(matches!(
        app.add_user(
            &admin,
            "malaobra",
            Role::AdminObra,
            &["OB-9".into()],
            USER_PW
        )
        .await,
        Err(AppError::NotFound { .. })
    ));
    app.add_user(&admin, "ana", Role::AdminObra, &["OB-1".into()], USER_PW)
        .await
        .unwrap();
    assert!(matches!(
        app.add_user(&admin, "ANA", Role::Gerente, &[], USER_PW)
            .await,
        Err(AppError::Conflict(_))
    ));
    app.disable_user(&admin, "ana").await.unwrap();
    assert!(matches!(
        app.login("ana", USER_PW).await,
        Err(AppError::Disabled(_))
    ));
    assert!(
        matches!(
            app.login("ana", "wrong wrong wrong").await,
            Err(AppError::BadCredentials)
        ),
        "a wrong password does not reveal the account state"
    );
    let ana = Session::local("ana", Role::AdminObra, vec!["OB-1".into()]);
    assert!(
        matches!(
            app.change_password(&ana, "admin", USER_PW).await,
            Err(AppError::Forbidden(_))
        ),
        "only admins change others' passwords"
    );
}

#[tokio::test]
async fn invoice_views_carry_deadlines_and_the_seed_makes_the_documented_obras() {
    let (_d, app, admin) = seeded().await;
    let obras = app.list_obras(&admin).await.unwrap();
    assert!(obras.iter().any(|o| o.codigo == "OB-2026-017"));
    let rows = all(&app, &admin, InvoiceFilter::default()).await;
    for r in rows.iter().take(200) {
        let v = app
            .show_invoice(
                &admin,
                &format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio),
            )
            .await
            .unwrap();
        assert_eq!(
            v.detail.row.id, r.id,
            "natural key and id resolve to the same invoice"
        );
        // flattened parts must not repeat a key: JSON readers would keep only one
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json.matches("\"plazo_reclamo_estado\"").count(), 1);
        assert_eq!(json.matches("\"obra\"").count(), 1);
        let tipo = icc_core::DteType::new(r.tipo_dte as u16).unwrap();
        match (&v.detail.fecha_recepcion_sii, tipo.is_claimable()) {
            (_, false) => assert_eq!(
                v.detail.row.plazo_reclamo_estado.as_deref(),
                Some("no_aplica")
            ),
            (None, true) => assert_eq!(v.detail.row.plazo_reclamo.as_deref(), Some("desconocido")),
            (Some(rec), true) => {
                let rec: chrono::NaiveDate = rec[..10].parse().unwrap();
                assert_eq!(
                    v.detail.row.plazo_reclamo,
                    Some((rec + chrono::Days::new(8)).to_string())
                );
            }
        }
        assert_eq!(
            r.monto_total,
            r.monto_neto + r.monto_exento + r.monto_iva + v.detail.monto_otros,
            "seed amounts add up"
        );
    }
}

/// Reads an exported CSV: header and rows.
fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "BOM");
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&bytes[3..]);
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn export_opts(report: icc_app::ReportKind, out: &std::path::Path) -> icc_app::ExportOptions {
    icc_app::ExportOptions {
        report,
        format: icc_app::format_for_path(out),
        filter: InvoiceFilter::default(),
        mes: None,
        out: out.to_path_buf(),
    }
}

#[tokio::test]
async fn exports_hold_exactly_what_the_user_may_see() {
    use icc_app::ReportKind;
    let (d, app, admin) = seeded().await;
    let out = d.path().join("todas.csv");
    let mut calls = 0;
    let r = app
        .export(&admin, export_opts(ReportKind::Facturas, &out), &mut |p| {
            calls += 1;
            assert!(p.written <= p.total);
            true
        })
        .await
        .unwrap();
    assert!(calls >= 1, "progress reported");
    let everything = all(&app, &admin, InvoiceFilter::default()).await;
    assert_eq!(r.documents, everything.len() as u64);
    let (header, rows) = read_csv(&out);
    assert_eq!(header[2], "Folio");
    assert_eq!(rows.len(), everything.len());
    // same documents, same order as the list
    for (row, inv) in rows.iter().zip(&everything) {
        assert_eq!(row[2], inv.folio.to_string());
        assert_eq!(row[10], inv.obra.clone().unwrap_or_default());
    }

    app.add_user(
        &admin,
        "jperez",
        Role::AdminObra,
        &["OB-2026-017".into(), "OB-2026-003".into()],
        USER_PW,
    )
    .await
    .unwrap();
    let jp = app.login("jperez", USER_PW).await.unwrap();
    let mine = all(&app, &jp, InvoiceFilter::default()).await;
    let out = d.path().join("mias.csv");
    app.export(&jp, export_opts(ReportKind::Facturas, &out), &mut |_| true)
        .await
        .unwrap();
    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len(), mine.len());
    assert!(
        rows.iter()
            .all(|r| r[10] == "OB-2026-017" || r[10] == "OB-2026-003"),
        "only their obras"
    );
    // every report, every format: never another obra
    for report in [ReportKind::Vencimientos, ReportKind::PorObra] {
        let out = d.path().join(format!("{}.xlsx", report.name()));
        let done = app
            .export(&jp, export_opts(report, &out), &mut |_| true)
            .await
            .unwrap();
        if report == ReportKind::PorObra {
            assert_eq!(
                done.sheets,
                vec!["Resumen", "OB-2026-003", "OB-2026-017", "Parámetros"]
            );
        }
        let csv_out = d.path().join(format!("{}.csv", report.name()));
        let mut o = export_opts(report, &csv_out);
        o.format = icc_app::ExportFormat::Csv;
        app.export(&jp, o, &mut |_| true).await.unwrap();
        let (header, rows) = read_csv(&csv_out);
        let obra_col = header.iter().position(|h| h == "Obra").unwrap();
        assert!(
            rows.iter().all(|r| r[obra_col].is_empty()
                || r[obra_col] == "OB-2026-017"
                || r[obra_col] == "OB-2026-003"),
            "{report:?}"
        );
    }
    let mut o = export_opts(ReportKind::Facturas, &d.path().join("x.xlsx"));
    o.filter.obra = Some("OB-2026-001".into());
    assert!(matches!(
        app.export(&jp, o, &mut |_| true).await,
        Err(AppError::Forbidden(_))
    ));
}

#[tokio::test]
async fn libro_de_compras_is_monthly_and_matches_the_database() {
    use icc_app::ReportKind;
    let (d, app, admin) = seeded().await;
    let out = d.path().join("libro.csv");
    let err = app
        .export(
            &admin,
            export_opts(ReportKind::LibroCompras, &out),
            &mut |_| true,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--mes AAAA-MM"), "{err}");
    let mut o = export_opts(ReportKind::Vencimientos, &out);
    o.mes = Some("2026-10".into());
    assert!(matches!(
        app.export(&admin, o, &mut |_| true).await,
        Err(AppError::Invalid(_))
    ));

    let mut o = export_opts(ReportKind::LibroCompras, &out);
    o.mes = Some("2026-10".into());
    let r = app.export(&admin, o, &mut |_| true).await.unwrap();
    // an independent count and sum straight from the database
    let (n, sum): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN tipo_dte = 61 THEN -monto_total ELSE monto_total END), 0) \
         FROM invoices WHERE tipo_dte NOT IN (50, 52) AND estado NOT IN ('rechazada', 'anulada') \
         AND COALESCE(substr(fecha_recepcion_sii, 1, 7), substr(fecha_emision, 1, 7)) = '2026-10'",
    )
    .fetch_one(app.store().pool())
    .await
    .unwrap();
    assert!(n > 0);
    assert_eq!(r.documents, n as u64);
    let (header, rows) = read_csv(&out);
    let total_col = header.iter().position(|h| h == "Monto total").unwrap();
    let last = rows.last().unwrap();
    assert_eq!(last[2], "Total");
    assert_eq!(last[total_col], sum.to_string());
    // types in register order, each closed by its subtotal
    let tipos: Vec<i64> = rows
        .iter()
        .filter(|r| !r[0].is_empty())
        .map(|r| r[1].parse().unwrap())
        .collect();
    assert!(tipos.is_sorted());
}

#[tokio::test]
async fn a_cancelled_export_leaves_no_file() {
    let (d, app, admin) = seeded().await;
    let out = d.path().join("cancelada.xlsx");
    let r = app
        .export(
            &admin,
            export_opts(icc_app::ReportKind::Facturas, &out),
            &mut |_| false,
        )
        .await;
    assert!(matches!(r, Err(AppError::Cancelled)), "{r:?}");
    // export returns only after the writer has dropped its temporary file
    let names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!out.exists());
    assert!(!names.iter().any(|n| n.contains(".partial")), "{names:?}");
}

#[tokio::test]
async fn the_panel_adds_up_to_the_database_and_keeps_to_the_users_obras() {
    let (_d, app, admin) = seeded().await;
    let d = app.dashboard(&admin).await.unwrap();
    let count = |sql: &'static str| {
        let pool = app.store().pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let spent = count(
        "SELECT COUNT(*) FROM invoices WHERE estado NOT IN ('rechazada', 'anulada') AND tipo_dte NOT IN (50, 52)",
    )
    .await;
    assert_eq!(
        d.gasto_por_obra.iter().map(|o| o.documentos).sum::<i64>(),
        spent
    );
    let owed = count(
        "SELECT COUNT(*) FROM invoices WHERE estado IN ('recibida', 'en_revision', 'aprobada', 'parcialmente_pagada') \
         AND tipo_dte NOT IN (50, 52)",
    )
    .await;
    assert_eq!(d.antiguedad.iter().map(|a| a.documentos).sum::<i64>(), owed);
    let open = count(
        "SELECT COUNT(*) FROM invoices WHERE estado IN ('recibida', 'en_revision') AND tipo_dte IN (33, 34, 43, 46, 56, 61)",
    )
    .await;
    assert_eq!(d.plazos.iter().map(|p| p.documentos).sum::<i64>(), open);
    // largest spend first, credit notes subtracted: the obra filter opens the same documents
    assert!(
        d.gasto_por_obra
            .windows(2)
            .all(|w| w[0].total >= w[1].total)
    );
    let first = d.gasto_por_obra.iter().find(|o| o.obra.is_some()).unwrap();
    let f = first.filtro.clone().unwrap().parse().unwrap();
    let listed = all(&app, &admin, f).await;
    let counted = listed
        .iter()
        .filter(|r| {
            !matches!(r.estado.as_str(), "rechazada" | "anulada") && !matches!(r.tipo_dte, 50 | 52)
        })
        .count() as i64;
    assert_eq!(counted, first.documentos);

    let jp = site_manager(&app, &admin).await;
    let mine = app.dashboard(&jp).await.unwrap();
    assert_eq!(mine.gasto_por_obra.len(), 1);
    assert_eq!(mine.gasto_por_obra[0].obra.as_deref(), Some("OB-2026-017"));
}

#[tokio::test]
async fn attachments_are_kept_once_checked_by_content_and_scoped() {
    let (d, app, admin) = seeded().await;
    let everything = all(&app, &admin, InvoiceFilter::default()).await;
    let inv = everything
        .iter()
        .find(|r| r.obra.as_deref() == Some("OB-2026-001"))
        .unwrap();
    let pdf = d.path().join("factura.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n%%EOF\n").unwrap();
    let list = app.add_attachment(&admin, &inv.id, &pdf).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].mime, "application/pdf");
    // the same content again is kept once; under another name too
    let copy = d.path().join("copia.pdf");
    std::fs::copy(&pdf, &copy).unwrap();
    assert_eq!(
        app.add_attachment(&admin, &inv.id, &copy)
            .await
            .unwrap()
            .len(),
        1
    );
    let stored = app.attachment_file(&admin, list[0].id).await.unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), b"%PDF-1.4\n%%EOF\n");
    if app.is_encrypted() {
        // the stored file is sealed; what opens is a decrypted copy outside the data folder
        assert!(!stored.starts_with(d.path()), "{}", stored.display());
        let sealed: Vec<_> = std::fs::read_dir(d.path().join(icc_app::ATTACHMENTS_DIR))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(sealed.len(), 1);
        assert!(!sealed[0].starts_with(b"%PDF"));
    } else {
        assert!(stored.starts_with(d.path().join(icc_app::ATTACHMENTS_DIR)));
    }
    let v = app.show_invoice(&admin, &inv.id).await.unwrap();
    assert_eq!(v.adjuntos.len(), 1);
    assert!(
        app.invoice_history(&admin, &inv.id)
            .await
            .unwrap()
            .iter()
            .any(|a| a.action == "attach")
    );
    // a picture named .pdf is refused, naming the file
    let png = d.path().join("foto.pdf");
    std::fs::write(&png, b"\x89PNG\r\n").unwrap();
    let e = app.add_attachment(&admin, &inv.id, &png).await.unwrap_err();
    assert!(
        matches!(e, AppError::Invalid(_)) && e.to_string().contains("foto.pdf"),
        "{e}"
    );
    // another obra's site manager cannot see or open it
    let jp = site_manager(&app, &admin).await;
    assert!(matches!(
        app.attachment_file(&jp, list[0].id).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.add_attachment(&jp, &inv.id, &pdf).await,
        Err(AppError::Forbidden(_))
    ));
}

#[tokio::test]
async fn an_invoice_shows_the_credit_notes_that_correct_it() {
    let (_d, app, admin) = seeded().await;
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT f.id, nc.id FROM invoices nc JOIN invoice_references r ON r.invoice_id = nc.id \
         JOIN invoices f ON f.rut_emisor = nc.rut_emisor AND f.tipo_dte = 33 AND CAST(f.folio AS TEXT) = r.folio \
         WHERE nc.tipo_dte = 61 AND r.tipo = '33' LIMIT 1",
    )
    .fetch_optional(app.store().pool())
    .await
    .unwrap();
    let (factura, nota) = found.expect("the seed links some credit notes to invoices");
    let v = app.show_invoice(&admin, &factura).await.unwrap();
    assert!(
        v.relacionados.iter().any(|r| r.id == nota),
        "{:?}",
        v.relacionados
    );
    assert!(
        v.relacionados
            .iter()
            .all(|r| r.tipo_dte == 61 || r.tipo_dte == 56)
    );
    let suppliers = app.suppliers(&admin).await.unwrap();
    assert!(suppliers.iter().any(|s| s.rut == v.detail.row.rut_emisor));
    assert!(
        suppliers
            .windows(2)
            .all(|w| w[0].razon_social <= w[1].razon_social)
    );
}

#[tokio::test]
async fn a_selection_exports_just_those_invoices_and_still_only_the_users() {
    let (d, app, admin) = seeded().await;
    let everything = all(&app, &admin, InvoiceFilter::default()).await;
    let chosen: Vec<String> = everything
        .iter()
        .step_by(400)
        .map(|r| r.id.clone())
        .collect();
    let out = d.path().join("seleccion.csv");
    let mut o = export_opts(icc_app::ReportKind::Facturas, &out);
    o.filter = icc_app::ListFilter {
        ids: Some(chosen.clone()),
        ..Default::default()
    }
    .parse()
    .unwrap();
    let r = app.export(&admin, o.clone(), &mut |_| true).await.unwrap();
    assert_eq!(r.documents, chosen.len() as u64);
    let (_, rows) = read_csv(&out);
    let folios: Vec<String> = everything
        .iter()
        .filter(|x| chosen.contains(&x.id))
        .map(|x| x.folio.to_string())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r[2].clone()).collect::<Vec<_>>(),
        folios
    );

    let jp = site_manager(&app, &admin).await;
    let r = app.export(&jp, o, &mut |_| true).await.unwrap();
    let theirs = everything
        .iter()
        .filter(|x| chosen.contains(&x.id) && x.obra.as_deref() == Some("OB-2026-017"))
        .count();
    assert_eq!(
        r.documents, theirs as u64,
        "a selection never widens the scope"
    );
}

#[tokio::test]
async fn backups_are_verified_restore_keeps_a_safety_copy_and_refuses_damage() {
    let (d, app, admin) = seeded().await;
    let one = all(&app, &admin, InvoiceFilter::default()).await[0].clone();
    let pdf = d.path().join("f.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n%%EOF\n").unwrap();
    app.add_attachment(&admin, &one.id, &pdf).await.unwrap();

    let b = app.create_backup(&admin).await.unwrap();
    assert_eq!(b.facts.invoices, 3000);
    assert!(
        std::path::Path::new(&b.path)
            .join("adjuntos")
            .read_dir()
            .unwrap()
            .count()
            == 1
    );
    assert_eq!(app.list_backups(&admin).await.unwrap()[0].id, b.id);
    app.verify_backup(&admin, None).await.unwrap();
    // not due again within a day
    assert!(app.backup_if_due().await.unwrap().is_none());

    // a change after the backup, then a restore brings the old state back
    let before = app
        .show_invoice(&admin, &one.id)
        .await
        .unwrap()
        .detail
        .glosa;
    let change = AssignmentChange {
        glosa: Some(Some("cambio posterior al respaldo".into())),
        ..Default::default()
    };
    let changed = app
        .set_invoice_fields(&admin, &one.id, change)
        .await
        .unwrap()
        .detail
        .glosa;
    assert_ne!(changed, before);
    // a site manager may not restore
    let jp = site_manager(&app, &admin).await;
    assert!(matches!(
        app.restore_backup(&jp, None).await,
        Err(AppError::Forbidden(_))
    ));
    app.restore_backup(&admin, Some(&b.id)).await.unwrap();
    let reopened = App::open(d.path()).await.unwrap();
    let back = reopened
        .show_invoice(&admin, &one.id)
        .await
        .unwrap()
        .detail
        .glosa;
    assert_eq!(back, before, "was {changed:?} after the backup");
    assert!(
        reopened.login("jperez", USER_PW).await.is_err(),
        "the user came after the backup"
    );
    let safety: Vec<_> = std::fs::read_dir(d.path().join(icc_app::BACKUPS_DIR))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".antes-de-restaurar-")
        })
        .collect();
    assert_eq!(safety.len(), 1, "a safety copy of the replaced database");

    // a damaged backup is refused, with a message naming it, and nothing changes
    let db = std::path::Path::new(&b.path).join("icc.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 4096].fill(0xA5);
    std::fs::write(&db, &bytes).unwrap();
    let e = reopened
        .verify_backup(&admin, Some(&b.id))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&b.id) || e.contains("dañado"), "{e}");
    assert!(reopened.restore_backup(&admin, Some(&b.id)).await.is_err());
    assert_eq!(
        reopened
            .show_invoice(&admin, &one.id)
            .await
            .unwrap()
            .detail
            .glosa,
        before
    );
}

#[tokio::test]
async fn a_backup_from_a_newer_version_is_refused_with_a_clear_message() {
    let (d, app, admin) = seeded().await;
    let b = app.create_backup(&admin).await.unwrap();
    let dir = std::path::Path::new(&b.path);
    {
        use sqlx::Connection;
        let opts = icc_store::connect_options(&dir.join("icc.db"), app.store().key()).unwrap();
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET version = 9999 WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let manifest = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["facts"]["schema_version"] = 9999.into();
    std::fs::write(&manifest, m.to_string()).unwrap();
    let e = app
        .restore_backup(&admin, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("más nueva") && e.contains(&b.id), "{e}");
    // nothing was touched: the live database still answers
    assert_eq!(app.list_backups(&admin).await.unwrap().len(), 1);
    assert!(d.path().join("icc.db").exists());
    all(&app, &admin, InvoiceFilter::default()).await;
}

async fn legacy_fixture(
    opts: icc_app::legacy_fixture::FixtureOptions,
) -> (tempfile::TempDir, icc_app::legacy_fixture::FixtureFacts) {
    let d = tempfile::tempdir().unwrap();
    let facts = icc_app::legacy_fixture::write_fixture(d.path(), opts)
        .await
        .unwrap();
    (d, facts)
}

#[tokio::test]
async fn the_predecessor_migrates_with_its_quirks_and_a_second_run_changes_nothing() {
    let (_l, f) = legacy_fixture(Default::default()).await;
    let (_d, app) = app().await;
    let r = app.migrate_legacy(None, &f.db, &f.files).await.unwrap();
    assert_eq!(
        r.users,
        f.user_rows - 1,
        "the repeated email is one account"
    );
    assert_eq!(r.users_disabled, f.disabled_accounts.len());
    assert_eq!(r.obras, f.obras);
    assert_eq!(r.invoices, f.distinct_invoices);
    assert_eq!(
        r.invoices_read,
        f.distinct_invoices + f.repeated_invoice_rows
    );
    assert_eq!(
        r.merged,
        f.repeated_invoice_rows + 1,
        "two invoice rows and one email"
    );
    assert_eq!(r.rejected, f.bad_invoice_rows);
    assert_eq!(r.archived, f.archivable);
    assert_eq!(r.skipped, f.skippable);
    for account in &f.disabled_accounts {
        assert!(
            r.entries
                .iter()
                .any(|e| &e.item == account && e.action == "deshabilitado"),
            "{account} is reported disabled"
        );
        // the published password no longer opens anything
        for pw in ["password123", "manager123", "obra123"] {
            assert!(app.login(account, pw).await.is_err());
        }
    }
    let rejected: Vec<_> = r
        .entries
        .iter()
        .filter(|e| e.action == "rechazado")
        .collect();
    assert!(
        rejected
            .iter()
            .any(|e| e.reason.contains("Boleta Honorarios"))
    );
    assert!(rejected.iter().any(|e| e.reason.contains("montoNeto")));

    // an administrator signs in with the old password, which is re-hashed at once
    let (admin_name, admin_pw) = &f.admin;
    let stored = app.store().user(admin_name).await.unwrap().unwrap();
    assert!(stored.password_legacy);
    let admin = app.login(admin_name, admin_pw.as_str()).await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    // migrated documents were received long ago: the migration day is not their import
    // date, so no due date runs from it
    let migrated = all(&app, &admin, InvoiceFilter::default()).await;
    assert_eq!(migrated.len(), r.invoices);
    for row in &migrated {
        let v = app.show_invoice(&admin, &row.id).await.unwrap();
        assert_eq!(v.detail.fecha_importacion, None, "{}", row.id);
        assert_ne!(v.vence_fuente.as_str(), "importacion");
    }
    let stored = app.store().user(admin_name).await.unwrap().unwrap();
    assert!(!stored.password_legacy);
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(
        app.login(admin_name, admin_pw.as_str()).await.is_ok(),
        "and works again"
    );
    assert!(app.login(admin_name, "Contab-Sur-2023").await.is_err());

    // re-enabling a default account does not bring its published password back: it needs
    // a new one from an administrator
    {
        let mut tx = app.store().write(admin_name).await.unwrap();
        tx.set_disabled("ccarreno@constructoraicc.cl", false)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let stored = app
        .store()
        .user("ccarreno@constructoraicc.cl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, "!", "the published hash is not kept");
    assert!(!stored.password_legacy);
    // refused (wrong password, or locked by the attempts above): never signed in
    assert!(
        app.login("ccarreno@constructoraicc.cl", "password123")
            .await
            .is_err()
    );
    app.change_password(
        &admin,
        "ccarreno@constructoraicc.cl",
        "Constanza-Nueva-Clave-2026",
    )
    .await
    .unwrap();
    assert!(
        app.login("ccarreno@constructoraicc.cl", "Constanza-Nueva-Clave-2026")
            .await
            .is_ok()
    );

    // the site manager keeps their obras (the float-looking centro 1418.0 is obra 1418)
    let (jp, jp_pw, jp_obras) = &f.site_manager;
    let jp = app.login(jp, jp_pw.as_str()).await.unwrap();
    let mut got = jp.obras.clone();
    got.sort();
    let mut want = jp_obras.clone();
    want.sort();
    assert_eq!(got, want);

    // invoices: one per natural key, folio read as text, obra from the centro de gestión
    let rows = all(&app, &admin, InvoiceFilter::default()).await;
    assert_eq!(rows.len(), f.distinct_invoices);
    assert!(rows.iter().any(|i| i.folio == 1003), "1003.0 is folio 1003");
    assert_eq!(rows.iter().filter(|i| i.folio == 1000).count(), 1);
    assert!(
        rows.iter().any(|i| i.folio == 90001),
        "kept only in facturas_subidas_datos"
    );
    assert!(rows.iter().any(|i| i.obra.as_deref() == Some("1420")));
    assert!(rows.iter().any(|i| i.obra.as_deref() == Some("1418")));
    assert!(
        rows.iter().any(|i| i.obra.is_none()),
        "centro 9999 has no obra"
    );
    let one = rows.iter().find(|i| i.folio == 1001).unwrap();
    let detail = app.show_invoice(&admin, &one.id).await.unwrap().detail;
    assert_eq!(detail.cuenta.as_deref(), Some("4.01.02.01"));
    assert_eq!(one.monto_neto + one.monto_iva, one.monto_total);

    // a second run: nothing new, everything recognised
    let again = app
        .migrate_legacy(Some(&admin), &f.db, &f.files)
        .await
        .unwrap();
    assert_eq!(
        (again.users, again.obras, again.invoices, again.archived),
        (0, 0, 0, 0)
    );
    assert_eq!(again.existing, f.distinct_invoices);
    assert_eq!(
        all(&app, &admin, InvoiceFilter::default()).await.len(),
        f.distinct_invoices
    );
}

#[tokio::test]
async fn an_empty_predecessor_csv_is_reported_and_not_an_error() {
    let (_l, f) = legacy_fixture(icc_app::legacy_fixture::FixtureOptions {
        invoices: 12,
        empty_subidas_datos: true,
    })
    .await;
    let (_d, app) = app().await;
    let r = app.migrate_legacy(None, &f.db, &f.files).await.unwrap();
    assert_eq!(r.invoices, f.distinct_invoices);
    assert_eq!(r.invoices, 12);
    assert!(
        r.entries
            .iter()
            .any(|e| e.source == "facturas_subidas_datos.csv"
                && e.action == "omitido"
                && e.reason.contains("vacío"))
    );
}

#[tokio::test]
async fn migration_refuses_non_admins_and_bad_input_without_writing() {
    let (_l, f) = legacy_fixture(Default::default()).await;
    let (_d, app, admin) = seeded().await;
    let before = all(&app, &admin, InvoiceFilter::default()).await.len();
    // an initialized database needs an administrator
    assert!(matches!(
        app.migrate_legacy(None, &f.db, &f.files).await,
        Err(AppError::Forbidden(_))
    ));
    let jp = site_manager(&app, &admin).await;
    assert!(matches!(
        app.migrate_legacy(Some(&jp), &f.db, &f.files).await,
        Err(AppError::Forbidden(_))
    ));
    // not a database
    let text = f.files.join("facturas.csv");
    let e = app
        .migrate_legacy(Some(&admin), &text, &f.files)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("facturas.csv") && e.contains("--db"), "{e}");
    // no such folder
    let e = app
        .migrate_legacy(Some(&admin), &f.db, &f.files.join("no-existe"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("--files"), "{e}");
    // a damaged invoice file: the message names it and nothing at all is written
    std::fs::write(&text, [0u8, 159, 146, 150, 0, 0, 1, 2]).unwrap();
    let e = app
        .migrate_legacy(Some(&admin), &f.db, &f.files)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("facturas.csv"), "{e}");
    assert_eq!(
        all(&app, &admin, InvoiceFilter::default()).await.len(),
        before
    );
    assert!(
        app.store()
            .user("mlopez@constructoraicc.cl")
            .await
            .unwrap()
            .is_none()
    );
}

/// Issue 21 item 1: invoices show «sin cuenta» until a template reaches them; selecting
/// some in the list and assigning a concepto maps their suppliers (every invoice of those
/// suppliers, none of the others), audited, kept as local fichas, refused to a site
/// manager and for a concepto without a template.
#[tokio::test]
async fn a_concepto_assigned_from_the_list_maps_the_suppliers_of_the_selection() {
    let (_d, app, admin) = seeded().await;
    app.kame_set_plantilla(
        &admin,
        &icc_core::kame::Plantilla {
            concepto: "MATERIALES".into(),
            cuenta_neto: "5101".into(),
            cuenta_exento: None,
            cuenta_iva: "1109".into(),
            cuenta_otros: None,
            cuenta_proveedor: "2101".into(),
            tipo: icc_core::kame::TipoComprobante::default(),
            misma_cuenta: false,
        },
    )
    .await
    .unwrap();
    let rows = all(&app, &admin, InvoiceFilter::default()).await;
    assert!(
        rows.iter().all(|r| r.sin_cuenta),
        "no ficha yet: every invoice sin cuenta"
    );
    // two suppliers: two invoices of the first, one of the second are selected
    let mut by_rut: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for r in &rows {
        by_rut
            .entry(r.rut_emisor.as_str())
            .or_default()
            .push(r.id.as_str());
    }
    let mut many = by_rut.iter().filter(|(_, ids)| ids.len() >= 2);
    let (rut_a, ids_a) = many.next().unwrap();
    let (rut_b, ids_b) = many.next().unwrap();
    let selection: Vec<String> = [ids_a[0], ids_a[1], ids_b[0]]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();

    let jefe = site_manager(&app, &admin).await;
    assert!(matches!(
        app.kame_assign_concepto(&jefe, &selection, "MATERIALES")
            .await,
        Err(AppError::Forbidden(_))
    ));
    let Err(AppError::Invalid(e)) = app
        .kame_assign_concepto(&admin, &selection, "ARRIENDOS")
        .await
    else {
        panic!("a concepto without a template is refused")
    };
    assert!(e.contains("«ARRIENDOS» no tiene plantilla contable"), "{e}");

    // the template's own spelling is stored, whatever the case typed
    let r = app
        .kame_assign_concepto(&admin, &selection, " materiales ")
        .await
        .unwrap();
    assert_eq!(
        (r.concepto.as_str(), r.facturas, r.proveedores, r.sin_cambio),
        ("MATERIALES", 3, 2, 0)
    );
    let rows = all(&app, &admin, InvoiceFilter::default()).await;
    for row in &rows {
        let mapped = row.rut_emisor == *rut_a || row.rut_emisor == *rut_b;
        assert_eq!(
            row.sin_cuenta, !mapped,
            "{} of {}",
            row.folio, row.rut_emisor
        );
    }
    // again: nothing to change
    let r = app
        .kame_assign_concepto(&admin, &selection, "MATERIALES")
        .await
        .unwrap();
    assert_eq!((r.proveedores, r.sin_cambio), (0, 2));

    // a ficha's flags edited here keep its concepto, and every change is audited
    app.kame_edit_ficha(
        &admin,
        rut_a,
        &icc_app::kame::FichaEdit {
            honorario: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let f = app.kame_ficha(&admin, rut_a).await.unwrap().unwrap();
    assert_eq!(
        (
            f.concepto.as_deref(),
            f.proveedor,
            f.honorario,
            f.origen.as_str()
        ),
        (Some("MATERIALES"), true, true, "local")
    );
    let history = app.store().history("kame_ficha", rut_a).await.unwrap();
    let changes: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.field.as_deref(),
                h.old_value.as_deref(),
                h.new_value.as_deref(),
                h.user_name.as_str(),
            )
        })
        .collect();
    for expected in [
        (Some("concepto"), None, Some("MATERIALES"), "admin"),
        (Some("proveedor"), None, Some("sí"), "admin"),
        (Some("honorario"), None, Some("no"), "admin"),
        (Some("honorario"), Some("no"), Some("sí"), "admin"),
    ] {
        assert!(changes.contains(&expected), "{expected:?} in {changes:?}");
    }
    assert_eq!(changes.len(), 4, "{changes:?}");
    let Err(AppError::Invalid(e)) = app
        .kame_edit_ficha(
            &admin,
            rut_b,
            &icc_app::kame::FichaEdit {
                concepto: Some("  ".into()),
                ..Default::default()
            },
        )
        .await
    else {
        panic!("an emptied concepto is refused")
    };
    assert!(e.contains("no puede quedar vacío"), "{e}");
}

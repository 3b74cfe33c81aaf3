//! The payment cycle through the use cases: roles, the four-eyes bank master, a run, its
//! bank file read back with calamine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;
use common::factura;

use calamine::{Reader, Xlsx};
use icc_app::{AccountRequest, App, MailSettingsChange, Session};
use icc_core::Role;

const ADMIN_PW: &str = "caballo correcto batería grapa";
const USER_PW: &str = "Quilicura-Andamio-Losa-77";

fn account(rut: &str, numero: &str, titular: &str) -> AccountRequest {
    AccountRequest {
        rut: rut.into(),
        banco: "037".into(),
        tipo: "corriente".into(),
        numero: numero.into(),
        titular_rut: None,
        titular_nombre: titular.into(),
        email: Some("pagos@proveedor.cl".into()),
    }
}

async fn setup() -> (tempfile::TempDir, App, Session, Session, Session) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    for (name, role) in [
        ("contadora", Role::Contabilidad),
        ("gerente", Role::Gerente),
    ] {
        app.add_user(&admin, name, role, &[], USER_PW)
            .await
            .unwrap();
    }
    let contadora = app.login("contadora", USER_PW).await.unwrap();
    let gerente = app.login("gerente", USER_PW).await.unwrap();
    let mut tx = app.store().write("contadora").await.unwrap();
    tx.insert_invoices(
        &[
            (
                factura(76555835, "Ferretería Ñuñoa Ltda.", 1234, 15_500_000),
                None,
            ),
            (
                factura(76177907, "Hormigones del Sur S.A.", 88, 3_000_000),
                None,
            ),
        ],
        &mut |_| true,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (dir, app, admin, contadora, gerente)
}

#[tokio::test]
async fn the_bank_file_needs_approved_accounts_and_splits_large_lines() {
    let (dir, app, admin, contadora, gerente) = setup().await;
    let a = app
        .add_bank_account(
            &contadora,
            account("76555835-2", "0-012-34567-8", "Ferretería Ñuñoa Ltda."),
        )
        .await
        .unwrap();
    // four eyes: not the one who entered it, and not a role without the permission
    assert!(app.approve_bank_account(&contadora, &a.id).await.is_err());
    assert!(app.approve_bank_account(&gerente, &a.id).await.is_err());
    app.approve_bank_account(&admin, &a.id).await.unwrap();

    let corte = "2026-11-06".parse().unwrap();
    let run = app.create_run(&contadora, Some(corte)).await.unwrap();
    assert_eq!(run.run.total, 18_500_000);
    let id = run.run.id.clone();
    let out = dir.path().join("nomina.xlsx");
    // not from a draft
    let e = app
        .bank_file(&contadora, &id, &out)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("borrador") && e.contains("aprobadas"), "{e}");
    assert!(
        app.approve_run(&contadora, &id).await.is_err(),
        "contabilidad does not approve"
    );
    let approved = app.approve_run(&gerente, &id).await.unwrap();
    let sin_cuenta: Vec<_> = approved
        .beneficiarios
        .iter()
        .filter(|p| !p.con_cuenta)
        .map(|p| p.rut.as_str())
        .collect();
    assert_eq!(sin_cuenta, ["76177907-9"]);

    // a payee without an approved account blocks the file, named, and nothing is written
    let e = app
        .bank_file(&contadora, &id, &out)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("76177907-9")
            && e.contains("Hormigones del Sur")
            && e.contains("cuentas-bancarias add"),
        "{e}"
    );
    assert!(!out.exists());
    let b = app
        .add_bank_account(
            &contadora,
            account("76177907-9", "9988776655", "Hormigones del Sur S.A."),
        )
        .await
        .unwrap();
    app.approve_bank_account(&admin, &b.id).await.unwrap();

    let r = app.bank_file(&contadora, &id, &out).await.unwrap();
    assert_eq!(
        (r.transferencias, r.total, r.formato.as_str()),
        (4, 18_500_000, "Santander")
    );
    let bytes = std::fs::read(&out).unwrap();
    use sha2::Digest;
    assert_eq!(r.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(
        app.run(&gerente, &id)
            .await
            .unwrap()
            .run
            .bank_file_sha256
            .as_deref(),
        Some(r.sha256.as_str())
    );

    let mut wb: Xlsx<_> = calamine::open_workbook(&out).unwrap();
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        rows[0],
        icc_io::bank::SANTANDER_HEADERS.map(String::from).to_vec()
    );
    let body: Vec<(&str, &str, &str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| {
            (
                r[0].as_str(),
                r[4].as_str(),
                r[6].as_str(),
                r[7].as_str(),
                r[8].as_str(),
            )
        })
        .collect();
    let msg = "PAGO PROVEEDORES 06 11 2026";
    assert_eq!(
        body,
        [
            (
                "Ferretería Ñuñoa Ltda.",
                "0012345678",
                "7000000",
                "PAGO FACTURA 1234 PARTE 1",
                msg
            ),
            (
                "Ferretería Ñuñoa Ltda.",
                "0012345678",
                "7000000",
                "PAGO FACTURA 1234 PARTE 2",
                msg
            ),
            (
                "Ferretería Ñuñoa Ltda.",
                "0012345678",
                "1500000",
                "PAGO FACTURA 1234 PARTE 3",
                msg
            ),
            (
                "Hormigones del Sur S.A.",
                "9988776655",
                "3000000",
                "PAGO FACTURA 88",
                msg
            ),
        ]
    );
    assert_eq!(
        (
            rows[1][1].as_str(),
            rows[1][2].as_str(),
            rows[1][3].as_str()
        ),
        ("76555835-2", "Santander", "Cuenta Corriente")
    );

    // the run's report: every line with what it pays, the total, and per payee
    let report = dir.path().join("informe.xlsx");
    app.run_report(&gerente, &id, &report).await.unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook(&report).unwrap();
    let names = wb.sheet_names();
    assert_eq!(names, ["Nómina", "Por beneficiario"]);
    let nomina = wb.worksheet_range("Nómina").unwrap();
    let text: Vec<Vec<String>> = nomina
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(text[0][0], "Nómina de pago N° 1");
    assert_eq!(
        text[6][..8],
        [
            "Documento",
            "Folio",
            "Proveedor",
            "RUT beneficiario",
            "Beneficiario",
            "Vence",
            "Saldo",
            "A pagar"
        ]
    );
    let last = text.last().unwrap();
    assert_eq!((last[6].as_str(), last[7].as_str()), ("Total", "18500000"));
    let by = wb.worksheet_range("Por beneficiario").unwrap();
    assert_eq!(by.rows().count(), 3, "a header and two payees");

    // a later change of the supplier's account does not change what the approved run pays
    let c = app
        .add_bank_account(
            &contadora,
            account("76555835-2", "5555555555", "Ferretería Ñuñoa Ltda."),
        )
        .await
        .unwrap();
    app.approve_bank_account(&admin, &c.id).await.unwrap();
    // a second later: the file carries the run's date, not the clock's
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let again = dir.path().join("otra.xlsx");
    let r2 = app.bank_file(&contadora, &id, &again).await.unwrap();
    assert_eq!(r2.sha256, r.sha256, "same run, same file");
}

#[tokio::test]
async fn the_vencimientos_report_shows_credits_payments_and_the_balance() {
    let (dir, app, _admin, contadora, gerente) = setup().await;
    // what the screens may offer is decided here: the gerente may reopen, not void, and
    // pays by recording a payment, never by choosing a paid status
    let v = app
        .show_invoice(&gerente, "76177907-9:33:88")
        .await
        .unwrap();
    assert_eq!(v.cambios_de_estado, ["en_revision"]);
    assert!(v.pagos.as_ref().unwrap().acepta_pago);
    let v = app
        .show_invoice(&contadora, "76177907-9:33:88")
        .await
        .unwrap();
    assert!(v.cambios_de_estado.contains(&"anulada".to_owned()));
    app.record_payment(
        &gerente,
        "76177907-9:33:88",
        icc_app::PaymentRequest {
            monto: 1_000_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let out = dir.path().join("vencimientos.xlsx");
    app.export(
        &contadora,
        icc_app::ExportOptions {
            report: icc_app::ReportKind::Vencimientos,
            format: icc_app::format_for_path(&out),
            filter: icc_app::InvoiceFilter::default(),
            mes: None,
            out: out.clone(),
        },
        &mut |_| true,
    )
    .await
    .unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook(&out).unwrap();
    let r = wb.worksheet_range("Vencimientos").unwrap();
    let rows: Vec<Vec<String>> = r
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    let header = rows
        .iter()
        .find(|r| r.iter().any(|c| c == "Saldo"))
        .unwrap();
    let col = |name: &str| header.iter().position(|c| c == name).unwrap();
    let row = rows
        .iter()
        .find(|r| r.get(col("Folio")).is_some_and(|f| f == "88"))
        .unwrap();
    assert_eq!(
        (
            row[col("Monto")].as_str(),
            row[col("Pagado")].as_str(),
            row[col("Saldo")].as_str()
        ),
        ("3000000", "-1000000", "2000000")
    );
    // a paid invoice takes no more payments
    app.record_payment(
        &gerente,
        "76177907-9:33:88",
        icc_app::PaymentRequest {
            monto: 2_000_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let v = app
        .show_invoice(&gerente, "76177907-9:33:88")
        .await
        .unwrap();
    assert!(!v.pagos.as_ref().unwrap().acepta_pago);
    assert!(v.cambios_de_estado.is_empty(), "{:?}", v.cambios_de_estado);
}

#[tokio::test]
async fn a_payee_without_an_email_gets_the_companys_payments_address_or_no_file() {
    let (dir, app, admin, contadora, gerente) = setup().await;
    for (rut, numero, titular, email) in [
        (
            "76555835-2",
            "0-012-34567-8",
            "Ferretería Ñuñoa Ltda.",
            None,
        ),
        (
            "76177907-9",
            "9988776655",
            "Hormigones del Sur S.A.",
            Some("pagos@hds.cl"),
        ),
    ] {
        let mut req = account(rut, numero, titular);
        req.email = email.map(str::to_owned);
        let a = app.add_bank_account(&contadora, req).await.unwrap();
        app.approve_bank_account(&admin, &a.id).await.unwrap();
    }
    let run = app
        .create_run(&contadora, Some("2026-11-06".parse().unwrap()))
        .await
        .unwrap();
    let id = run.run.id.clone();
    app.approve_run(&gerente, &id).await.unwrap();
    // the template's «Correo beneficiario» is required: no address at all, no file
    let out = dir.path().join("nomina.xlsx");
    let e = app
        .bank_file(&contadora, &id, &out)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("76555835-2 Ferretería Ñuñoa Ltda.")
            && !e.contains("76177907-9")
            && e.contains("--correo-remitente"),
        "{e}"
    );
    assert!(!out.exists());
    // with the company's payments address, that payee's notice goes there
    app.set_mail_settings(
        &admin,
        MailSettingsChange {
            remitente: Some("Nóminas ICC <nominas@icc.cl>".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.bank_file(&contadora, &id, &out).await.unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook(&out).unwrap();
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    let mails: Vec<(String, String)> = sheet
        .rows()
        .skip(1)
        .map(|r| (r[0].to_string(), r[5].to_string()))
        .collect();
    assert!(!mails.is_empty());
    for (name, mail) in mails {
        let want = if name.starts_with("Ferretería") {
            "nominas@icc.cl"
        } else {
            "pagos@hds.cl"
        };
        assert_eq!(mail, want, "{name}");
    }
}

//! Offline-first sync between laptops (separate data folders) through a real icc-server on a
//! fresh PostgreSQL database, over HTTP on 127.0.0.1; refresh tokens in the real keyring
//! (run inside `scripts/with-keyring`, as `scripts/test` does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::Arc;

use icc_app::{App, AssignmentChange, Keep, Session};
use icc_core::{InvoiceStatus, Role};

const PW: &str = "caballo correcto batería grapa";
const SERVER_PW: &str = "Moldaje-Andamio-Losa-2026";
use icc_server::testing::TestServer as Server;

async fn start_server() -> Server {
    Server::start(
        &[
            ("contadora", Role::Contabilidad, &[]),
            ("contadora2", Role::Contabilidad, &[]),
            ("gerente", Role::Gerente, &[]),
            ("jefe1", Role::AdminObra, &["OB-1"]),
            ("ti", Role::Admin, &[]),
        ],
        SERVER_PW,
    )
    .await
}

struct Laptop {
    _dir: tempfile::TempDir,
    app: App,
    s: Session,
}

async fn laptop(server: &Server, server_user: &str) -> Laptop {
    laptop_of(server, server_user, "admin").await
}

/// A laptop whose local administrator is `local_user` (people are told apart by name, on
/// the laptop as on the server).
async fn laptop_of(server: &Server, server_user: &str, local_user: &str) -> Laptop {
    linked_laptop(&server.url, server_user, local_user).await
}

/// A laptop linked through `url` (a proxy in front of the server, say).
async fn laptop_at(url: &str, server_user: &str) -> Laptop {
    linked_laptop(url, server_user, "admin").await
}

async fn linked_laptop(url: &str, server_user: &str, local_user: &str) -> Laptop {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let s = app.init(local_user, PW).await.unwrap();
    app.login_server(&s, url, server_user, SERVER_PW)
        .await
        .unwrap();
    Laptop { _dir: dir, app, s }
}

const RCV: &str = "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Fecha Acuse;Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total;Monto Neto Activo Fijo;IVA Activo Fijo;IVA uso Comun;Impto. Sin Derecho a Credito;IVA No Retenido;Tabacos Puros;Tabacos Cigarrillos;Tabacos Elaborados;NCE o NDE sobre Fact. de Compra;Codigo Otro Impuesto;Valor Otro Impuesto;Tasa Otro Impuesto\r\n\
1;33;Del Giro;76555835-2;Hormigones Andinos SpA;5001;03/03/2026;04/03/2026 10:15:00;;0;1000000;190000;0;;1190000;0;0;0;0;0;0;0;0;0;;;\r\n\
2;33;Del Giro;76555835-2;Hormigones Andinos SpA;5002;05/03/2026;06/03/2026 11:00:00;;0;2000000;380000;0;;2380000;0;0;0;0;0;0;0;0;0;;;\r\n";

async fn import_rcv(l: &Laptop) {
    let f = l._dir.path().join("rcv.csv");
    std::fs::write(&f, RCV).unwrap();
    let r = l
        .app
        .import_files(&l.s, &[f], &Default::default(), &mut |_| true)
        .await
        .unwrap();
    assert_eq!(r.total.counts.rejected, 0, "{:?}", r.total.errors);
}

async fn field(l: &Laptop, key: &str, f: &str) -> Option<String> {
    let v = l.app.show_invoice(&l.s, key).await.unwrap();
    match f {
        "glosa" => v.detail.glosa,
        "cuenta" => v.detail.cuenta,
        "centro_costo" => v.detail.centro_costo,
        "estado" => Some(v.detail.row.estado),
        "obra" => v.detail.row.obra,
        _ => unreachable!(),
    }
}

async fn set(l: &Laptop, key: &str, change: AssignmentChange) {
    l.app.set_invoice_fields(&l.s, key, change).await.unwrap();
}

/// Sets one assignment field (obra, glosa, cuenta, centro_costo) of `key` on `l`.
async fn assign(l: &Laptop, key: &str, field: &str, value: &str) {
    let v = Some(Some(value.to_owned()));
    let change = match field {
        "obra" => AssignmentChange {
            obra: v,
            ..Default::default()
        },
        "glosa" => AssignmentChange {
            glosa: v,
            ..Default::default()
        },
        "cuenta" => AssignmentChange {
            cuenta: v,
            ..Default::default()
        },
        "centro_costo" => AssignmentChange {
            centro_costo: v,
            ..Default::default()
        },
        other => unreachable!("{other}"),
    };
    set(l, key, change).await;
}

const A: &str = "76555835-2:33:5001";
const B: &str = "76555835-2:33:5002";

#[tokio::test]
async fn offline_edits_of_different_fields_both_survive_and_same_field_edits_converge() {
    let srv = start_server().await;
    let l1 = laptop(&srv, "contadora").await;
    let l2 = laptop(&srv, "contadora2").await;
    // the same file imported on both laptops, offline: one invoice each, same ids
    import_rcv(&l1).await;
    import_rcv(&l2).await;
    l1.app.sync(&l1.s).await.unwrap();
    let r = l2.app.sync(&l2.s).await.unwrap();
    assert!(r.pushed >= 2 && r.pulled >= 2, "{r:?}");
    l1.app.sync(&l1.s).await.unwrap();
    let docs: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT (entity, entity_id)) FROM ops WHERE field = '_doc'",
    )
    .fetch_one(&srv.pool)
    .await
    .unwrap();
    assert_eq!(
        docs, 2,
        "the same invoice imported on two laptops is one invoice"
    );

    // offline: l1 edits glosa, l2 edits cuenta of the same invoice
    assign(&l1, A, "glosa", "hormigón piso 3").await;
    assign(&l2, A, "cuenta", "5101").await;
    // and both edit centro_costo of B; l2 does it later
    assign(&l1, B, "centro_costo", "CC-L1").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assign(&l2, B, "centro_costo", "CC-L2").await;
    for _ in 0..2 {
        l1.app.sync(&l1.s).await.unwrap();
        l2.app.sync(&l2.s).await.unwrap();
    }
    for l in [&l1, &l2] {
        assert_eq!(
            field(l, A, "glosa").await.as_deref(),
            Some("hormigón piso 3")
        );
        assert_eq!(field(l, A, "cuenta").await.as_deref(), Some("5101"));
        assert_eq!(
            field(l, B, "centro_costo").await.as_deref(),
            Some("CC-L2"),
            "one winner everywhere"
        );
        let c = l.app.conflicts(&l.s).await.unwrap();
        assert_eq!(
            c.len(),
            1,
            "the loser is kept as a conflict on every device"
        );
        assert_eq!(c[0].loser_value, "\"CC-L1\"");
        assert_eq!(l.app.sync_status(&l.s).await.unwrap().pending, 0);
    }

    // l1 keeps its value: it wins everywhere, and the conflict is closed everywhere
    let id = l1.app.conflicts(&l1.s).await.unwrap()[0].id;
    l1.app
        .resolve_conflict(&l1.s, id, Keep::Mine)
        .await
        .unwrap();
    l2.app.sync(&l2.s).await.unwrap();
    for l in [&l1, &l2] {
        assert_eq!(field(l, B, "centro_costo").await.as_deref(), Some("CC-L1"));
        assert!(
            l.app
                .conflicts(&l.s)
                .await
                .unwrap()
                .iter()
                .all(|c| c.resolved_by.is_some())
        );
    }

    // status changes travel too, and the history says who did what; the server decides by
    // the account's role: an accountant's approval (allowed to the laptop's local admin) is
    // refused and set aside, the gerente's goes through
    l2.app
        .set_invoice_status(&l2.s, A, InvoiceStatus::Aprobada, None)
        .await
        .unwrap();
    let r = l2.app.sync(&l2.s).await.unwrap();
    assert_eq!(r.refused.len(), 1, "{r:?}");
    assert!(
        r.refused[0].reason.contains("aprobar"),
        "{:?}",
        r.refused[0]
    );
    l2.app
        .discard_refused(&l2.s, &r.refused[0].op_id)
        .await
        .unwrap();
    assert_eq!(field(&l2, A, "estado").await.as_deref(), Some("recibida"));
    let g = laptop(&srv, "gerente").await;
    g.app.sync(&g.s).await.unwrap();
    g.app
        .set_invoice_status(&g.s, A, InvoiceStatus::Aprobada, None)
        .await
        .unwrap();
    g.app.sync(&g.s).await.unwrap();
    l1.app.sync(&l1.s).await.unwrap();
    assert_eq!(field(&l1, A, "estado").await.as_deref(), Some("aprobada"));
    let h = l1.app.invoice_history(&l1.s, A).await.unwrap();
    assert!(
        h.iter()
            .any(|e| e.action == "sync" && e.field.as_deref() == Some("estado"))
    );
    srv.stop().await;
}

#[tokio::test]
async fn keeping_my_status_must_be_a_legal_move_from_the_winning_one() {
    let srv = start_server().await;
    // the office imports (a gerente may not); two gerente laptops pull the invoices
    let office = laptop(&srv, "contadora").await;
    import_rcv(&office).await;
    office.app.sync(&office.s).await.unwrap();
    let l1 = laptop(&srv, "gerente").await;
    let l2 = laptop(&srv, "gerente").await;
    l1.app.sync(&l1.s).await.unwrap();
    l2.app.sync(&l2.s).await.unwrap();
    // offline: l1 rejects A; l2, later, approves and pays it
    let status = |l: &Laptop, to: InvoiceStatus, motivo: Option<&'static str>| {
        let (app, s) = (l.app.clone(), l.s.clone());
        async move { app.set_invoice_status(&s, A, to, motivo).await.unwrap() }
    };
    status(&l1, InvoiceStatus::EnRevision, None).await;
    status(&l1, InvoiceStatus::Rechazada, Some("precio no acordado")).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    status(&l2, InvoiceStatus::EnRevision, None).await;
    status(&l2, InvoiceStatus::Aprobada, None).await;
    l2.app
        .record_payment(
            &l2.s,
            A,
            icc_app::PaymentRequest {
                monto: 1_190_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for _ in 0..2 {
        l1.app.sync(&l1.s).await.unwrap();
        l2.app.sync(&l2.s).await.unwrap();
    }
    assert_eq!(field(&l1, A, "estado").await.as_deref(), Some("pagada"));
    let open = |l: &Laptop| {
        let (app, s) = (l.app.clone(), l.s.clone());
        async move {
            app.conflicts(&s)
                .await
                .unwrap()
                .into_iter()
                .filter(|c| c.field == "estado" && c.resolved_by.is_none())
                .collect::<Vec<_>>()
        }
    };
    let c = open(&l1).await;
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].loser_value, "\"rechazada\"");

    // a paid invoice cannot go back to rejected, not even by keeping an old value
    let err = l1
        .app
        .resolve_conflict(&l1.s, c[0].id, Keep::Mine)
        .await
        .unwrap_err()
        .to_string()
        .to_lowercase();
    assert!(
        err.contains("pagada") && err.contains("rechazada"),
        "the refusal names both states: {err}"
    );
    assert_eq!(field(&l1, A, "estado").await.as_deref(), Some("pagada"));
    assert_eq!(open(&l1).await.len(), 1, "the conflict stays open");
    assert_eq!(l1.app.sync_status(&l1.s).await.unwrap().pending, 0);

    // accepting the server's value closes it everywhere
    l1.app
        .resolve_conflict(&l1.s, c[0].id, Keep::Theirs)
        .await
        .unwrap();
    l2.app.sync(&l2.s).await.unwrap();
    assert!(open(&l1).await.is_empty());
    assert!(open(&l2).await.is_empty());
    assert_eq!(field(&l2, A, "estado").await.as_deref(), Some("pagada"));
    srv.stop().await;
}

#[tokio::test]
async fn a_site_manager_laptop_gets_only_its_obras_and_cannot_send_others() {
    let srv = start_server().await;
    let office = laptop(&srv, "contadora").await;
    import_rcv(&office).await;
    office
        .app
        .add_obra(&office.s, "OB-1", "Edificio Uno")
        .await
        .unwrap();
    office
        .app
        .add_obra(&office.s, "OB-2", "Edificio Dos")
        .await
        .unwrap();
    assign(&office, A, "obra", "OB-1").await;
    assign(&office, B, "obra", "OB-2").await;
    office.app.sync(&office.s).await.unwrap();

    let site = laptop(&srv, "jefe1").await;
    site.app.sync(&site.s).await.unwrap();
    let all = site
        .app
        .list_invoices(&site.s, Default::default(), 100, None)
        .await
        .unwrap();
    let keys: Vec<String> = all
        .items
        .iter()
        .map(|r| format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio))
        .collect();
    assert_eq!(
        keys,
        vec![A.to_owned()],
        "only the OB-1 invoice reaches the OB-1 laptop"
    );
    // and a pulled document is searchable there: its words reached the local vocabulary
    let word: String = all.items[0]
        .razon_social
        .split_whitespace()
        .next()
        .unwrap()
        .chars()
        .take(4)
        .collect();
    let found = site
        .app
        .list_invoices(
            &site.s,
            icc_app::InvoiceFilter {
                q: Some(word.to_uppercase()),
                ..Default::default()
            },
            100,
            None,
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1, "search «{word}» on the laptop");

    // an edit of the OB-1 invoice goes through; the server refuses what is not theirs
    assign(&site, A, "glosa", "revisado en obra").await;
    site.app.sync(&site.s).await.unwrap();
    office.app.sync(&office.s).await.unwrap();
    assert_eq!(
        field(&office, A, "glosa").await.as_deref(),
        Some("revisado en obra")
    );

    // a change the server refuses (moving the invoice out of the site manager's obras) is
    // set aside and listed; what the office did still reaches the site, and the changes
    // made after the refused one still go out
    assign(&office, A, "cuenta", "5101").await;
    office.app.sync(&office.s).await.unwrap();
    site.app
        .add_obra(&site.s, "OB-2", "Edificio Dos")
        .await
        .unwrap();
    assign(&site, A, "obra", "OB-2").await;
    assign(&site, A, "glosa", "después del rechazo").await;
    let r = site.app.sync(&site.s).await.unwrap();
    assert_eq!(r.refused.len(), 1, "{r:?}");
    assert_eq!(r.refused[0].field, "obra");
    assert!(
        r.refused[0].reason.contains("sus obras"),
        "{:?}",
        r.refused[0]
    );
    assert_eq!(
        r.pending, 0,
        "the refused change no longer blocks the outbox"
    );
    assert_eq!(field(&site, A, "cuenta").await.as_deref(), Some("5101"));
    office.app.sync(&office.s).await.unwrap();
    assert_eq!(field(&office, A, "obra").await.as_deref(), Some("OB-1"));
    assert_eq!(
        field(&office, A, "glosa").await.as_deref(),
        Some("después del rechazo"),
        "the edit made after the refused one reached the office"
    );
    // «descartar» restores the server's value here, audited, and the list empties
    assert_eq!(field(&site, A, "obra").await.as_deref(), Some("OB-2"));
    site.app
        .discard_refused(&site.s, &r.refused[0].op_id)
        .await
        .unwrap();
    assert_eq!(field(&site, A, "obra").await.as_deref(), Some("OB-1"));
    let r = site.app.sync(&site.s).await.unwrap();
    assert!(r.refused.is_empty() && r.pending == 0, "{r:?}");
    let history = site.app.invoice_history(&site.s, A).await.unwrap();
    assert!(
        history.iter().any(|h| h.action == "descarte"),
        "the discard is in the invoice's history: {history:?}"
    );
    srv.stop().await;
}

const AB_FIELDS: [&str; 4] = ["estado", "obra", "glosa", "cuenta"];

/// Every field a list row and the detail show, for comparing two laptops' copies.
async fn whole(l: &Laptop, key: &str) -> String {
    let v = l.app.show_invoice(&l.s, key).await.unwrap().detail;
    format!(
        "{} {} {} {} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
        v.row.razon_social,
        v.row.fecha_emision,
        v.row.monto_neto,
        v.row.monto_iva,
        v.row.monto_total,
        v.row.estado,
        v.row.vence,
        v.monto_otros,
        v.row.obra,
        v.fecha_recepcion_sii,
        v.glosa,
        v.cuenta,
        v.centro_costo
    )
}

async fn keys(l: &Laptop) -> Vec<String> {
    keys_as(l, &l.s).await
}

/// The invoices `s` lists on `l`.
async fn keys_as(l: &Laptop, s: &Session) -> Vec<String> {
    let mut k: Vec<String> = l
        .app
        .list_invoices(s, Default::default(), 100, None)
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio))
        .collect();
    k.sort();
    k
}

#[tokio::test]
async fn the_office_assigns_the_site_sees_and_approves_and_the_office_sees_the_approval() {
    let srv = start_server().await;
    let office = laptop(&srv, "contadora").await;
    for (code, name) in [("OB-1", "Edificio Uno"), ("OB-2", "Edificio Dos")] {
        office.app.add_obra(&office.s, code, name).await.unwrap();
    }
    import_rcv(&office).await;
    office.app.sync(&office.s).await.unwrap();
    let site = laptop(&srv, "jefe1").await;
    let r = site.app.sync(&site.s).await.unwrap();
    assert!(keys(&site).await.is_empty(), "nothing of OB-1 yet: {r:?}");

    // the office assigns both invoices to OB-1 (after the site's cursor passed their
    // documents) and adds a glosa to one of them
    for key in [A, B] {
        assign(&office, key, "obra", "OB-1").await;
    }
    assign(&office, A, "glosa", "hormigón losa piso 2").await;
    office.app.sync(&office.s).await.unwrap();
    let r = site.app.sync(&site.s).await.unwrap();
    assert_eq!(keys(&site).await, vec![A.to_owned(), B.to_owned()], "{r:?}");
    assert!(r.applied >= 2 && r.invalid == 0 && r.held == 0, "{r:?}");
    for key in [A, B] {
        assert_eq!(
            whole(&site, key).await,
            whole(&office, key).await,
            "the site holds every field of {key} as the office has it"
        );
    }

    // the site attaches the same delivery note to both, and B's own invoice PDF to B
    let note = site._dir.path().join("guia.pdf");
    std::fs::write(&note, b"%PDF-1.4 guia de despacho 1234").unwrap();
    let own = site._dir.path().join("factura-5002.pdf");
    std::fs::write(&own, b"%PDF-1.4 factura 5002").unwrap();
    for (key, file) in [(A, &note), (B, &note), (B, &own)] {
        site.app.add_attachment(&site.s, key, file).await.unwrap();
    }
    let stored = || {
        let mut names: Vec<String> = std::fs::read_dir(site._dir.path().join("adjuntos"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(stored().len(), 2);

    // the office moves B to OB-2: the site keeps only A, and says why B left
    assign(&office, B, "obra", "OB-2").await;
    office.app.sync(&office.s).await.unwrap();
    let r = site.app.sync(&site.s).await.unwrap();
    assert_eq!(keys(&site).await, vec![A.to_owned()]);
    // B's own PDF is gone from the laptop; the note A still has stays, and opens
    let a_files = site.app.attachments(&site.s, A).await.unwrap();
    assert_eq!(a_files.len(), 1);
    assert_eq!(stored(), [format!("{}.pdf", a_files[0].sha256)]);
    let opened = site
        .app
        .attachment_file(&site.s, a_files[0].id)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(opened).unwrap(),
        b"%PDF-1.4 guia de despacho 1234"
    );
    assert_eq!(r.removed.len(), 1, "{r:?}");
    assert!(
        r.removed[0].invoice.contains("5002") && r.removed[0].reason.contains("OB-2"),
        "{:?}",
        r.removed[0]
    );
    assert_eq!(site.app.removed_invoices(&site.s).await.unwrap().len(), 1);

    // the site approves the one it holds; the office sees the approval
    site.app
        .set_invoice_status(&site.s, A, InvoiceStatus::Aprobada, None)
        .await
        .unwrap();
    let r = site.app.sync(&site.s).await.unwrap();
    assert!(r.refused.is_empty() && r.pending == 0, "{r:?}");
    office.app.sync(&office.s).await.unwrap();
    assert_eq!(
        field(&office, A, "estado").await.as_deref(),
        Some("aprobada")
    );
    for f in AB_FIELDS {
        assert_eq!(field(&office, A, f).await, field(&site, A, f).await, "{f}");
    }

    // moved back to OB-1, B returns to the site whole, with what happened meanwhile
    assign(&office, B, "cuenta", "5101").await;
    assign(&office, B, "obra", "OB-1").await;
    office.app.sync(&office.s).await.unwrap();
    site.app.sync(&site.s).await.unwrap();
    assert_eq!(keys(&site).await, vec![A.to_owned(), B.to_owned()]);
    assert_eq!(whole(&site, B).await, whole(&office, B).await);
    srv.stop().await;
}

#[tokio::test]
async fn an_account_given_another_obra_receives_it_and_one_losing_an_obra_removes_it() {
    let srv = start_server().await;
    let office = laptop(&srv, "contadora").await;
    for (code, name) in [("OB-1", "Edificio Uno"), ("OB-2", "Edificio Dos")] {
        office.app.add_obra(&office.s, code, name).await.unwrap();
    }
    import_rcv(&office).await;
    for (key, obra) in [(A, "OB-1"), (B, "OB-2")] {
        set(
            &office,
            key,
            AssignmentChange {
                obra: Some(Some(obra.into())),
                ..Default::default()
            },
        )
        .await;
    }
    office.app.sync(&office.s).await.unwrap();
    let site = laptop(&srv, "jefe1").await;
    site.app.sync(&site.s).await.unwrap();
    assert_eq!(keys(&site).await, vec![A.to_owned()]);
    // whoever signs in on the laptop acts as the account it is linked as (the server would
    // refuse anything more), and keeps only the say over the laptop's own users
    let signed = site.app.login("admin", PW).await.unwrap();
    assert_eq!(
        (signed.role, signed.obras.clone(), signed.account.as_deref()),
        (Role::AdminObra, vec!["OB-1".to_owned()], Some("jefe1"))
    );
    let e = site
        .app
        .add_obra(&signed, "OB-9", "Bodega")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("«jefe1»"), "{e}");
    site.app
        .add_user(
            &signed,
            "bodeguero",
            Role::AdminObra,
            &["OB-1".into()],
            "Bodega-Central-Fierro-2026",
        )
        .await
        .unwrap();

    // IT gives jefe1 OB-2 as well (`icc-server user set`): the next pull brings B whole,
    // and the laptop's sessions see it
    let obras = ["OB-1".to_owned(), "OB-2".to_owned()];
    icc_server::users::set(&srv.pool, "jefe1", None, Some(&obras))
        .await
        .unwrap();
    site.app.sync(&site.s).await.unwrap();
    assert_eq!(keys(&site).await, vec![A.to_owned(), B.to_owned()]);
    assert_eq!(whole(&site, B).await, whole(&office, B).await);
    let signed = site.app.login("admin", PW).await.unwrap();
    assert_eq!(signed.obras, obras);
    assert_eq!(
        keys_as(&site, &signed).await,
        vec![A.to_owned(), B.to_owned()]
    );
    let held = site.app.current_session(&site.s).await.unwrap();
    assert_eq!(held, signed, "a session held open follows too");

    // and takes OB-1 away: A leaves the laptop, with the reason
    icc_server::users::set(&srv.pool, "jefe1", None, Some(&["OB-2".to_owned()]))
        .await
        .unwrap();
    let r = site.app.sync(&site.s).await.unwrap();
    assert_eq!(keys(&site).await, vec![B.to_owned()]);
    assert!(
        r.removed
            .iter()
            .any(|g| g.invoice.contains("5001") && g.reason.contains("OB-1")),
        "{r:?}"
    );
    let signed = site.app.login("admin", PW).await.unwrap();
    assert_eq!(signed.obras, vec!["OB-2".to_owned()]);
    assert_eq!(keys_as(&site, &signed).await, vec![B.to_owned()]);
    let changes = site.app.store().history("sync", "servidor").await.unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.new_value.as_deref() == Some("jefe1 (Administrador de obra; obras OB-2)")),
        "every change of the account is audited: {changes:?}"
    );

    // signed out of the server, the local roles apply again
    site.app.logout_server(&site.s).await.unwrap();
    let signed = site.app.login("admin", PW).await.unwrap();
    assert_eq!((signed.role, signed.account), (Role::Admin, None));
    srv.stop().await;
}

#[tokio::test]
async fn an_account_given_the_treasury_receives_it_and_one_losing_it_removes_it() {
    use icc_app::TreasuryBankInput;
    use icc_core::presupuesto::TREASURY_BANK_ENTITY;
    let srv = start_server().await;
    let boss = laptop(&srv, "gerente").await;
    let bank = boss
        .app
        .treasury_bank_save(
            &boss.s,
            &TreasuryBankInput {
                id: None,
                nombre: "Banco de Chile cta. cte.".into(),
                saldo_inicial: -2_500_000,
                semana: "2026-11-30".into(),
                principal: true,
            },
        )
        .await
        .unwrap();
    boss.app.sync(&boss.s).await.unwrap();
    let office = laptop(&srv, "contadora").await;
    import_rcv(&office).await;
    office.app.sync(&office.s).await.unwrap();
    let banks = |l: &Laptop| {
        let store = l.app.store().clone();
        async move {
            store
                .plan_docs::<serde_json::Value>(TREASURY_BANK_ENTITY, None)
                .await
                .unwrap()
        }
    };
    assert!(
        banks(&office).await.is_empty(),
        "contabilidad never receives it"
    );

    // IT makes the accountant a gerente: the next sync brings the treasury whole
    icc_server::users::set(&srv.pool, "contadora", Some(Role::Gerente), None)
        .await
        .unwrap();
    office.app.sync(&office.s).await.unwrap();
    let signed = office.app.login("admin", PW).await.unwrap();
    assert_eq!(
        signed.role,
        Role::Gerente,
        "the laptop follows the new role"
    );
    assert!(signed.may(icc_app::Permission::Treasury) && !signed.may(icc_app::Permission::Import));
    let held = banks(&office).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["id"], bank.id.as_str());
    assert_eq!(held[0]["saldo_inicial"], -2_500_000);
    // once: the sync after it does not start over
    let again = office.app.sync(&office.s).await.unwrap();
    assert_eq!(again.pulled, 0, "{again:?}");

    // and back to contabilidad: the treasury leaves the laptop, the invoices stay
    icc_server::users::set(&srv.pool, "contadora", Some(Role::Contabilidad), None)
        .await
        .unwrap();
    office.app.sync(&office.s).await.unwrap();
    assert!(banks(&office).await.is_empty());
    assert_eq!(keys(&office).await, vec![A.to_owned(), B.to_owned()]);

    // A laptop linked before pulls answered `treasury` never stored it: made gerente while
    // on that version, its first sync on this one still brings the treasury whole
    let mut tx = office.app.store().write("prueba").await.unwrap();
    tx.delete_setting(icc_store::sync::TREASURY_SETTING)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    icc_server::users::set(&srv.pool, "contadora", Some(Role::Gerente), None)
        .await
        .unwrap();
    office.app.sync(&office.s).await.unwrap();
    assert_eq!(banks(&office).await.len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn a_wrong_server_password_or_a_revoked_session_say_what_to_do() {
    let srv = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let s = app.init("admin", PW).await.unwrap();
    let e = app
        .login_server(&s, &srv.url, "contadora", "otra-cosa-distinta")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "credentials", "{e}");
    let e = app.sync(&s).await.unwrap_err();
    assert!(e.to_string().contains("icc login"), "{e}");
    app.login_server(&s, &srv.url, "contadora", SERVER_PW)
        .await
        .unwrap();
    app.sync(&s).await.unwrap();
    icc_server::users::disable(&srv.pool, "contadora")
        .await
        .unwrap();
    let e = app.sync(&s).await.unwrap_err();
    assert_eq!(e.code(), "credentials", "{e}");
    app.logout_server(&s).await.unwrap();
    srv.stop().await;
}

/// A tiny deterministic generator, so a failure can be replayed from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn snapshot(
    l: &Laptop,
) -> Vec<(
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
)> {
    let p = l
        .app
        .list_invoices(&l.s, Default::default(), 1000, None)
        .await
        .unwrap();
    let mut out = Vec::new();
    for r in p.items {
        let key = format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio);
        let v = l.app.show_invoice(&l.s, &key).await.unwrap();
        out.push((
            key,
            v.detail.glosa,
            v.detail.cuenta,
            v.detail.centro_costo,
            v.detail.row.obra,
            v.detail.row.estado,
        ));
    }
    out.sort();
    out
}

#[tokio::test]
async fn three_laptops_and_a_thousand_random_operations_each_converge() {
    let seed: u64 = std::env::var("ICC_SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x05EE_D1CC);
    let srv = start_server().await;
    let mut laptops = Vec::new();
    for _ in 0..3 {
        laptops.push(laptop(&srv, "contadora").await);
    }
    // everyone starts from the same two invoices, imported separately, and two obras
    for l in &laptops {
        import_rcv(l).await;
        for (c, n) in [("OB-1", "Uno"), ("OB-2", "Dos")] {
            l.app.add_obra(&l.s, c, n).await.unwrap();
        }
    }
    let mut rng = Rng(seed | 1);
    // exactly 1,000 edits per laptop, interleaved at random, with syncs at random moments
    let mut left = [1000u32; 3];
    while left.iter().any(|n| *n > 0) {
        let i = rng.below(3) as usize;
        if left[i] == 0 {
            continue;
        }
        let l = &laptops[i];
        if rng.below(8) == 0 {
            l.app.sync(&l.s).await.unwrap();
        }
        let key = if rng.below(2) == 0 { A } else { B };
        match rng.below(8) {
            0..=2 => {
                set(
                    l,
                    key,
                    AssignmentChange {
                        glosa: Some(Some(format!("g{}", rng.below(1000)))),
                        ..Default::default()
                    },
                )
                .await
            }
            3..=4 => {
                set(
                    l,
                    key,
                    AssignmentChange {
                        cuenta: Some(Some(format!("c{}", rng.below(50)))),
                        ..Default::default()
                    },
                )
                .await
            }
            5..=6 => {
                set(
                    l,
                    key,
                    AssignmentChange {
                        centro_costo: Some(Some(format!("cc{}", rng.below(20)))),
                        ..Default::default()
                    },
                )
                .await
            }
            _ => {
                let obra = if rng.below(2) == 0 { "OB-1" } else { "OB-2" };
                set(
                    l,
                    key,
                    AssignmentChange {
                        obra: Some(Some(obra.into())),
                        ..Default::default()
                    },
                )
                .await;
            }
        }
        left[i] -= 1;
    }
    // everyone syncs until nothing moves: two rounds deliver everything
    for _ in 0..2 {
        for l in &laptops {
            l.app.sync(&l.s).await.unwrap();
        }
    }
    let first = snapshot(&laptops[0]).await;
    for l in &laptops[1..] {
        assert_eq!(snapshot(l).await, first, "seed {seed:#x}: laptops disagree");
        assert_eq!(l.app.sync_status(&l.s).await.unwrap().pending, 0);
    }
    // the server's winning values are what every laptop shows
    for (key, glosa, cuenta, cc, obra, _) in &first {
        let id = key
            .parse::<icc_core::NaturalKey>()
            .unwrap()
            .id()
            .to_string();
        let server: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT field, value FROM fields WHERE entity_id = $1")
                .bind(&id)
                .fetch_all(&srv.pool)
                .await
                .unwrap();
        let get = |f: &str| {
            server
                .iter()
                .find(|(n, _)| n == f)
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
        };
        assert_eq!(
            (
                &get("glosa"),
                &get("cuenta"),
                &get("centro_costo"),
                &get("obra")
            ),
            (glosa, cuenta, cc, obra)
        );
    }
    // no operation lost: every edit made (some made no change and wrote nothing) reached
    // the server once
    let server_edits: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops WHERE field <> '_doc'")
        .fetch_one(&srv.pool)
        .await
        .unwrap();
    let local_edits: i64 = {
        let mut n = 0;
        for l in &laptops {
            let h_a = l.app.invoice_history(&l.s, A).await.unwrap();
            let h_b = l.app.invoice_history(&l.s, B).await.unwrap();
            n += h_a
                .iter()
                .chain(h_b.iter())
                .filter(|e| e.action == "update" && e.user_name == "admin")
                .count() as i64;
        }
        n
    };
    assert_eq!(
        server_edits, local_edits,
        "every local edit is on the server exactly once"
    );
    srv.stop().await;
}

/// A TCP proxy in front of the server that can lose the answer of the next request whose
/// first line contains `cut` (the server did the work; the client never hears of it).
struct Proxy {
    url: String,
    cut: Arc<std::sync::Mutex<Option<&'static str>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut: Arc<std::sync::Mutex<Option<&'static str>>> = Arc::default();
        let c = cut.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let up = upstream.clone();
                let c = c.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&up).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        // one request (the client sends it whole before reading)
                        let n = match client.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let head = String::from_utf8_lossy(&buf[..n.min(200)]).into_owned();
                        let lose = {
                            let mut g = c.lock().unwrap();
                            match *g {
                                Some(p) if head.lines().next().unwrap_or("").contains(p) => {
                                    *g = None;
                                    true
                                }
                                _ => false,
                            }
                        };
                        if server.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        // a large body may need more reads
                        if let Some(len) = head.lines().find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        }) {
                            let header_end = buf[..n]
                                .windows(4)
                                .position(|w| w == b"\r\n\r\n")
                                .map_or(n, |p| p + 4);
                            let mut have = n - header_end;
                            while have < len {
                                let m = match client.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(m) => m,
                                };
                                have += m;
                                if server.write_all(&buf[..m]).await.is_err() {
                                    return;
                                }
                            }
                        }
                        if lose {
                            // let the server finish the work, then hang up on the client
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                            return;
                        }
                        let m = match server.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(m) => m,
                        };
                        if client.write_all(&buf[..m]).await.is_err() {
                            return;
                        }
                        // the rest of the answer, if any
                        loop {
                            match tokio::time::timeout(
                                std::time::Duration::from_millis(50),
                                server.read(&mut buf),
                            )
                            .await
                            {
                                Ok(Ok(0)) | Ok(Err(_)) => return,
                                Ok(Ok(m)) => {
                                    if client.write_all(&buf[..m]).await.is_err() {
                                        return;
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                    }
                });
            }
        });
        Proxy { url, cut, task }
    }

    fn lose_next(&self, what: &'static str) {
        *self.cut.lock().unwrap() = Some(what);
    }
}

#[tokio::test]
async fn lost_answers_to_a_push_or_a_pull_lose_nothing_and_duplicate_nothing() {
    let srv = start_server().await;
    let proxy = Proxy::start(&srv.url).await;
    let l1 = laptop_at(&proxy.url, "contadora").await;
    import_rcv(&l1).await;
    assign(&l1, A, "glosa", "antes del corte").await;

    // the server stores the push, the answer never arrives
    proxy.lose_next("/api/v1/sync/push");
    let e = l1.app.sync(&l1.s).await.unwrap_err();
    assert_eq!(e.code(), "remote", "{e}");
    assert!(e.to_string().contains("se enviarán"), "{e}");
    assert!(
        l1.app.sync_status(&l1.s).await.unwrap().pending > 0,
        "the batch is still queued"
    );
    let r = l1.app.sync(&l1.s).await.unwrap();
    assert_eq!(r.pending, 0);
    let ops: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops")
        .fetch_one(&srv.pool)
        .await
        .unwrap();
    assert_eq!(ops, 3, "two documents and one edit, each once");

    // another laptop loses the answer of its first pull: nothing applied, nothing skipped
    let l2 = laptop(&srv, "gerente").await;
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let s = app.init("admin", PW).await.unwrap();
    app.login_server(&s, &proxy.url, "gerente", SERVER_PW)
        .await
        .unwrap();
    proxy.lose_next("/api/v1/sync/pull");
    assert!(app.sync(&s).await.is_err());
    assert_eq!(
        app.list_invoices(&s, Default::default(), 10, None)
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    app.sync(&s).await.unwrap();
    let l3 = Laptop { _dir: dir, app, s };
    l2.app.sync(&l2.s).await.unwrap();
    for l in [&l2, &l3] {
        assert_eq!(snapshot(l).await, snapshot(&l1).await);
    }
    proxy.task.abort();
    srv.stop().await;
}

/// A server on its own runtime and thread, so it can die like a process: dropping the
/// runtime drops every connection and every open transaction (PostgreSQL rolls them back).
struct ThreadServer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn server_thread(db: String, addr: SocketAddr) -> ThreadServer {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let cfg = icc_server::testing::config(&db);
            let pool = icc_server::connect(&cfg).await.unwrap();
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            icc_server::testing::serve(cfg, pool, listener);
        });
        ready_tx.send(()).unwrap();
        rx.recv().ok();
        rt.shutdown_background();
    });
    ready_rx.recv().unwrap();
    ThreadServer { stop: tx, thread }
}

impl ThreadServer {
    fn kill(self) {
        self.stop.send(()).ok();
        self.thread.join().unwrap();
    }
}

#[tokio::test]
async fn a_server_killed_and_restarted_mid_push_loses_nothing() {
    let srv = start_server().await;
    // the test server only created the database; the one that dies runs on its own thread
    srv.task.abort();
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dying = server_thread(srv.db.clone(), addr);
    let url = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let s = app.init("admin", PW).await.unwrap();
    app.login_server(&s, &url, "contadora", SERVER_PW)
        .await
        .unwrap();
    // several push batches (5,000 ops each), so the kill falls between or inside them
    let seeded = app.seed(12_000, 5, &mut |_, _| true).await.unwrap();
    let sync = {
        let (app, s) = (app.clone(), s.clone());
        tokio::spawn(async move { app.sync(&s).await })
    };
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops")
            .fetch_one(&srv.pool)
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::task::spawn_blocking(move || dying.kill())
        .await
        .unwrap();
    let first = sync.await.unwrap();
    assert!(first.is_err(), "the sync saw the server die");
    assert!(app.sync_status(&s).await.unwrap().pending > 0);
    // restarted on the same address
    let again = server_thread(srv.db.clone(), addr);
    let r = app.sync(&s).await.unwrap();
    assert_eq!(r.pending, 0);
    let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ops WHERE field = '_doc'")
        .fetch_one(&srv.pool)
        .await
        .unwrap();
    let distinct: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT (entity, entity_id)) FROM ops WHERE field = '_doc'",
    )
    .fetch_one(&srv.pool)
    .await
    .unwrap();
    assert_eq!(
        (docs, distinct),
        (seeded.inserted as i64, seeded.inserted as i64),
        "every invoice exactly once"
    );
    tokio::task::spawn_blocking(move || again.kill())
        .await
        .unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn doctor_checks_the_server_its_protocol_and_the_clock() {
    let srv = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).await.unwrap();
    let s = app.init("admin", PW).await.unwrap();
    let check =
        |r: &icc_app::DoctorReport| r.checks.iter().find(|c| c.id == "sync").unwrap().clone();
    let alone = check(&app.doctor().await);
    assert!(
        alone.ok && alone.detail.contains("no vinculado"),
        "{alone:?}"
    );
    app.login_server(&s, &srv.url, "contadora", SERVER_PW)
        .await
        .unwrap();
    let linked = check(&app.doctor().await);
    assert!(linked.ok, "{linked:?}");
    assert!(
        linked.detail.contains("protocolo 1") && linked.detail.contains("relojes"),
        "{linked:?}"
    );
    srv.task.abort();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // a server out of reach (a site without network) is a warning, not a failure
    let report = app.doctor().await;
    let down = check(&report);
    assert_eq!(down.level, icc_app::Level::Aviso, "{down:?}");
    assert!(down.ok && report.ok, "{down:?}");
    assert!(down.hint.unwrap().contains("servidor"));
    srv.stop().await;
}

/// The status-bar timer, the button and the command line may start a sync at the same
/// moment on one data folder: the second waits for the first, both succeed, and the
/// session survives (a refresh token used twice would revoke it).
#[tokio::test]
async fn two_syncs_started_at_once_on_one_data_folder_take_turns_and_keep_the_session() {
    let srv = start_server().await;
    let l = laptop(&srv, "contadora").await;
    import_rcv(&l).await;
    // a second App on the same folder, as the command line next to the desktop app
    let cli = App::open(l._dir.path()).await.unwrap();
    let s2 = cli.login("admin", PW).await.unwrap();
    let (a, b, c) = tokio::join!(l.app.sync(&l.s), cli.sync(&s2), l.app.sync(&l.s));
    for r in [&a, &b, &c] {
        assert!(r.is_ok(), "{r:?}");
    }
    let pushed: u64 = [a, b, c].iter().map(|r| r.as_ref().unwrap().pushed).sum();
    assert_eq!(pushed, 2, "the two documents went out once");
    // the session is alive for both
    l.app.sync(&l.s).await.unwrap();
    cli.sync(&s2).await.unwrap();
    let revoked: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
            .fetch_one(&srv.pool)
            .await
            .unwrap();
    assert_eq!(revoked, 0, "no refresh token looked stolen");
    srv.stop().await;
}

/// A linked laptop restored from a backup gets a new device id and pulls everything back,
/// including what it did itself after the backup (a pull never sends a device its own ops).
#[tokio::test]
async fn a_restored_laptop_gets_a_new_device_id_and_its_own_later_changes_back() {
    let srv = start_server().await;
    let l = laptop(&srv, "contadora").await;
    import_rcv(&l).await;
    l.app.sync(&l.s).await.unwrap();
    let before = l.app.create_backup(&l.s).await.unwrap();
    assign(&l, A, "glosa", "después del respaldo").await;
    l.app.sync(&l.s).await.unwrap();
    let old_device = l
        .app
        .store()
        .setting(icc_store::sync::DEVICE_SETTING)
        .await
        .unwrap()
        .unwrap();
    l.app.restore_backup(&l.s, Some(&before.id)).await.unwrap();
    let app = App::open(l._dir.path()).await.unwrap();
    let s = app.login("admin", PW).await.unwrap();
    assert_eq!(
        app.show_invoice(&s, A).await.unwrap().detail.glosa,
        None,
        "the backup is from before the edit"
    );
    app.sync(&s).await.unwrap();
    let new_device = app
        .store()
        .setting(icc_store::sync::DEVICE_SETTING)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new_device, old_device);
    assert_eq!(
        app.show_invoice(&s, A)
            .await
            .unwrap()
            .detail
            .glosa
            .as_deref(),
        Some("después del respaldo"),
        "its own change made after the backup came back from the server"
    );
    srv.stop().await;
}

/// How many list indexes (`invoices_by_*`) the laptop's database has.
async fn list_indexes(l: &Laptop) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'invoices_by_%'",
    )
    .fetch_one(l.app.store().pool())
    .await
}

/// Every row of a listing, walking its pages.
async fn listing(l: &Laptop, filter: icc_app::InvoiceFilter) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let p = l
            .app
            .list_invoices(&l.s, filter.clone(), 500, cursor.as_deref())
            .await
            .unwrap();
        keys.extend(p.items.iter().map(|r| {
            format!(
                "{}:{}:{}:{}:{:?}",
                r.rut_emisor, r.tipo_dte, r.folio, r.estado, r.obra
            )
        }));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => {
                // rows of one day are in local insertion order, which two laptops may not share
                keys.sort();
                return keys;
            }
        }
    }
}

#[tokio::test]
async fn a_new_laptop_joining_a_large_server_loads_everything_in_bulk_and_lists_it_the_same() {
    let srv = start_server().await;
    let office = laptop(&srv, "contadora").await;
    // more than WriteTx::expect_bulk's threshold (20,000), so the joiner's pull is a bulk load
    let seeded = office.app.seed(21_000, 11, &mut |_, _| true).await.unwrap();
    office.app.sync(&office.s).await.unwrap();
    // an edit after the documents: it arrives in the same bulk run, after its document
    let key = {
        let p = office
            .app
            .list_invoices(&office.s, Default::default(), 1, None)
            .await
            .unwrap();
        let r = &p.items[0];
        format!("{}:{}:{}", r.rut_emisor, r.tipo_dte, r.folio)
    };
    assign(&office, &key, "glosa", "revisar con bodega").await;
    office.app.sync(&office.s).await.unwrap();

    let joiner = laptop(&srv, "contadora2").await;
    let r = joiner.app.sync(&joiner.s).await.unwrap();
    assert_eq!(r.invalid, 0, "{r:?}");
    assert_eq!(
        r.applied,
        seeded.inserted + 1,
        "every document and the edit: {r:?}"
    );

    // the list indexes were rebuilt and the text index is whole: the same rows for the whole
    // list, one obra, one status and a word
    let obra = joiner
        .app
        .list_invoices(&joiner.s, Default::default(), 1, None)
        .await
        .unwrap()
        .items[0]
        .obra
        .clone();
    let word = {
        let p = office
            .app
            .list_invoices(&office.s, Default::default(), 1, None)
            .await
            .unwrap();
        p.items[0]
            .razon_social
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    for filter in [
        icc_app::InvoiceFilter::default(),
        icc_app::InvoiceFilter {
            obra: obra.clone(),
            ..Default::default()
        },
        icc_app::InvoiceFilter {
            estado: Some(InvoiceStatus::Recibida),
            ..Default::default()
        },
        icc_app::InvoiceFilter {
            q: Some(word.clone()),
            ..Default::default()
        },
    ] {
        let (a, b) = (
            listing(&office, filter.clone()).await,
            listing(&joiner, filter.clone()).await,
        );
        assert!(!a.is_empty(), "{filter:?} lists something");
        assert_eq!(a, b, "{filter:?}");
    }
    assert_eq!(
        field(&joiner, &key, "glosa").await.as_deref(),
        Some("revisar con bodega")
    );
    let (indexes, expected) = (
        list_indexes(&joiner).await.unwrap(),
        list_indexes(&office).await.unwrap(),
    );
    assert!(expected > 0);
    assert_eq!(indexes, expected, "the list indexes are back");
    // the next sync is an ordinary one
    let again = joiner.app.sync(&joiner.s).await.unwrap();
    assert_eq!((again.pulled, again.applied), (0, 0));
    srv.stop().await;
}

/// Balance of `key` on `l` (total, paid, left).
async fn balance(l: &Laptop, key: &str) -> (i64, i64, i64) {
    let p = l.app.invoice_payments(&l.s, key).await.unwrap();
    (
        p.saldo.total.pesos(),
        p.saldo.pagado.pesos(),
        p.saldo.saldo.pesos(),
    )
}

/// The office imports A and B into OB-1 and syncs; the site manager approves both on its
/// laptop; both laptops sync. The office's laptop and the site's.
async fn a_and_b_approved_on_site(srv: &Server) -> (Laptop, Laptop) {
    let office = laptop_of(srv, "contadora", "ana").await;
    office
        .app
        .add_obra(&office.s, "OB-1", "Edificio Uno")
        .await
        .unwrap();
    import_rcv(&office).await;
    for key in [A, B] {
        assign(&office, key, "obra", "OB-1").await;
    }
    office.app.sync(&office.s).await.unwrap();
    let site = laptop_of(srv, "jefe1", "jefe").await;
    site.app.sync(&site.s).await.unwrap();
    for key in [A, B] {
        site.app
            .set_invoice_status(&site.s, key, InvoiceStatus::Aprobada, None)
            .await
            .unwrap();
    }
    site.app.sync(&site.s).await.unwrap();
    office.app.sync(&office.s).await.unwrap();
    (office, site)
}

#[tokio::test]
async fn the_payment_cycle_crosses_laptops_and_the_server_keeps_the_four_eyes() {
    let srv = start_server().await;
    let (office, site) = a_and_b_approved_on_site(&srv).await;

    // the office enters the supplier's account; IT approves it on another laptop
    let entered = office
        .app
        .add_bank_account(
            &office.s,
            icc_app::AccountRequest {
                rut: "76555835-2".into(),
                banco: "037".into(),
                tipo: "corriente".into(),
                numero: "0-012-34567-8".into(),
                titular_rut: None,
                titular_nombre: "Hormigones Andinos SpA".into(),
                email: None,
            },
        )
        .await
        .unwrap();
    let r = office.app.sync(&office.s).await.unwrap();
    assert!(r.refused.is_empty() && r.pending == 0, "{r:?}");
    let it = laptop_of(&srv, "ti", "ti").await;
    it.app.sync(&it.s).await.unwrap();
    let pending = it.app.bank_accounts(&it.s, None, None).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        (pending[0].id.as_str(), pending[0].estado.as_str()),
        (entered.id.as_str(), "pendiente")
    );
    it.app
        .approve_bank_account(&it.s, &entered.id)
        .await
        .unwrap();
    let r = it.app.sync(&it.s).await.unwrap();
    assert!(r.refused.is_empty(), "{r:?}");
    office.app.sync(&office.s).await.unwrap();
    let here = office
        .app
        .bank_accounts(&office.s, None, None)
        .await
        .unwrap();
    assert_eq!(here[0].estado, "aprobada");
    assert_eq!(here[0].decided_by.as_deref(), Some("ti"));

    // the office pays part of A by hand and prepares the run; the gerente approves it on
    // their laptop; the office marks it paid
    office
        .app
        .record_payment(
            &office.s,
            A,
            icc_app::PaymentRequest {
                monto: 190_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let run = office.app.create_run(&office.s, None).await.unwrap();
    assert_eq!(run.run.total, 1_000_000 + 2_380_000, "{run:?}");
    office.app.sync(&office.s).await.unwrap();
    let gerente = laptop_of(&srv, "gerente", "gerente").await;
    gerente.app.sync(&gerente.s).await.unwrap();
    let seen = gerente.app.run(&gerente.s, &run.run.id).await.unwrap();
    assert_eq!(
        (seen.run.estado.as_str(), seen.run.total),
        ("borrador", run.run.total)
    );
    assert_eq!(balance(&gerente, A).await, (1_190_000, 190_000, 1_000_000));
    gerente
        .app
        .approve_run(&gerente.s, &run.run.id)
        .await
        .unwrap();
    let r = gerente.app.sync(&gerente.s).await.unwrap();
    assert!(r.refused.is_empty(), "{r:?}");
    office.app.sync(&office.s).await.unwrap();
    let approved = office.app.run(&office.s, &run.run.id).await.unwrap();
    assert_eq!(approved.run.estado, "aprobada");
    assert_eq!(approved.run.approved_by.as_deref(), Some("gerente"));
    assert!(
        approved.beneficiarios.iter().all(|p| p.con_cuenta),
        "{approved:?}"
    );
    office
        .app
        .mark_run_paid(&office.s, &run.run.id, None)
        .await
        .unwrap();
    let r = office.app.sync(&office.s).await.unwrap();
    assert!(r.refused.is_empty() && r.pending == 0, "{r:?}");

    // everyone sees the same money: the gerente, and the site manager for its obra
    for l in [&gerente, &site] {
        l.app.sync(&l.s).await.unwrap();
        assert_eq!(balance(l, A).await, (1_190_000, 1_190_000, 0));
        assert_eq!(balance(l, B).await, (2_380_000, 2_380_000, 0));
        assert_eq!(field(l, A, "estado").await.as_deref(), Some("pagada"));
    }
    assert_eq!(
        gerente
            .app
            .run(&gerente.s, &run.run.id)
            .await
            .unwrap()
            .run
            .estado,
        "pagada"
    );
    // the site manager's laptop holds the payments of its obra, and nothing of the office's
    // bank master or runs
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM payments), (SELECT COUNT(*) FROM supplier_accounts), (SELECT COUNT(*) FROM payment_runs)",
    )
    .fetch_one(site.app.store().pool())
    .await
    .unwrap();
    assert_eq!(counts, (3, 0, 0));
    // on the server, every document came from the account that made it
    let authors: Vec<(String, String)> = sqlx::query_as(
        "SELECT entity, string_agg(DISTINCT user_name, ',' ORDER BY user_name) FROM ops \
         WHERE entity IN ('payment', 'bank_account', 'payment_run') GROUP BY entity ORDER BY entity",
    )
    .fetch_all(&srv.pool)
    .await
    .unwrap();
    assert_eq!(
        authors,
        [
            ("bank_account".to_owned(), "contadora,ti".to_owned()),
            ("payment".to_owned(), "contadora".to_owned()),
            ("payment_run".to_owned(), "contadora,gerente".to_owned()),
        ]
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_line_paid_after_approval_is_taken_out_of_the_run_and_every_laptop_agrees() {
    let srv = start_server().await;
    let (office, _site) = a_and_b_approved_on_site(&srv).await;
    // the office prepares the run, the gerente approves it on their laptop
    let run = office.app.create_run(&office.s, None).await.unwrap();
    office.app.sync(&office.s).await.unwrap();
    let gerente = laptop_of(&srv, "gerente", "gerente").await;
    gerente.app.sync(&gerente.s).await.unwrap();
    gerente
        .app
        .approve_run(&gerente.s, &run.run.id)
        .await
        .unwrap();
    gerente.app.sync(&gerente.s).await.unwrap();
    office.app.sync(&office.s).await.unwrap();
    // B is then paid by cheque: the bank file refuses to pay it again
    office
        .app
        .record_payment(
            &office.s,
            B,
            icc_app::PaymentRequest {
                monto: 2_380_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = office
        .app
        .bank_file(&office.s, &run.run.id, &dir.path().join("nomina.xlsx"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no se hizo el archivo") && e.contains(B), "{e}");
    // the office takes B out; the server takes the change, and the gerente sees it
    office
        .app
        .set_run_line(&office.s, &run.run.id, B, Some(false), None)
        .await
        .unwrap();
    let r = office.app.sync(&office.s).await.unwrap();
    assert!(r.refused.is_empty() && r.pending == 0, "{r:?}");
    gerente.app.sync(&gerente.s).await.unwrap();
    let seen = gerente.app.run(&gerente.s, &run.run.id).await.unwrap();
    let line_b = seen.lineas.iter().find(|l| l.documento == B).unwrap();
    assert!(!line_b.incluida, "{seen:?}");
    assert_eq!(seen.run.total, 1_190_000);
    srv.stop().await;
}

/// An office laptop that worked alone (an approved supplier account, a payment) and is then
/// linked: IT's account brings its records to the server as they stand; an accountant's
/// account may not, and is told why (discarding them would lose them).
#[tokio::test]
async fn records_a_laptop_held_before_linking_go_up_with_an_administration_account() {
    let srv = start_server().await;
    let standalone = |server_user: &'static str| {
        let srv_url = srv.url.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let app = App::open(dir.path()).await.unwrap();
            let s = app.init("ana", PW).await.unwrap();
            app.add_user(&s, "pedro", Role::Admin, &[], PW)
                .await
                .unwrap();
            let pedro = app.login("pedro", PW).await.unwrap();
            let f = dir.path().join("rcv.csv");
            std::fs::write(&f, RCV).unwrap();
            app.import_files(&s, &[f], &Default::default(), &mut |_| true)
                .await
                .unwrap();
            app.set_invoice_status(&s, A, InvoiceStatus::Aprobada, None)
                .await
                .unwrap();
            app.record_payment(
                &s,
                A,
                icc_app::PaymentRequest {
                    monto: 190_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let acc = app
                .add_bank_account(
                    &s,
                    icc_app::AccountRequest {
                        rut: "76555835-2".into(),
                        banco: "037".into(),
                        tipo: "corriente".into(),
                        numero: "12345678".into(),
                        titular_rut: None,
                        titular_nombre: "Hormigones Andinos SpA".into(),
                        email: None,
                    },
                )
                .await
                .unwrap();
            app.approve_bank_account(&pedro, &acc.id).await.unwrap();
            app.login_server(&s, &srv_url, server_user, SERVER_PW)
                .await
                .unwrap();
            let r = app.sync(&s).await.unwrap();
            Laptop {
                _dir: dir,
                app,
                s: s.clone(),
            }
            .into_report(r)
        }
    };
    // an accountant's account: the records are set aside with what to do
    let (_l, r) = standalone("contadora").await;
    assert!(!r.refused.is_empty());
    assert!(
        r.refused
            .iter()
            .all(|x| x.reason.contains("administración")),
        "{:?}",
        r.refused
    );
    // IT's account: they go up as they stand, and another office laptop receives them
    let (_it, r) = standalone("ti").await;
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    let other = laptop(&srv, "contadora2").await;
    other.app.sync(&other.s).await.unwrap();
    let accounts = other.app.bank_accounts(&other.s, None, None).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].estado, "aprobada");
    assert_eq!(balance(&other, A).await, (1_190_000, 190_000, 1_000_000));
    srv.stop().await;
}

impl Laptop {
    fn into_report(self, r: icc_app::SyncReport) -> (Laptop, icc_app::SyncReport) {
        (self, r)
    }
}

/// Issue 21 item 8, budgets across laptops: the gerente's catalogue line and an obra's
/// budget reach the site manager of that obra, whose modification (with its reason) comes
/// back to the gerente; the catalogue stays the gerente's.
#[tokio::test]
async fn an_obra_budget_crosses_laptops_with_its_modifications() {
    use icc_app::BudgetLineInput;
    let srv = start_server().await;
    let office = laptop(&srv, "contadora").await;
    office
        .app
        .add_obra(&office.s, "OB-1", "Edificio Uno")
        .await
        .unwrap();
    import_rcv(&office).await;
    assign(&office, A, "obra", "OB-1").await;
    office.app.sync(&office.s).await.unwrap();

    let boss = laptop(&srv, "gerente").await;
    boss.app.sync(&boss.s).await.unwrap();
    // signed in after linking: the session carries the account's role and obras
    let gerente = boss.app.login("admin", PW).await.unwrap();
    let catalog = |nombre: &str| BudgetLineInput {
        id: None,
        familia: "SUBCONTRATO".into(),
        nombre: nombre.into(),
        cuentas: vec!["5101".into()],
        centros: vec![],
        activa: true,
    };
    let moldajes = boss
        .app
        .budget_catalog_save(&gerente, &catalog("Moldajes"))
        .await
        .unwrap();
    boss.app
        .obra_budget_set_period(&gerente, "OB-1", "2026-03-02", "2026-06-29")
        .await
        .unwrap();
    let line = boss
        .app
        .obra_budget_add_line(&gerente, "OB-1", &moldajes.id, 10_000_000)
        .await
        .unwrap();
    boss.app.sync(&boss.s).await.unwrap();

    let site = laptop(&srv, "jefe1").await;
    let r = site.app.sync(&site.s).await.unwrap();
    let jefe = site.app.login("admin", PW).await.unwrap();
    assert_eq!(r.invalid, 0, "{r:?}");
    let view = site.app.obra_budget(&jefe, "OB-1").await.unwrap();
    assert!(view.editable);
    let held = view.lineas.iter().find(|l| l.id == line.id).unwrap();
    assert_eq!(
        (held.nombre.as_str(), held.inicial),
        ("Moldajes", 10_000_000)
    );
    site.app
        .obra_budget_modify(&jefe, "OB-1", &line.id, 1_500_000, "losa adicional")
        .await
        .unwrap();
    assert!(
        site.app
            .budget_catalog_save(&jefe, &catalog("Andamios"))
            .await
            .is_err(),
        "the catalogue is not the site manager's"
    );
    let r = site.app.sync(&site.s).await.unwrap();
    assert!(r.refused.is_empty(), "{r:?}");
    // a session held from before the link still carries the local administrator's role:
    // what it writes in the catalogue the server refuses, and it is set aside
    site.app
        .budget_catalog_save(&site.s, &catalog("Andamios"))
        .await
        .unwrap();
    let r = site.app.sync(&site.s).await.unwrap();
    assert_eq!(r.refused.len(), 1, "{r:?}");
    assert_eq!(
        r.refused[0].entity,
        icc_core::presupuesto::BUDGET_LINE_ENTITY,
        "{r:?}"
    );

    boss.app.sync(&boss.s).await.unwrap();
    let view = boss.app.obra_budget(&gerente, "OB-1").await.unwrap();
    let back = view.lineas.iter().find(|l| l.id == line.id).unwrap();
    let mods: Vec<(i64, &str)> = back
        .modificaciones
        .iter()
        .map(|m| (m.monto, m.motivo.as_str()))
        .collect();
    assert_eq!(mods, [(1_500_000, "losa adicional")]);
    assert_eq!(back.vigente(), 11_500_000);
    let names: Vec<String> = boss
        .app
        .budget_catalog(&gerente)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.nombre)
        .collect();
    assert_eq!(
        names,
        ["Moldajes"],
        "the refused line never reached the gerente"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_conflict_resolved_while_the_server_does_not_answer_is_kept_and_sent_later() {
    let srv = start_server().await;
    let proxy = Proxy::start(&srv.url).await;
    let l1 = laptop_at(&proxy.url, "contadora").await;
    let l2 = laptop(&srv, "contadora2").await;
    import_rcv(&l1).await;
    l1.app.sync(&l1.s).await.unwrap();
    l2.app.sync(&l2.s).await.unwrap();
    // both change B's centro de costo; l2's later change wins, l1's is the conflict
    assign(&l1, B, "centro_costo", "CC-L1").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assign(&l2, B, "centro_costo", "CC-L2").await;
    l2.app.sync(&l2.s).await.unwrap();
    l1.app.sync(&l1.s).await.unwrap();
    let c = l1.app.conflicts(&l1.s).await.unwrap();
    assert_eq!(c.len(), 1, "{c:?}");

    // l1 keeps its value while the server's answer never comes back: saved here, not an
    // error, and said to wait for the next sync
    proxy.lose_next("/api/v1/sync/push");
    let unsent = l1
        .app
        .resolve_conflict(&l1.s, c[0].id, Keep::Mine)
        .await
        .unwrap();
    assert!(unsent.is_some_and(|why| !why.is_empty()));
    assert_eq!(
        field(&l1, B, "centro_costo").await.as_deref(),
        Some("CC-L1")
    );
    assert!(
        l1.app.conflicts(&l1.s).await.unwrap()[0]
            .resolved_by
            .is_some()
    );
    assert!(l1.app.sync_status(&l1.s).await.unwrap().pending > 0);

    // the next sync sends it, and l1's value wins everywhere
    let r = l1.app.sync(&l1.s).await.unwrap();
    assert_eq!(r.pending, 0, "{r:?}");
    l2.app.sync(&l2.s).await.unwrap();
    assert_eq!(
        field(&l2, B, "centro_costo").await.as_deref(),
        Some("CC-L1")
    );
    proxy.task.abort();
    srv.stop().await;
}

#[tokio::test]
async fn a_change_to_an_invoice_the_server_lost_sends_its_document_again() {
    let srv = start_server().await;
    let l1 = laptop(&srv, "contadora").await;
    import_rcv(&l1).await;
    l1.app.sync(&l1.s).await.unwrap();
    // the server is restored from a backup taken before B arrived: B is gone there
    let b = l1.app.show_invoice(&l1.s, B).await.unwrap().detail.row.id;
    for sql in [
        "DELETE FROM fields WHERE entity_id = $1",
        "DELETE FROM entity_obras WHERE entity_id = $1",
        "DELETE FROM scope_moves WHERE entity_id = $1",
        "DELETE FROM conflicts WHERE entity_id = $1",
        "DELETE FROM ops WHERE entity_id = $1",
    ] {
        sqlx::query(sql).bind(&b).execute(&srv.pool).await.unwrap();
    }
    // a change to B is refused there (no document), so the laptop sends B's document
    // again ahead of it, instead of setting the change aside for good
    assign(&l1, B, "glosa", "vuelve con su documento").await;
    let r = l1.app.sync(&l1.s).await.unwrap();
    assert!(r.refused.is_empty(), "{r:?}");
    assert_eq!(r.pending, 0, "{r:?}");
    let docs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ops WHERE entity_id = $1 AND field = '_doc'")
            .bind(&b)
            .fetch_one(&srv.pool)
            .await
            .unwrap();
    assert_eq!(docs, 1);
    // and every laptop converges on B with the change
    let l2 = laptop(&srv, "contadora2").await;
    l2.app.sync(&l2.s).await.unwrap();
    assert_eq!(
        field(&l2, B, "glosa").await.as_deref(),
        Some("vuelve con su documento")
    );
    assert_eq!(whole(&l2, B).await, whole(&l1, B).await);
    srv.stop().await;
}

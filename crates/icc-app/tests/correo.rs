//! The e-mail of a payment run through a fake SMTP server on 127.0.0.1 that speaks the
//! protocol the company's server does: STARTTLS with a certificate of a throwaway CA, AUTH
//! only once encrypted, the message read back with a MIME parser. The password comes from
//! the real keyring (run inside `scripts/with-keyring`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;
use common::factura;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use icc_app::{AccountRequest, App, MailSettingsChange, SMTP_CREDENTIAL, Session};
use icc_core::Role;
use mail_parser::MimeHeaders;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

const ADMIN_PW: &str = "caballo correcto batería grapa";
const USER_PW: &str = "Quilicura-Andamio-Losa-77";
const SMTP_USER: &str = "nominas@icc.cl";
const SMTP_PW: &str = "Correo-Seguro-2026";

/// What the fake server saw of one session.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// AUTH PLAIN user and password, and whether the connection was encrypted then.
    auth: Option<(String, String, bool)>,
    rcpt: Vec<String>,
    data: Option<String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=icc-smtp-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
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
        ],
    );
    openssl(
        dir,
        &[
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
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

fn acceptor(cert: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// One SMTP conversation on `stream`. Returns `Some(reader)` when the client asked for
/// STARTTLS (the caller upgrades and continues), `None` when it ended.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: bool,
    offer_starttls: bool,
    greet: bool,
    seen: &mut Seen,
) -> Option<S> {
    let mut s = BufReader::new(stream);
    if greet {
        s.write_all(b"220 fake.smtp ESMTP\r\n").await.ok()?;
    }
    loop {
        let mut line = String::new();
        if s.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if !tls && offer_starttls {
                "250-fake.smtp\r\n250-STARTTLS\r\n250 8BITMIME\r\n".into()
            } else {
                "250-fake.smtp\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".into()
            }
        } else if upper == "STARTTLS" {
            s.write_all(b"220 2.0.0 Ready to start TLS\r\n")
                .await
                .ok()?;
            return Some(s.into_inner());
        } else if let Some(b64) = upper.strip_prefix("AUTH PLAIN ") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(cmd[cmd.len() - b64.len()..].trim())
                .unwrap_or_default();
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let (user, pass) = (
                parts.get(1).cloned().unwrap_or_default(),
                parts.get(2).cloned().unwrap_or_default(),
            );
            let ok = user == SMTP_USER && pass == SMTP_PW;
            seen.auth = Some((user, pass, tls));
            if ok {
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                "535 5.7.8 Authentication credentials invalid\r\n".into()
            }
        } else if upper.starts_with("MAIL FROM") {
            "250 2.1.0 OK\r\n".into()
        } else if upper.starts_with("RCPT TO") {
            seen.rcpt.push(cmd["RCPT TO:".len()..].trim().to_owned());
            "250 2.1.5 OK\r\n".into()
        } else if upper == "DATA" {
            s.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await
                .ok()?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if s.read_line(&mut l).await.ok()? == 0 {
                    return None;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            seen.data = Some(data);
            "250 2.0.0 queued\r\n".into()
        } else if upper == "QUIT" {
            s.write_all(b"221 2.0.0 Bye\r\n").await.ok()?;
            return None;
        } else {
            "250 OK\r\n".into()
        };
        s.write_all(reply.as_bytes()).await.ok()?;
    }
}

/// A fake SMTP server on 127.0.0.1; every session is logged.
async fn fake_smtp(acceptor: tokio_rustls::TlsAcceptor, offer_starttls: bool) -> (u16, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let out = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                if let Some(tcp) = converse(tcp, false, offer_starttls, true, &mut seen).await
                    && let Ok(tls) = acceptor.accept(tcp).await
                {
                    converse(tls, true, offer_starttls, false, &mut seen).await;
                }
                log.lock().unwrap().push(seen);
            });
        }
    });
    (port, out)
}

/// An approved run paying one supplier whose name needs escaping in HTML.
async fn approved_run(dir: &Path) -> (App, Session, Session, String) {
    let app = App::open(dir).await.unwrap();
    let admin = app.init("admin", ADMIN_PW).await.unwrap();
    app.add_user(&admin, "contadora", Role::Contabilidad, &[], USER_PW)
        .await
        .unwrap();
    app.add_user(&admin, "gerente", Role::Gerente, &[], USER_PW)
        .await
        .unwrap();
    let contadora = app.login("contadora", USER_PW).await.unwrap();
    let gerente = app.login("gerente", USER_PW).await.unwrap();
    let mut tx = app.store().write("contadora").await.unwrap();
    tx.insert_invoices(
        &[(
            factura(76555835, "Ferretería <Ñuñoa> & \"Cía\"", 1234, 2_500_000),
            None,
        )],
        &mut |_| true,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let a = app
        .add_bank_account(
            &contadora,
            AccountRequest {
                rut: "76555835-2".into(),
                banco: "037".into(),
                tipo: "corriente".into(),
                numero: "0-012-34567-8".into(),
                titular_rut: None,
                titular_nombre: "Ferretería Ñuñoa".into(),
                email: None,
            },
        )
        .await
        .unwrap();
    app.approve_bank_account(&admin, &a.id).await.unwrap();
    let run = app
        .create_run(&contadora, Some("2026-11-06".parse().unwrap()))
        .await
        .unwrap();
    app.approve_run(&gerente, &run.run.id).await.unwrap();
    (app, admin, contadora, run.run.id)
}

fn configure(port: u16, ca: &Path) -> MailSettingsChange {
    MailSettingsChange {
        servidor: Some("127.0.0.1".into()),
        puerto: Some(port),
        usuario: Some(SMTP_USER.into()),
        remitente: Some("Nóminas ICC <nominas@icc.cl>".into()),
        destinatarios: Some("gerente@icc.cl; tesoreria@icc.cl".into()),
        ca: Some(ca.display().to_string()),
    }
}

#[tokio::test]
async fn a_run_goes_by_mail_over_starttls_with_its_workbook_and_escaped_names() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let (port, log) = fake_smtp(acceptor(&cert, &key), true).await;
    let (app, admin, contadora, run) = approved_run(&dir.path().join("datos")).await;

    // not configured: says what IT must set
    let e = app
        .email_run(&contadora, &run)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--correo-servidor") && e.contains("--correo-destinatarios"),
        "{e}"
    );
    // configured only by whoever may change payment settings; a bad address is refused
    assert!(
        app.set_mail_settings(&contadora, configure(port, &ca))
            .await
            .is_err()
    );
    let mut bad = configure(port, &ca);
    bad.destinatarios = Some("gerente@icc.cl, no es correo".into());
    let e = app
        .set_mail_settings(&admin, bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no es correo"), "{e}");
    let cfg = app
        .set_mail_settings(&admin, configure(port, &ca))
        .await
        .unwrap();
    assert_eq!(cfg.destinatarios, ["gerente@icc.cl", "tesoreria@icc.cl"]);
    // no password in the keyring yet
    let e = app
        .email_run(&contadora, &run)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("icc credentials set correo-smtp"), "{e}");

    app.set_credential(None, SMTP_CREDENTIAL, "clave equivocada")
        .await
        .unwrap();
    let e = app
        .email_run(&contadora, &run)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("rechazó el usuario o la clave"), "{e}");

    app.set_credential(None, SMTP_CREDENTIAL, SMTP_PW)
        .await
        .unwrap();
    let sent = app.email_run(&contadora, &run).await.unwrap();
    assert_eq!(sent.adjunto, "nomina-1.xlsx");
    let sessions = log.lock().unwrap().clone();
    let s = sessions.last().unwrap();
    assert_eq!(
        s.auth,
        Some((SMTP_USER.to_owned(), SMTP_PW.to_owned(), true)),
        "the password went only over TLS"
    );
    assert_eq!(s.rcpt, ["<gerente@icc.cl>", "<tesoreria@icc.cl>"]);
    let raw = s.data.clone().unwrap();
    assert!(!raw.contains(SMTP_PW));
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    assert_eq!(msg.subject(), Some(sent.asunto.as_str()));
    assert!(
        sent.asunto.contains("N° 1") && sent.asunto.contains("06-11-2026"),
        "{}",
        sent.asunto
    );
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains("Ferretería &lt;Ñuñoa&gt; &amp; &quot;Cía&quot;")
            && !html.contains("<Ñuñoa>"),
        "{html}"
    );
    assert!(html.contains("$2.500.000"), "{html}");
    let att = msg.attachment(0).unwrap();
    assert_eq!(att.attachment_name(), Some("nomina-1.xlsx"));
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(att.contents().to_vec())).unwrap();
    use calamine::Reader;
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    let text: Vec<String> = sheet.rows().flatten().map(ToString::to_string).collect();
    assert!(text.iter().any(|c| c.contains("1234")), "{text:?}");
}

#[tokio::test]
async fn a_server_without_starttls_never_receives_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let (port, log) = fake_smtp(acceptor(&cert, &key), false).await;
    let (app, admin, contadora, run) = approved_run(&dir.path().join("datos")).await;
    app.set_mail_settings(&admin, configure(port, &ca))
        .await
        .unwrap();
    app.set_credential(None, SMTP_CREDENTIAL, SMTP_PW)
        .await
        .unwrap();
    let e = app
        .email_run(&contadora, &run)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("STARTTLS"), "{e}");
    assert!(log.lock().unwrap().iter().all(|s| s.auth.is_none()));

    // a certificate of a CA the laptop was not told about is refused the same way
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = certificates(other.path());
    let (port, log) = fake_smtp(acceptor(&cert, &key), true).await;
    app.set_mail_settings(&admin, configure(port, &other_ca))
        .await
        .unwrap();
    let e = app
        .email_run(&contadora, &run)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("STARTTLS") || e.contains("certific"), "{e}");
    assert!(log.lock().unwrap().iter().all(|s| s.auth.is_none()));
}

//! The e-mail of a payment run: its summary as HTML (every value escaped) and its workbook
//! attached, to the recipient list IT configured, through the company's SMTP server with
//! STARTTLS required (the password never travels in clear) and the password in the OS
//! keyring (`icc credentials set correo-smtp`).

use std::time::Duration;

use icc_core::{Clp, Permission};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

use crate::App;
use crate::auth::Session;
use crate::error::{AppError, Result};
use crate::nominas::RunView;

/// Keyring entry of the SMTP password.
pub const SMTP_CREDENTIAL: &str = "correo-smtp";

/// Settings keys of the mail configuration (none is a secret).
const HOST: &str = "correo.servidor";
const PORT: &str = "correo.puerto";
const USER: &str = "correo.usuario";
const FROM: &str = "correo.remitente";
const TO: &str = "correo.destinatarios";
const CA: &str = "correo.ca";

/// The submission port with STARTTLS.
pub const DEFAULT_SMTP_PORT: u16 = 587;

/// How long one SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the run e-mails go (CLI `icc pagos configuracion --json`, `correo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MailSettings {
    /// SMTP server (host name).
    pub servidor: Option<String>,
    /// Port (587 when not set).
    pub puerto: u16,
    /// SMTP user.
    pub usuario: Option<String>,
    /// Sender address.
    pub remitente: Option<String>,
    /// Recipients.
    pub destinatarios: Vec<String>,
    /// A PEM file with the certificate authority of an internal mail server, besides the
    /// system's.
    pub ca: Option<String>,
}

/// A change of the mail settings: `Some("")` clears a value.
#[derive(Debug, Clone, Default)]
pub struct MailSettingsChange {
    /// SMTP server.
    pub servidor: Option<String>,
    /// Port.
    pub puerto: Option<u16>,
    /// SMTP user.
    pub usuario: Option<String>,
    /// Sender.
    pub remitente: Option<String>,
    /// Recipients, separated by commas or semicolons.
    pub destinatarios: Option<String>,
    /// CA file.
    pub ca: Option<String>,
}

/// What sending a run did (CLI `icc pagos enviar-correo ID --json`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunEmail {
    /// The run's number.
    pub numero: i64,
    /// Recipients.
    pub destinatarios: Vec<String>,
    /// Subject.
    pub asunto: String,
    /// The attached workbook's file name.
    pub adjunto: String,
}

fn mailbox(what: &str, s: &str) -> Result<Mailbox> {
    s.trim().parse::<Mailbox>().map_err(|e| {
        AppError::Invalid(format!(
            "{what} «{}» no es una dirección de correo ({e})",
            s.trim()
        ))
    })
}

fn list(s: &str) -> Vec<String> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Escapes text for HTML (content and attribute values).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn dmy(iso: &str) -> String {
    iso.parse::<chrono::NaiveDate>()
        .map_or_else(|_| iso.to_owned(), |d| d.format("%d-%m-%Y").to_string())
}

/// The run's summary as an HTML page: per payee, its total and lines; everything that comes
/// from data is escaped.
pub fn run_html(v: &RunView) -> String {
    let e = escape_html;
    let mut rows = String::new();
    for p in &v.beneficiarios {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td><td style=\"text-align:right\">{}</td><td>{}</td></tr>\n",
            e(&p.rut),
            e(&p.nombre),
            p.lineas,
            e(&Clp::new(p.total).to_string()),
            if p.con_cuenta { "sí" } else { "<b>sin cuenta aprobada</b>" }
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"es-CL\"><head><meta charset=\"utf-8\"><title>Nómina de pago N° {n}</title></head><body>\n\
         <h1>Nómina de pago N° {n}</h1>\n\
         <p>Corte {corte} · estado {estado} · preparada por {por}{aprobada}</p>\n\
         <table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n\
         <tr><th>RUT</th><th>Beneficiario</th><th>Facturas</th><th>Total</th><th>Cuenta</th></tr>\n{rows}\
         <tr><td colspan=\"3\"><b>Total</b></td><td style=\"text-align:right\"><b>{total}</b></td><td></td></tr>\n\
         </table>\n<p>El detalle de las facturas va en la planilla adjunta.</p>\n</body></html>\n",
        n = v.run.numero,
        corte = e(&dmy(&v.run.corte)),
        estado = e(&v.run.estado),
        por = e(&v.run.created_by),
        aprobada = v
            .run
            .approved_by
            .as_deref()
            .map(|a| format!(" · aprobada por {}", e(a)))
            .unwrap_or_default(),
        total = e(&Clp::new(v.run.total).to_string()),
    )
}

fn smtp_error(host: &str, port: u16, e: &lettre::transport::smtp::Error) -> AppError {
    let code = e.status().map(|c| c.to_string());
    if matches!(code.as_deref(), Some("535" | "534" | "530")) {
        return AppError::Remote(format!(
            "el servidor de correo {host} rechazó el usuario o la clave; guárdela de nuevo con «icc credentials set {SMTP_CREDENTIAL}» y reintente"
        ));
    }
    let text = e.to_string();
    let tls = text.to_ascii_lowercase();
    if tls.contains("starttls") || tls.contains("tls") || tls.contains("certificate") {
        return AppError::Remote(format!(
            "el servidor de correo {host}:{port} no ofreció una conexión cifrada de confianza (STARTTLS): {text}. \
             Sin cifrado no se envía la clave; si la empresa usa su propio certificado, configúrelo con «icc pagos configurar --correo-ca ARCHIVO.pem»"
        ));
    }
    AppError::Remote(format!(
        "no se pudo enviar el correo por {host}:{port}: {text}. Revise el servidor y la red, y reintente"
    ))
}

impl App {
    /// The mail settings (anyone who may see runs).
    ///
    /// # Errors
    /// Store errors.
    pub async fn mail_settings(&self, _s: &Session) -> Result<MailSettings> {
        let get = |k| self.store.setting(k);
        Ok(MailSettings {
            servidor: get(HOST).await?,
            puerto: get(PORT)
                .await?
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(DEFAULT_SMTP_PORT),
            usuario: get(USER).await?,
            remitente: get(FROM).await?,
            destinatarios: get(TO).await?.as_deref().map(list).unwrap_or_default(),
            ca: get(CA).await?,
        })
    }

    /// Changes the mail settings given (`PaymentSettings` permission); each change audited.
    ///
    /// # Errors
    /// Forbidden for the role; a malformed address or port 0; a CA file that cannot be read
    /// as PEM.
    pub async fn set_mail_settings(
        &self,
        s: &Session,
        c: MailSettingsChange,
    ) -> Result<MailSettings> {
        s.require(Permission::PaymentSettings)?;
        if let Some(f) = c.remitente.as_deref().filter(|f| !f.trim().is_empty()) {
            mailbox("el remitente", f)?;
        }
        if let Some(to) = &c.destinatarios {
            for a in list(to) {
                mailbox("el destinatario", &a)?;
            }
        }
        if c.puerto == Some(0) {
            return Err(AppError::Invalid("el puerto 0 no es un puerto SMTP".into()));
        }
        if let Some(ca) = c.ca.as_deref().filter(|f| !f.trim().is_empty()) {
            let pem = std::fs::read(ca.trim()).map_err(|e| {
                AppError::Invalid(format!("no se pudo leer el certificado {ca}: {e}"))
            })?;
            Certificate::from_pem(&pem)
                .map_err(|e| AppError::Invalid(format!("{ca} no es un certificado PEM ({e})")))?;
        }
        let text = |v: Option<String>| v.map(|v| v.trim().to_owned());
        let changes: Vec<(&'static str, String)> = [
            text(c.servidor).map(|v| (HOST, v)),
            c.puerto.map(|p| (PORT, p.to_string())),
            text(c.usuario).map(|v| (USER, v)),
            text(c.remitente).map(|v| (FROM, v)),
            c.destinatarios.map(|v| (TO, list(&v).join(", "))),
            text(c.ca).map(|v| (CA, v)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut tx = self.store.write(&s.username).await?;
        for (key, value) in changes {
            if value.is_empty() {
                tx.delete_setting(key).await?;
            } else {
                tx.set_setting(key, &value).await?;
            }
            tx.audit("setting", key, "update", Some("valor"), None, Some(value));
        }
        tx.commit().await?;
        self.mail_settings(s).await
    }

    /// Sends a run by e-mail to the configured recipients, its workbook attached. Audited.
    ///
    /// # Errors
    /// Forbidden for the role; mail not configured (says what is missing); no password in
    /// the keyring; the server refused, or offered no STARTTLS.
    pub async fn email_run(&self, s: &Session, run: &str) -> Result<RunEmail> {
        if !(s.may(Permission::PrepareRuns) || s.may(Permission::ApproveRuns)) {
            s.require(Permission::PrepareRuns)?;
        }
        let cfg = self.mail_settings(s).await?;
        let missing: Vec<&str> = [
            (cfg.servidor.is_none(), "--correo-servidor"),
            (cfg.usuario.is_none(), "--correo-usuario"),
            (cfg.remitente.is_none(), "--correo-remitente"),
            (cfg.destinatarios.is_empty(), "--correo-destinatarios"),
        ]
        .into_iter()
        .filter_map(|(m, flag)| m.then_some(flag))
        .collect();
        let (Some(host), Some(user), Some(from), false) = (
            cfg.servidor.clone(),
            cfg.usuario.clone(),
            cfg.remitente.clone(),
            cfg.destinatarios.is_empty(),
        ) else {
            return Err(AppError::Invalid(format!(
                "el correo de nóminas no está configurado; TI debe indicar {} con «icc pagos configurar»",
                missing.join(", ")
            )));
        };
        let password = self.credential(SMTP_CREDENTIAL).await?.ok_or_else(|| {
            AppError::Invalid(format!(
                "falta la clave del correo en el llavero; guárdela con «icc credentials set {SMTP_CREDENTIAL}»"
            ))
        })?;
        let (view, bytes) = self.run_workbook(s, run).await?;
        let asunto = format!(
            "Nómina de pago N° {} — corte {} — {}",
            view.run.numero,
            dmy(&view.run.corte),
            Clp::new(view.run.total)
        );
        let adjunto = format!("nomina-{}.xlsx", view.run.numero);
        let mut builder = Message::builder()
            .from(mailbox("el remitente", &from)?)
            .subject(asunto.clone());
        for to in &cfg.destinatarios {
            builder = builder.to(mailbox("el destinatario", to)?);
        }
        let xlsx =
            ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
                .map_err(|e| AppError::Invalid(e.to_string()))?;
        let message = builder
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::html(run_html(&view)))
                    .singlepart(Attachment::new(adjunto.clone()).body(bytes, xlsx)),
            )
            .map_err(|e| AppError::Invalid(format!("no se pudo armar el correo: {e}")))?;

        let mut tls = TlsParameters::builder(host.clone());
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca).map_err(|e| {
                AppError::Invalid(format!(
                    "no se pudo leer el certificado del correo {ca}: {e}; corrija «--correo-ca»"
                ))
            })?;
            tls =
                tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| {
                    AppError::Invalid(format!("{ca} no es un certificado PEM ({e})"))
                })?);
        }
        let tls = tls.build().map_err(|e| {
            AppError::Invalid(format!("no se pudo preparar el cifrado del correo: {e}"))
        })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(cfg.puerto)
            .tls(Tls::Required(tls))
            .credentials(Credentials::new(user, password.expose().to_owned()))
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        transport
            .send(message)
            .await
            .map_err(|e| smtp_error(&host, cfg.puerto, &e))?;

        let mut tx = self.store.write(&s.username).await?;
        tx.audit(
            "correo",
            view.run.id.clone(),
            "envio",
            None,
            None,
            Some(format!(
                "nómina N° {} a {}",
                view.run.numero,
                cfg.destinatarios.join(", ")
            )),
        );
        tx.commit().await?;
        tracing::info!(run = %view.run.id, numero = view.run.numero, recipients = cfg.destinatarios.len(), "payment run e-mailed");
        Ok(RunEmail {
            numero: view.run.numero,
            destinatarios: cfg.destinatarios,
            asunto,
            adjunto,
        })
    }
}

//! Payment runs (nóminas de pago) and cesiones entered by hand. Permissions are decided
//! here: contabilidad prepares runs and enters cesiones (`PrepareRuns`), the gerente approves
//! runs (`ApproveRuns`), marking a run sent or paid needs `Pay`. Runs are the company's, not
//! an obra's: an `admin_obra` sees none.

use chrono::NaiveDate;
use icc_core::pagos::payment_cutoff;
use icc_core::{Clp, DteType, Permission, Rut};
use icc_store::nominas::{CesionRow, NewCesion, RULE_60_SETTING, RunLine, RunRow};
use serde::Serialize;

use crate::{App, AppError, Result, Session};

/// What one payee receives in a run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Payee {
    /// RUT.
    pub rut: String,
    /// Name.
    pub nombre: String,
    /// Sum of its included lines.
    pub total: i64,
    /// Included lines.
    pub lineas: i64,
    /// Whether it has an account to pay into (frozen at approval; for a draft, whether it
    /// has an approved account now).
    pub con_cuenta: bool,
}

/// A run with its lines and payees (CLI `icc pagos ver ID --json`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunView {
    /// The run.
    #[serde(flatten)]
    pub run: RunRow,
    /// Its lines, by payee.
    pub lineas: Vec<RunLine>,
    /// Totals per payee of the included lines.
    pub beneficiarios: Vec<Payee>,
}

/// Settings key of the split limit of one transfer (pesos; 7,000,000 when absent).
pub const SPLIT_LIMIT_SETTING: &str = "pagos.limite_transferencia";

/// Settings key: `1` groups a run's lines to the same account into one transfer (off when
/// absent).
pub const GROUP_SETTING: &str = "pagos.agrupar_transferencias";

/// What writing a run's bank file did (CLI `--json`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BankFileReport {
    /// Where it was written.
    pub archivo: String,
    /// The bank layout.
    pub formato: String,
    /// SHA-256 of the file, also recorded on the run.
    pub sha256: String,
    /// Rows (a line above the split limit is several).
    pub transferencias: i64,
    /// Sum of the rows.
    pub total: i64,
}

/// A cesión as people type it.
#[derive(Debug, Clone, Default)]
pub struct CesionRequest {
    /// The document, `RUT:TIPO:FOLIO`.
    pub documento: String,
    /// Sequence (1 for the first).
    pub seq: u32,
    /// Cedente's RUT; the issuer's when absent.
    pub cedente_rut: Option<String>,
    /// Cesionario's RUT.
    pub cesionario_rut: String,
    /// Cesionario's name.
    pub cesionario_nombre: String,
    /// Amount assigned.
    pub monto_cedido: i64,
    /// When (`DD-MM-AAAA [HH:MM]`).
    pub fecha: String,
}

/// Writes a file the user asked for, atomically; a failure says which file and what to do.
fn write_atomically(out: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::attachments::write_atomically(out, bytes).map_err(|e| {
        AppError::Invalid(format!(
            "no se pudo escribir {}: {e}; elija otra carpeta",
            out.display()
        ))
    })
}

fn may_see_runs(s: &Session) -> Result<()> {
    if [
        Permission::PrepareRuns,
        Permission::ApproveRuns,
        Permission::Pay,
    ]
    .into_iter()
    .any(|p| s.may(p))
    {
        Ok(())
    } else {
        s.require(Permission::PrepareRuns)
    }
}

impl App {
    /// Makes a draft run for `corte` (this Friday when absent).
    ///
    /// # Errors
    /// Forbidden for the role; store errors.
    pub async fn create_run(&self, s: &Session, corte: Option<NaiveDate>) -> Result<RunView> {
        s.require(Permission::PrepareRuns)?;
        let corte = corte.unwrap_or_else(|| payment_cutoff(crate::invoices::today()));
        let rule_60 = self
            .store
            .setting(RULE_60_SETTING)
            .await?
            .is_none_or(|v| v.trim() != "0");
        let mut tx = self.store.write(&s.username).await?;
        let id = tx.create_run(corte, rule_60).await?;
        tx.commit().await?;
        tracing::info!(run = %id, user = %s.username, corte = %corte, "payment run made");
        self.run(s, &id).await
    }

    /// A run by id or number.
    ///
    /// # Errors
    /// Forbidden for the role; unknown run.
    pub async fn run(&self, s: &Session, id: &str) -> Result<RunView> {
        may_see_runs(s)?;
        let (run, lineas) = self.store.run(id).await?;
        let mut beneficiarios: Vec<Payee> = Vec::new();
        for l in lineas.iter().filter(|l| l.incluida && l.monto > 0) {
            let i = match beneficiarios
                .iter()
                .position(|p| p.rut == l.beneficiario_rut)
            {
                Some(i) => i,
                None => {
                    let con_cuenta = if run.estado == "borrador" {
                        let rut: Rut = l.beneficiario_rut.parse()?;
                        self.store.payable_account(&rut).await?.is_some()
                    } else {
                        l.account_id.is_some()
                    };
                    beneficiarios.push(Payee {
                        rut: l.beneficiario_rut.clone(),
                        nombre: l.beneficiario.clone(),
                        total: 0,
                        lineas: 0,
                        con_cuenta,
                    });
                    beneficiarios.len() - 1
                }
            };
            beneficiarios[i].total += l.monto;
            beneficiarios[i].lineas += 1;
        }
        Ok(RunView {
            run,
            lineas,
            beneficiarios,
        })
    }

    /// Runs, newest first.
    ///
    /// # Errors
    /// Forbidden for the role; store errors.
    pub async fn runs(&self, s: &Session) -> Result<Vec<RunRow>> {
        may_see_runs(s)?;
        Ok(self.store.runs().await?)
    }

    /// Includes or excludes a line of a draft run, or pays part of it; of an approved run,
    /// excludes a line no longer owed as approved (see `WriteTx::set_run_line`).
    ///
    /// # Errors
    /// Forbidden for the role; a run no longer a draft (but for that exclusion); an amount
    /// above the balance.
    pub async fn set_run_line(
        &self,
        s: &Session,
        run: &str,
        documento: &str,
        incluida: Option<bool>,
        monto: Option<i64>,
    ) -> Result<RunView> {
        s.require(Permission::PrepareRuns)?;
        let mut tx = self.store.write(&s.username).await?;
        tx.set_run_line(run, documento, incluida, monto).await?;
        tx.commit().await?;
        self.run(s, run).await
    }

    /// Approves a draft run (the gerente): its lines are frozen.
    ///
    /// # Errors
    /// Forbidden for the role; a run that is not a draft or has no line.
    pub async fn approve_run(&self, s: &Session, run: &str) -> Result<RunView> {
        s.require(Permission::ApproveRuns)?;
        let mut tx = self.store.write(&s.username).await?;
        let r = tx.approve_run(run).await?;
        tx.commit().await?;
        tracing::info!(run = %r.id, numero = r.numero, user = %s.username, "payment run approved");
        self.run(s, run).await
    }

    /// Marks an approved run as sent to the bank.
    ///
    /// # Errors
    /// Forbidden for the role; a run that is not approved.
    pub async fn mark_run_sent(&self, s: &Session, run: &str) -> Result<RunView> {
        s.require(Permission::Pay)?;
        let mut tx = self.store.write(&s.username).await?;
        tx.mark_run_sent(run).await?;
        tx.commit().await?;
        self.run(s, run).await
    }

    /// Marks a run paid: one payment per included line, on `fecha` (today when absent).
    ///
    /// # Errors
    /// Forbidden for the role; a run not approved; a line whose invoice no longer takes
    /// the payment (nothing is recorded then).
    pub async fn mark_run_paid(
        &self,
        s: &Session,
        run: &str,
        fecha: Option<NaiveDate>,
    ) -> Result<RunView> {
        s.require(Permission::Pay)?;
        let today = crate::invoices::today();
        let fecha = fecha.unwrap_or(today);
        if fecha > today {
            return Err(AppError::Invalid(format!(
                "la fecha de pago {} es futura; marque la nómina cuando se haya pagado",
                fecha.format("%d-%m-%Y")
            )));
        }
        let mut tx = self.store.write(&s.username).await?;
        let r = tx.mark_run_paid(run, fecha).await?;
        tx.commit().await?;
        tracing::info!(run = %r.id, numero = r.numero, user = %s.username, total = %Clp::new(r.total), "payment run paid");
        self.run(s, run).await
    }

    /// Writes the bank file of an approved run in the company's Santander template: one row
    /// per line, lines above the split limit cut into parts. Refused, naming them, while a
    /// payee has no approved account, or no e-mail and the company set no payments address
    /// to use instead. The file's SHA-256 is recorded on the run.
    ///
    /// # Errors
    /// Forbidden for the role; a run not approved; payees without an approved account; the
    /// file cannot be written (nothing is left half-written under its name).
    pub async fn bank_file(
        &self,
        s: &Session,
        run: &str,
        out: &std::path::Path,
    ) -> Result<BankFileReport> {
        use icc_io::bank::{BankFormat, Payment, SantanderTemplate, transfers};
        use sha2::Digest;
        s.require(Permission::Pay)?;
        let limit = match self.store.setting(SPLIT_LIMIT_SETTING).await? {
            Some(v) => v.trim().parse::<i64>().ok().filter(|l| *l > 0).ok_or_else(|| {
                AppError::Invalid(format!(
                    "el límite por transferencia guardado («{v}») no es un monto; corríjalo en la configuración"
                ))
            })?,
            None => icc_io::bank::DEFAULT_SPLIT_LIMIT,
        };
        // The template's «Correo beneficiario» is required. A payee whose account has no
        // e-mail gets the company's payments address (the run e-mails' sender, else their
        // first recipient), so the bank's notice reaches the company; without one the file
        // is refused here rather than by the bank. Read before the write transaction, which
        // holds the database's write lock.
        let company_mail = {
            let m = self.mail_settings(s).await?;
            m.remitente
                .or_else(|| m.destinatarios.first().cloned())
                .map(|a| bare_address(&a))
        };
        let mut tx = self.store.write(&s.username).await?;
        let (row, lines) = tx.run_payments(run).await?;
        if company_mail.is_none() {
            let mut without: Vec<String> = Vec::new();
            for (_, a) in lines.iter().filter(|(_, a)| a.email.is_none()) {
                let who = format!("{} {}", a.rut, a.titular_nombre);
                if !without.contains(&who) {
                    without.push(who);
                }
            }
            if !without.is_empty() {
                return Err(AppError::Invalid(format!(
                    "no se hizo el archivo del banco de la nómina N° {}: el banco pide un correo por beneficiario y la cuenta de {} no lo tiene. \
                     Configure el correo de las nóminas (icc pagos configurar --correo-remitente DIRECCIÓN), que se usará en su lugar; \
                     para las nóminas siguientes, ingrese la cuenta con su correo y pida que la aprueben",
                    row.numero,
                    without.join(", ")
                )));
            }
        }
        let payments: Vec<Payment> = lines
            .iter()
            .map(|(l, a)| Payment {
                folios: vec![l.folio],
                nombre: a.titular_nombre.clone(),
                rut: a.titular_rut.clone(),
                banco_codigo: a.banco.clone(),
                banco: a.banco_nombre.clone(),
                tipo_cuenta: a
                    .tipo_cuenta
                    .parse::<icc_core::pagos::AccountType>()
                    .map_or_else(|_| a.tipo_cuenta.clone(), |t| t.label().to_owned()),
                numero: a.numero.clone(),
                correo: a.email.clone().or_else(|| company_mail.clone()),
                monto: l.monto,
            })
            .collect();
        let corte: NaiveDate = row.corte.parse().map_err(|_| {
            AppError::Invalid(format!(
                "la nómina tiene un corte ilegible: «{}»",
                row.corte
            ))
        })?;
        let grouped = self
            .store
            .setting(GROUP_SETTING)
            .await?
            .is_some_and(|v| v.trim() == "1");
        let payments = if grouped {
            icc_io::bank::group_by_account(&payments)
        } else {
            payments
        };
        let rows = transfers(&payments, limit, corte);
        let format = SantanderTemplate;
        let bytes = format
            .write(&rows, corte)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        write_atomically(out, &bytes)?;
        tx.record_bank_file(&row, &sha).await?;
        tx.commit().await?;
        tracing::info!(run = %row.id, numero = row.numero, rows = rows.len(), "bank file written");
        Ok(BankFileReport {
            archivo: out.display().to_string(),
            formato: format.name().to_owned(),
            sha256: sha,
            transferencias: rows.len() as i64,
            total: rows.iter().map(|t| t.monto).sum(),
        })
    }

    /// Writes a run's xlsx report (lines, reasons, total, totals per payee) to `out`.
    ///
    /// # Errors
    /// Forbidden for the role; unknown run; the file cannot be written (nothing is left
    /// half-written under its name).
    pub async fn run_report(
        &self,
        s: &Session,
        run: &str,
        out: &std::path::Path,
    ) -> Result<String> {
        let (_, bytes) = self.run_workbook(s, run).await?;
        write_atomically(out, &bytes)?;
        Ok(out.display().to_string())
    }

    /// A run and its workbook (what the report writes and the e-mail attaches).
    pub(crate) async fn run_workbook(&self, s: &Session, run: &str) -> Result<(RunView, Vec<u8>)> {
        let v = self.run(s, run).await?;
        let bad = |what: &str, v: &str| {
            AppError::Invalid(format!("la nómina tiene {what} ilegible: «{v}»"))
        };
        let sheet = icc_io::bank::RunSheet {
            numero: v.run.numero,
            corte: v
                .run
                .corte
                .parse()
                .map_err(|_| bad("un corte", &v.run.corte))?,
            estado: v.run.estado.clone(),
            preparada_por: v.run.created_by.clone(),
            aprobada_por: v.run.approved_by.clone(),
            lineas: v
                .lineas
                .iter()
                .map(|l| {
                    Ok(icc_io::bank::RunSheetLine {
                        documento: l.documento.clone(),
                        folio: l.folio,
                        proveedor: l.proveedor.clone(),
                        beneficiario_rut: l.beneficiario_rut.clone(),
                        beneficiario: l.beneficiario.clone(),
                        vence: l
                            .vence
                            .parse()
                            .map_err(|_| bad("un vencimiento", &l.vence))?,
                        saldo: l.saldo,
                        monto: l.monto,
                        incluida: l.incluida,
                        nota: l.nota.clone(),
                    })
                })
                .collect::<Result<_>>()?,
        };
        let bytes =
            icc_io::bank::run_workbook(&sheet).map_err(|e| AppError::Invalid(e.to_string()))?;
        Ok((v, bytes))
    }

    /// Enters a cesión by hand.
    ///
    /// # Errors
    /// Forbidden for the role; malformed document, RUT, amount or date; a type that cannot
    /// be assigned; the same sequence twice.
    pub async fn add_cesion(&self, s: &Session, req: CesionRequest) -> Result<CesionRow> {
        s.require(Permission::PrepareRuns)?;
        let key: icc_core::NaturalKey = req.documento.parse()?;
        let cedente_rut: Rut = match req.cedente_rut.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => r.parse()?,
            _ => key.rut_emisor,
        };
        let c = NewCesion {
            rut_emisor: key.rut_emisor,
            tipo: key.tipo_dte,
            folio: key.folio.get(),
            seq: req.seq,
            cedente_rut,
            cedente_nombre: None,
            cesionario_rut: req.cesionario_rut.parse()?,
            cesionario_nombre: req.cesionario_nombre,
            monto_cedido: Clp::new(req.monto_cedido),
            fecha: icc_core::parse_datetime("fecha de la cesión", &req.fecha)?,
            ultimo_vencimiento: None,
            source: "manual",
            identificador: None,
        };
        let mut tx = self.store.write(&s.username).await?;
        let row = tx.add_cesion(&c).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Cesiones of one document or all.
    ///
    /// # Errors
    /// Forbidden for the role; a malformed document.
    pub async fn cesiones(&self, s: &Session, documento: Option<&str>) -> Result<Vec<CesionRow>> {
        may_see_runs(s)?;
        let key: Option<icc_core::NaturalKey> = documento.map(str::parse).transpose()?;
        if let Some(k) = &key
            && !icc_core::records::assignable(k.tipo_dte)
        {
            return Err(AppError::Invalid(format!(
                "el documento {k} es de tipo {} ({}), que no se cede",
                k.tipo_dte.code(),
                DteType::label(k.tipo_dte).unwrap_or("documento")
            )));
        }
        Ok(self.store.cesiones(key.as_ref()).await?)
    }
}

/// The address alone of `Nombre <dirección>` (a bank's e-mail column takes no name).
fn bare_address(a: &str) -> String {
    match (a.rfind('<'), a.rfind('>')) {
        (Some(i), Some(j)) if i < j => a[i + 1..j].trim().to_owned(),
        _ => a.trim().to_owned(),
    }
}

/// The company's payment rules (CLI `icc pagos configuracion --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PaymentSettings {
    /// Assigned invoices of 10,000,000 or more are paid at 60 days.
    pub regla_60_dias: bool,
    /// Largest transfer; larger lines are cut into parts.
    pub limite_transferencia: i64,
    /// One transfer per payee account instead of one per invoice.
    pub agrupar_transferencias: bool,
    /// Where the run e-mails go.
    pub correo: crate::correo::MailSettings,
    /// The company's RUT (cesiones of documents received by anyone else are refused).
    pub rut_empresa: Option<String>,
}

impl App {
    /// The payment rules in force (defaults where none was set).
    ///
    /// # Errors
    /// Store errors.
    pub async fn payment_settings(&self, s: &Session) -> Result<PaymentSettings> {
        let get = |k| self.store.setting(k);
        Ok(PaymentSettings {
            regla_60_dias: get(RULE_60_SETTING).await?.is_none_or(|v| v.trim() != "0"),
            limite_transferencia: get(SPLIT_LIMIT_SETTING)
                .await?
                .and_then(|v| v.trim().parse().ok())
                .filter(|l: &i64| *l > 0)
                .unwrap_or(icc_io::bank::DEFAULT_SPLIT_LIMIT),
            agrupar_transferencias: get(GROUP_SETTING).await?.is_some_and(|v| v.trim() == "1"),
            correo: self.mail_settings(s).await?,
            rut_empresa: self.company_rut().await?.map(|r| r.to_string()),
        })
    }

    /// Changes the payment rules given (`PaymentSettings` permission); each change audited.
    ///
    /// # Errors
    /// Forbidden for the role; a limit of 0 or less.
    pub async fn set_payment_settings(
        &self,
        s: &Session,
        regla_60_dias: Option<bool>,
        limite_transferencia: Option<i64>,
        agrupar_transferencias: Option<bool>,
    ) -> Result<PaymentSettings> {
        s.require(Permission::PaymentSettings)?;
        if let Some(l) = limite_transferencia
            && l <= 0
        {
            return Err(AppError::Invalid(format!(
                "el límite por transferencia debe ser mayor que cero, no {}",
                Clp::new(l)
            )));
        }
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let changes: Vec<(&'static str, String)> = [
            regla_60_dias.map(|b| (RULE_60_SETTING, flag(b))),
            limite_transferencia.map(|l| (SPLIT_LIMIT_SETTING, l.to_string())),
            agrupar_transferencias.map(|b| (GROUP_SETTING, flag(b))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut tx = self.store.write(&s.username).await?;
        for (key, value) in changes {
            tx.set_setting(key, &value).await?;
            tx.audit("setting", key, "update", Some("valor"), None, Some(value));
        }
        tx.commit().await?;
        self.payment_settings(s).await
    }
}

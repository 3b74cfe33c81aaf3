//! Cesiones entered by hand and the payment run (nómina de pago) (migration 0009,
//! `docs/pagos.md`).
//!
//! A run is made for a cut-off date from the approved invoices with a balance due by then,
//! each line paying its payee (the supplier, or the cesionario of the highest sequence);
//! it moves `borrador → aprobada → enviada → pagada`. Lines are copies: once the run is
//! approved nothing that happens to the invoices or accounts rewrites it, and marking it
//! paid records one payment per line through the same checks as any payment.

use chrono::{Days, NaiveDate};
use icc_core::pagos::{DueSource, PaymentMethod, legal_due_date};
use icc_core::{Clp, DteType, InvoiceId, Rut};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::pagos::NewPayment;
use crate::{Store, WriteTx};

/// Assigned invoices of at least this total are paid at 60 days (company rule, a setting).
pub const LARGE_ASSIGNED_CLP: i64 = 10_000_000;
/// Settings key of the 60-day rule (`1` on, `0` off; on when absent).
pub const RULE_60_SETTING: &str = "pagos.regla_60_dias";

/// A cesión to enter by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCesion {
    /// The assigned document: issuer.
    pub rut_emisor: Rut,
    /// Type.
    pub tipo: DteType,
    /// Folio.
    pub folio: u64,
    /// Sequence in the chain (1 for the first cesión).
    pub seq: u32,
    /// Who assigned it.
    pub cedente_rut: Rut,
    /// Their name.
    pub cedente_nombre: Option<String>,
    /// Who holds it now.
    pub cesionario_rut: Rut,
    /// Their name.
    pub cesionario_nombre: String,
    /// Amount assigned.
    pub monto_cedido: Clp,
    /// When (Chile time).
    pub fecha: chrono::NaiveDateTime,
    /// The document's last due date as the cesión states it.
    pub ultimo_vencimiento: Option<NaiveDate>,
    /// `manual`, `aec`, `sii_txt` or `certificado`.
    pub source: &'static str,
    /// The SII's identifier of the cesión, when the source gives it.
    pub identificador: Option<String>,
}

/// A stored cesión.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CesionRow {
    /// Id (UUID).
    pub id: String,
    /// `RUT:TIPO:FOLIO` of the document.
    pub documento: String,
    /// The invoice's id when it is in the register.
    pub invoice_id: Option<String>,
    /// Sequence.
    pub seq: i64,
    /// Cedente.
    pub cedente_rut: String,
    /// Cedente's name.
    pub cedente_nombre: Option<String>,
    /// Cesionario.
    pub cesionario_rut: String,
    /// Cesionario's name.
    pub cesionario_nombre: String,
    /// Amount assigned.
    pub monto_cedido: i64,
    /// When.
    pub fecha: String,
    /// `manual`, `aec`, `sii_txt`, `certificado`.
    pub source: String,
    /// Entered (UTC).
    pub created_at: String,
    /// By whom.
    pub created_by: String,
}

const CESION_SELECT: &str = "\
SELECT c.id, c.rut_emisor || ':' || c.tipo_dte || ':' || c.folio AS documento, i.id AS invoice_id, c.seq, \
       c.cedente_rut, c.cedente_nombre, c.cesionario_rut, c.cesionario_nombre, c.monto_cedido, c.fecha, \
       c.source, c.created_at, c.created_by \
FROM cesiones c LEFT JOIN invoices i ON i.rut_emisor = c.rut_emisor AND i.tipo_dte = c.tipo_dte AND i.folio = c.folio";

/// A payment run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunRow {
    /// Id (UUID).
    pub id: String,
    /// N° de nómina.
    pub numero: i64,
    /// Cut-off.
    pub corte: String,
    /// `borrador`, `aprobada`, `enviada`, `pagada`.
    pub estado: String,
    /// Made (UTC) and by whom.
    pub created_at: String,
    /// Who made it.
    pub created_by: String,
    /// Approved (UTC).
    pub approved_at: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// Sent to the bank (UTC).
    pub sent_at: Option<String>,
    /// Who sent it.
    pub sent_by: Option<String>,
    /// Marked paid (UTC).
    pub paid_at: Option<String>,
    /// Who marked it paid.
    pub paid_by: Option<String>,
    /// SHA-256 of the bank file made from it.
    pub bank_file_sha256: Option<String>,
    /// Sum of the included lines.
    pub total: i64,
    /// Included lines.
    pub lineas_incluidas: i64,
}

/// One line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunLine {
    /// Position in the run.
    pub pos: i64,
    /// The invoice's id.
    pub invoice_id: String,
    /// `RUT:TIPO:FOLIO`.
    pub documento: String,
    /// Folio.
    pub folio: i64,
    /// Supplier.
    pub proveedor_rut: String,
    /// Supplier's name.
    pub proveedor: String,
    /// Who is paid: the supplier or the cesionario.
    pub beneficiario_rut: String,
    /// Their name.
    pub beneficiario: String,
    /// Whether the invoice was assigned (the payee is a cesionario).
    pub cedida: bool,
    /// The date the run pays it for.
    pub vence: String,
    /// Balance when the run was made.
    pub saldo: i64,
    /// What this run pays.
    pub monto: i64,
    /// Whether it is paid in this run.
    pub incluida: bool,
    /// Why the line is as it is (60-day rule, partial cesión, ...).
    pub nota: Option<String>,
    /// The payee's approved account, frozen at approval.
    pub account_id: Option<String>,
}

const RUN_SELECT: &str = "\
SELECT r.id, r.numero, r.corte, r.estado, r.created_at, r.created_by, r.approved_at, r.approved_by, \
       r.sent_at, r.sent_by, r.paid_at, r.paid_by, r.bank_file_sha256, \
       coalesce((SELECT SUM(l.monto) FROM payment_run_lines l WHERE l.run_id = r.id AND l.incluida), 0) AS total, \
       (SELECT COUNT(*) FROM payment_run_lines l WHERE l.run_id = r.id AND l.incluida) AS lineas_incluidas \
FROM payment_runs r";

const LINE_SELECT: &str = "\
SELECT pos, invoice_id, documento, folio, proveedor_rut, proveedor, beneficiario_rut, beneficiario, cedida, \
       vence, saldo, monto, incluida, nota, account_id FROM payment_run_lines";

fn dmy(d: NaiveDate) -> String {
    d.format("%d-%m-%Y").to_string()
}

impl Store {
    /// Cesiones, of one document or all, by document and sequence.
    ///
    /// # Errors
    /// Database errors.
    pub async fn cesiones(
        &self,
        documento: Option<&icc_core::NaturalKey>,
    ) -> Result<Vec<CesionRow>> {
        let sql = format!(
            "{CESION_SELECT} WHERE ?1 IS NULL OR (c.rut_emisor = ?1 AND c.tipo_dte = ?2 AND c.folio = ?3) \
             ORDER BY c.rut_emisor, c.tipo_dte, c.folio, c.seq"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(documento.map(|k| k.rut_emisor.to_string()))
            .bind(documento.map(|k| i64::from(k.tipo_dte.code())))
            .bind(documento.map(|k| k.folio.get() as i64))
            .fetch_all(self.pool())
            .await?)
    }

    /// Runs, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn runs(&self) -> Result<Vec<RunRow>> {
        let sql = format!("{RUN_SELECT} ORDER BY r.numero DESC");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?)
    }

    /// A run and its lines (by payee, then due date).
    ///
    /// # Errors
    /// Unknown run, database errors.
    pub async fn run(&self, id: &str) -> Result<(RunRow, Vec<RunLine>)> {
        let mut conn = self.pool().acquire().await?;
        run_on(&mut conn, id).await
    }
}

async fn run_on(conn: &mut sqlx::SqliteConnection, id: &str) -> Result<(RunRow, Vec<RunLine>)> {
    let sql = format!("{RUN_SELECT} WHERE r.id = ?1 OR CAST(r.numero AS TEXT) = ?1");
    let run: RunRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id.trim())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "nómina",
            key: id.trim().to_owned(),
        })?;
    let sql = format!("{LINE_SELECT} WHERE run_id = ? ORDER BY beneficiario, vence, folio, pos");
    let lines = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&run.id)
        .fetch_all(&mut *conn)
        .await?;
    Ok((run, lines))
}

/// An approved invoice that may enter a run.
#[derive(sqlx::FromRow)]
struct Candidate {
    id: String,
    rut_emisor: String,
    tipo_dte: i64,
    folio: i64,
    razon_social: String,
    monto_total: i64,
    fecha_emision: String,
    fecha_recepcion_sii: Option<String>,
    fecha_vencimiento: Option<String>,
    fecha_importacion: Option<String>,
}

/// An invoice's chain of cesiones as runs need it.
struct Chain {
    /// Who it is owed to now: the cesionario of the highest sequence (RUT, name, amount
    /// assigned); `None`: its issuer.
    last: Option<(String, String, i64)>,
    /// Why the chain cannot say who is owed, if it cannot: sequences 1, 2, … without a gap,
    /// the first ceded by the issuer, each next one by the previous cesionario. A chain
    /// entered out of order (a cesión typed by hand with the wrong sequence, a file of
    /// another period) would otherwise make an earlier cesionario look like the last.
    problem: Option<String>,
}

/// Reads an invoice's chain of cesiones (see [`Chain`]).
async fn cesion_chain(
    conn: &mut sqlx::SqliteConnection,
    rut_emisor: &str,
    tipo_dte: i64,
    folio: i64,
) -> Result<Chain> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT seq, cedente_rut, cesionario_rut, cesionario_nombre, monto_cedido FROM cesiones \
         WHERE rut_emisor = ? AND tipo_dte = ? AND folio = ? ORDER BY seq",
    )
    .bind(rut_emisor)
    .bind(tipo_dte)
    .bind(folio)
    .fetch_all(&mut *conn)
    .await?;
    let mut problem = None;
    let mut owner = rut_emisor;
    for (i, (seq, cedente, cesionario, _, _)) in rows.iter().enumerate() {
        if *seq != i as i64 + 1 {
            problem = Some(format!(
                "a la cadena de cesiones le falta la secuencia {} (sigue la {seq})",
                i + 1
            ));
            break;
        }
        if cedente != owner {
            problem = Some(format!(
                "la cesión {seq} la cede {cedente}, pero la factura era de {owner}"
            ));
            break;
        }
        owner = cesionario;
    }
    let last = rows
        .into_iter()
        .next_back()
        .map(|(_, _, rut, nombre, cedido)| (rut, nombre, cedido));
    Ok(Chain { last, problem })
}

/// What runs other than `except` that are approved or sent (their money leaves, their
/// payments are not recorded yet) include of an invoice: (run number, amount) each.
async fn committed_elsewhere(
    conn: &mut sqlx::SqliteConnection,
    invoice_id: &str,
    except: &str,
) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT r.numero, l.monto FROM payment_run_lines l JOIN payment_runs r ON r.id = l.run_id \
         WHERE l.invoice_id = ? AND l.incluida AND l.monto > 0 AND r.id <> ? \
           AND r.estado IN ('aprobada', 'enviada') ORDER BY r.numero",
    )
    .bind(invoice_id)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?)
}

/// What runs other than `except`, approved, sent or paid, pay `payee` of an invoice.
async fn run_paid_to(
    conn: &mut sqlx::SqliteConnection,
    invoice_id: &str,
    payee: &str,
    except: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(SUM(l.monto), 0) FROM payment_run_lines l JOIN payment_runs r ON r.id = l.run_id \
         WHERE l.invoice_id = ? AND l.incluida AND l.beneficiario_rut = ? AND r.id <> ? \
           AND r.estado IN ('aprobada', 'enviada', 'pagada')",
    )
    .bind(invoice_id)
    .bind(payee)
    .bind(except)
    .fetch_one(&mut *conn)
    .await?)
}

/// Refuses to pay, send or mark paid a run whose every line was taken out after approval.
fn nothing_left(run: &RunRow, lines: &[RunLine]) -> Result<()> {
    if lines.iter().any(|l| l.incluida && l.monto > 0) {
        return Ok(());
    }
    Err(StoreError::Refused(format!(
        "la nómina N° {} ya no tiene líneas incluidas: no hay nada que pagar; si algo se debe, haga una nómina nueva",
        run.numero
    )))
}

/// What was paid of an invoice outside payment runs (recorded by hand: no payee is known).
async fn paid_outside_runs(conn: &mut sqlx::SqliteConnection, invoice_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(SUM(monto), 0) FROM payments WHERE invoice_id = ? AND run_id IS NULL",
    )
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// `N° 5 ($1.000), N° 6 ($2.000)`.
fn runs_text(runs: &[(i64, i64)]) -> String {
    runs.iter()
        .map(|(n, m)| format!("N° {n} ({})", Clp::new(*m)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl WriteTx {
    /// Enters a cesión (by hand, or read from a file: `source`); audited. The id follows
    /// the document and sequence, so the same cesión from two sources is stored once.
    ///
    /// # Errors
    /// A type that cannot be assigned (only 33, 34, 43, 46), the same sequence already
    /// entered for the document, a blank cesionario name; database errors.
    pub async fn add_cesion(&mut self, c: &NewCesion) -> Result<CesionRow> {
        if !icc_core::records::assignable(c.tipo) {
            return Err(icc_core::CoreError::invalid(
                "tipo de documento",
                c.tipo.code().to_string(),
                "solo se ceden facturas (33, 34, 43 y 46)",
            )
            .into());
        }
        let nombre = c.cesionario_nombre.trim();
        if nombre.is_empty() {
            return Err(icc_core::CoreError::invalid(
                "cesionario",
                "",
                "indique el nombre del cesionario",
            )
            .into());
        }
        if c.monto_cedido.pesos() <= 0 || !(1..=40).contains(&c.seq) {
            return Err(icc_core::CoreError::invalid(
                "cesión",
                format!("secuencia {}, monto {}", c.seq, c.monto_cedido),
                "la secuencia va de 1 a 40 y el monto cedido debe ser mayor que cero",
            )
            .into());
        }
        let key = icc_core::NaturalKey {
            rut_emisor: c.rut_emisor,
            tipo_dte: c.tipo,
            folio: icc_core::Folio::new(c.folio)?,
        };
        let id = icc_core::records::cesion_id(&key, c.seq);
        let inserted = sqlx::query(
            "INSERT INTO cesiones (id, rut_emisor, tipo_dte, folio, seq, cedente_rut, cedente_nombre, cesionario_rut, \
             cesionario_nombre, monto_cedido, fecha, ultimo_vencimiento, identificador, source, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(c.rut_emisor.to_string())
        .bind(i64::from(c.tipo.code()))
        .bind(c.folio as i64)
        .bind(i64::from(c.seq))
        .bind(c.cedente_rut.to_string())
        .bind(c.cedente_nombre.as_deref().map(str::trim))
        .bind(c.cesionario_rut.to_string())
        .bind(nombre)
        .bind(c.monto_cedido.pesos())
        .bind(c.fecha.format("%Y-%m-%dT%H:%M:%S").to_string())
        .bind(c.ultimo_vencimiento.map(|d| d.to_string()))
        .bind(c.identificador.as_deref())
        .bind(c.source)
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .execute(&mut *self.conn())
        .await?;
        let documento = format!("{}:{}:{}", c.rut_emisor, c.tipo.code(), c.folio);
        if inserted.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists {
                what: "cesión",
                key: format!("{documento} secuencia {}", c.seq),
            });
        }
        self.audit(
            "cesion",
            id.clone(),
            "create",
            None,
            None,
            Some(format!(
                "{documento} secuencia {}: de {} a {} {nombre} por {}",
                c.seq, c.cedente_rut, c.cesionario_rut, c.monto_cedido
            )),
        );
        let sql = format!("{CESION_SELECT} WHERE c.id = ?");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&id)
            .fetch_one(&mut *self.conn())
            .await?)
    }

    /// The cesionario and date of the cesión at `seq` of a document's chain, as this
    /// transaction sees it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn cesion_at(
        &mut self,
        documento: &icc_core::NaturalKey,
        seq: u32,
    ) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT cesionario_rut, fecha FROM cesiones WHERE rut_emisor = ? AND tipo_dte = ? AND folio = ? AND seq = ?",
        )
        .bind(documento.rut_emisor.to_string())
        .bind(i64::from(documento.tipo_dte.code()))
        .bind(documento.folio.get() as i64)
        .bind(i64::from(seq))
        .fetch_optional(&mut *self.conn())
        .await?)
    }

    /// Makes a run (`borrador`) for `corte`: every approved or partly paid invoice with a
    /// balance due on or before it, paying its payee the balance. An assigned invoice of at
    /// least [`LARGE_ASSIGNED_CLP`] is due at 60 days when `rule_60` is on: while that day is
    /// after the cut-off the line is listed, not included, and says why. A partial cesión
    /// pays the cesionario the amount assigned and flags the rest. Returns the run's id.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_run(&mut self, corte: NaiveDate, rule_60: bool) -> Result<String> {
        let candidates: Vec<Candidate> = sqlx::query_as(
            "SELECT id, rut_emisor, tipo_dte, folio, razon_social, monto_total, fecha_emision, fecha_recepcion_sii, \
             fecha_vencimiento, fecha_importacion FROM invoices \
             WHERE estado IN ('aprobada', 'parcialmente_pagada') AND vence <= ? \
             ORDER BY rut_emisor, vence, folio",
        )
        .bind(corte.to_string())
        .fetch_all(&mut *self.conn())
        .await?;
        let numero: i64 =
            sqlx::query_scalar("SELECT coalesce(MAX(numero), 0) + 1 FROM payment_runs")
                .fetch_one(&mut *self.conn())
                .await?;
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO payment_runs (id, numero, corte, estado, created_at, created_by) VALUES (?, ?, ?, 'borrador', ?, ?)",
        )
        .bind(&id)
        .bind(numero)
        .bind(corte.to_string())
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .execute(&mut *self.conn())
        .await?;
        let mut pos = 0i64;
        for c in candidates {
            let payable_type = u16::try_from(c.tipo_dte)
                .ok()
                .and_then(|t| DteType::new(t).ok())
                .is_some_and(|t| t.total_sign() > 0);
            if !payable_type {
                continue;
            }
            let saldo = crate::pagos::balance_on(self.conn(), &c.id).await?.1.saldo;
            if saldo.pesos() <= 0 {
                continue;
            }
            let due = legal_due_date(
                c.fecha_vencimiento.as_deref().and_then(|d| d.parse().ok()),
                c.fecha_recepcion_sii
                    .as_deref()
                    .and_then(|d| icc_core::parse_datetime("fecha_recepcion_sii", d).ok()),
                c.fecha_importacion.as_deref().and_then(|d| d.parse().ok()),
                c.fecha_emision.parse().unwrap_or(corte),
            );
            let Chain {
                last: chain,
                problem,
            } = cesion_chain(self.conn(), &c.rut_emisor, c.tipo_dte, c.folio).await?;
            let mut notes: Vec<String> = Vec::new();
            let mut vence = due.date;
            let mut incluida = true;
            if let Some(why) = problem {
                incluida = false;
                notes.push(format!(
                    "{why}: revise las cesiones de la factura antes de pagarla"
                ));
            }
            // what approved or sent runs already pay of it is not offered again
            let committed = committed_elsewhere(self.conn(), &c.id, &id).await?;
            let pending: i64 = committed.iter().map(|(_, m)| m).sum();
            let mut monto = saldo.pesos().saturating_sub(pending).max(0);
            if pending > 0 {
                notes.push(format!(
                    "ya va en la(s) nómina(s) {} sin marcar pagada(s); aquí solo lo que queda ({})",
                    runs_text(&committed),
                    Clp::new(monto)
                ));
            }
            let (beneficiario_rut, beneficiario, cedida) = match chain {
                None => (c.rut_emisor.clone(), c.razon_social.clone(), false),
                Some((rut, nombre, cedido)) => {
                    if cedido < c.monto_total {
                        // lo cedido, less what runs already pay this cesionario
                        let paid = run_paid_to(self.conn(), &c.id, &rut, &id).await?;
                        monto = monto.min(cedido.saturating_sub(paid).max(0));
                        // what is still owed once this line is paid (credit notes and
                        // earlier payments counted): the issuer's part, if any
                        let rest = saldo
                            .pesos()
                            .saturating_sub(pending)
                            .saturating_sub(monto)
                            .max(0);
                        notes.push(format!(
                            "cesión parcial: al cesionario se le cedieron {}{}; esta línea le paga {}{}",
                            Clp::new(cedido),
                            if paid > 0 {
                                format!(", de lo que otras nóminas ya le pagan {}", Clp::new(paid))
                            } else {
                                String::new()
                            },
                            Clp::new(monto),
                            if rest > 0 {
                                format!(
                                    "; el resto ({}) queda para que una persona decida",
                                    Clp::new(rest)
                                )
                            } else {
                                String::new()
                            }
                        ));
                        // a payment recorded by hand has no payee: whether it went to the
                        // cesionario is for a person to say, not for the run to guess
                        let by_hand = paid_outside_runs(self.conn(), &c.id).await?;
                        if by_hand > 0 {
                            incluida = false;
                            notes.push(format!(
                                "tiene pagos registrados fuera de nóminas ({}) y no se sabe si fueron al cesionario o al emisor: \
                                 revise a quién se pagó y, si corresponde, incluya la línea con el monto que se le debe al cesionario",
                                Clp::new(by_hand)
                            ));
                        }
                    }
                    if rule_60
                        && c.monto_total >= LARGE_ASSIGNED_CLP
                        && due.source != DueSource::Acordada
                    {
                        vence = due.date.checked_add_days(Days::new(30)).unwrap_or(due.date);
                        notes.push(format!(
                            "cedida por {} o más: se paga a 60 días, el {}",
                            Clp::new(LARGE_ASSIGNED_CLP),
                            dmy(vence)
                        ));
                        if vence > corte {
                            incluida = false;
                        }
                    }
                    (rut, nombre, true)
                }
            };
            if monto == 0 {
                incluida = false;
            }
            pos += 1;
            sqlx::query(
                "INSERT INTO payment_run_lines (run_id, pos, invoice_id, documento, folio, proveedor_rut, proveedor, \
                 beneficiario_rut, beneficiario, cedida, vence, saldo, monto, incluida, nota) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(pos)
            .bind(&c.id)
            .bind(format!("{}:{}:{}", c.rut_emisor, c.tipo_dte, c.folio))
            .bind(c.folio)
            .bind(&c.rut_emisor)
            .bind(&c.razon_social)
            .bind(&beneficiario_rut)
            .bind(&beneficiario)
            .bind(cedida)
            .bind(vence.to_string())
            .bind(saldo.pesos())
            .bind(monto)
            .bind(incluida)
            .bind((!notes.is_empty()).then(|| notes.join("; ")))
            .execute(&mut *self.conn())
            .await?;
        }
        self.audit(
            "payment_run",
            id.clone(),
            "create",
            None,
            None,
            Some(format!(
                "nómina N° {numero}, corte {}, {pos} líneas",
                dmy(corte)
            )),
        );
        Ok(id)
    }

    async fn run_in_state(
        &mut self,
        id: &str,
        allowed: &[&str],
        what: &str,
    ) -> Result<(RunRow, Vec<RunLine>)> {
        let (run, lines) = run_on(self.conn(), id).await?;
        if !allowed.contains(&run.estado.as_str()) {
            return Err(StoreError::Refused(format!(
                "la nómina N° {} está {}: no se puede {what}",
                run.numero, run.estado
            )));
        }
        Ok((run, lines))
    }

    /// Edits a line of a draft run: include or exclude it, or pay part of its balance. Of an
    /// approved run (not yet sent) a line can only be excluded, and only when it no longer
    /// pays what is owed now to whom it is owed (the invoice was paid, rejected or assigned
    /// since the approval): the bank file refuses such a line, and this is the way out.
    ///
    /// # Errors
    /// A run that is no longer a draft (or an approved run's line still owed as approved),
    /// an unknown line, an amount ≤ 0 or above the balance.
    pub async fn set_run_line(
        &mut self,
        run_id: &str,
        documento: &str,
        incluida: Option<bool>,
        monto: Option<i64>,
    ) -> Result<RunLine> {
        let (run, lines) = self
            .run_in_state(
                run_id,
                &["borrador", "aprobada"],
                "cambiar: haga una nómina nueva",
            )
            .await?;
        let line = lines
            .into_iter()
            .find(|l| l.documento == documento.trim() || l.invoice_id == documento.trim())
            .ok_or_else(|| StoreError::NotFound {
                what: "línea de la nómina",
                key: documento.trim().to_owned(),
            })?;
        if run.estado == "aprobada" {
            let only_excludes = incluida == Some(false) && monto.is_none() && line.incluida;
            let why = if only_excludes {
                self.line_problem(&run, &line).await?
            } else {
                None
            };
            if why.is_none() {
                return Err(StoreError::Refused(format!(
                    "la nómina N° {} está aprobada: sus líneas ya no cambian, salvo quitar una que ya no se \
                     debe como se aprobó{}; para otro cambio haga una nómina nueva",
                    run.numero,
                    if only_excludes {
                        format!(" ({} se sigue debiendo como se aprobó)", line.documento)
                    } else {
                        String::new()
                    }
                )));
            }
        }
        if let Some(m) = monto
            && (m <= 0 || m > line.saldo)
        {
            return Err(icc_core::CoreError::invalid(
                "monto",
                Clp::new(m).to_string(),
                format!(
                    "debe ser mayor que cero y a lo más el saldo ({})",
                    Clp::new(line.saldo)
                ),
            )
            .into());
        }
        let new_incluida = incluida.unwrap_or(line.incluida);
        let new_monto = monto.unwrap_or(line.monto);
        sqlx::query(
            "UPDATE payment_run_lines SET incluida = ?, monto = ? WHERE run_id = ? AND pos = ?",
        )
        .bind(new_incluida)
        .bind(new_monto)
        .bind(&run.id)
        .bind(line.pos)
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "payment_run",
            run.id.clone(),
            "update",
            Some("linea"),
            Some(format!(
                "{}: {} {}",
                line.documento,
                if line.incluida {
                    "incluida"
                } else {
                    "excluida"
                },
                Clp::new(line.monto)
            )),
            Some(format!(
                "{}: {} {}",
                line.documento,
                if new_incluida { "incluida" } else { "excluida" },
                Clp::new(new_monto)
            )),
        );
        Ok(RunLine {
            incluida: new_incluida,
            monto: new_monto,
            ..line
        })
    }

    /// Approves a draft run: from now on its lines never change. Each included line's
    /// payee account is frozen as the approved account it has now (none: the bank file
    /// will name the line).
    ///
    /// # Errors
    /// A run that is not a draft or includes no line; database errors.
    pub async fn approve_run(&mut self, id: &str) -> Result<RunRow> {
        let (run, lines) = self.run_in_state(id, &["borrador"], "aprobar").await?;
        if !lines.iter().any(|l| l.incluida && l.monto > 0) {
            return Err(StoreError::Refused(format!(
                "la nómina N° {} no tiene líneas incluidas: no hay nada que aprobar",
                run.numero
            )));
        }
        for l in lines.iter().filter(|l| l.incluida && l.monto > 0) {
            self.check_line_now(&run, l).await?;
        }
        sqlx::query(
            "UPDATE payment_run_lines SET account_id = (SELECT a.id FROM supplier_accounts a \
             WHERE a.rut = payment_run_lines.beneficiario_rut AND a.estado = 'aprobada') \
             WHERE run_id = ? AND incluida",
        )
        .bind(&run.id)
        .execute(&mut *self.conn())
        .await?;
        self.set_run_state(&run, "aprobada", "approved").await
    }

    /// Refuses to approve a line that would pay what is not owed now, or to whom it is not
    /// owed: more than the invoice's balance less what approved or sent runs already pay of
    /// it (two runs would pay it twice), or a payee other than its last cesionario (else its
    /// issuer) when it was assigned after the draft was made. The draft stays as it is; the
    /// message says which line and what to do.
    async fn check_line_now(&mut self, run: &RunRow, l: &RunLine) -> Result<()> {
        match self.line_problem(run, l).await? {
            Some(why) => Err(StoreError::Refused(why)),
            None => Ok(()),
        }
    }

    /// Why a line of `run` does not pay what is owed now, to whom it is owed (see
    /// [`WriteTx::approve_run`]); `None` when it does. The message names the line and what
    /// to do.
    async fn line_problem(&mut self, run: &RunRow, l: &RunLine) -> Result<Option<String>> {
        let inv: Option<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT rut_emisor, tipo_dte, folio, monto_total FROM invoices WHERE id = ?",
        )
        .bind(&l.invoice_id)
        .fetch_optional(&mut *self.conn())
        .await?;
        let Some((rut, tipo, folio, total)) = inv else {
            return Ok(Some(format!(
                "la línea {} de la nómina N° {} paga {}, que ya no está en el registro: quítela de la nómina",
                l.pos, run.numero, l.documento
            )));
        };
        let (estado, balance) = crate::pagos::balance_on(self.conn(), &l.invoice_id).await?;
        // only what is approved to be paid is paid: not a document rejected, voided or
        // marked paid (an iConstruye status, say) after the draft was made
        if !matches!(
            estado,
            icc_core::InvoiceStatus::Aprobada | icc_core::InvoiceStatus::ParcialmentePagada
        ) {
            return Ok(Some(format!(
                "la línea {} de la nómina N° {} paga {}, que hoy está {}: solo se pagan facturas aprobadas \
                 o pagadas en parte; quítela de la nómina",
                l.pos,
                run.numero,
                l.documento,
                estado.label()
            )));
        }
        let saldo = balance.saldo.pesos();
        let committed = committed_elsewhere(self.conn(), &l.invoice_id, &run.id).await?;
        let pending: i64 = committed.iter().map(|(_, m)| m).sum();
        if l.monto > saldo.saturating_sub(pending) {
            let why = if committed.is_empty() {
                "se pagaría más de lo que se debe (hubo pagos o notas de crédito después de preparar la nómina)".to_owned()
            } else {
                format!(
                    "y la(s) nómina(s) {} ya pagan {}: se pagaría dos veces",
                    runs_text(&committed),
                    Clp::new(pending)
                )
            };
            return Ok(Some(format!(
                "la línea {} de la nómina N° {} pagaría {} de {}, pero su saldo es {} {why}; {}",
                l.pos,
                run.numero,
                Clp::new(l.monto),
                l.documento,
                Clp::new(saldo),
                if run.estado == "borrador" {
                    "ajuste el monto de la línea o quítela"
                } else {
                    "quítela de la nómina"
                }
            )));
        }
        let last = cesion_chain(self.conn(), &rut, tipo, folio).await?.last;
        // a partial cesión: the cesionario is never paid more than was assigned to it
        if let Some((cesionario, _, cedido)) = &last
            && *cedido < total
            && *cesionario == l.beneficiario_rut
        {
            let paid = run_paid_to(self.conn(), &l.invoice_id, cesionario, &run.id).await?;
            let left = cedido.saturating_sub(paid).max(0);
            if l.monto > left {
                return Ok(Some(format!(
                    "la línea {} de la nómina N° {} pagaría {} al cesionario {cesionario} de {}, pero se le cedieron {} \
                     y otras nóminas ya le pagan {}: a lo más {}; el resto lo decide una persona",
                    l.pos,
                    run.numero,
                    Clp::new(l.monto),
                    l.documento,
                    Clp::new(*cedido),
                    Clp::new(paid),
                    Clp::new(left)
                )));
            }
        }
        let owed = last.map_or(rut, |(cesionario, _, _)| cesionario);
        if owed != l.beneficiario_rut {
            return Ok(Some(format!(
                "la línea {} de la nómina N° {} paga {} a {}, pero hoy se le debe a {owed} \
                 (la factura fue cedida después de preparar la nómina): solo pagarle al \
                 cesionario extingue la deuda; quite la línea y prepare una nómina nueva",
                l.pos, run.numero, l.documento, l.beneficiario_rut
            )));
        }
        Ok(None)
    }

    /// Marks an approved run as sent to the bank.
    ///
    /// # Errors
    /// A run that is not approved; database errors.
    pub async fn mark_run_sent(&mut self, id: &str) -> Result<RunRow> {
        let (run, lines) = self
            .run_in_state(
                id,
                &["aprobada"],
                "marcar como enviada al banco (apruébela primero)",
            )
            .await?;
        nothing_left(&run, &lines)?;
        self.set_run_state(&run, "enviada", "sent").await
    }

    /// Marks an approved or sent run paid on `fecha`: one payment per included line (the
    /// same checks as any payment: if an invoice was paid meanwhile, nothing is recorded and
    /// the error names it).
    ///
    /// # Errors
    /// A run not approved or sent; a line whose invoice no longer takes the payment.
    pub async fn mark_run_paid(&mut self, id: &str, fecha: NaiveDate) -> Result<RunRow> {
        let (run, lines) = self
            .run_in_state(
                id,
                &["aprobada", "enviada"],
                "marcar como pagada (apruébela primero)",
            )
            .await?;
        nothing_left(&run, &lines)?;
        for l in lines.iter().filter(|l| l.incluida && l.monto > 0) {
            let invoice: InvoiceId = l.invoice_id.parse()?;
            self.record_payment(
                invoice,
                &NewPayment {
                    fecha,
                    monto: Clp::new(l.monto),
                    medio: PaymentMethod::Transferencia,
                    referencia: Some(format!("Nómina N° {}", run.numero)),
                    run_id: Some(run.id.clone()),
                },
            )
            .await
            .map_err(|e| {
                StoreError::Refused(format!(
                    "no se marcó pagada la nómina N° {}: el documento {} no acepta el pago de {} ({e}); no se registró ningún pago",
                    run.numero,
                    l.documento,
                    Clp::new(l.monto)
                ))
            })?;
        }
        self.set_run_state(&run, "pagada", "paid").await
    }

    /// The included lines of an approved or sent run, each with the account it is paid
    /// into: the one frozen at approval, else the payee's approved account now (frozen on
    /// the line from then on). Lines whose payee has no approved account block the file:
    /// the error lists them and what to do.
    ///
    /// # Errors
    /// A run not approved; payees without an approved account; database errors.
    pub async fn run_payments(
        &mut self,
        id: &str,
    ) -> Result<(RunRow, Vec<(RunLine, crate::cuentas::SupplierAccount)>)> {
        let (run, lines) = self
            .run_in_state(
                id,
                &["aprobada", "enviada"],
                "hacer el archivo del banco (solo de nóminas aprobadas)",
            )
            .await?;
        // the money leaves with this file: every line is checked again as at approval (the
        // invoice may have been paid by other means, rejected or assigned since)
        let mut problems: Vec<String> = Vec::new();
        for l in lines.iter().filter(|l| l.incluida && l.monto > 0) {
            if let Some(why) = self.line_problem(&run, l).await? {
                problems.push(why);
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Refused(format!(
                "no se hizo el archivo del banco de la nómina N° {}: {}. {}",
                run.numero,
                problems.join("; "),
                if run.estado == "aprobada" {
                    format!(
                        "Contabilidad quita esas líneas (icc pagos excluir {} DOCUMENTO, o desmarcando su casilla «Pagar» en Pagos); luego vuelva a hacer el archivo",
                        run.numero
                    )
                } else {
                    "La nómina ya se marcó enviada al banco: revise con el banco si esas transferencias se hicieron; \
                     si se hicieron, esa factura se pagó de más y hay que pedir la devolución"
                        .to_owned()
                }
            )));
        }
        nothing_left(&run, &lines)?;
        let mut out = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for mut l in lines.into_iter().filter(|l| l.incluida && l.monto > 0) {
            if l.account_id.is_none() {
                let now: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM supplier_accounts WHERE rut = ? AND estado = 'aprobada'",
                )
                .bind(&l.beneficiario_rut)
                .fetch_optional(&mut *self.conn())
                .await?;
                if let Some(acc) = &now {
                    sqlx::query(
                        "UPDATE payment_run_lines SET account_id = ? WHERE run_id = ? AND pos = ?",
                    )
                    .bind(acc)
                    .bind(&run.id)
                    .bind(l.pos)
                    .execute(&mut *self.conn())
                    .await?;
                }
                l.account_id = now;
            }
            match l.account_id.clone() {
                Some(acc) => {
                    let a = self.account(&acc).await?;
                    out.push((l, a));
                }
                None => {
                    let who = format!(
                        "{} {} ({})",
                        l.beneficiario_rut, l.beneficiario, l.documento
                    );
                    if !missing.contains(&who) {
                        missing.push(who);
                    }
                }
            }
        }
        if !missing.is_empty() {
            return Err(StoreError::Refused(format!(
                "no se hizo el archivo del banco de la nómina N° {}: {} sin cuenta bancaria aprobada: {}. \
                 Ingrese la cuenta (icc cuentas-bancarias add) y pida a otra persona que la apruebe; luego vuelva a hacer el archivo",
                run.numero,
                if missing.len() == 1 {
                    "un beneficiario está"
                } else {
                    "hay beneficiarios"
                },
                missing.join("; ")
            )));
        }
        Ok((run, out))
    }

    /// Records the SHA-256 of the bank file made from a run; audited.
    ///
    /// # Errors
    /// Database errors.
    pub async fn record_bank_file(&mut self, run: &RunRow, sha256: &str) -> Result<()> {
        sqlx::query("UPDATE payment_runs SET bank_file_sha256 = ? WHERE id = ?")
            .bind(sha256)
            .bind(&run.id)
            .execute(&mut *self.conn())
            .await?;
        self.audit(
            "payment_run",
            run.id.clone(),
            "update",
            Some("bank_file_sha256"),
            run.bank_file_sha256.clone(),
            Some(sha256.to_owned()),
        );
        Ok(())
    }

    async fn set_run_state(
        &mut self,
        run: &RunRow,
        to: &'static str,
        column: &'static str,
    ) -> Result<RunRow> {
        // the column names come from this module: approved, sent, paid
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE payment_runs SET estado = ?, {column}_at = ?, {column}_by = ? WHERE id = ?"
        )))
        .bind(to)
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .bind(&run.id)
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "payment_run",
            run.id.clone(),
            "update",
            Some("estado"),
            Some(run.estado.clone()),
            Some(to.to_owned()),
        );
        Ok(run_on(self.conn(), &run.id).await?.0)
    }
}

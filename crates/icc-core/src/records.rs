//! The payment records that sync beside invoices (docs/sync.md, "Records"): payments,
//! supplier bank accounts, payment runs, cesiones and the monthly interest rates.
//!
//! Each travels as a whole document (field `_doc`), the newest by clock wins, and every
//! change of one is a new document of the same id. What may change, and who may change it,
//! is decided here for the server and tested once: [`check_record`] takes the document a
//! device pushes, the server's current one and the pushing account's role.

use serde::{Deserialize, Serialize};

use crate::pagos::{AccountType, MAX_ANNUAL_BP, PaymentMethod};
use crate::role::{Permission, Role};
use crate::{DteType, NaturalKey, Rut};

/// Entity name of a payment.
pub const PAYMENT_ENTITY: &str = "payment";
/// Entity name of a version of a supplier's bank account.
pub const BANK_ACCOUNT_ENTITY: &str = "bank_account";
/// Entity name of a payment run (its lines travel inside it).
pub const RUN_ENTITY: &str = "payment_run";
/// Entity name of a cesión.
pub const CESION_ENTITY: &str = "cesion";
/// Entity name of a month's interest rate (the id is `AAAA-MM`).
pub const INTEREST_RATE_ENTITY: &str = "interest_rate";

/// Every record entity, in the order a device applies a page's documents of them (the
/// budget and treasury documents of `presupuesto` depend on nothing).
pub const RECORD_ENTITIES: [&str; 11] = [
    INTEREST_RATE_ENTITY,
    BANK_ACCOUNT_ENTITY,
    CESION_ENTITY,
    RUN_ENTITY,
    PAYMENT_ENTITY,
    crate::presupuesto::BUDGET_LINE_ENTITY,
    crate::presupuesto::OBRA_BUDGET_ENTITY,
    crate::presupuesto::OBRA_LINE_ENTITY,
    crate::presupuesto::TREASURY_BANK_ENTITY,
    crate::presupuesto::TREASURY_ROW_ENTITY,
    crate::presupuesto::LOAN_ENTITY,
];

/// The `source` of the record documents a laptop sends when it is linked to a server: what
/// it held from before (standalone work, or the predecessor's migration). The server takes
/// such a document for a record it does not know from an administration account only, as
/// it stands: the checks of how it came to be (four eyes, a run's approval) were the
/// laptop's and cannot be replayed.
pub const LINK_SOURCE: &str = "vinculacion";

/// Whether `entity` is one of the payment records.
pub fn is_record(entity: &str) -> bool {
    RECORD_ENTITIES.contains(&entity)
}

/// A payment of one invoice (never edited once recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDoc {
    /// UUID.
    pub id: String,
    /// The invoice it pays.
    pub invoice_id: String,
    /// `AAAA-MM-DD`.
    pub fecha: String,
    /// Pesos, > 0.
    pub monto: i64,
    /// A [`PaymentMethod`].
    pub medio: String,
    /// Bank reference, cheque number.
    pub referencia: Option<String>,
    /// The run it came from.
    pub run_id: Option<String>,
    /// Recorded (UTC).
    pub created_at: String,
    /// By whom (local user).
    pub created_by: String,
}

/// One version of a supplier's bank account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccountDoc {
    /// UUID.
    pub id: String,
    /// The supplier.
    pub rut: String,
    /// Bank code (3 or 4 digits).
    pub banco: String,
    /// An [`AccountType`].
    pub tipo_cuenta: String,
    /// Digits.
    pub numero: String,
    /// Holder's RUT.
    pub titular_rut: String,
    /// Holder's name.
    pub titular_nombre: String,
    /// Notice e-mail.
    pub email: Option<String>,
    /// `pendiente`, `aprobada`, `reemplazada`, `descartada`.
    pub estado: String,
    /// `manual`, `santander_xlsx`.
    pub origen: String,
    /// Entered (UTC).
    pub created_at: String,
    /// By whom (local user).
    pub created_by: String,
    /// Approved or superseded (UTC).
    pub decided_at: Option<String>,
    /// By whom (local user).
    pub decided_by: Option<String>,
}

/// A cesión of a received document (never edited once entered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CesionDoc {
    /// UUID.
    pub id: String,
    /// The document's issuer.
    pub rut_emisor: String,
    /// Its type.
    pub tipo_dte: i64,
    /// Its folio.
    pub folio: i64,
    /// Sequence in the chain, 1–40.
    pub seq: i64,
    /// Who assigned it.
    pub cedente_rut: String,
    /// Their name.
    pub cedente_nombre: Option<String>,
    /// Who holds it.
    pub cesionario_rut: String,
    /// Their name.
    pub cesionario_nombre: String,
    /// Pesos assigned, > 0.
    pub monto_cedido: i64,
    /// When, Chile time.
    pub fecha: String,
    /// The document's last due date as the cesión states it.
    pub ultimo_vencimiento: Option<String>,
    /// The SII's identifier.
    pub identificador: Option<String>,
    /// `manual`, `aec`, `sii_txt`, `certificado`.
    pub source: String,
    /// Entered (UTC).
    pub created_at: String,
    /// By whom.
    pub created_by: String,
}

/// A payment run with its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDoc {
    /// UUID.
    pub id: String,
    /// N° de nómina.
    pub numero: i64,
    /// Cut-off, `AAAA-MM-DD`.
    pub corte: String,
    /// `borrador`, `aprobada`, `enviada`, `pagada`.
    pub estado: String,
    /// Made (UTC).
    pub created_at: String,
    /// By whom.
    pub created_by: String,
    /// Approved (UTC).
    pub approved_at: Option<String>,
    /// By whom.
    pub approved_by: Option<String>,
    /// Sent to the bank (UTC).
    pub sent_at: Option<String>,
    /// By whom.
    pub sent_by: Option<String>,
    /// Marked paid (UTC).
    pub paid_at: Option<String>,
    /// By whom.
    pub paid_by: Option<String>,
    /// SHA-256 of its bank file.
    pub bank_file_sha256: Option<String>,
    /// Its lines, by position.
    pub lineas: Vec<RunLineDoc>,
}

/// A line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLineDoc {
    /// Position.
    pub pos: i64,
    /// The invoice.
    pub invoice_id: String,
    /// `RUT:TIPO:FOLIO`.
    pub documento: String,
    /// Folio.
    pub folio: i64,
    /// Supplier.
    pub proveedor_rut: String,
    /// Supplier's name.
    pub proveedor: String,
    /// Payee.
    pub beneficiario_rut: String,
    /// Payee's name.
    pub beneficiario: String,
    /// Assigned (the payee is a cesionario).
    pub cedida: bool,
    /// The date it is paid for.
    pub vence: String,
    /// Balance when the run was made.
    pub saldo: i64,
    /// What the run pays.
    pub monto: i64,
    /// Paid in this run.
    pub incluida: bool,
    /// Why.
    pub nota: Option<String>,
    /// The payee's approved account, frozen at approval.
    pub account_id: Option<String>,
}

/// A month's CMF rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestRateDoc {
    /// `AAAA-MM` (also the entity id).
    pub month: String,
    /// Annual, basis points.
    pub annual_bp: i64,
    /// Set (UTC).
    pub updated_at: String,
    /// By whom.
    pub updated_by: String,
}

/// The id of a cesión: the same cesión (document and sequence in its chain) entered on two
/// laptops, or read from two sources, is one record.
pub fn cesion_id(key: &NaturalKey, seq: u32) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c1b_43f0_5c1e_4d0a_9a4e_0c3e_5e2a_7d11);
    uuid::Uuid::new_v5(&NAMESPACE, format!("{key}:{seq}").as_bytes()).to_string()
}

/// Whether a pulled record document is one this device can store: the same checks as a
/// push, as if the account were an administrator replacing the document by itself (no role,
/// no transition). A device skips what fails, so one bad document never stalls a pull.
///
/// # Errors
/// What is wrong with it.
pub fn well_formed(entity: &str, entity_id: &str, value: &str) -> Result<(), RecordRefusal> {
    check_record(entity, entity_id, value, Some(value), Role::Admin, "").map(|_| ())
}

/// Why the server refuses a pushed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRefusal {
    /// Not a well-formed record of its entity, or a change no one may make (a payment
    /// rewritten, a frozen run's lines changed): 400.
    Invalid(String),
    /// The account's role may not make it: 403.
    Forbidden(String),
}

/// What the server must check beyond [`check_record`], with its own data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordNeeds {
    /// The obra the record itself belongs to (an obra's budget), which decides who may see
    /// and change it.
    pub obra: Option<String>,
    /// The catalogue line an obra's new budget line copies: the server checks the copy
    /// (family, name, cuentas, centros) against its own `budget_line` document.
    pub catalog_line: Option<String>,
    /// The invoice the record belongs to (a payment's, a cesión's by its natural key): the
    /// record takes its obra, and a payment needs the server to hold it.
    pub invoice: Option<String>,
    /// Whether the invoice must be on the server (a payment; a cesión may come first).
    pub invoice_required: bool,
    /// The pushing account must not be the one that entered the current version (approval
    /// of a bank account under four eyes).
    pub not_the_author: bool,
    /// Bank accounts a run's lines name, which must be approved accounts of each line's
    /// payee on the server, and the payee the invoice's issuer or its last cesionario:
    /// `(account id, payee RUT, invoice id)`.
    pub accounts: Vec<(String, String, String)>,
    /// A run's number, which no other run on the server may have.
    pub run_number: Option<i64>,
    /// An approved account is retired only when another account of this supplier (RUT)
    /// is approved on the server: its replacement.
    pub replaced_for: Option<String>,
}

pub(crate) fn invalid(m: impl Into<String>) -> RecordRefusal {
    RecordRefusal::Invalid(m.into())
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    value: &str,
) -> Result<T, RecordRefusal> {
    serde_json::from_str(value).map_err(|e| invalid(format!("{what} mal formado: {e}")))
}

pub(crate) fn require(role: Role, user: &str, p: Permission) -> Result<(), RecordRefusal> {
    if role.may(p) {
        Ok(())
    } else {
        Err(RecordRefusal::Forbidden(format!(
            "el rol {} de «{user}» no puede {}",
            role.label(),
            p.label()
        )))
    }
}

pub(crate) fn same_id(entity_id: &str, id: &str, what: &str) -> Result<(), RecordRefusal> {
    if entity_id == id {
        Ok(())
    } else {
        Err(invalid(format!("{what} {id} llegó como {entity_id}")))
    }
}

fn date_ok(what: &str, s: &str) -> Result<(), RecordRefusal> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|_| ())
        .map_err(|_| invalid(format!("{what} «{s}» no es una fecha AAAA-MM-DD")))
}

/// A RUT written as every laptop stores it (`12345678-9`), so it joins the invoices.
fn rut_ok(what: &str, s: &str) -> Result<(), RecordRefusal> {
    let r = s
        .parse::<Rut>()
        .map_err(|e| invalid(format!("{what}: {e}")))?;
    if r.to_string() == s {
        Ok(())
    } else {
        Err(invalid(format!("{what} «{s}» no está escrito como {r}")))
    }
}

fn text_ok(what: &str, s: &str) -> Result<(), RecordRefusal> {
    if s.chars().count() > 4_000 || s.chars().any(|c| c.is_control() && c != '\n') {
        Err(invalid(format!(
            "{what} trae caracteres de control o más de 4.000 caracteres"
        )))
    } else {
        Ok(())
    }
}

/// Checks a record document a device pushes, against the server's current document of the
/// same entity (`current`, when the server holds one and the pushed one would replace it:
/// a document older than the current one replaces nothing and is checked only as a
/// document). Returns what the server must still check with its own data.
///
/// # Errors
/// Why the server refuses it.
pub fn check_record(
    entity: &str,
    entity_id: &str,
    value: &str,
    current: Option<&str>,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    match entity {
        PAYMENT_ENTITY => check_payment(entity_id, value, current, role, user),
        BANK_ACCOUNT_ENTITY => check_account(entity_id, value, current, role, user),
        RUN_ENTITY => check_run(entity_id, value, current, role, user),
        CESION_ENTITY => check_cesion(entity_id, value, current, role, user),
        INTEREST_RATE_ENTITY => check_rate(entity_id, value, role, user),
        e if crate::presupuesto::PLAN_ENTITIES.contains(&e) => {
            crate::presupuesto::check_plan(e, entity_id, value, current, role, user)
        }
        other => Err(invalid(format!(
            "no se sincronizan documentos de «{other}»"
        ))),
    }
}

fn check_payment(
    entity_id: &str,
    value: &str,
    current: Option<&str>,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    let p: PaymentDoc = parse("el pago", value)?;
    same_id(entity_id, &p.id, "el pago")?;
    require(role, user, Permission::Pay)?;
    if p.monto <= 0 {
        return Err(invalid(format!(
            "el pago {} es de {} pesos; un pago es mayor que cero",
            p.id, p.monto
        )));
    }
    date_ok("la fecha del pago", &p.fecha)?;
    // exactly the stored name: every laptop's table accepts only those
    let medio = p
        .medio
        .parse::<PaymentMethod>()
        .map_err(|e| invalid(e.to_string()))?;
    if medio.as_str() != p.medio {
        return Err(invalid(format!(
            "el medio de pago «{}» no está escrito como «{}»",
            p.medio,
            medio.as_str()
        )));
    }
    text_ok(
        "la referencia del pago",
        p.referencia.as_deref().unwrap_or(""),
    )?;
    if p.invoice_id.parse::<crate::InvoiceId>().is_err() {
        return Err(invalid(format!(
            "el pago {} no nombra una factura ({})",
            p.id, p.invoice_id
        )));
    }
    if let Some(cur) = current {
        let cur: PaymentDoc = parse("el pago del servidor", cur)?;
        if cur != p {
            return Err(invalid(format!(
                "el pago {} ya está registrado con otros datos; un pago no se modifica",
                p.id
            )));
        }
    }
    Ok(RecordNeeds {
        invoice: Some(p.invoice_id),
        invoice_required: true,
        ..RecordNeeds::default()
    })
}

fn check_account(
    entity_id: &str,
    value: &str,
    current: Option<&str>,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    let a: BankAccountDoc = parse("la cuenta bancaria", value)?;
    same_id(entity_id, &a.id, "la cuenta")?;
    rut_ok("el RUT del proveedor", &a.rut)?;
    rut_ok("el RUT del titular", &a.titular_rut)?;
    let code_ok = (3..=4).contains(&a.banco.len()) && a.banco.bytes().all(|b| b.is_ascii_digit());
    if !code_ok {
        return Err(invalid(format!(
            "«{}» no es un código de banco (3 o 4 dígitos)",
            a.banco
        )));
    }
    let tipo = a
        .tipo_cuenta
        .parse::<AccountType>()
        .map_err(|e| invalid(e.to_string()))?;
    if tipo.as_str() != a.tipo_cuenta {
        return Err(invalid(format!(
            "el tipo de cuenta «{}» no está escrito como «{}»",
            a.tipo_cuenta,
            tipo.as_str()
        )));
    }
    if a.numero.is_empty() || a.numero.len() > 30 || !a.numero.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "«{}» no es un número de cuenta (solo dígitos)",
            a.numero
        )));
    }
    // a new Cuenta RUT is its holder's RUT body (older ones are still decided as they are)
    if tipo == AccountType::Rut && current.is_none() {
        let titular: crate::Rut = a
            .titular_rut
            .parse()
            .map_err(|e: crate::CoreError| invalid(e.to_string()))?;
        let body = crate::pagos::cuenta_rut_number(&a.numero, &titular)
            .map_err(|e| invalid(e.to_string()))?;
        if body != a.numero {
            return Err(invalid(format!(
                "la Cuenta RUT {} se guarda como el RUT del titular sin dígito verificador ({body})",
                a.numero
            )));
        }
    }
    if !["pendiente", "aprobada", "reemplazada", "descartada"].contains(&a.estado.as_str()) {
        return Err(invalid(format!("«{}» no es un estado de cuenta", a.estado)));
    }
    text_ok("el titular", &a.titular_nombre)?;
    text_ok("el correo", a.email.as_deref().unwrap_or(""))?;
    let Some(cur) = current else {
        // a new account is entered pending; nobody pushes one already approved
        if a.estado != "pendiente" {
            return Err(invalid(format!(
                "una cuenta nueva entra pendiente de aprobación, no «{}»",
                a.estado
            )));
        }
        require(role, user, Permission::EnterBankAccounts)?;
        return Ok(RecordNeeds::default());
    };
    let c: BankAccountDoc = parse("la cuenta del servidor", cur)?;
    let same_data = BankAccountDoc {
        estado: c.estado.clone(),
        decided_at: c.decided_at.clone(),
        decided_by: c.decided_by.clone(),
        ..a.clone()
    } == c;
    if !same_data {
        return Err(invalid(format!(
            "los datos de la cuenta {} no se modifican; un cambio es una cuenta nueva, que se aprueba de nuevo",
            a.id
        )));
    }
    match (c.estado.as_str(), a.estado.as_str()) {
        // the same state again: only the same decision (who and when stay as recorded),
        // and only from an account that handles bank accounts (else anybody could stamp
        // a newer clock on it, and a real change made before that clock would be lost)
        (from, to) if from == to => {
            if !role.may(Permission::ApproveBankAccounts) {
                require(role, user, Permission::EnterBankAccounts)?;
            }
            if (&c.decided_at, &c.decided_by) == (&a.decided_at, &a.decided_by) {
                Ok(RecordNeeds::default())
            } else {
                Err(invalid(format!(
                    "quién y cuándo decidió sobre la cuenta {} no se modifica",
                    a.id
                )))
            }
        }
        ("pendiente", "aprobada") => {
            require(role, user, Permission::ApproveBankAccounts)?;
            Ok(RecordNeeds {
                not_the_author: true,
                ..RecordNeeds::default()
            })
        }
        ("pendiente", "descartada") => {
            require(role, user, Permission::EnterBankAccounts)?;
            Ok(RecordNeeds::default())
        }
        ("aprobada", "reemplazada") => {
            require(role, user, Permission::ApproveBankAccounts)?;
            Ok(RecordNeeds {
                replaced_for: Some(a.rut.clone()),
                ..RecordNeeds::default()
            })
        }
        (from, to) => Err(invalid(format!(
            "la cuenta {} está «{from}» en el servidor y no puede pasar a «{to}»",
            a.id
        ))),
    }
}

const RUN_STATES: [&str; 4] = ["borrador", "aprobada", "enviada", "pagada"];

fn check_run(
    entity_id: &str,
    value: &str,
    current: Option<&str>,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    let r: RunDoc = parse("la nómina", value)?;
    same_id(entity_id, &r.id, "la nómina")?;
    if !RUN_STATES.contains(&r.estado.as_str()) {
        return Err(invalid(format!("«{}» no es un estado de nómina", r.estado)));
    }
    if r.numero <= 0 {
        return Err(invalid(format!("{} no es un número de nómina", r.numero)));
    }
    date_ok("el corte de la nómina", &r.corte)?;
    let mut positions: Vec<i64> = r.lineas.iter().map(|l| l.pos).collect();
    positions.sort_unstable();
    if positions.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid(format!(
            "la nómina N° {} repite posiciones de línea",
            r.numero
        )));
    }
    for l in &r.lineas {
        rut_ok("el RUT del beneficiario", &l.beneficiario_rut)?;
        if l.monto < 0 || l.monto > l.saldo.max(0) {
            return Err(invalid(format!(
                "la línea {} de la nómina N° {} paga {} de un saldo de {}",
                l.documento, r.numero, l.monto, l.saldo
            )));
        }
        text_ok("la nota de la línea", l.nota.as_deref().unwrap_or(""))?;
    }
    let mut needs = RecordNeeds {
        run_number: Some(r.numero),
        ..RecordNeeds::default()
    };
    let Some(cur) = current else {
        if r.estado != "borrador" {
            return Err(invalid(format!(
                "una nómina nueva entra como borrador, no «{}»",
                r.estado
            )));
        }
        if r.lineas.iter().any(|l| l.account_id.is_some()) {
            return Err(invalid("un borrador no lleva cuentas congeladas"));
        }
        require(role, user, Permission::PrepareRuns)?;
        return Ok(needs);
    };
    let c: RunDoc = parse("la nómina del servidor", cur)?;
    if (c.numero, &c.corte, &c.created_at, &c.created_by)
        != (r.numero, &r.corte, &r.created_at, &r.created_by)
    {
        return Err(invalid(format!(
            "el número, el corte y el autor de la nómina N° {} no se modifican",
            c.numero
        )));
    }
    // at approval each line's account is frozen; nothing else of a line changes after
    let unfrozen = |ls: &[RunLineDoc]| -> Vec<RunLineDoc> {
        ls.iter()
            .map(|l| RunLineDoc {
                account_id: None,
                ..l.clone()
            })
            .collect()
    };
    let lines_kept = unfrozen(&c.lineas) == unfrozen(&r.lineas);
    // After approval a line changes in two ways only: the payee's account is frozen on a
    // line that had none (when the bank file is made), and, while the run is approved and
    // not sent, a line no longer owed as approved is taken out (the laptop checks that it
    // is no longer owed; taking a line out never pays more).
    let late_change = |a: &RunLineDoc, b: &RunLineDoc| {
        RunLineDoc {
            incluida: a.incluida,
            account_id: a.account_id.clone(),
            ..b.clone()
        } == *a
            && (b.account_id == a.account_id || a.account_id.is_none())
            && (b.incluida == a.incluida || !b.incluida)
    };
    let accounts_kept = c.lineas.len() == r.lineas.len()
        && c.lineas
            .iter()
            .zip(&r.lineas)
            .all(|(a, b)| late_change(a, b));
    let takes_out = c
        .lineas
        .iter()
        .zip(&r.lineas)
        .any(|(a, b)| a.incluida && !b.incluida);
    let changed_since = |what: &str| {
        invalid(format!(
            "la nómina N° {} cambió en el servidor desde que se {what}; sincronice y revísela de nuevo",
            c.numero
        ))
    };
    match (c.estado.as_str(), r.estado.as_str()) {
        ("borrador", "borrador") => {
            require(role, user, Permission::PrepareRuns)?;
            if r.lineas.iter().any(|l| l.account_id.is_some()) {
                return Err(invalid("un borrador no lleva cuentas congeladas"));
            }
        }
        ("borrador", "aprobada") => {
            require(role, user, Permission::ApproveRuns)?;
            if !lines_kept {
                return Err(changed_since("aprobó"));
            }
            needs.accounts = r
                .lineas
                .iter()
                .filter_map(|l| {
                    l.account_id
                        .clone()
                        .map(|a| (a, l.beneficiario_rut.clone(), l.invoice_id.clone()))
                })
                .collect();
        }
        (from, to) if from != "borrador" => {
            let order = |s: &str| RUN_STATES.iter().position(|x| *x == s).unwrap_or(0);
            if order(to) < order(from) {
                return Err(invalid(format!(
                    "la nómina N° {} está «{from}» en el servidor y no vuelve a «{to}»",
                    c.numero
                )));
            }
            if !accounts_kept {
                return Err(invalid(format!(
                    "la nómina N° {} está aprobada: sus líneas no cambian (haga una nómina nueva)",
                    c.numero
                )));
            }
            if (&c.approved_at, &c.approved_by) != (&r.approved_at, &r.approved_by) {
                return Err(invalid(format!(
                    "la aprobación de la nómina N° {} no se modifica",
                    c.numero
                )));
            }
            if takes_out {
                if (from, to) != ("aprobada", "aprobada") {
                    return Err(invalid(format!(
                        "la nómina N° {} ya está «{from}»: no se le quitan líneas",
                        c.numero
                    )));
                }
                require(role, user, Permission::PrepareRuns)?;
            } else {
                require(role, user, Permission::Pay)?;
            }
            // an account frozen after approval is checked as at approval
            needs.accounts = c
                .lineas
                .iter()
                .zip(&r.lineas)
                .filter(|(a, b)| a.account_id.is_none() && b.incluida)
                .filter_map(|(_, b)| {
                    b.account_id
                        .clone()
                        .map(|acc| (acc, b.beneficiario_rut.clone(), b.invoice_id.clone()))
                })
                .collect();
        }
        (from, to) => {
            return Err(invalid(format!(
                "la nómina N° {} está «{from}» en el servidor y no puede pasar a «{to}»",
                c.numero
            )));
        }
    }
    Ok(needs)
}

/// Document types that can be assigned (factoring): 33, 34, 43, 46.
pub fn assignable(tipo: DteType) -> bool {
    matches!(tipo.code(), 33 | 34 | 43 | 46)
}

fn check_cesion(
    entity_id: &str,
    value: &str,
    current: Option<&str>,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    let c: CesionDoc = parse("la cesión", value)?;
    same_id(entity_id, &c.id, "la cesión")?;
    require(role, user, Permission::PrepareRuns)?;
    let key: NaturalKey = format!("{}:{}:{}", c.rut_emisor, c.tipo_dte, c.folio)
        .parse()
        .map_err(|e: crate::CoreError| invalid(format!("el documento cedido: {e}")))?;
    if entity_id != cesion_id(&key, u32::try_from(c.seq).unwrap_or(0)) {
        return Err(invalid(format!(
            "la cesión {entity_id} no lleva el id de su documento y secuencia"
        )));
    }
    rut_ok("el RUT del emisor", &c.rut_emisor)?;
    if !assignable(key.tipo_dte) {
        return Err(invalid(format!("el tipo {} no se puede ceder", c.tipo_dte)));
    }
    if !(1..=40).contains(&c.seq) || c.monto_cedido <= 0 {
        return Err(invalid(format!(
            "la cesión {} trae secuencia {} y monto {}",
            c.id, c.seq, c.monto_cedido
        )));
    }
    rut_ok("el RUT del cedente", &c.cedente_rut)?;
    rut_ok("el RUT del cesionario", &c.cesionario_rut)?;
    text_ok("el cesionario", &c.cesionario_nombre)?;
    if let Some(cur) = current {
        let cur: CesionDoc = parse("la cesión del servidor", cur)?;
        if cur != c {
            return Err(invalid(format!(
                "la cesión {} ya está registrada con otros datos; una cesión no se modifica",
                c.id
            )));
        }
    }
    Ok(RecordNeeds {
        invoice: Some(key.id().to_string()),
        ..RecordNeeds::default()
    })
}

fn check_rate(
    entity_id: &str,
    value: &str,
    role: Role,
    user: &str,
) -> Result<RecordNeeds, RecordRefusal> {
    let r: InterestRateDoc = parse("la tasa", value)?;
    same_id(entity_id, &r.month, "la tasa del mes")?;
    require(role, user, Permission::PaymentSettings)?;
    let month_ok = chrono::NaiveDate::parse_from_str(&format!("{}-01", r.month), "%Y-%m-%d")
        .is_ok()
        && r.month.len() == 7;
    if !month_ok {
        return Err(invalid(format!("«{}» no es un mes AAAA-MM", r.month)));
    }
    if !(0..=i64::from(MAX_ANNUAL_BP)).contains(&r.annual_bp) {
        return Err(invalid(format!(
            "la tasa {} (centésimas de punto) está fuera de rango",
            r.annual_bp
        )));
    }
    Ok(RecordNeeds::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(estado: &str) -> BankAccountDoc {
        BankAccountDoc {
            id: "a1".into(),
            rut: "76086428-5".into(),
            banco: "037".into(),
            tipo_cuenta: "corriente".into(),
            numero: "123456".into(),
            titular_rut: "76086428-5".into(),
            titular_nombre: "Ferretería".into(),
            email: None,
            estado: estado.into(),
            origen: "manual".into(),
            created_at: "2026-12-01T10:00:00Z".into(),
            created_by: "ana".into(),
            decided_at: None,
            decided_by: None,
        }
    }

    fn json<T: Serialize>(t: &T) -> String {
        serde_json::to_string(t).unwrap()
    }

    fn check(
        e: &str,
        id: &str,
        v: &str,
        cur: Option<&str>,
        role: Role,
    ) -> Result<RecordNeeds, RecordRefusal> {
        check_record(e, id, v, cur, role, "u")
    }

    #[test]
    fn a_new_account_enters_pending_and_only_a_second_approver_approves_it() {
        let new = json(&account("pendiente"));
        assert!(check(BANK_ACCOUNT_ENTITY, "a1", &new, None, Role::Contabilidad).is_ok());
        assert!(matches!(
            check(BANK_ACCOUNT_ENTITY, "a1", &new, None, Role::Gerente),
            Err(RecordRefusal::Forbidden(_))
        ));
        let approved = json(&account("aprobada"));
        assert!(matches!(
            check(BANK_ACCOUNT_ENTITY, "a1", &approved, None, Role::Admin),
            Err(RecordRefusal::Invalid(_))
        ));
        let needs = check(
            BANK_ACCOUNT_ENTITY,
            "a1",
            &approved,
            Some(&new),
            Role::Admin,
        )
        .unwrap();
        assert!(needs.not_the_author);
        assert!(matches!(
            check(
                BANK_ACCOUNT_ENTITY,
                "a1",
                &approved,
                Some(&new),
                Role::Contabilidad
            ),
            Err(RecordRefusal::Forbidden(_))
        ));
        // the number cannot change under an approval
        let mut swapped = account("aprobada");
        swapped.numero = "999999".into();
        assert!(matches!(
            check(
                BANK_ACCOUNT_ENTITY,
                "a1",
                &json(&swapped),
                Some(&new),
                Role::Admin
            ),
            Err(RecordRefusal::Invalid(_))
        ));
        // a kind or a RUT written another way than the laptops store it
        let mut cc = account("pendiente");
        cc.tipo_cuenta = "cc".into();
        assert!(check(BANK_ACCOUNT_ENTITY, "a1", &json(&cc), None, Role::Admin).is_err());
        let mut dotted = account("pendiente");
        dotted.rut = "76.086.428-5".into();
        assert!(check(BANK_ACCOUNT_ENTITY, "a1", &json(&dotted), None, Role::Admin).is_err());
        // a new Cuenta RUT is its holder's RUT body, not the body with the check digit
        let mut rut_account = account("pendiente");
        rut_account.tipo_cuenta = "rut".into();
        rut_account.numero = "76086428".into();
        assert!(
            check(
                BANK_ACCOUNT_ENTITY,
                "a1",
                &json(&rut_account),
                None,
                Role::Admin
            )
            .is_ok()
        );
        rut_account.numero = "760864285".into();
        assert!(matches!(
            check(BANK_ACCOUNT_ENTITY, "a1", &json(&rut_account), None, Role::Admin),
            Err(RecordRefusal::Invalid(m)) if m.contains("(76086428)")
        ));
        // nor is the decision rewritten afterwards
        let mut other = account("aprobada");
        other.decided_by = Some("otro".into());
        assert!(
            check(
                BANK_ACCOUNT_ENTITY,
                "a1",
                &json(&other),
                Some(&approved),
                Role::Admin
            )
            .is_err()
        );
        // an approved account does not go back to pending
        assert!(
            check(
                BANK_ACCOUNT_ENTITY,
                "a1",
                &new,
                Some(&approved),
                Role::Admin
            )
            .is_err()
        );
    }

    fn run(estado: &str, monto: i64, account: Option<&str>) -> RunDoc {
        RunDoc {
            id: "r1".into(),
            numero: 1,
            corte: "2026-12-04".into(),
            estado: estado.into(),
            created_at: "2026-12-01T10:00:00Z".into(),
            created_by: "ana".into(),
            approved_at: None,
            approved_by: None,
            sent_at: None,
            sent_by: None,
            paid_at: None,
            paid_by: None,
            bank_file_sha256: None,
            lineas: vec![RunLineDoc {
                pos: 1,
                invoice_id: "x".into(),
                documento: "76086428-5:33:1".into(),
                folio: 1,
                proveedor_rut: "76086428-5".into(),
                proveedor: "F".into(),
                beneficiario_rut: "76086428-5".into(),
                beneficiario: "F".into(),
                cedida: false,
                vence: "2026-12-01".into(),
                saldo: 1_000,
                monto,
                incluida: true,
                nota: None,
                account_id: account.map(str::to_owned),
            }],
        }
    }

    #[test]
    fn a_run_is_prepared_approved_by_the_gerente_and_frozen_after() {
        let draft = json(&run("borrador", 1_000, None));
        assert!(check(RUN_ENTITY, "r1", &draft, None, Role::Contabilidad).is_ok());
        assert!(check(RUN_ENTITY, "r1", &draft, None, Role::Gerente).is_err());
        let partial = json(&run("borrador", 400, None));
        assert!(check(RUN_ENTITY, "r1", &partial, Some(&draft), Role::Contabilidad).is_ok());
        let approved = json(&run("aprobada", 1_000, Some("a1")));
        let needs = check(RUN_ENTITY, "r1", &approved, Some(&draft), Role::Gerente).unwrap();
        assert_eq!(
            needs.accounts,
            vec![("a1".into(), "76086428-5".into(), "x".into())]
        );
        assert!(matches!(
            check(
                RUN_ENTITY,
                "r1",
                &approved,
                Some(&draft),
                Role::Contabilidad
            ),
            Err(RecordRefusal::Forbidden(_))
        ));
        // approved over lines it did not see
        assert!(check(RUN_ENTITY, "r1", &approved, Some(&partial), Role::Gerente).is_err());
        // after approval the amounts are frozen, and the state only goes forward
        let rewritten = json(&run("pagada", 900, Some("a1")));
        assert!(check(RUN_ENTITY, "r1", &rewritten, Some(&approved), Role::Admin).is_err());
        let paid = json(&run("pagada", 1_000, Some("a1")));
        assert!(check(RUN_ENTITY, "r1", &paid, Some(&approved), Role::Contabilidad).is_ok());
        assert!(check(RUN_ENTITY, "r1", &approved, Some(&paid), Role::Admin).is_err());
        // a line above its balance is never a run line
        let over = json(&run("borrador", 1_001, None));
        assert!(check(RUN_ENTITY, "r1", &over, None, Role::Admin).is_err());
        // a new run is a draft, without frozen accounts, with each position once
        assert!(check(RUN_ENTITY, "r1", &approved, None, Role::Admin).is_err());
        let mut frozen_draft = run("borrador", 1_000, Some("a1"));
        assert!(check(RUN_ENTITY, "r1", &json(&frozen_draft), None, Role::Admin).is_err());
        frozen_draft.lineas[0].account_id = None;
        frozen_draft.lineas.push(frozen_draft.lineas[0].clone());
        assert!(check(RUN_ENTITY, "r1", &json(&frozen_draft), None, Role::Admin).is_err());
    }

    #[test]
    fn a_payment_is_never_rewritten_and_needs_the_pay_permission() {
        let p = PaymentDoc {
            id: "p1".into(),
            invoice_id: uuid::Uuid::nil().to_string(),
            fecha: "2026-12-01".into(),
            monto: 500,
            medio: "transferencia".into(),
            referencia: None,
            run_id: None,
            created_at: "2026-12-01T10:00:00Z".into(),
            created_by: "ana".into(),
        };
        let v = json(&p);
        let needs = check(PAYMENT_ENTITY, "p1", &v, None, Role::Contabilidad).unwrap();
        assert!(needs.invoice_required);
        assert!(check(PAYMENT_ENTITY, "p1", &v, None, Role::AdminObra).is_err());
        assert!(check(PAYMENT_ENTITY, "p1", &v, Some(&v), Role::Gerente).is_ok());
        let more = json(&PaymentDoc {
            monto: 5_000,
            ..p.clone()
        });
        assert!(check(PAYMENT_ENTITY, "p1", &more, Some(&v), Role::Admin).is_err());
        // only the names every laptop's table accepts
        let cased = json(&PaymentDoc {
            medio: "Cheque".into(),
            ..p.clone()
        });
        assert!(check(PAYMENT_ENTITY, "p1", &cased, None, Role::Admin).is_err());
        let zero = json(&PaymentDoc { monto: 0, ..p });
        assert!(check(PAYMENT_ENTITY, "p1", &zero, None, Role::Admin).is_err());
        assert!(check(PAYMENT_ENTITY, "p2", &v, None, Role::Admin).is_err());
        assert!(check(PAYMENT_ENTITY, "p1", "{\"id\":1}", None, Role::Admin).is_err());
        assert!(check("obra", "p1", &v, None, Role::Admin).is_err());
    }

    #[test]
    fn rates_are_it_settings_within_range() {
        let r = |bp: i64, m: &str| {
            json(&InterestRateDoc {
                month: m.into(),
                annual_bp: bp,
                updated_at: String::new(),
                updated_by: "it".into(),
            })
        };
        assert!(
            check(
                INTEREST_RATE_ENTITY,
                "2026-11",
                &r(2_432, "2026-11"),
                None,
                Role::Admin
            )
            .is_ok()
        );
        assert!(
            check(
                INTEREST_RATE_ENTITY,
                "2026-11",
                &r(2_432, "2026-11"),
                None,
                Role::Contabilidad
            )
            .is_err()
        );
        assert!(
            check(
                INTEREST_RATE_ENTITY,
                "2026-13",
                &r(2_432, "2026-13"),
                None,
                Role::Admin
            )
            .is_err()
        );
        assert!(
            check(
                INTEREST_RATE_ENTITY,
                "2026-11",
                &r(10_001, "2026-11"),
                None,
                Role::Admin
            )
            .is_err()
        );
    }
}

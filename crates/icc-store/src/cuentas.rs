//! The supplier bank-account master under four eyes (migration 0008, `docs/pagos.md`).
//!
//! Every version of an account is a row that is never edited: entering an account makes a
//! `pendiente` row (superseding an earlier pending one, `descartada`); a second user approves
//! it, which makes the supplier's previous approved account `reemplazada`. Only approved
//! accounts are payable. The rule that nobody approves what they entered is checked here,
//! inside the approving transaction.

use icc_core::Rut;
use icc_core::pagos::{AccountType, account_number};
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::{Store, WriteTx};

/// One version of a supplier's bank account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SupplierAccount {
    /// Id (UUID).
    pub id: String,
    /// The supplier's RUT.
    pub rut: String,
    /// The supplier's name, when it has documents here.
    pub proveedor: Option<String>,
    /// Bank code (SBIF).
    pub banco: String,
    /// Bank name.
    pub banco_nombre: String,
    /// `corriente`, `vista`, `ahorro`, `rut`.
    pub tipo_cuenta: String,
    /// Digits only.
    pub numero: String,
    /// Account holder's RUT.
    pub titular_rut: String,
    /// Account holder's name.
    pub titular_nombre: String,
    /// Where the bank sends the transfer notice.
    pub email: Option<String>,
    /// `pendiente`, `aprobada`, `reemplazada`, `descartada`.
    pub estado: String,
    /// `manual` or `santander_xlsx`.
    pub origen: String,
    /// Entered (UTC) and by whom.
    pub created_at: String,
    /// Who entered it.
    pub created_by: String,
    /// When approved or superseded (UTC).
    pub decided_at: Option<String>,
    /// Who approved or superseded it.
    pub decided_by: Option<String>,
    /// The same bank and number is an active (pending or approved) account of another
    /// supplier: a sign of fraud or of a typing error, shown to whoever approves.
    pub duplicada: bool,
}

/// An account to enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The supplier.
    pub rut: Rut,
    /// Bank code.
    pub banco: String,
    /// Kind.
    pub tipo: AccountType,
    /// Number as typed (normalized to digits).
    pub numero: String,
    /// Holder's RUT.
    pub titular_rut: Rut,
    /// Holder's name.
    pub titular_nombre: String,
    /// Notice e-mail.
    pub email: Option<String>,
}

/// A destination bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Bank {
    /// SBIF code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Whether it is offered for new accounts.
    pub active: bool,
}

const ACCOUNT_SELECT: &str = "\
SELECT a.id, a.rut, s.razon_social AS proveedor, a.banco, b.name AS banco_nombre, a.tipo_cuenta, a.numero, \
       a.titular_rut, a.titular_nombre, a.email, a.estado, a.origen, a.created_at, a.created_by, \
       a.decided_at, a.decided_by, \
       EXISTS (SELECT 1 FROM supplier_accounts o WHERE o.banco = a.banco AND o.numero = a.numero \
               AND o.rut <> a.rut AND o.estado IN ('pendiente', 'aprobada')) AS duplicada \
FROM supplier_accounts a JOIN banks b ON b.code = a.banco LEFT JOIN suppliers s ON s.rut = a.rut";

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces), or `None` for blank.
///
/// # Errors
/// [`StoreError::Core`] naming the value.
pub fn clean_email(raw: Option<&str>) -> Result<Option<String>> {
    let Some(t) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let ok = t.len() <= 254
        && !t.contains(char::is_whitespace)
        && t.split_once('@').is_some_and(|(u, d)| {
            !u.is_empty()
                && d.contains('.')
                && !d.contains('@')
                && !d.starts_with('.')
                && !d.ends_with('.')
        });
    if !ok {
        return Err(icc_core::CoreError::invalid(
            "correo",
            t,
            "no es una dirección de correo; por ejemplo pagos@proveedor.cl",
        )
        .into());
    }
    Ok(Some(t.to_owned()))
}

impl Store {
    /// Accounts, newest first: of one supplier (every version) or all; optionally only
    /// those in `estado`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn bank_accounts(
        &self,
        rut: Option<&Rut>,
        estado: Option<&str>,
    ) -> Result<Vec<SupplierAccount>> {
        let sql = format!(
            "{ACCOUNT_SELECT} WHERE (?1 IS NULL OR a.rut = ?1) AND (?2 IS NULL OR a.estado = ?2) \
             ORDER BY a.created_at DESC, a.id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(rut.map(ToString::to_string))
            .bind(estado)
            .fetch_all(self.pool())
            .await?)
    }

    /// The supplier's approved account: the only one a payment may go to.
    ///
    /// # Errors
    /// Database errors.
    pub async fn payable_account(&self, rut: &Rut) -> Result<Option<SupplierAccount>> {
        let sql = format!("{ACCOUNT_SELECT} WHERE a.rut = ? AND a.estado = 'aprobada'");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(rut.to_string())
            .fetch_optional(self.pool())
            .await?)
    }

    /// The bank table, by code.
    ///
    /// # Errors
    /// Database errors.
    pub async fn banks(&self) -> Result<Vec<Bank>> {
        Ok(
            sqlx::query_as("SELECT code, name, active FROM banks ORDER BY code")
                .fetch_all(self.pool())
                .await?,
        )
    }
}

impl WriteTx {
    pub(crate) async fn account(&mut self, id: &str) -> Result<SupplierAccount> {
        let sql = format!("{ACCOUNT_SELECT} WHERE a.id = ?");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *self.conn())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "cuenta bancaria",
                key: id.to_owned(),
            })
    }

    /// Enters a supplier's account as `pendiente` (a previous pending entry of the same
    /// supplier becomes `descartada`); audited. `origen` is `manual` or `santander_xlsx`.
    ///
    /// # Errors
    /// Unknown bank, malformed number or e-mail, a blank holder name; database errors.
    pub async fn add_bank_account(
        &mut self,
        a: &NewAccount,
        origen: &'static str,
    ) -> Result<SupplierAccount> {
        let numero = match a.tipo {
            AccountType::Rut => icc_core::pagos::cuenta_rut_number(&a.numero, &a.titular_rut)?,
            _ => account_number(&a.numero)?,
        };
        let email = clean_email(a.email.as_deref())?;
        let titular = a.titular_nombre.trim();
        if titular.is_empty() {
            return Err(icc_core::CoreError::invalid(
                "titular",
                "",
                "indique el nombre del titular de la cuenta",
            )
            .into());
        }
        let banco = a.banco.trim();
        let known: Option<bool> = sqlx::query_scalar("SELECT active FROM banks WHERE code = ?")
            .bind(banco)
            .fetch_optional(&mut *self.conn())
            .await?;
        if known != Some(true) {
            return Err(StoreError::NotFound {
                what: "banco",
                key: banco.to_owned(),
            });
        }
        let rut = a.rut.to_string();
        let superseded: Vec<String> = sqlx::query_scalar(
            "UPDATE supplier_accounts SET estado = 'descartada', decided_at = ?, decided_by = ? \
             WHERE rut = ? AND estado = 'pendiente' RETURNING id",
        )
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .bind(&rut)
        .fetch_all(&mut *self.conn())
        .await?;
        for old in superseded {
            self.audit(
                "bank_account",
                old,
                "update",
                Some("estado"),
                Some("pendiente".into()),
                Some("descartada".into()),
            );
        }
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO supplier_accounts (id, rut, banco, tipo_cuenta, numero, titular_rut, titular_nombre, email, \
             estado, origen, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pendiente', ?, ?, ?)",
        )
        .bind(&id)
        .bind(&rut)
        .bind(banco)
        .bind(a.tipo.as_str())
        .bind(&numero)
        .bind(a.titular_rut.to_string())
        .bind(titular)
        .bind(&email)
        .bind(origen)
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .execute(&mut *self.conn())
        .await?;
        self.audit(
            "bank_account",
            id.clone(),
            "create",
            None,
            None,
            Some(format!(
                "proveedor {rut}: banco {banco}, cuenta {} {numero}, titular {} {titular}",
                a.tipo.as_str(),
                a.titular_rut
            )),
        );
        self.account(&id).await
    }

    /// Approves a pending account: it becomes the supplier's payable account and the
    /// previous approved one `reemplazada` (kept in the history); audited. Never by the user
    /// who entered it.
    ///
    /// # Errors
    /// [`StoreError::Refused`] for the user who entered it or an account not pending;
    /// unknown account; database errors.
    pub async fn approve_bank_account(&mut self, id: &str) -> Result<SupplierAccount> {
        let a = self.account(id).await?;
        if a.estado != "pendiente" {
            return Err(StoreError::Refused(format!(
                "la cuenta {} del proveedor {} está {}, no pendiente: solo se aprueban cuentas pendientes",
                a.numero, a.rut, a.estado
            )));
        }
        if a.created_by == self.actor() {
            return Err(StoreError::Refused(format!(
                "«{}» ingresó esta cuenta y no puede aprobarla: debe aprobarla otra persona con permiso",
                self.actor()
            )));
        }
        let replaced: Vec<String> = sqlx::query_scalar(
            "UPDATE supplier_accounts SET estado = 'reemplazada', decided_at = ?, decided_by = ? \
             WHERE rut = ? AND estado = 'aprobada' RETURNING id",
        )
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .bind(&a.rut)
        .fetch_all(&mut *self.conn())
        .await?;
        sqlx::query(
            "UPDATE supplier_accounts SET estado = 'aprobada', decided_at = ?, decided_by = ? WHERE id = ?",
        )
        .bind(self.now().to_owned())
        .bind(self.actor().to_owned())
        .bind(id)
        .execute(&mut *self.conn())
        .await?;
        // the approval first, then what it replaces: that is the order the server hears
        // them in (sync queues records in audit order), and it retires an account only
        // once its replacement is approved there
        self.audit(
            "bank_account",
            id.to_owned(),
            "update",
            Some("estado"),
            Some("pendiente".into()),
            Some("aprobada".into()),
        );
        for old in replaced {
            self.audit(
                "bank_account",
                old,
                "update",
                Some("estado"),
                Some("aprobada".into()),
                Some("reemplazada".into()),
            );
        }
        self.account(id).await
    }
}

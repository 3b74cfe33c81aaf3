//! Suppliers' bank accounts under four eyes: entering one (`EnterBankAccounts`), approving
//! one someone else entered (`ApproveBankAccounts`, checked again in the store's
//! transaction), and listing them for the people who pay or approve.

use icc_core::pagos::AccountType;
use icc_core::{Permission, Rut};
use icc_store::cuentas::{Bank, NewAccount, SupplierAccount};

use crate::{App, AppError, Result, Session};

/// An account as people type it.
#[derive(Debug, Clone, Default)]
pub struct AccountRequest {
    /// The supplier's RUT.
    pub rut: String,
    /// Bank code (`037`) or exact bank name (`Santander`).
    pub banco: String,
    /// `corriente`, `vista`, `ahorro`, `rut` (or `Cuenta Corriente`, ...).
    pub tipo: String,
    /// Account number.
    pub numero: String,
    /// Holder's RUT; the supplier's when empty.
    pub titular_rut: Option<String>,
    /// Holder's name.
    pub titular_nombre: String,
    /// Notice e-mail.
    pub email: Option<String>,
}

fn may_see_accounts(s: &Session) -> Result<()> {
    if [
        Permission::EnterBankAccounts,
        Permission::ApproveBankAccounts,
        Permission::Pay,
    ]
    .into_iter()
    .any(|p| s.may(p))
    {
        Ok(())
    } else {
        s.require(Permission::EnterBankAccounts)
    }
}

impl App {
    /// Enters a supplier's bank account; it stays `pendiente` until someone else approves it.
    ///
    /// # Errors
    /// Forbidden for the role; malformed RUT, type, number or e-mail; unknown bank.
    pub async fn add_bank_account(
        &self,
        s: &Session,
        req: AccountRequest,
    ) -> Result<SupplierAccount> {
        s.require(Permission::EnterBankAccounts)?;
        let rut: Rut = req.rut.parse()?;
        let titular_rut: Rut = match req.titular_rut.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.parse()?,
            _ => rut,
        };
        let tipo: AccountType = req.tipo.parse()?;
        let banco = self.bank_code(&req.banco).await?;
        let mut tx = self.store.write(&s.username).await?;
        let a = tx
            .add_bank_account(
                &NewAccount {
                    rut,
                    banco,
                    tipo,
                    numero: req.numero,
                    titular_rut,
                    titular_nombre: req.titular_nombre,
                    email: req.email,
                },
                "manual",
            )
            .await?;
        tx.commit().await?;
        tracing::info!(supplier = %a.rut, account = %a.id, user = %s.username, "bank account entered, pending approval");
        Ok(a)
    }

    /// Approves a pending account entered by someone else.
    ///
    /// # Errors
    /// Forbidden for the role or for the user who entered it; unknown or not pending.
    pub async fn approve_bank_account(&self, s: &Session, id: &str) -> Result<SupplierAccount> {
        s.require(Permission::ApproveBankAccounts)?;
        let mut tx = self.store.write(&s.username).await?;
        let a = tx.approve_bank_account(id.trim()).await?;
        tx.commit().await?;
        tracing::info!(supplier = %a.rut, account = %a.id, user = %s.username, "bank account approved");
        Ok(a)
    }

    /// Accounts, newest first, of one supplier or all, optionally in one state.
    ///
    /// # Errors
    /// Forbidden unless the role enters, approves or pays; a malformed RUT or state.
    pub async fn bank_accounts(
        &self,
        s: &Session,
        rut: Option<&str>,
        estado: Option<&str>,
    ) -> Result<Vec<SupplierAccount>> {
        may_see_accounts(s)?;
        let rut: Option<Rut> = rut.map(str::parse).transpose()?;
        let estado = estado.map(|e| e.trim().to_lowercase());
        if let Some(e) = &estado
            && !["pendiente", "aprobada", "reemplazada", "descartada"].contains(&e.as_str())
        {
            return Err(AppError::Invalid(format!(
                "el estado «{e}» no existe; use pendiente, aprobada, reemplazada o descartada"
            )));
        }
        Ok(self
            .store
            .bank_accounts(rut.as_ref(), estado.as_deref())
            .await?)
    }

    /// The bank table.
    ///
    /// # Errors
    /// Store errors.
    pub async fn banks(&self, _s: &Session) -> Result<Vec<Bank>> {
        Ok(self.store.banks().await?)
    }

    /// A bank by code (`37` or `037`) or by its exact name, ignoring case.
    async fn bank_code(&self, raw: &str) -> Result<String> {
        let t = raw.trim();
        let banks = self.store.banks().await?;
        let found = banks.iter().filter(|b| b.active).find(|b| {
            b.name.eq_ignore_ascii_case(t)
                || (t.bytes().all(|c| c.is_ascii_digit())
                    && !t.is_empty()
                    && t.trim_start_matches('0') == b.code.trim_start_matches('0'))
        });
        found.map(|b| b.code.clone()).ok_or_else(|| {
            AppError::Invalid(format!(
                "el banco «{t}» no está en la tabla de bancos; use su código (por ejemplo 037 Santander) o vea la lista con icc cuentas-bancarias bancos"
            ))
        })
    }
}

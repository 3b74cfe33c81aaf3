//! Suppliers' bank accounts under four eyes: entering one (`EnterBankAccounts`), approving
//! one someone else entered (`ApproveBankAccounts`, checked again in the store's
//! transaction), and listing them for the people who pay or approve.

use icc_core::pagos::AccountType;
use icc_core::{Permission, Rut};
use icc_store::cuentas::{Bank, NewAccount, SupplierAccount};

use crate::{App, AppError, Result, Session};

/// An account as people type it (the Cuentas form sends it as is).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

    /// A bank by code (`37` or `037`) or by name as people write it (`Banco Santander`,
    /// `BANCO DE CHILE`, `Banco Estado`): the one active bank whose name holds every word
    /// given.
    async fn bank_code(&self, raw: &str) -> Result<String> {
        let banks = self.store.banks().await?;
        bank_code_in(&banks, raw)
    }

    /// Creates pending accounts from a bank-transfer sheet (the predecessor's
    /// `Santander.xlsx`, either layout). Rows already entered (same supplier, bank and
    /// number, pending or approved) are skipped; rows that cannot be read are reported with
    /// row, column and value. Nothing becomes payable: each account still needs approval.
    ///
    /// # Errors
    /// Forbidden for the role; a file that cannot be read or is not a transfer sheet.
    pub async fn import_bank_accounts(
        &self,
        s: &Session,
        path: &std::path::Path,
    ) -> Result<AccountImportReport> {
        s.require(Permission::EnterBankAccounts)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::Invalid(format!("no se pudo leer {}: {e}", path.display())))?;
        let records = icc_io::legacy::read_records(&name, bytes, None)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let (rows, mut errores) = icc_io::bank::accounts_from_records(&name, &records);
        if rows.is_empty()
            && let Some(first) = errores.first()
            && first.row.is_none()
        {
            return Err(AppError::Invalid(format!("{name}: {}", first.message)));
        }
        let banks = self.store.banks().await?;
        let existing = self.store.bank_accounts(None, None).await?;
        let mut report = AccountImportReport {
            archivo: name.clone(),
            ..AccountImportReport::default()
        };
        let mut tx = self.store.write(&s.username).await?;
        let row_issue = |a: &icc_io::bank::SheetAccount, column: &str, value: &str, e: String| {
            icc_io::RowIssue {
                file: name.clone(),
                sheet: None,
                row: Some(a.row),
                column: Some(column.into()),
                value: Some(value.to_owned()),
                message: e,
            }
        };
        for a in rows {
            let banco = match bank_code_in(&banks, &a.banco) {
                Ok(b) => b,
                Err(e) => {
                    errores.push(row_issue(&a, "Banco destino", &a.banco, e.to_string()));
                    continue;
                }
            };
            // a Cuenta RUT is the holder's RUT body: a row that is not says so, alone
            let numero = match a.tipo {
                Some(AccountType::Rut) => {
                    match icc_core::pagos::cuenta_rut_number(&a.numero, &a.rut) {
                        Ok(n) => n,
                        Err(e) => {
                            errores.push(row_issue(
                                &a,
                                "Número de cuenta destino",
                                &a.numero,
                                e.to_string(),
                            ));
                            continue;
                        }
                    }
                }
                _ => a.numero.clone(),
            };
            let known = existing.iter().any(|e| {
                e.rut == a.rut.to_string()
                    && e.banco == banco
                    && e.numero == numero
                    && matches!(e.estado.as_str(), "pendiente" | "aprobada")
            });
            if known {
                report.repetidas += 1;
                continue;
            }
            let email = match icc_store::cuentas::clean_email(a.correo.as_deref()) {
                Ok(e) => e,
                Err(_) => {
                    report.avisos.push(format!(
                        "fila {}: el correo «{}» no es una dirección válida; la cuenta se registró sin correo",
                        a.row,
                        a.correo.as_deref().unwrap_or_default()
                    ));
                    None
                }
            };
            if a.tipo.is_none() {
                report.avisos.push(format!(
                    "fila {}: la planilla no trae tipo de cuenta; se registró como cuenta corriente: revísela antes de aprobar",
                    a.row
                ));
            }
            tx.add_bank_account(
                &NewAccount {
                    rut: a.rut,
                    banco,
                    tipo: a.tipo.unwrap_or(AccountType::Corriente),
                    numero,
                    titular_rut: a.rut,
                    titular_nombre: a.nombre,
                    email,
                },
                "santander_xlsx",
            )
            .await?;
            report.creadas += 1;
        }
        tx.commit().await?;
        report.errores = errores;
        tracing::info!(file = %name, created = report.creadas, user = %s.username, "bank accounts imported, pending approval");
        Ok(report)
    }
}

/// What importing a transfer sheet did (CLI `--json`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccountImportReport {
    /// The file's name.
    pub archivo: String,
    /// Accounts created, pending approval.
    pub creadas: u64,
    /// Rows already entered.
    pub repetidas: u64,
    /// Rows that could not be read: row, column, value, message.
    pub errores: Vec<icc_io::RowIssue>,
    /// Rows read with an assumption to check.
    pub avisos: Vec<String>,
}

/// Lowercase words without accents or punctuation, and without `banco`, `de`, `del`.
fn words(s: &str) -> Vec<String> {
    icc_io::header::normalize(s)
        .split_whitespace()
        .filter(|w| !matches!(*w, "banco" | "de" | "del"))
        .map(str::to_owned)
        .collect()
}

/// Every letter and digit, lowercase and without accents, run together: `Banco Estado` and
/// `BancoEstado` are both `bancoestado`.
fn squash(s: &str) -> String {
    icc_io::header::normalize(s).split_whitespace().collect()
}

fn bank_code_in(banks: &[Bank], raw: &str) -> Result<String> {
    let t = raw.trim();
    let active = || banks.iter().filter(|b| b.active);
    let by_code = active().find(|b| {
        !t.is_empty()
            && t.bytes().all(|c| c.is_ascii_digit())
            && t.trim_start_matches('0') == b.code.trim_start_matches('0')
    });
    if let Some(b) = by_code {
        return Ok(b.code.clone());
    }
    // the name itself, however it is spaced or accented
    let exact: Vec<&Bank> = active().filter(|b| squash(&b.name) == squash(t)).collect();
    if let [one] = exact.as_slice() {
        return Ok(one.code.clone());
    }
    let given = words(t);
    let matches: Vec<&Bank> = active()
        .filter(|b| {
            let name = words(&b.name);
            !given.is_empty()
                && (given.iter().all(|w| name.contains(w)) || squash(&b.name) == squash(t))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.code.clone()),
        [] => Err(AppError::Invalid(format!(
            "el banco «{t}» no está en la tabla de bancos; use su código (por ejemplo 037 Santander) o vea la lista con icc cuentas-bancarias bancos"
        ))),
        many => Err(AppError::Invalid(format!(
            "el banco «{t}» puede ser {}; use el código",
            many.iter()
                .map(|b| format!("{} {}", b.code, b.name))
                .collect::<Vec<_>>()
                .join(" o ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banks_are_found_by_code_or_by_name_as_people_write_it() {
        let banks: Vec<Bank> = [
            ("001", "Banco de Chile / Edwards"),
            ("012", "BancoEstado"),
            ("016", "BCI"),
            ("037", "Santander"),
            ("051", "Falabella"),
        ]
        .into_iter()
        .map(|(c, n)| Bank {
            code: c.into(),
            name: n.into(),
            active: true,
        })
        .collect();
        for (raw, code) in [
            ("37", "037"),
            ("037", "037"),
            ("Banco Santander", "037"),
            ("BANCO DE CHILE", "001"),
            ("Banco Estado", "012"),
            ("bancoestado", "012"),
            ("Banco Falabella", "051"),
            ("bci", "016"),
        ] {
            assert_eq!(bank_code_in(&banks, raw).unwrap(), code, "{raw}");
        }
        let two = [
            Bank {
                code: "014".into(),
                name: "Scotiabank Chile".into(),
                active: true,
            },
            Bank {
                code: "504".into(),
                name: "BBVA / Scotiabank".into(),
                active: true,
            },
        ];
        let e = bank_code_in(&two, "scotiabank").unwrap_err().to_string();
        assert!(
            e.contains("014 Scotiabank Chile o 504 BBVA / Scotiabank"),
            "{e}"
        );
        assert_eq!(bank_code_in(&two, "bbva").unwrap(), "504");
        assert_eq!(bank_code_in(&two, "BBVA Scotiabank").unwrap(), "504");
        assert_eq!(bank_code_in(&two, "Scotiabank Chile").unwrap(), "014");
        for bad in ["", "999", "Banco", "Banco Inexistente"] {
            let e = bank_code_in(&banks, bad).unwrap_err().to_string();
            assert!(e.contains("tabla de bancos"), "{bad}: {e}");
        }
    }
}

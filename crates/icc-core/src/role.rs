//! User roles (DOMAIN.md §1) and what each may do: the one table icc-app applies to every
//! use case (and to a conflict's kept value, through `Permission::for_invoice_field`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::status::InvoiceStatus;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, obras, settings; sees everything.
    Admin,
    /// Approves payments; sees all obras.
    Gerente,
    /// Imports, assigns accounts, exports, prepares payments; all obras.
    Contabilidad,
    /// Site manager: only the assigned obras.
    AdminObra,
}

impl Role {
    /// Stable name, as stored and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Gerente => "gerente",
            Role::Contabilidad => "contabilidad",
            Role::AdminObra => "admin_obra",
        }
    }

    /// Spanish label for people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrador",
            Role::Gerente => "Gerente",
            Role::Contabilidad => "Contabilidad",
            Role::AdminObra => "Administrador de obra",
        }
    }

    /// Whether this role grants `p` (obra scope is checked separately).
    pub fn may(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Gerente => matches!(
                p,
                Export
                    | Review
                    | Approve
                    | Pay
                    | ApproveRuns
                    | ManageBudgetCatalog
                    | EditBudgets
                    | Treasury
            ),
            Role::Contabilidad => matches!(
                p,
                Import
                    | Export
                    | Assign
                    | Review
                    | Pay
                    | Void
                    | EnterBankAccounts
                    | PrepareRuns
                    | Accounting
            ),
            Role::AdminObra => matches!(p, Export | Assign | Review | Approve | EditBudgets),
        }
    }
}

/// Things a role may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create, disable, change users.
    ManageUsers,
    /// Create obras.
    ManageObras,
    /// Import invoices.
    Import,
    /// Export reports.
    Export,
    /// Assign obra, centro de costo, cuenta, glosa.
    Assign,
    /// Move to en revisión.
    Review,
    /// Approve or reject.
    Approve,
    /// Mark as paid or partly paid.
    Pay,
    /// Void.
    Void,
    /// Enter the company's payment settings (the monthly CMF interest rates).
    PaymentSettings,
    /// Enter or change suppliers' bank accounts (they stay pending until approved).
    EnterBankAccounts,
    /// Approve a bank account someone else entered.
    ApproveBankAccounts,
    /// Prepare payment runs and enter cesiones.
    PrepareRuns,
    /// Approve payment runs.
    ApproveRuns,
    /// Post invoices to the ERP (Kame) and keep its templates, fichas and business units.
    Accounting,
    /// Edit the catalogue of budget lines.
    ManageBudgetCatalog,
    /// Edit the budgets of the obras one sees.
    EditBudgets,
    /// See and edit the company treasury.
    Treasury,
}

impl Permission {
    /// What moving an invoice to `to` requires.
    pub fn for_status(to: InvoiceStatus) -> Permission {
        match to {
            InvoiceStatus::Recibida | InvoiceStatus::EnRevision => Permission::Review,
            InvoiceStatus::Aprobada | InvoiceStatus::Rechazada => Permission::Approve,
            InvoiceStatus::Pagada | InvoiceStatus::ParcialmentePagada => Permission::Pay,
            InvoiceStatus::Anulada => Permission::Void,
        }
    }

    /// What changing the synced invoice `field` to `value` requires (`_doc`, a whole new
    /// document, is an import). `None` when `estado` is given something that is no status.
    pub fn for_invoice_field(field: &str, value: &serde_json::Value) -> Option<Permission> {
        Some(match field {
            "estado" => Permission::for_status(value.as_str()?.parse().ok()?),
            "obra" | "centro_costo" | "cuenta" | "glosa" => Permission::Assign,
            "motivo_rechazo" => Permission::Approve,
            _ => Permission::Import,
        })
    }

    /// Spanish phrase for messages: «el rol X no puede …».
    pub fn label(self) -> &'static str {
        match self {
            Permission::ManageUsers => "administrar usuarios",
            Permission::ManageObras => "administrar obras",
            Permission::Import => "importar facturas",
            Permission::Export => "exportar informes",
            Permission::Assign => "asignar obra, centro de costo o cuenta",
            Permission::Review => "poner facturas en revisión",
            Permission::Approve => "aprobar o rechazar facturas",
            Permission::Pay => "registrar pagos",
            Permission::Void => "anular facturas",
            Permission::PaymentSettings => "cambiar las tasas de interés de mora",
            Permission::EnterBankAccounts => "ingresar cuentas bancarias de proveedores",
            Permission::ApproveBankAccounts => "aprobar cuentas bancarias de proveedores",
            Permission::PrepareRuns => "preparar nóminas de pago",
            Permission::ApproveRuns => "aprobar nóminas de pago",
            Permission::Accounting => "contabilizar en Kame",
            Permission::ManageBudgetCatalog => "editar el catálogo de partidas",
            Permission::EditBudgets => "editar presupuestos de obra",
            Permission::Treasury => "ver y editar la tesorería",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Role> {
        Ok(match s.trim().to_lowercase().replace('-', "_").as_str() {
            "admin" | "administrador" => Role::Admin,
            "gerente" => Role::Gerente,
            "contabilidad" => Role::Contabilidad,
            "admin_obra" | "administrador_de_obra" => Role::AdminObra,
            _ => {
                return Err(CoreError::invalid(
                    "rol",
                    s.trim(),
                    "los roles son admin, gerente, contabilidad y admin_obra",
                ));
            }
        })
    }
}

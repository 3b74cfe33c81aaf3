//! Domain core of ICC Facturas: the rules of Chilean supplier invoices, with no I/O.
//!
//! Everything here is plain data and pure functions: RUT parsing and check digits
//! ([`Rut`]), SII document types ([`DteType`]), money as whole pesos ([`Clp`]), the
//! [`Invoice`] with its natural key and deterministic id, the status machine
//! ([`InvoiceStatus`]), validation into errors and warnings, and the legal deadlines
//! (8-day claim window, due date, aging buckets).
//!
//! ```
//! use icc_core::{Rut, Clp};
//! let rut: Rut = "76.369.187-k".parse().unwrap();
//! assert_eq!(rut.to_string(), "76369187-K");
//! assert_eq!(rut.display(), "76.369.187-K");
//! assert_eq!(Clp::new(-1_234_567).to_string(), "-$1.234.567");
//! ```

mod clp;
mod date;
mod deadline;
mod dte;
mod error;
mod invoice;
pub mod kame;
pub mod pagos;
pub mod password;
pub mod presupuesto;
pub mod records;
pub mod recovery;
pub mod retry;
mod role;
mod rut;
mod secret;
mod status;
pub mod sync;
mod validation;

pub use clp::{Clp, group_thousands};
pub use date::{audit_action_label, parse_date, parse_datetime, santiago_date, santiago_text};
pub use deadline::{
    AgingBucket, CLAIM_DAYS, CLAIM_WARNING_DAYS, ClaimState, DEFAULT_PAYMENT_TERM_DAYS,
    aging_bucket, claim_deadline, claim_state, due_date,
};
pub use dte::DteType;
pub use error::{CoreError, Result};
pub use invoice::{Folio, Invoice, InvoiceId, NaturalKey, OtroImpuesto, Referencia, Source};
pub use role::{Permission, Role};
pub use rut::Rut;
pub use secret::Secret;
pub use status::{InvoiceStatus, StatusChange};
pub use validation::{Issue, Severity, Validation, validate};

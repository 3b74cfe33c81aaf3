//! Spreadsheet import for ICC Facturas: the SII purchase register (RCV) in every variant,
//! Excel (xlsx, xlsm, xls, ods) and CSV/TXT in any common encoding and delimiter, with
//! header detection, column mapping and row-level findings. No database here: icc-app
//! decides what is new and writes it.
//!
//! ```
//! let csv = "RUT;Razón social;Tipo;Folio;Fecha;Neto;IVA;Total\n\
//!            76.555.835-2;Ferretería Ñuñoa;33;1001;03/10/2026;1.000;190;1.190\n";
//! let parsed = icc_io::parse_file("compras.csv", csv.as_bytes().to_vec(), &Default::default(), &mut |_| true).unwrap();
//! assert_eq!(parsed.docs.len(), 1);
//! assert_eq!(parsed.docs[0].invoice.key.to_string(), "76555835-2:33:1001");
//! ```

pub mod bank;
pub mod cell;
pub mod cesion;
mod error;
pub mod export;
pub mod header;
pub mod legacy;
mod parse;
pub mod sealed;
pub mod source;

pub use error::{FileError, RowIssue};
pub use header::{Field, MappingSpec};
pub use parse::{
    Detected, Format, PROGRESS_EVERY, ParseError, ParseOptions, ParsedDoc, ParsedFile, RcvVariant,
    parse_file,
};
pub use source::{FileKind, TextEncoding};

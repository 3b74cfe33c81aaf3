//! Errors that refuse a whole file, and the per-row findings collected in a report.

use serde::Serialize;

/// Why a whole file cannot be imported. Messages are Spanish and name the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Zero bytes.
    #[error("{file}: el archivo está vacío")]
    Empty {
        /// File name.
        file: String,
    },
    /// Not a spreadsheet or text file we can read.
    #[error("{file}: {reason}")]
    Unreadable {
        /// File name.
        file: String,
        /// What it is and what to do.
        reason: String,
    },
    /// A password-protected workbook.
    #[error(
        "{file}: el libro está protegido con contraseña; ábralo en Excel, quite la contraseña (Archivo › Información › Proteger libro) y guárdelo de nuevo"
    )]
    Encrypted {
        /// File name.
        file: String,
    },
    /// A sales register (RCV ventas) given where purchases are expected.
    #[error(
        "{file}: es un Registro de Ventas del SII (tiene «Rut cliente»); ICC Facturas importa el Registro de Compras. Descargue en el SII el registro de COMPRAS del mes"
    )]
    SalesRegister {
        /// File name.
        file: String,
    },
    /// No row looks like a header with the needed columns.
    #[error(
        "{file}{sheet}: no se encontró la fila de encabezados; se necesitan al menos columnas de RUT, folio, fecha y total{found}. Use --mapping para indicar las columnas"
    )]
    NoHeader {
        /// File name.
        file: String,
        /// ` (hoja X)` or empty.
        sheet: String,
        /// What was found, starting with `; ` when anything.
        found: String,
    },
    /// The requested sheet does not exist.
    #[error("{file}: no existe la hoja «{sheet}»; las hojas son: {available}")]
    NoSuchSheet {
        /// File name.
        file: String,
        /// Requested sheet.
        sheet: String,
        /// Sheet names in the file.
        available: String,
    },
    /// A mapping names a column the sheet does not have.
    #[error("{file}: la asignación de columnas es inválida: {reason}")]
    BadMapping {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// One finding about one cell or row, for the import report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RowIssue {
    /// File name.
    pub file: String,
    /// Sheet name (`None` for CSV).
    pub sheet: Option<String>,
    /// 1-based row number as the user sees it in Excel or a text editor; `None` when the
    /// finding is about the whole file.
    pub row: Option<u64>,
    /// Column header (and letter), when the finding is about one cell.
    pub column: Option<String>,
    /// The raw value found.
    pub value: Option<String>,
    /// What is wrong and what to do, in Spanish.
    pub message: String,
}

impl RowIssue {
    /// A finding about a whole file.
    pub fn file_level(file: &str, message: String) -> RowIssue {
        RowIssue {
            file: file.to_owned(),
            sheet: None,
            row: None,
            column: None,
            value: None,
            message,
        }
    }
}

//! Bank transfer files made from an approved payment run.
//!
//! A run becomes a list of [`Transfer`]s: one per line, or several when its amount is above
//! the split limit (company rule: 7,000,000 CLP parts, glosa `PAGO FACTURA {folio} PARTE n`).
//! A [`BankFormat`] writes them in one bank's layout; [`SantanderTemplate`] is the company's
//! Santander bulk-transfer template (`DOMAIN.md` §6.3). Other banks are other
//! implementations, without touching the run.

use chrono::NaiveDate;
use rust_xlsxwriter::{Format, Workbook};

/// Default split limit of one transfer, CLP (a company setting).
pub const DEFAULT_SPLIT_LIMIT: i64 = 7_000_000;

/// One line of a run, paid to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Folio of the invoice paid.
    pub folio: i64,
    /// Payee's name (the account holder's).
    pub nombre: String,
    /// Payee's RUT, `12345678-K`.
    pub rut: String,
    /// Destination bank's SBIF code.
    pub banco_codigo: String,
    /// Destination bank's name.
    pub banco: String,
    /// Account type label (`Cuenta Corriente`, ...).
    pub tipo_cuenta: String,
    /// Account number, digits.
    pub numero: String,
    /// Notice e-mail.
    pub correo: Option<String>,
    /// Pesos.
    pub monto: i64,
}

/// One row of a bank file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The payment it comes from.
    pub payment: Payment,
    /// This row's amount.
    pub monto: i64,
    /// `PAGO FACTURA {folio}` or `PAGO FACTURA {folio} PARTE n`.
    pub glosa: String,
    /// `PAGO PROVEEDORES dd mm aaaa`.
    pub mensaje: String,
}

/// Cuts payments into transfers of at most `limit` pesos each (the last part takes the
/// rest), with the company's glosas and the run's message.
///
/// # Panics
/// Never: a `limit` below 1 is taken as no limit.
pub fn transfers(payments: &[Payment], limit: i64, fecha: NaiveDate) -> Vec<Transfer> {
    let mensaje = format!("PAGO PROVEEDORES {}", fecha.format("%d %m %Y"));
    let mut out = Vec::new();
    for p in payments {
        if limit < 1 || p.monto <= limit {
            out.push(Transfer {
                payment: p.clone(),
                monto: p.monto,
                glosa: format!("PAGO FACTURA {}", p.folio),
                mensaje: mensaje.clone(),
            });
            continue;
        }
        let mut left = p.monto;
        let mut part = 1;
        while left > 0 {
            let monto = left.min(limit);
            out.push(Transfer {
                payment: p.clone(),
                monto,
                glosa: format!("PAGO FACTURA {} PARTE {part}", p.folio),
                mensaje: mensaje.clone(),
            });
            left -= monto;
            part += 1;
        }
    }
    out
}

/// Why a bank file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("no se pudo escribir el archivo del banco: {0}")]
pub struct BankFileError(String);

/// A bank's bulk-transfer layout.
pub trait BankFormat {
    /// Name for messages and file names (`Santander`).
    fn name(&self) -> &'static str;
    /// Default file extension.
    fn extension(&self) -> &'static str;
    /// The file's bytes for a run paid on `fecha`: the same transfers and date give the same
    /// bytes (the file's SHA-256 identifies it).
    ///
    /// # Errors
    /// When the writer fails.
    fn write(&self, transfers: &[Transfer], fecha: NaiveDate) -> Result<Vec<u8>, BankFileError>;
}

/// The company's Santander template (the predecessor's `Santander.xlsx`): one sheet, nine
/// columns, each header followed by a line break and whether it is required.
pub struct SantanderTemplate;

/// The template's headers, byte for byte.
pub const SANTANDER_HEADERS: [&str; 9] = [
    "Nombre beneficiario\n(obligatorio)",
    "RUT beneficiario\n(obligatorio)",
    "Banco destino\n(obligatorio)",
    "Tipo de cuenta destino\n(obligatorio)",
    "Número de cuenta destino\n(obligatorio)",
    "Correo beneficiario\n(obligatorio)",
    "Monto transferencia\n(obligatorio)",
    "Glosa personalizada transferencia\n(opcional)",
    "Mensaje correo beneficiario\n(opcional)",
];

impl BankFormat for SantanderTemplate {
    fn name(&self) -> &'static str {
        "Santander"
    }

    fn extension(&self) -> &'static str {
        "xlsx"
    }

    fn write(&self, transfers: &[Transfer], fecha: NaiveDate) -> Result<Vec<u8>, BankFileError> {
        use chrono::Datelike;
        let err = |e: rust_xlsxwriter::XlsxError| BankFileError(e.to_string());
        let mut wb = Workbook::new();
        // the creation time xlsx files carry is the run's date, not the clock's
        let created = rust_xlsxwriter::ExcelDateTime::from_ymd(
            u16::try_from(fecha.year()).unwrap_or(2000),
            u8::try_from(fecha.month()).unwrap_or(1),
            u8::try_from(fecha.day()).unwrap_or(1),
        )
        .map_err(err)?;
        wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
        let sheet = wb.add_worksheet();
        sheet.set_name("Transferencias").map_err(err)?;
        let head = Format::new().set_bold().set_text_wrap();
        let text = Format::new().set_num_format("@");
        for (c, h) in SANTANDER_HEADERS.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            sheet
                .write_string_with_format(0, c, *h, &head)
                .map_err(err)?;
            sheet.set_column_width(c, 24).map_err(err)?;
        }
        for (i, t) in transfers.iter().enumerate() {
            let r = u32::try_from(i + 1).map_err(|_| BankFileError("demasiadas filas".into()))?;
            let p = &t.payment;
            sheet.write_string(r, 0, &p.nombre).map_err(err)?;
            sheet.write_string(r, 1, &p.rut).map_err(err)?;
            sheet.write_string(r, 2, &p.banco).map_err(err)?;
            sheet.write_string(r, 3, &p.tipo_cuenta).map_err(err)?;
            // as text: leading zeros of account numbers are significant
            sheet
                .write_string_with_format(r, 4, &p.numero, &text)
                .map_err(err)?;
            sheet
                .write_string(r, 5, p.correo.as_deref().unwrap_or(""))
                .map_err(err)?;
            // whole pesos, exact in an f64 far beyond any transfer
            #[allow(clippy::cast_precision_loss)]
            sheet.write_number(r, 6, t.monto as f64).map_err(err)?;
            sheet.write_string(r, 7, &t.glosa).map_err(err)?;
            sheet.write_string(r, 8, &t.mensaje).map_err(err)?;
        }
        wb.save_to_buffer().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(folio: i64, monto: i64) -> Payment {
        Payment {
            folio,
            nombre: "Ferretería Ñuñoa Ltda.".into(),
            rut: "76555835-2".into(),
            banco_codigo: "037".into(),
            banco: "Santander".into(),
            tipo_cuenta: "Cuenta Corriente".into(),
            numero: "0012345678".into(),
            correo: Some("pagos@nunoa.cl".into()),
            monto,
        }
    }

    #[test]
    fn amounts_above_the_limit_are_cut_into_parts_with_their_glosas() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let t = transfers(
            &[payment(1234, 15_500_000), payment(77, 7_000_000)],
            7_000_000,
            d,
        );
        let rows: Vec<(i64, &str)> = t.iter().map(|t| (t.monto, t.glosa.as_str())).collect();
        assert_eq!(
            rows,
            [
                (7_000_000, "PAGO FACTURA 1234 PARTE 1"),
                (7_000_000, "PAGO FACTURA 1234 PARTE 2"),
                (1_500_000, "PAGO FACTURA 1234 PARTE 3"),
                (7_000_000, "PAGO FACTURA 77"),
            ]
        );
        assert!(t.iter().all(|t| t.mensaje == "PAGO PROVEEDORES 04 12 2026"));
        // exactly twice the limit: two parts, nothing left over
        let t = transfers(&[payment(5, 14_000_000)], 7_000_000, d);
        assert_eq!(
            t.iter().map(|t| t.monto).collect::<Vec<_>>(),
            [7_000_000, 7_000_000]
        );
    }
}

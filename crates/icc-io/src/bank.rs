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
    /// Folios of the invoices paid (one, or several when a payee's lines are grouped).
    pub folios: Vec<i64>,
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
    /// `PAGO FACTURA {folio}`, `PAGO FACTURAS {folio}, {folio}` when grouped, and ` PARTE n`
    /// when split.
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
        let folios: Vec<String> = p.folios.iter().map(ToString::to_string).collect();
        let glosa = match folios.as_slice() {
            [one] => format!("PAGO FACTURA {one}"),
            many => format!("PAGO FACTURAS {}", many.join(", ")),
        };
        if limit < 1 || p.monto <= limit {
            out.push(Transfer {
                payment: p.clone(),
                monto: p.monto,
                glosa,
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
                glosa: format!("{glosa} PARTE {part}"),
                mensaje: mensaje.clone(),
            });
            left -= monto;
            part += 1;
        }
    }
    out
}

/// One transfer per payee account instead of one per invoice (a company setting): payments
/// to the same holder, bank and number are summed, their folios listed in order.
pub fn group_by_account(payments: &[Payment]) -> Vec<Payment> {
    let mut out: Vec<Payment> = Vec::new();
    for p in payments {
        match out
            .iter_mut()
            .find(|g| g.rut == p.rut && g.banco_codigo == p.banco_codigo && g.numero == p.numero)
        {
            Some(g) => {
                g.monto = g.monto.saturating_add(p.monto);
                g.folios.extend(&p.folios);
            }
            None => out.push(p.clone()),
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
            folios: vec![folio],
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
        // grouped per account: one transfer listing the folios, split like any other
        let mut other = payment(9, 1_000);
        other.numero = "999".into();
        let grouped = group_by_account(&[payment(10, 4_000_000), other, payment(11, 5_000_000)]);
        let t = transfers(&grouped, 7_000_000, d);
        let rows: Vec<(i64, &str)> = t.iter().map(|t| (t.monto, t.glosa.as_str())).collect();
        assert_eq!(
            rows,
            [
                (7_000_000, "PAGO FACTURAS 10, 11 PARTE 1"),
                (2_000_000, "PAGO FACTURAS 10, 11 PARTE 2"),
                (1_000, "PAGO FACTURA 9"),
            ]
        );
        // exactly twice the limit: two parts, nothing left over
        let t = transfers(&[payment(5, 14_000_000)], 7_000_000, d);
        assert_eq!(
            t.iter().map(|t| t.monto).collect::<Vec<_>>(),
            [7_000_000, 7_000_000]
        );
    }
}

/// An account read from a bank-transfer sheet (the predecessor's `Santander.xlsx`, in the
/// company's 9-column template or Santander's 13-column bulk-transfer layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetAccount {
    /// Row in the file.
    pub row: u64,
    /// The payee (also the holder).
    pub rut: icc_core::Rut,
    /// Their name.
    pub nombre: String,
    /// The bank as written: a code (`037`) or a name (`Banco Santander`).
    pub banco: String,
    /// The account type; `None` when the layout has no such column.
    pub tipo: Option<icc_core::pagos::AccountType>,
    /// Digits.
    pub numero: String,
    /// Notice e-mail.
    pub correo: Option<String>,
}

/// Reads accounts from a transfer sheet's records: one per row that has a payee RUT, an
/// account number and a bank; every other row is a finding naming row, column and value.
/// Rows that repeat an earlier row's RUT, bank and number are skipped silently (a sheet
/// lists a supplier once per payment); a later row with another account for the same RUT
/// is a finding, and the first is kept (as the predecessor did).
pub fn accounts_from_records(
    file: &str,
    records: &crate::legacy::Records,
) -> (Vec<SheetAccount>, Vec<crate::RowIssue>) {
    let mut out: Vec<SheetAccount> = Vec::new();
    let mut issues = Vec::new();
    let issue = |row: u64, column: &str, value: Option<&str>, message: String| crate::RowIssue {
        file: file.to_owned(),
        sheet: None,
        row: Some(row),
        column: Some(column.to_owned()),
        value: value.map(str::to_owned),
        message,
    };
    let has = |names: &[&str]| {
        records.headers.iter().any(|h| {
            names
                .iter()
                .any(|n| crate::legacy::normalize_header(n).eq_ignore_ascii_case(strip_req(h)))
        })
    };
    const RUT: &[&str] = &["RUT beneficiario"];
    const NUMERO: &[&str] = &["Número de cuenta destino", "Cuenta destino"];
    const BANCO: &[&str] = &["Código banco destino", "Banco destino"];
    let is_transfer_sheet = has(RUT) && has(NUMERO) && has(BANCO);
    if !records.rows.is_empty() && !is_transfer_sheet {
        issues.push(crate::RowIssue {
            file: file.to_owned(),
            sheet: None,
            row: None,
            column: None,
            value: Some(records.headers.join(" | ")),
            message: "no es una planilla de transferencias: faltan las columnas RUT beneficiario, Número de cuenta destino (o Cuenta destino) y Banco destino (o Código banco destino)".into(),
        });
        return (out, issues);
    }
    for r in &records.rows {
        let get = |names: &[&str]| {
            r.fields
                .iter()
                .find(|(k, _)| {
                    names.iter().any(|n| {
                        crate::legacy::normalize_header(n).eq_ignore_ascii_case(strip_req(k))
                    })
                })
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let raw_rut = get(RUT);
        let rut = match raw_rut.map(str::parse::<icc_core::Rut>) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                issues.push(issue(r.row, "RUT beneficiario", raw_rut, e.to_string()));
                continue;
            }
            None => {
                issues.push(issue(
                    r.row,
                    "RUT beneficiario",
                    None,
                    "falta el RUT del beneficiario".into(),
                ));
                continue;
            }
        };
        let raw_num = get(NUMERO);
        let numero = match raw_num.map(icc_core::pagos::account_number) {
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                issues.push(issue(
                    r.row,
                    "Número de cuenta destino",
                    raw_num,
                    e.to_string(),
                ));
                continue;
            }
            None => {
                issues.push(issue(
                    r.row,
                    "Número de cuenta destino",
                    None,
                    "falta el número de cuenta".into(),
                ));
                continue;
            }
        };
        let Some(banco) = get(BANCO) else {
            issues.push(issue(
                r.row,
                "Banco destino",
                None,
                "falta el banco de destino".into(),
            ));
            continue;
        };
        let raw_tipo = get(&["Tipo de cuenta destino", "Tipo de cuenta"]);
        let tipo = match raw_tipo.map(str::parse::<icc_core::pagos::AccountType>) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                issues.push(issue(
                    r.row,
                    "Tipo de cuenta destino",
                    raw_tipo,
                    e.to_string(),
                ));
                continue;
            }
            None => None,
        };
        let nombre = get(&["Nombre beneficiario"]).unwrap_or_default().to_owned();
        if nombre.is_empty() {
            issues.push(issue(
                r.row,
                "Nombre beneficiario",
                None,
                "falta el nombre del beneficiario".into(),
            ));
            continue;
        }
        let repeated = out
            .iter()
            .any(|a| a.rut == rut && a.numero == numero && a.banco.eq_ignore_ascii_case(banco));
        if repeated {
            continue;
        }
        if let Some(first) = out.iter().find(|a| a.rut == rut) {
            issues.push(issue(
                r.row,
                "Número de cuenta destino",
                Some(&numero),
                format!(
                    "el beneficiario {rut} ya aparece en la fila {} con otra cuenta; se usa la primera, como hacía la aplicación anterior",
                    first.row
                ),
            ));
            continue;
        }
        out.push(SheetAccount {
            row: r.row,
            rut,
            nombre,
            banco: banco.to_owned(),
            tipo,
            numero,
            correo: get(&["Correo beneficiario"]).map(str::to_owned),
        });
    }
    (out, issues)
}

/// A header without its `(obligatorio)` / `(opcional)` / `(obligatorio solo si …)` note.
fn strip_req(h: &str) -> &str {
    h.find(" (").map_or(h, |i| &h[..i]).trim()
}

#[cfg(test)]
mod sheet_tests {
    use super::*;
    use crate::legacy::read_records;

    fn sheet(rows: &[&[&str]]) -> Vec<u8> {
        rows.iter()
            .map(|r| r.join(";"))
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes()
    }

    #[test]
    fn both_layouts_give_accounts_and_bad_rows_give_findings() {
        // the company's template (9 columns, headers with their line break)
        let nine = sheet(&[
            &[
                "\"Nombre beneficiario\n(obligatorio)\"",
                "\"RUT beneficiario\n(obligatorio)\"",
                "\"Banco destino\n(obligatorio)\"",
                "\"Tipo de cuenta destino\n(obligatorio)\"",
                "\"Número de cuenta destino\n(obligatorio)\"",
                "\"Correo beneficiario\n(obligatorio)\"",
                "\"Monto transferencia\n(obligatorio)\"",
            ],
            &[
                "Ferretería Ñuñoa",
                "76.555.835-2",
                "Banco Santander",
                "Cuenta Corriente",
                "0-012-3456",
                "a@b.cl",
                "100",
            ],
            &[
                "Ferretería Ñuñoa",
                "76555835-2",
                "Banco Santander",
                "Cuenta Corriente",
                "00123456",
                "a@b.cl",
                "200",
            ],
            &["Sin RUT", "", "BCI", "Cuenta Vista", "123456", "", "1"],
            &[
                "RUT malo",
                "76555835-3",
                "BCI",
                "Cuenta Vista",
                "123456",
                "",
                "1",
            ],
            &[
                "Número malo",
                "77879240-0",
                "BCI",
                "Cuenta Vista",
                "12ab",
                "",
                "1",
            ],
            &[
                "Tipo malo",
                "77879240-0",
                "BCI",
                "Tarjeta",
                "123456",
                "",
                "1",
            ],
            &[
                "Otra cuenta",
                "76555835-2",
                "BCI",
                "Cuenta Vista",
                "777777",
                "",
                "1",
            ],
        ]);
        let recs = read_records("Santander.csv", nine, None).unwrap();
        let (accounts, issues) = accounts_from_records("Santander.csv", &recs);
        assert_eq!(
            accounts.len(),
            1,
            "the repeated row is one account: {accounts:?}"
        );
        let a = &accounts[0];
        assert_eq!(
            (
                a.rut.to_string().as_str(),
                a.banco.as_str(),
                a.numero.as_str(),
                a.tipo
            ),
            (
                "76555835-2",
                "Banco Santander",
                "00123456",
                Some(icc_core::pagos::AccountType::Corriente)
            )
        );
        let found: Vec<(u64, &str)> = issues
            .iter()
            .map(|i| (i.row.unwrap(), i.column.as_deref().unwrap()))
            .collect();
        // rows are lines as a text editor shows them: the header's line breaks take 8
        assert_eq!(
            found,
            [
                (11, "RUT beneficiario"),
                (12, "RUT beneficiario"),
                (13, "Número de cuenta destino"),
                (14, "Tipo de cuenta destino"),
                (15, "Número de cuenta destino"),
            ]
        );
        assert!(
            issues[4].message.contains("ya aparece en la fila 9"),
            "{issues:?}"
        );
        // Santander's 13-column layout has a bank code and no account type
        let thirteen = sheet(&[
            &[
                "Cuenta origen",
                "Moneda origen",
                "Cuenta destino",
                "Moneda destino",
                "Código banco destino",
                "RUT beneficiario",
                "Nombre beneficiario",
                "Monto transferencia",
            ],
            &[
                "000123",
                "CLP",
                "9988776655",
                "CLP",
                "016",
                "761779079",
                "Hormigones del Sur",
                "5",
            ],
        ]);
        let recs = read_records("Santander.csv", thirteen, None).unwrap();
        let (accounts, issues) = accounts_from_records("Santander.csv", &recs);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            (accounts[0].banco.as_str(), accounts[0].tipo),
            ("016", None)
        );
        // something else entirely
        let other = sheet(&[&["Folio", "Monto"], &["1", "2"]]);
        let recs = read_records("otra.csv", other, None).unwrap();
        let (accounts, issues) = accounts_from_records("otra.csv", &recs);
        assert!(accounts.is_empty());
        assert!(
            issues[0]
                .message
                .contains("no es una planilla de transferencias"),
            "{issues:?}"
        );
    }
}

/// A payment run as its xlsx report shows it (the office files it and mails it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSheet {
    /// N° de nómina.
    pub numero: i64,
    /// Cut-off.
    pub corte: NaiveDate,
    /// State, as people say it.
    pub estado: String,
    /// Who prepared and who approved it.
    pub preparada_por: String,
    /// Who approved it, when it is approved.
    pub aprobada_por: Option<String>,
    /// Its lines.
    pub lineas: Vec<RunSheetLine>,
}

/// One line of [`RunSheet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSheetLine {
    /// `RUT:TIPO:FOLIO`.
    pub documento: String,
    /// Folio.
    pub folio: i64,
    /// Supplier.
    pub proveedor: String,
    /// Payee's RUT.
    pub beneficiario_rut: String,
    /// Payee.
    pub beneficiario: String,
    /// Due date the run pays it for.
    pub vence: NaiveDate,
    /// Balance when the run was made.
    pub saldo: i64,
    /// What the run pays.
    pub monto: i64,
    /// Whether it is paid in this run.
    pub incluida: bool,
    /// Why the line is as it is.
    pub nota: Option<String>,
}

/// The run's report: a title block, one row per line (included or not, with the reason),
/// the total of the included lines, and a second sheet with the total per payee.
///
/// # Errors
/// When the writer fails.
pub fn run_workbook(run: &RunSheet) -> Result<Vec<u8>, BankFileError> {
    use chrono::Datelike;
    let err = |e: rust_xlsxwriter::XlsxError| BankFileError(e.to_string());
    let to_excel = |d: NaiveDate| {
        rust_xlsxwriter::ExcelDateTime::from_ymd(
            u16::try_from(d.year()).unwrap_or(2000),
            u8::try_from(d.month()).unwrap_or(1),
            u8::try_from(d.day()).unwrap_or(1),
        )
    };
    let mut wb = Workbook::new();
    wb.set_properties(
        &rust_xlsxwriter::DocProperties::new()
            .set_title(format!("Nómina de pago N° {}", run.numero))
            .set_creation_datetime(&to_excel(run.corte).map_err(err)?),
    );
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("$#,##0");
    let money_bold = Format::new().set_num_format("$#,##0").set_bold();
    let date = Format::new().set_num_format("dd-mm-yyyy");
    let sheet = wb.add_worksheet();
    sheet.set_name("Nómina").map_err(err)?;
    sheet
        .write_string_with_format(0, 0, format!("Nómina de pago N° {}", run.numero), &bold)
        .map_err(err)?;
    sheet.write_string(1, 0, "Corte").map_err(err)?;
    sheet
        .write_datetime_with_format(1, 1, to_excel(run.corte).map_err(err)?, &date)
        .map_err(err)?;
    sheet.write_string(2, 0, "Estado").map_err(err)?;
    sheet.write_string(2, 1, &run.estado).map_err(err)?;
    sheet.write_string(3, 0, "Preparada por").map_err(err)?;
    sheet.write_string(3, 1, &run.preparada_por).map_err(err)?;
    sheet.write_string(4, 0, "Aprobada por").map_err(err)?;
    sheet
        .write_string(4, 1, run.aprobada_por.as_deref().unwrap_or("(sin aprobar)"))
        .map_err(err)?;
    const HEAD: [&str; 9] = [
        "Documento",
        "Folio",
        "Proveedor",
        "RUT beneficiario",
        "Beneficiario",
        "Vence",
        "Saldo",
        "A pagar",
        "Nota",
    ];
    let first = 6u32;
    for (c, t) in HEAD.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(0);
        sheet
            .write_string_with_format(first, c, *t, &bold)
            .map_err(err)?;
    }
    let mut row = first + 1;
    let mut total = 0i64;
    // whole pesos, exact in an f64 far beyond any invoice
    #[allow(clippy::cast_precision_loss)]
    let num = |v: i64| v as f64;
    for l in &run.lineas {
        let paid = if l.incluida { l.monto } else { 0 };
        total += paid;
        sheet.write_string(row, 0, &l.documento).map_err(err)?;
        sheet.write_number(row, 1, num(l.folio)).map_err(err)?;
        sheet.write_string(row, 2, &l.proveedor).map_err(err)?;
        sheet
            .write_string(row, 3, &l.beneficiario_rut)
            .map_err(err)?;
        sheet.write_string(row, 4, &l.beneficiario).map_err(err)?;
        sheet
            .write_datetime_with_format(row, 5, to_excel(l.vence).map_err(err)?, &date)
            .map_err(err)?;
        sheet
            .write_number_with_format(row, 6, num(l.saldo), &money)
            .map_err(err)?;
        sheet
            .write_number_with_format(row, 7, num(paid), &money)
            .map_err(err)?;
        let nota = match (&l.nota, l.incluida) {
            (Some(n), true) => n.clone(),
            (Some(n), false) => format!("no se paga en esta nómina; {n}"),
            (None, true) => String::new(),
            (None, false) => "no se paga en esta nómina".to_owned(),
        };
        sheet.write_string(row, 8, &nota).map_err(err)?;
        row += 1;
    }
    sheet
        .write_string_with_format(row, 6, "Total", &bold)
        .map_err(err)?;
    sheet
        .write_number_with_format(row, 7, num(total), &money_bold)
        .map_err(err)?;
    sheet.set_column_width(0, 22).map_err(err)?;
    sheet.set_column_width(2, 34).map_err(err)?;
    sheet.set_column_width(4, 34).map_err(err)?;
    sheet.set_column_width(8, 50).map_err(err)?;

    let by = wb.add_worksheet();
    by.set_name("Por beneficiario").map_err(err)?;
    for (c, t) in ["RUT beneficiario", "Beneficiario", "Facturas", "Total"]
        .iter()
        .enumerate()
    {
        let c = u16::try_from(c).unwrap_or(0);
        by.write_string_with_format(0, c, *t, &bold).map_err(err)?;
    }
    let mut payees: Vec<(&str, &str, i64, i64)> = Vec::new();
    for l in run.lineas.iter().filter(|l| l.incluida && l.monto > 0) {
        match payees.iter_mut().find(|p| p.0 == l.beneficiario_rut) {
            Some(p) => {
                p.2 += 1;
                p.3 += l.monto;
            }
            None => payees.push((&l.beneficiario_rut, &l.beneficiario, 1, l.monto)),
        }
    }
    for (i, (rut, nombre, n, t)) in payees.iter().enumerate() {
        let r = u32::try_from(i + 1).map_err(|_| BankFileError("demasiadas filas".into()))?;
        by.write_string(r, 0, *rut).map_err(err)?;
        by.write_string(r, 1, *nombre).map_err(err)?;
        by.write_number(r, 2, num(*n)).map_err(err)?;
        by.write_number_with_format(r, 3, num(*t), &money)
            .map_err(err)?;
    }
    by.set_column_width(1, 34).map_err(err)?;
    wb.save_to_buffer().map_err(err)
}

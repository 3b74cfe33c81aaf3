//! Workbook shapes: real xlsx files written by rust_xlsxwriter with title rows, merged cells,
//! date cells, Excel serials, float folios and several sheets; and an encrypted container.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use icc_io::{ParseError, ParseOptions, parse_file};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

fn opts() -> ParseOptions {
    ParseOptions {
        today: Some("2026-11-28".parse().unwrap()),
        ..Default::default()
    }
}

/// A typical accountant's sheet: an empty first sheet, then "Compras" with a merged title,
/// a blank row, the header, data in every cell type, and a totals row with formulas.
fn accountant_workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("Notas").unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("Compras").unwrap();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("dd-mm-yyyy");
    let clp = Format::new().set_num_format("$#,##0");
    ws.merge_range(0, 0, 0, 7, "Facturas recibidas — octubre 2026", &bold)
        .unwrap();
    let headers = [
        "RUT Proveedor",
        "Razón social",
        "Tipo Doc",
        "Nº Folio",
        "Fecha emisión",
        "Monto Neto",
        "IVA",
        "Monto Total",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(2, c as u16, *h).unwrap();
    }
    // row 4: a real date cell, numbers, folio as float
    ws.write_string(3, 0, "76.555.835-2").unwrap();
    ws.write_string(3, 1, "Ferretería Ñuñoa Ltda.").unwrap();
    ws.write_number(3, 2, 33.0).unwrap();
    ws.write_number(3, 3, 123.0).unwrap();
    ws.write_datetime_with_format(3, 4, ExcelDateTime::from_ymd(2026, 10, 3).unwrap(), &date)
        .unwrap();
    ws.write_number_with_format(3, 5, 1_000_000.0, &clp)
        .unwrap();
    ws.write_number_with_format(3, 6, 190_000.0, &clp).unwrap();
    ws.write_number_with_format(3, 7, 1_190_000.0, &clp)
        .unwrap();
    // row 5: a date typed as text and an Excel serial stored as plain number
    ws.write_string(4, 0, "76369187-K").unwrap();
    ws.write_string(4, 1, "Áridos Maipú SpA").unwrap();
    ws.write_string(4, 2, "Nota de Crédito Electrónica")
        .unwrap();
    ws.write_string(4, 3, "77").unwrap();
    ws.write_number(4, 4, 46299.0).unwrap(); // 2026-10-04
    ws.write_number(4, 5, 10_000.0).unwrap();
    ws.write_number(4, 6, 1_900.0).unwrap();
    ws.write_number(4, 7, 11_900.0).unwrap();
    // row 6: blank; row 7: totals with formulas
    ws.write_string(6, 0, "Total").unwrap();
    ws.write_formula(6, 7, "=SUM(H4:H5)").unwrap();
    wb.save_to_buffer().unwrap()
}

#[test]
fn an_accountants_workbook_with_titles_merged_cells_and_dates_reads_right() {
    let p = parse_file("compras.xlsx", accountant_workbook(), &opts(), &mut |_| {
        true
    })
    .unwrap();
    assert_eq!(
        p.sheet.as_deref(),
        Some("Compras"),
        "the first sheet with data"
    );
    assert_eq!(p.header_row, 3);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.docs.len(), 2);
    let a = &p.docs[0].invoice;
    assert_eq!(
        a.key.to_string(),
        "76555835-2:33:123",
        "a float folio 123.0 is folio 123"
    );
    assert_eq!(a.fecha_emision.to_string(), "2026-10-03", "date cell");
    assert_eq!(a.monto_total.pesos(), 1_190_000);
    let b = &p.docs[1].invoice;
    assert_eq!(
        b.key.to_string(),
        "76369187-K:61:77",
        "tipo given as a label"
    );
    assert_eq!(b.fecha_emision.to_string(), "2026-10-04", "Excel serial");
    assert_eq!(p.docs[1].row, 5, "row numbers as Excel shows them");
}

#[test]
fn a_sheet_can_be_chosen_by_name_and_a_missing_one_is_named() {
    let o = ParseOptions {
        sheet: Some("compras".into()),
        ..opts()
    };
    assert_eq!(
        parse_file("c.xlsx", accountant_workbook(), &o, &mut |_| true)
            .unwrap()
            .docs
            .len(),
        2
    );
    let o = ParseOptions {
        sheet: Some("Octubre".into()),
        ..opts()
    };
    match parse_file("c.xlsx", accountant_workbook(), &o, &mut |_| true) {
        Err(ParseError::File(e)) => {
            let e = e.to_string();
            assert!(
                e.contains("Octubre") && e.contains("Compras") && e.contains("Notas"),
                "{e}"
            );
        }
        other => panic!("{:?}", other.map(|p| p.docs.len())),
    }
}

#[test]
fn a_header_only_workbook_is_zero_documents_and_an_empty_one_is_refused() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["RUT", "Folio", "Fecha", "Neto", "IVA", "Total"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let p = parse_file(
        "mes_sin_compras.xlsx",
        wb.save_to_buffer().unwrap(),
        &opts(),
        &mut |_| true,
    )
    .unwrap();
    assert!(p.docs.is_empty() && p.errors.is_empty());
    let mut wb = Workbook::new();
    wb.add_worksheet();
    let e = parse_file(
        "vacio.xlsx",
        wb.save_to_buffer().unwrap(),
        &opts(),
        &mut |_| true,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("vacío"), "{e}");
}

#[test]
fn a_password_protected_workbook_says_so() {
    // Office encrypts a workbook into an OLE compound file holding EncryptionInfo and
    // EncryptedPackage streams; that container is what the importer sees.
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    {
        use std::io::Write;
        let mut info = cf.create_stream("/EncryptionInfo").unwrap();
        info.write_all(&[4, 0, 4, 0, 0x40, 0, 0, 0]).unwrap();
        let mut pkg = cf.create_stream("/EncryptedPackage").unwrap();
        pkg.write_all(&[0x5a; 4096]).unwrap();
    }
    cf.flush().unwrap();
    let bytes = cf.into_inner().into_inner();
    let e = parse_file("protegido.xlsx", bytes, &opts(), &mut |_| true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("contraseña"), "{e}");
}

#[test]
fn xls_and_ods_written_by_libreoffice_read_like_the_xlsx() {
    let Some(soffice) = common::soffice() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("compras.xlsx");
    std::fs::write(&xlsx, accountant_workbook()).unwrap();
    let want = parse_file("compras.xlsx", accountant_workbook(), &opts(), &mut |_| {
        true
    })
    .unwrap();
    let keys = |p: &icc_io::ParsedFile| -> Vec<(String, String, i64)> {
        p.docs
            .iter()
            .map(|d| {
                (
                    d.invoice.key.to_string(),
                    d.invoice.fecha_emision.to_string(),
                    d.invoice.monto_total.pesos(),
                )
            })
            .collect()
    };
    for ext in ["xls", "ods"] {
        let status = std::process::Command::new(&soffice)
            .args(["--headless", "--norestore", "--convert-to", ext, "--outdir"])
            .arg(dir.path())
            .arg(&xlsx)
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "LibreOffice converts to {ext}");
        let bytes = std::fs::read(dir.path().join(format!("compras.{ext}"))).unwrap();
        let got = parse_file(&format!("compras.{ext}"), bytes, &opts(), &mut |_| true).unwrap();
        assert!(got.errors.is_empty(), "{ext}: {:?}", got.errors);
        assert_eq!(
            keys(&got),
            keys(&want),
            "{ext} reads the same documents, dates and totals"
        );
        assert_eq!(got.sheet.as_deref(), Some("Compras"));
    }
}

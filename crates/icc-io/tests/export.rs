//! Every report read back: sheets, values, subtotals, totals, formats, CSV dialect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::Path;

use calamine::{Data, Reader, open_workbook_auto};
use chrono::NaiveDate;
use icc_core::{DteType, InvoiceStatus, Rut};
use icc_io::export::{ExportFormat, Exporter, Line, Meta, ReportKind};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn line(tipo: u16, folio: i64, rut: &str, neto: i64) -> Line {
    let iva = neto * 19 / 100;
    Line {
        tipo_dte: DteType::new(tipo).unwrap(),
        folio,
        rut_emisor: rut.parse::<Rut>().unwrap(),
        razon_social: format!("Proveedor {rut}"),
        fecha_emision: d("2026-10-05"),
        fecha_recepcion: Some(d("2026-10-06").and_hms_opt(10, 30, 0).unwrap()),
        vence: d("2026-11-05"),
        plazo_reclamo: Some(d("2026-10-14")),
        estado: InvoiceStatus::Recibida,
        obra: Some("OB-1".into()),
        obra_nombre: Some("Edificio Uno".into()),
        centro_costo: Some("CC-A".into()),
        cuenta: Some("410101".into()),
        orden_compra: Some("OC-77".into()),
        glosa: Some("Hormigón H30".into()),
        neto,
        exento: 0,
        iva,
        otros: 0,
        total: neto + iva,
        pagos: None,
    }
}

fn meta(kind: ReportKind) -> Meta {
    Meta {
        kind,
        exported_by: "contadora".into(),
        exported_at: d("2026-11-28").and_hms_opt(9, 15, 0).unwrap(),
        today: d("2026-11-28"),
        filters: vec![("Obra".into(), "OB-1".into())],
        app_version: "9.9.9".into(),
    }
}

fn export(kind: ReportKind, format: ExportFormat, lines: &[Line], out: &Path) {
    let mut e = Exporter::create(meta(kind), format, out).unwrap();
    for l in lines {
        e.push(l).unwrap();
    }
    e.finish().unwrap();
}

fn num(v: &Data) -> i64 {
    match v {
        Data::Float(f) => *f as i64,
        Data::Int(i) => *i,
        other => panic!("not a number: {other:?}"),
    }
}

fn text(v: &Data) -> String {
    match v {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => panic!("not text: {other:?}"),
    }
}

fn date(v: &Data) -> NaiveDate {
    match v {
        Data::DateTime(dt) => dt.as_datetime().unwrap().date(),
        other => panic!("not a date: {other:?}"),
    }
}

/// A column of a sheet, from the first data row (row 5 in Excel) to the last used row.
fn column(range: &calamine::Range<Data>, col: u32) -> Vec<Data> {
    let (last, _) = range.end().unwrap();
    (4..=last)
        .map(|r| range.get_value((r, col)).cloned().unwrap_or(Data::Empty))
        .collect()
}

fn zip_text(path: &Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut s = String::new();
    z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
    s
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(&tag[start..end])
}

/// The number format code and fill id of a cell (`sheet` is 1-based, `cell` like `O5`).
fn cell_style(path: &Path, sheet: usize, cell: &str) -> (String, String) {
    let xml = zip_text(path, &format!("xl/worksheets/sheet{sheet}.xml"));
    let at = xml
        .find(&format!("<c r=\"{cell}\""))
        .unwrap_or_else(|| panic!("no cell {cell}"));
    let tag = &xml[at..at + xml[at..].find('>').unwrap()];
    let s: usize = attr(tag, "s").unwrap_or("0").parse().unwrap();
    let styles = zip_text(path, "xl/styles.xml");
    let xfs = &styles[styles.find("<cellXfs").unwrap()..];
    let xf = xfs.split("<xf ").nth(s + 1).unwrap();
    let fmt_id = attr(&format!(" {xf}"), "numFmtId").unwrap().to_owned();
    let fill = attr(&format!(" {xf}"), "fillId").unwrap_or("0").to_owned();
    let code = styles
        .split("<numFmt ")
        .skip(1)
        .find(|f| attr(&format!(" {f}"), "numFmtId") == Some(fmt_id.as_str()))
        .and_then(|f| attr(&format!(" {f}"), "formatCode").map(|c| c.replace("&quot;", "\"")))
        .unwrap_or_else(|| format!("builtin:{fmt_id}"));
    (code, fill)
}

const MONEY: &str = "\"$\"#,##0;[Red]-\"$\"#,##0";

#[test]
fn facturas_lists_every_column_with_formats_and_signed_credit_notes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("facturas.xlsx");
    let lines = [
        line(33, 1001, "76555835-2", 1_000_000),
        line(61, 77, "76177907-9", 100_000),
    ];
    export(ReportKind::Facturas, ExportFormat::Xlsx, &lines, &out);

    let mut wb = open_workbook_auto(&out).unwrap();
    assert_eq!(wb.sheet_names(), vec!["Facturas", "Parámetros"]);
    let r = wb.worksheet_range("Facturas").unwrap();
    assert_eq!(text(r.get_value((0, 0)).unwrap()), "Facturas");
    assert_eq!(text(r.get_value((1, 0)).unwrap()), "Filtros: Obra: OB-1");
    let headers: Vec<String> = (0..20)
        .map(|c| text(r.get_value((3, c)).unwrap()))
        .collect();
    assert_eq!(headers[0], "Tipo");
    assert_eq!(headers[2], "Folio");
    assert_eq!(headers[3], "RUT proveedor");
    assert_eq!(headers[18], "Total");
    assert_eq!(headers[19], "Glosa");
    assert_eq!(num(r.get_value((4, 0)).unwrap()), 33);
    assert_eq!(text(r.get_value((4, 1)).unwrap()), "Factura electrónica");
    assert_eq!(num(r.get_value((4, 2)).unwrap()), 1001);
    assert_eq!(text(r.get_value((4, 3)).unwrap()), "76.555.835-2");
    assert_eq!(date(r.get_value((4, 5)).unwrap()), d("2026-10-05"));
    match r.get_value((4, 6)).unwrap() {
        Data::DateTime(t) => assert_eq!(
            t.as_datetime().unwrap(),
            d("2026-10-06").and_hms_opt(10, 30, 0).unwrap()
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(text(r.get_value((4, 9)).unwrap()), "recibida");
    assert_eq!(num(r.get_value((4, 14)).unwrap()), 1_000_000);
    assert_eq!(num(r.get_value((4, 18)).unwrap()), 1_190_000);
    assert_eq!(text(r.get_value((4, 19)).unwrap()), "Hormigón H30");
    // the credit note subtracts
    assert_eq!(num(r.get_value((5, 14)).unwrap()), -100_000);
    assert_eq!(num(r.get_value((5, 18)).unwrap()), -119_000);
    assert_eq!(r.end().unwrap().0, 5, "no totals row in the plain list");

    assert_eq!(cell_style(&out, 1, "O5").0, MONEY);
    assert_eq!(cell_style(&out, 1, "F5").0, "dd-mm-yyyy");
    assert_eq!(cell_style(&out, 1, "G5").0, "dd-mm-yyyy hh:mm");
    let sheet = zip_text(&out, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains("<pane ySplit=\"4\""), "frozen header");
    assert!(sheet.contains("<autoFilter ref=\"A4:T6\""), "autofilter");
    assert!(
        sheet.contains("<col min=\"5\" max=\"5\" width="),
        "fitted widths"
    );

    let p = wb.worksheet_range("Parámetros").unwrap();
    let params: Vec<(String, String)> = (4..=p.end().unwrap().0)
        .map(|r| {
            (
                text(p.get_value((r, 0)).unwrap()),
                text(p.get_value((r, 1)).unwrap()),
            )
        })
        .collect();
    let get = |k: &str| params.iter().find(|(a, _)| a == k).unwrap().1.clone();
    assert_eq!(get("Exportado por"), "contadora");
    assert_eq!(get("Fecha de exportación"), "28-11-2026 09:15");
    assert_eq!(get("Obra"), "OB-1");
    assert_eq!(get("Documentos exportados"), "2");
}

#[test]
fn libro_de_compras_subtotals_each_type_and_totals_with_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("libro.xlsx");
    // in register order: by type
    let lines = [
        line(33, 1, "76555835-2", 1_000_000),
        line(33, 2, "76177907-9", 500_000),
        line(61, 9, "76555835-2", 200_000),
    ];
    export(ReportKind::LibroCompras, ExportFormat::Xlsx, &lines, &out);
    let mut wb = open_workbook_auto(&out).unwrap();
    assert_eq!(wb.sheet_names(), vec!["Libro de compras", "Parámetros"]);
    let r = wb.worksheet_range("Libro de compras").unwrap();
    let kinds: Vec<String> = column(&r, 2).iter().map(text).collect();
    assert_eq!(
        kinds,
        vec![
            "Factura electrónica",
            "Factura electrónica",
            "Subtotal Factura electrónica",
            "Nota de crédito electrónica",
            "Subtotal Nota de crédito electrónica",
            "Total",
        ]
    );
    let nro: Vec<Data> = column(&r, 0);
    assert_eq!(num(&nro[0]), 1);
    assert_eq!(num(&nro[3]), 3);
    let total: Vec<i64> = column(&r, 12).iter().map(num).collect();
    assert_eq!(
        total,
        vec![1_190_000, 595_000, 1_785_000, -238_000, -238_000, 1_547_000]
    );
    let neto: Vec<i64> = column(&r, 9).iter().map(num).collect();
    assert_eq!(neto[5], 1_300_000);
    assert_eq!(text(&column(&r, 3)[2]), "2 documentos");

    let f = wb.worksheet_formula("Libro de compras").unwrap();
    assert_eq!(f.get_value((6, 12)).unwrap(), "SUBTOTAL(9,M5:M6)");
    assert_eq!(f.get_value((8, 12)).unwrap(), "SUBTOTAL(9,M8:M8)");
    assert_eq!(f.get_value((9, 12)).unwrap(), "SUBTOTAL(9,M5:M9)");
    assert_eq!(cell_style(&out, 1, "M10").0, MONEY);
}

#[test]
fn vencimientos_age_debts_subtotal_suppliers_and_mark_claim_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("venc.xlsx");
    let mut a1 = line(33, 1, "76555835-2", 100_000); // due 2026-11-05: 23 days late
    a1.plazo_reclamo = Some(d("2026-11-20")); // expired
    let mut a2 = line(33, 2, "76555835-2", 200_000);
    a2.vence = d("2026-12-10"); // al día
    a2.plazo_reclamo = Some(d("2026-11-29")); // tomorrow: soon
    let mut b1 = line(33, 3, "76177907-9", 300_000);
    b1.vence = d("2026-07-01"); // 150 days late
    // 357,000 less a credited note of 57,000 and a payment of 100,000: 200,000 owed
    b1.pagos = Some(icc_io::export::PaymentFacts {
        notas: 57_000,
        pagado: 100_000,
        saldo: 200_000,
        interes: 12_345,
        cargo: 2_000,
    });
    b1.plazo_reclamo = None; // reception unknown
    b1.fecha_recepcion = None;
    export(
        ReportKind::Vencimientos,
        ExportFormat::Xlsx,
        &[a1, a2, b1],
        &out,
    );
    let mut wb = open_workbook_auto(&out).unwrap();
    let r = wb.worksheet_range("Vencimientos").unwrap();
    let labels: Vec<String> = column(&r, 1).iter().map(text).collect();
    assert_eq!(labels[2], "Subtotal Proveedor 76555835-2");
    assert_eq!(labels[4], "Subtotal Proveedor 76177907-9");
    assert_eq!(labels[5], "Total");
    assert_eq!(num(&column(&r, 7)[0]), 23);
    assert_eq!(text(&column(&r, 8)[0]), "1–30 días");
    assert_eq!(text(&column(&r, 8)[1]), "al día");
    assert_eq!(text(&column(&r, 8)[3]), "más de 90 días");
    assert_eq!(text(&column(&r, 9)[3]), "desconocido");
    // what is owed lands in its bucket column (nothing credited or paid: the total)
    assert_eq!(num(&column(&r, 15)[0]), 119_000);
    assert_eq!(num(&column(&r, 19)[0]), 119_000);
    assert_eq!(num(&column(&r, 18)[1]), 238_000);
    // credit notes and payments reduce what is owed and what is aged
    let b = 3;
    assert_eq!(num(&column(&r, 12)[b]), 357_000);
    assert_eq!(num(&column(&r, 13)[b]), -57_000);
    assert_eq!(num(&column(&r, 14)[b]), -100_000);
    assert_eq!(num(&column(&r, 15)[b]), 200_000);
    assert_eq!(
        (num(&column(&r, 16)[b]), num(&column(&r, 17)[b])),
        (12_345, 2_000)
    );
    assert_eq!(num(&column(&r, 22)[b]), 200_000);
    // subtotals and total per column
    assert_eq!(num(&column(&r, 12)[2]), 357_000);
    assert_eq!(num(&column(&r, 18)[5]), 238_000);
    assert_eq!(num(&column(&r, 12)[5]), 714_000);
    assert_eq!(num(&column(&r, 15)[5]), 557_000);
    assert_eq!(num(&column(&r, 16)[5]), 12_345);
    // claim deadlines: expired and soon are filled, a far one is not
    let (fmt, expired_fill) = cell_style(&out, 1, "J5");
    assert_eq!(fmt, "dd-mm-yyyy");
    let (_, soon_fill) = cell_style(&out, 1, "J6");
    assert_ne!(expired_fill, "0");
    assert_ne!(soon_fill, "0");
    assert_ne!(expired_fill, soon_fill);
}

#[test]
fn por_obra_summarises_with_a_chart_and_a_sheet_per_obra() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("obra.xlsx");
    let a = line(33, 1, "76555835-2", 1_000_000);
    let mut b = line(33, 2, "76555835-2", 500_000);
    b.centro_costo = Some("CC-B".into());
    let mut c = line(61, 3, "76555835-2", 100_000);
    c.centro_costo = Some("CC-B".into());
    let mut e = line(33, 4, "76177907-9", 10_000);
    e.obra = None;
    e.obra_nombre = None;
    e.centro_costo = None;
    export(ReportKind::PorObra, ExportFormat::Xlsx, &[a, b, c, e], &out);
    let mut wb = open_workbook_auto(&out).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec!["Resumen", "OB-1", "Sin obra", "Parámetros"]
    );
    let r = wb.worksheet_range("Resumen").unwrap();
    let cc: Vec<String> = column(&r, 2).iter().take(5).map(text).collect();
    assert_eq!(cc, vec!["CC-A", "CC-B", "", "Sin centro de costo", ""]);
    let docs: Vec<i64> = column(&r, 3).iter().take(6).map(num).collect();
    assert_eq!(docs, vec![1, 2, 3, 1, 1, 4]);
    let total: Vec<i64> = column(&r, 8).iter().take(6).map(num).collect();
    assert_eq!(
        total,
        vec![1_190_000, 476_000, 1_666_000, 11_900, 11_900, 1_677_900]
    );
    // the chart's table: total per obra
    let all = column(&r, 0);
    let at = all
        .iter()
        .position(|v| matches!(v, Data::String(s) if s == "Total por obra"))
        .unwrap();
    assert_eq!(text(&all[at + 2]), "OB-1");
    assert_eq!(num(&column(&r, 2)[at + 2]), 1_666_000);
    assert_eq!(text(&all[at + 3]), "Sin obra");
    let chart = zip_text(&out, "xl/charts/chart1.xml");
    assert!(chart.contains("<c:barChart>"));
    assert!(chart.contains("Resumen!$C$"), "{chart}");

    let ob = wb.worksheet_range("OB-1").unwrap();
    assert_eq!(
        text(ob.get_value((0, 0)).unwrap()),
        "Obra OB-1: Edificio Uno"
    );
    let totals: Vec<i64> = column(&ob, 13).iter().map(num).collect();
    assert_eq!(totals, vec![1_190_000, 595_000, -119_000, 1_666_000]);
}

#[test]
fn empty_results_make_valid_workbooks_that_say_so() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ReportKind::ALL {
        let out = dir.path().join(format!("{}.xlsx", kind.name()));
        export(kind, ExportFormat::Xlsx, &[], &out);
        let mut wb = open_workbook_auto(&out).unwrap();
        let first = wb.sheet_names()[0].clone();
        assert_eq!(wb.sheet_names().last().unwrap(), "Parámetros");
        let r = wb.worksheet_range(&first).unwrap();
        assert_eq!(
            text(r.get_value((4, 0)).unwrap()),
            "Sin resultados para los filtros indicados.",
            "{kind:?}"
        );
    }
}

#[test]
fn csv_is_semicolons_utf8_with_bom_and_chilean_dates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.csv");
    let mut nc = line(61, 77, "76177907-9", 100_000);
    nc.razon_social = "Ferretería \"El Clavo\"; Ñuñoa".into();
    export(
        ReportKind::Facturas,
        ExportFormat::Csv,
        &[line(33, 1001, "76555835-2", 1_000_000), nc],
        &out,
    );
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "header, two rows, final CRLF: {text}");
    assert!(lines[0].starts_with("Tipo;Documento;Folio;RUT proveedor;Razón social;Emisión"));
    assert!(lines[1].starts_with("33;Factura electrónica;1001;76.555.835-2;"));
    assert!(lines[1].contains(";05-10-2026;06-10-2026 10:30;05-11-2026;"));
    assert!(lines[1].contains(";1000000;0;190000;0;1190000;"));
    assert!(lines[2].contains("\"Ferretería \"\"El Clavo\"\"; Ñuñoa\""));
    assert!(lines[2].contains(";-100000;0;-19000;0;-119000;"));

    // a text cell a spreadsheet would run as a formula is prefixed with ', amounts are not
    let out = dir.path().join("inj.csv");
    let mut evil = line(33, 1002, "76555835-2", 1_000);
    evil.razon_social = "=HYPERLINK(\"http://x\";\"clic\")".into();
    let mut tab = line(33, 1003, "76555835-2", 2_000);
    tab.razon_social = "\t@SUM(A1)".into();
    let mut plus = line(33, 1004, "76555835-2", 3_000);
    plus.razon_social = "+56 9 1234".into();
    export(
        ReportKind::Facturas,
        ExportFormat::Csv,
        &[evil, tab, plus, line(61, 9, "76177907-9", 500)],
        &out,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(";\"'=HYPERLINK(\"\"http://x\"\";\"\"clic\"\")\";"),
        "{text}"
    );
    assert!(
        text.contains(";'\t@SUM(A1);") || text.contains(";\"'\t@SUM(A1)\";"),
        "{text}"
    );
    assert!(text.contains(";'+56 9 1234;"), "{text}");
    assert!(text.contains(";-500;"), "{text}");
    assert!(!text.contains(";=") && !text.contains(";+56"), "{text}");

    // libro de compras keeps its subtotal and total rows
    let out = dir.path().join("l.csv");
    export(
        ReportKind::LibroCompras,
        ExportFormat::Csv,
        &[line(33, 1, "76555835-2", 1_000)],
        &out,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(";Subtotal Factura electrónica;1 documento;"));
    assert!(text.contains(";Total;1 documento;"));
}

#[test]
fn an_unfinished_export_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.xlsx");
    std::fs::write(&out, b"previous report").unwrap();
    {
        let mut e = Exporter::create(meta(ReportKind::Facturas), ExportFormat::Xlsx, &out).unwrap();
        e.push(&line(33, 1, "76555835-2", 1_000)).unwrap();
        // dropped: cancelled
    }
    assert_eq!(std::fs::read(&out).unwrap(), b"previous report");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left");
}

#[test]
fn what_a_killed_export_left_is_removed_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".icc-export-AbC123.partial");
    let running = dir.path().join(".icc-export-XyZ789.partial");
    let theirs = dir.path().join("old.partial");
    for p in [&stale, &running, &theirs] {
        std::fs::write(p, b"half a report").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for p in [&stale, &theirs] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }
    let out = dir.path().join("informe.xlsx");
    let mut e = Exporter::create(meta(ReportKind::Facturas), ExportFormat::Xlsx, &out).unwrap();
    e.push(&line(33, 1, "76555835-2", 1_000)).unwrap();
    e.finish().unwrap();
    assert!(!stale.exists(), "an hour-old partial of ours is removed");
    assert!(running.exists(), "a recent one may be another export's");
    assert!(theirs.exists(), "files not named by us are not touched");
    assert!(out.exists());
}

#[test]
fn an_unwritable_destination_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no-existe").join("x.xlsx");
    let err = Exporter::create(meta(ReportKind::Facturas), ExportFormat::Xlsx, &out)
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("no-existe"), "{msg}");
    assert!(msg.contains("Revise que la carpeta exista"), "{msg}");
}

#[test]
fn sheet_names_stay_legal_and_unique() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.xlsx");
    let mut a = line(33, 1, "76555835-2", 1);
    a.obra = Some("OB/2026:1".into());
    let mut b = line(33, 2, "76555835-2", 1);
    b.obra = Some("ob-2026-1".into());
    let mut c = line(33, 3, "76555835-2", 1);
    c.obra = Some("OB-2026-1".into());
    let mut e = Exporter::create(meta(ReportKind::PorObra), ExportFormat::Xlsx, &out).unwrap();
    for l in [a, b, c] {
        e.push(&l).unwrap();
    }
    let summary = e.finish().unwrap();
    let wb = open_workbook_auto(&out).unwrap();
    assert_eq!(
        wb.sheet_names(),
        summary.sheets,
        "the summary names the real sheets"
    );
    assert_eq!(
        wb.sheet_names(),
        vec![
            "Resumen",
            "OB-2026-1",
            "ob-2026-1 (2)",
            "OB-2026-1 (3)",
            "Parámetros"
        ]
    );
}

#[test]
fn libreoffice_opens_every_report_and_computes_the_same_totals() {
    let Some(soffice) = common::soffice() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..60 {
        let tipo = if i % 7 == 0 { 61 } else { 33 };
        let rut = ["76555835-2", "76177907-9", "96874030-K"][i % 3];
        let mut l = line(tipo, i as i64 + 1, rut, 10_000 * (i as i64 + 1));
        l.obra = Some(format!("OB-{}", i % 4));
        l.centro_costo = Some(format!("CC-{}", i % 2));
        lines.push(l);
    }
    let mut files = Vec::new();
    for kind in ReportKind::ALL {
        let mut sorted = lines.clone();
        match kind {
            ReportKind::LibroCompras => sorted.sort_by_key(|l| (l.tipo_dte.code(), l.folio)),
            ReportKind::Vencimientos => sorted.sort_by_key(|l| (l.razon_social.clone(), l.folio)),
            ReportKind::PorObra => {
                sorted.sort_by_key(|l| (l.obra.clone(), l.centro_costo.clone(), l.folio))
            }
            ReportKind::Facturas => {}
        }
        let out = dir.path().join(format!("{}.xlsx", kind.name()));
        export(kind, ExportFormat::Xlsx, &sorted, &out);
        files.push(out);
        if kind == ReportKind::LibroCompras {
            let out = dir.path().join("libro.csv");
            export(kind, ExportFormat::Csv, &sorted, &out);
            files.push(out);
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/report-pdf");
    let pdfs = dir.path().join("pdf");
    let out = std::process::Command::new(&script)
        .arg("--outdir")
        .arg(&pdfs)
        .args(&files)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in &files {
        let pdf = pdfs.join(f.with_extension("pdf").file_name().unwrap());
        let bytes = std::fs::read(&pdf).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "{}", pdf.display());
        assert!(bytes.len() > 5_000, "{} has content", pdf.display());
    }

    // LibreOffice's own reading of the libro de compras: the totals row it computes
    let status = std::process::Command::new(&soffice)
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "csv",
            "--outdir",
        ])
        .arg(dir.path().join("lo"))
        .arg(dir.path().join("libro-compras.xlsx"))
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let lo = std::fs::read(dir.path().join("lo/libro-compras.csv")).unwrap();
    let lo = String::from_utf8_lossy(&lo);
    let total_line = lo.lines().find(|l| l.contains(",Total,")).unwrap();
    let expected: i64 = lines.iter().map(|l| l.signed(l.total)).sum();
    assert!(
        total_line.ends_with(&format!(",{expected}")),
        "{total_line} vs {expected}"
    );
}

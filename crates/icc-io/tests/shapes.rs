//! Each real-world shape of an invoice file, pinned by its own small input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use icc_io::{Detected, Format, ParseError, ParseOptions, ParsedFile, RcvVariant, parse_file};

fn opts() -> ParseOptions {
    ParseOptions {
        today: Some("2026-11-28".parse().unwrap()),
        ..Default::default()
    }
}

fn parse(name: &str, bytes: impl Into<Vec<u8>>) -> Result<ParsedFile, ParseError> {
    parse_file(name, bytes.into(), &opts(), &mut |_| true)
}

fn ok(name: &str, bytes: impl Into<Vec<u8>>) -> ParsedFile {
    parse(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn refused(name: &str, bytes: impl Into<Vec<u8>>) -> String {
    match parse(name, bytes) {
        Err(ParseError::File(e)) => e.to_string(),
        Err(e) => panic!("{name}: unexpected {e}"),
        Ok(p) => panic!("{name}: accepted {} documents", p.docs.len()),
    }
}

const RCV_HEADER: &str = "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Fecha Acuse;Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total;Monto Neto Activo Fijo;IVA Activo Fijo;IVA uso Comun;Impto. Sin Derecho a Credito;IVA No Retenido;NCE o NDE sobre Fact. de Compra;Codigo Otro Impuesto;Valor Otro Impuesto;Tasa Otro Impuesto";

#[test]
fn rcv_continuation_rows_fold_into_their_document() {
    let csv = format!(
        "{RCV_HEADER}\r\n\
         1;33;Del Giro;76555835-2;Combustibles Sur;1001;01/10/2026;02/10/2026 10:00:00;03/10/2026 10:00:00;0;100000;19000;0;;125000;0;0;0;0;0;0;28;3000;0\r\n\
         ;;;;;;;;;;;;;;;;;;;;;35;3000;0\r\n\
         2;61;Del Giro;76555835-2;Combustibles Sur;55;05/10/2026;06/10/2026 09:00:00;-;0;1000;190;0;;1190;0;0;0;0;0;0;;;\r\n"
    );
    let p = ok("rcv_no_incluir_con_continuacion.csv", csv);
    assert_eq!(p.detected, Detected::Rcv(RcvVariant::NoIncluir));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.docs.len(), 2, "a continuation row is not a document");
    let d = &p.docs[0].invoice;
    assert_eq!(
        d.otros_impuestos
            .iter()
            .map(|o| (o.codigo, o.valor.pesos()))
            .collect::<Vec<_>>(),
        [(28, 3000), (35, 3000)]
    );
    assert_eq!(
        p.docs[1].invoice.key.tipo_dte.code(),
        61,
        "credit notes kept as tipo 61"
    );
    assert_eq!(
        p.docs[1].invoice.fecha_recepcion_sii.unwrap().to_string(),
        "2026-10-06 09:00:00"
    );
}

#[test]
fn every_rcv_variant_is_told_apart_by_its_header() {
    let row = "1;33;Del Giro;76555835-2;X;1;01/10/2026;02/10/2026 10:00:00;0;1000;190;0;;1190";
    let pendiente = "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total";
    assert_eq!(
        ok("p.csv", format!("{pendiente}\n{row}\n")).detected,
        Detected::Rcv(RcvVariant::Pendiente)
    );
    let reclamado = pendiente.replace("Fecha Recepcion;", "Fecha Recepcion;Fecha Reclamo;");
    let row_r = row.replace("10:00:00;", "10:00:00;03/10/2026 10:00:00;");
    let p = ok("r.csv", format!("{reclamado}\n{row_r}\n"));
    assert_eq!(p.detected, Detected::Rcv(RcvVariant::Reclamado));
    assert_eq!(
        p.docs[0].invoice.estado,
        icc_core::InvoiceStatus::Rechazada,
        "a claimed document is rejected, with the reason"
    );
}

#[test]
fn a_sales_register_is_refused_as_such() {
    let e = refused(
        "ventas.csv",
        "Nro;Tipo Doc;Tipo Venta;Rut cliente;Razon Social;Folio;Fecha Docto;Monto Total\n1;33;Del Giro;76555835-2;X;1;01/10/2026;1190\n",
    );
    assert!(e.contains("Registro de Ventas"), "{e}");
}

#[test]
fn windows_1252_csv_with_title_rows_blank_rows_and_a_totals_row() {
    let text = "Facturas de proveedores octubre 2026\n\
                Constructora ICC\n\
                \n\
                R.U.T.;Proveedor;Tipo Doc;N° Folio;Fecha emisión;Neto;IVA;Total;Obra;Centro de costo;OC\n\
                76.555.835-2;Ferretería Ñuñoa;33;1001;03-10-2026;$ 1.000.000;$ 190.000;$ 1.190.000;OB-1;OBRA GRUESA;AS-334455\n\
                \n\
                76369187-k;Áridos Maipú;61;77;2026-10-04;10.000;1.900;11.900;;;\n\
                ;;;;;1.010.000;191.900;1.201.900;;;\n\
                Total;;;;;;;;;;\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let p = ok("proveedores.csv", bytes.into_owned());
    assert_eq!(p.detected, Detected::Generic);
    assert_eq!(p.header_row, 4);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.docs.len(), 2, "blank and totals rows are skipped");
    let d = &p.docs[0].invoice;
    assert_eq!(d.razon_social, "Ferretería Ñuñoa");
    assert_eq!(
        (
            d.monto_neto.pesos(),
            d.monto_iva.pesos(),
            d.monto_total.pesos()
        ),
        (1_000_000, 190_000, 1_190_000)
    );
    assert_eq!(d.obra.as_deref(), Some("OB-1"));
    assert_eq!(
        d.referencias[0].tipo, "801",
        "the OC becomes a reference of type 801"
    );
    assert_eq!(p.docs[1].invoice.key.to_string(), "76369187-K:61:77");
}

#[test]
fn comma_separated_english_headers_and_quoted_fields() {
    let csv = "Supplier ID,Supplier,Document type,Invoice number,Invoice date,Net amount,VAT,Total amount\n\
               76555835-2,\"Hormigones del Sur, S.A.\",Factura Electrónica,5,2026-10-01,\"1,000\",190,\"1,190\"\n";
    let p = ok("en.csv", csv);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.docs[0].invoice.razon_social, "Hormigones del Sur, S.A.");
    assert_eq!(p.docs[0].invoice.monto_total.pesos(), 1190);
}

#[test]
fn row_errors_name_row_column_and_value_and_do_not_stop_the_file() {
    let csv = "RUT;Razón social;Tipo;Folio;Fecha;Neto;IVA;Total\n\
               76123456-5;Malo;33;1;01/10/2026;1000;190;1190\n\
               76555835-2;Bueno;33;0;01/10/2026;1000;190;1190\n\
               76555835-2;Bueno;33;2;31/02/2026;1000;190;1190\n\
               76555835-2;Bueno;33;3;01/10/2026;1000;190;1290\n\
               76555835-2;Bueno;33;4;01/10/2026;1000;190;1190\n\
               76555835-2;Bueno;33;4;01/10/2026;1000;190;1190\n\
               76555835-2;Bueno;99;5;01/10/2026;1000;190;1190\n";
    let p = ok("errores.csv", csv);
    let by_row: Vec<(u64, String, String)> = p
        .errors
        .iter()
        .map(|e| {
            (
                e.row.unwrap(),
                e.column.clone().unwrap_or_default(),
                e.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        by_row[0],
        (2, "RUT (A)".into(), "76123456-5".into()),
        "wrong check digit"
    );
    assert_eq!(by_row[1], (3, "Folio (D)".into(), "0".into()), "folio 0");
    assert_eq!(
        (by_row[2].0, by_row[2].1.as_str()),
        (4, "Fecha (E)"),
        "impossible date"
    );
    assert_eq!(
        (by_row[3].0, by_row[3].1.as_str()),
        (5, "Total (H)"),
        "total does not add up"
    );
    assert_eq!(
        (by_row[4].0, by_row[4].1.as_str()),
        (7, "Folio (D)"),
        "the same document twice: second one rejected"
    );
    assert!(
        p.errors[4].message.contains("fila 6"),
        "{}",
        p.errors[4].message
    );
    assert_eq!(
        p.docs.len(),
        2,
        "rows 6 and 8 are good (unknown tipo 99 is kept)"
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.row == Some(8) && w.message.contains("desconocido"))
    );
    assert!(p.errors.iter().all(|e| e.file == "errores.csv"));
}

#[test]
fn a_header_only_file_is_a_month_without_purchases() {
    let p = ok("solo_encabezado.csv", format!("{RCV_HEADER}\r\n"));
    assert!(p.docs.is_empty() && p.errors.is_empty());
}

#[test]
fn files_that_are_not_spreadsheets_are_refused_with_what_they_are() {
    assert!(refused("vacio.csv", "").contains("vacío"));
    assert!(refused("blancos.csv", "\n\n  \n").contains("vacío"));
    assert!(refused("factura.xlsx", b"%PDF-1.4\n%\xe2\xe3".to_vec()).contains("PDF"));
    assert!(
        refused(
            "falso.xlsx",
            b"PK\x03\x04\x14\x00\x00\x00not really a zip".to_vec()
        )
        .contains("zip")
    );
    let noise: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    assert!(refused("ruido.bin", noise).contains("binario"));
    let e = refused("sin_columnas.csv", "a;b;c\n1;2;3\n");
    assert!(e.contains("encabezados"), "{e}");
}

#[test]
fn huge_rows_and_columns_give_a_clear_answer() {
    let mut wide = (0..10_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(";");
    wide.push('\n');
    wide.push_str(&"1;".repeat(9_999));
    wide.push_str("1\n");
    assert!(refused("ancho.csv", wide).contains("encabezados"));
    let long = format!(
        "RUT;Folio;Fecha;Neto;Total\n76555835-2;1;01/10/2026;1000;{}\n",
        "9".repeat(10 * 1024 * 1024)
    );
    let p = ok("linea_larga.csv", long);
    assert_eq!(p.errors.len(), 1, "the 10 MB cell is one bad amount");
    assert!(
        p.errors[0].message.contains("rango") || p.errors[0].message.contains("monto"),
        "{}",
        p.errors[0].message
    );
}

#[test]
fn a_generic_sheet_can_be_read_with_an_explicit_mapping() {
    let csv =
        "Emisor;Doc;Número;Día;Base;Impuesto;Bruto\n76555835-2;33;7;01/10/2026;1000;190;1190\n";
    let e = refused("raro.csv", csv);
    assert!(e.contains("--mapping"), "{e}");
    let mapping: icc_io::MappingSpec = serde_json::from_str(
        r#"{"rut": "Emisor", "tipo": "Doc", "folio": "Número", "fecha_emision": "Día", "neto": "Base", "iva": "Impuesto", "total": "G"}"#,
    )
    .unwrap();
    let o = ParseOptions {
        mapping: Some(mapping),
        format: Format::Generic,
        ..opts()
    };
    let p = parse_file("raro.csv", csv.as_bytes().to_vec(), &o, &mut |_| true).unwrap();
    assert_eq!(p.docs.len(), 1, "{:?}", p.errors);
    assert_eq!(
        p.docs[0].invoice.monto_total.pesos(),
        1190,
        "a column letter works too"
    );
}

#[test]
fn cancelling_stops_the_parse() {
    let mut csv = String::from("RUT;Folio;Fecha;Neto;IVA;Total\n");
    for i in 1..=5000 {
        csv.push_str(&format!("76555835-2;{i};01/10/2026;1000;190;1190\n"));
    }
    let r = parse_file("largo.csv", csv.into_bytes(), &opts(), &mut |rows| {
        rows < 2000
    });
    assert!(matches!(r, Err(ParseError::Cancelled)));
}

#[test]
fn a_parsed_sheet_offers_its_columns_and_mapping_by_letter_for_an_editor() {
    let csv = "Informe de compras\r\n\r\nRUT;Proveedor;Folio;Fecha;Neto;IVA;Total;Proyecto\r\n\
               76555835-2;Áridos Norte;10;01-10-2026;1000;190;1190;OB-1\r\n";
    let p = ok("compras.csv", csv);
    assert_eq!(p.detected, Detected::Generic);
    let cols: Vec<(&str, &str)> = p
        .columns
        .iter()
        .map(|(l, t)| (l.as_str(), t.as_str()))
        .collect();
    assert_eq!(cols[0], ("A", "RUT"));
    assert_eq!(cols[7], ("H", "Proyecto"));
    let letter = |f: icc_io::Field| p.mapping_letters.get(&f).map(String::as_str);
    assert_eq!(letter(icc_io::Field::Rut), Some("A"));
    assert_eq!(letter(icc_io::Field::Total), Some("G"));
    // the letters go back in as a mapping, here with the project column as the obra
    let mut spec = p.mapping_letters.clone();
    spec.insert(icc_io::Field::Obra, "H".into());
    let again = parse_file(
        "compras.csv",
        csv.as_bytes().to_vec(),
        &ParseOptions {
            mapping: Some(spec),
            ..opts()
        },
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(again.docs[0].invoice.obra.as_deref(), Some("OB-1"));
}

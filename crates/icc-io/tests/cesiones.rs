//! Cesión files as the office receives them, built here from the formats' element and column
//! names: AEC XML with chains of 1–3 cesiones (ISO-8859-1 and UTF-8), the SII text file with
//! its multi-address e-mail quirk (UTF-8 and Windows-1252), and every kind of broken file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use icc_io::cesion::{CesionFileKind, detect, parse, pdf_is_certificate};

/// One `Cesion` of an AEC.
fn cesion_xml(
    seq: u32,
    cedente: (&str, &str),
    cesionario: (&str, &str),
    monto: i64,
    tmst: &str,
) -> String {
    format!(
        "<Cesion version=\"1.0\"><DocumentoCesion ID=\"C{seq}\">\
         <SeqCesion>{seq}</SeqCesion>\
         <IdDTE><TipoDTE>33</TipoDTE><RUTEmisor>76555835-2</RUTEmisor><RUTReceptor>76086428-5</RUTReceptor>\
         <Folio>5001</Folio><FchEmis>2026-10-01</FchEmis><MntTotal>15500000</MntTotal></IdDTE>\
         <Cedente><RUT>{}</RUT><RazonSocial>{}</RazonSocial><Direccion>Av. Ñuble 123</Direccion>\
         <eMail>c@x.cl</eMail><RUTAutorizado><RUT>11111111-1</RUT><Nombre>Ana</Nombre></RUTAutorizado></Cedente>\
         <Cesionario><RUT>{}</RUT><RazonSocial>{}</RazonSocial><Direccion>Huérfanos 1</Direccion><eMail>f@x.cl</eMail></Cesionario>\
         <MontoCesion>{monto}</MontoCesion><UltimoVencimiento>2026-11-30</UltimoVencimiento>\
         <TmstCesion>{tmst}</TmstCesion></DocumentoCesion>\
         <Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignatureValue>AAAA</SignatureValue></Signature></Cesion>",
        cedente.0, cedente.1, cesionario.0, cesionario.1
    )
}

/// A whole AEC with `chain` cesiones; the signed invoice inside carries its own RUTEmisor,
/// which must not be mistaken for a cesión's.
fn aec(chain: &[String], encoding: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n\
         <AEC xmlns=\"http://www.sii.cl/SiiDte\" version=\"1.0\"><DocumentoAEC ID=\"AEC1\">\
         <Caratula version=\"1.0\"><RutCedente>76555835-2</RutCedente><RutCesionario>76086428-5</RutCesionario>\
         <TmstFirmaEnvio>2026-10-05T10:20:00</TmstFirmaEnvio></Caratula>\
         <Cesiones><DTECedido version=\"1.0\"><DocumentoDTECedido><DTE version=\"1.0\"><Documento ID=\"F5001\">\
         <Encabezado><IdDoc><TipoDTE>33</TipoDTE><Folio>5001</Folio></IdDoc>\
         <Emisor><RUTEmisor>99999999-9</RUTEmisor><RznSoc>Otra &amp; Cía</RznSoc></Emisor></Encabezado>\
         </Documento></DTE></DocumentoDTECedido></DTECedido>{}</Cesiones></DocumentoAEC></AEC>",
        chain.concat()
    )
}

fn chain(n: u32) -> Vec<String> {
    let parties = [
        ("76555835-2", "Hormigones Andinos SpA"),
        ("76086428-5", "Factoring Ñuñoa S.A."),
        ("96667560-8", "Banco &amp; Cía"),
        ("77201351-5", "Fondo Los Álamos"),
    ];
    (1..=n)
        .map(|s| {
            let i = s as usize;
            cesion_xml(
                s,
                parties[i - 1],
                parties[i],
                15_500_000 - i64::from(s - 1) * 1_000,
                &format!("2026-10-0{s}T10:18:35"),
            )
        })
        .collect()
}

#[test]
fn an_aec_chain_of_one_to_three_cesiones_reads_whole_in_both_encodings() {
    for n in 1..=3 {
        let utf8 = aec(&chain(n), "UTF-8").into_bytes();
        let latin = encoding_rs::WINDOWS_1252
            .encode(&aec(&chain(n), "ISO-8859-1"))
            .0
            .into_owned();
        // XML allows blanks around `=` and single quotes in the declaration
        let spaced = encoding_rs::WINDOWS_1252
            .encode(&aec(&chain(n), "ISO-8859-1").replacen(
                "encoding=\"ISO-8859-1\"",
                "encoding = 'ISO-8859-1'",
                1,
            ))
            .0
            .into_owned();
        for bytes in [utf8, latin, spaced] {
            assert_eq!(detect(&bytes), Some(CesionFileKind::Aec));
            let f = parse(&bytes).unwrap();
            assert!(f.errors.is_empty(), "{:?}", f.errors);
            assert_eq!(f.cesiones.len(), n as usize);
            let last = f.cesiones.last().unwrap();
            assert_eq!(last.seq, n);
            assert_eq!(last.documento.to_string(), "76555835-2:33:5001");
            assert_eq!(last.receptor.unwrap().to_string(), "76086428-5");
            assert_eq!(last.monto_total, Some(15_500_000));
            let expected =
                ["Factoring Ñuñoa S.A.", "Banco & Cía", "Fondo Los Álamos"][n as usize - 1];
            assert_eq!(last.cesionario_nombre, expected);
            assert_eq!(last.fecha.to_string(), format!("2026-10-0{n} 10:18:35"));
            assert_eq!(
                last.ultimo_vencimiento.map(|d| d.to_string()).as_deref(),
                Some("2026-11-30")
            );
        }
    }
}

#[test]
fn a_cesion_missing_a_field_is_reported_and_the_rest_kept() {
    let mut c = chain(2);
    c[1] = c[1].replace("<MontoCesion>15499000</MontoCesion>", "");
    let f = parse(aec(&c, "UTF-8").as_bytes()).unwrap();
    assert_eq!(f.cesiones.len(), 1);
    assert!(
        f.errors[0].message.contains("MontoCesion"),
        "{:?}",
        f.errors
    );
    // a type that cannot be assigned
    let bad = aec(&chain(1), "UTF-8").replace(
        "<TipoDTE>33</TipoDTE><RUTEmisor>76555835-2",
        "<TipoDTE>61</TipoDTE><RUTEmisor>76555835-2",
    );
    let f = parse(bad.as_bytes()).unwrap();
    assert!(f.cesiones.is_empty());
    assert!(
        f.errors[0].message.contains("no se puede ceder"),
        "{:?}",
        f.errors
    );
}

const HEADER: &str = "VENDEDOR;ESTADO_CESION;DEUDOR;MAIL_DEUDOR;TIPO_DOC;NOMBRE_DOC;FOLIO_DOC;FCH_EMIS_DTE;MNT_TOTAL;CEDENTE;RZ_CEDENTE;MAIL_CEDENTE;CESIONARIO;RZ_CESIONARIO;MAIL_CESIONARIO;FCH_CESION;MNT_CESION;FCH_VENCIMIENTO";

fn sii_txt() -> String {
    [
        "DATOS_CONSULTA; RUT=76086428-5;TIPO_CONSULTA=DEUDOR;DESDE_DDMMAAAA=01102026;HASTA_DDMMAAAA=31102026",
        HEADER,
        // the re-cesión first: the chain is ordered by FCH_CESION, not by line
        "76555835-2;Cesion Vigente;76086428-5;pagos@icc.cl;33;Factura Electronica;5001;2026-10-01;15500000;76086428-5;Factoring Ñuñoa S.A.;f@x.cl;96667560-8;Banco Sur;b1@x.cl;b2@x.cl;2026-10-09 16:00;15500000;2026-11-30",
        "76555835-2;Cesion Vigente;76086428-5;pagos@icc.cl;cxp@icc.cl;33;Factura Electronica;5001;2026-10-01;15500000;76555835-2;Hormigones Andinos SpA;h@x.cl;76086428-5;Factoring Ñuñoa S.A.;f@x.cl;2026-10-05 10:18;15500000;2026-11-30",
        "76177907-9;Cesion Vigente;76086428-5;null;34;Factura Exenta;88;2026-10-02;3000000;76177907-9;'';'';76086428-5;Factoring Ñuñoa S.A.;'';2026-10-06 09:00;2000000;null",
        "76177907-9;Cesion Vigente;76086428-5;null;33;Factura;89",
        "",
    ]
    .join("\r\n")
}

#[test]
fn the_sii_file_merges_split_mails_orders_chains_and_reads_both_encodings() {
    let utf8 = sii_txt().into_bytes();
    let cp1252 = encoding_rs::WINDOWS_1252.encode(&sii_txt()).0.into_owned();
    for bytes in [utf8, cp1252] {
        assert_eq!(detect(&bytes), Some(CesionFileKind::SiiTxt));
        let f = parse(&bytes).unwrap();
        assert_eq!(f.cesiones.len(), 3, "{:?}", f.errors);
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].line, Some(6));
        let chain: Vec<_> = f
            .cesiones
            .iter()
            .filter(|c| c.documento.folio.get() == 5001)
            .map(|c| (c.seq, c.cesionario_nombre.as_str()))
            .collect();
        assert_eq!(chain, [(1, "Factoring Ñuñoa S.A."), (2, "Banco Sur")]);
        let partial = f
            .cesiones
            .iter()
            .find(|c| c.documento.folio.get() == 88)
            .unwrap();
        assert_eq!(
            (partial.monto_cedido, partial.monto_total),
            (2_000_000, Some(3_000_000))
        );
        assert_eq!(partial.cedente_nombre, None, "'' is no value");
        assert_eq!(partial.ultimo_vencimiento, None, "null is no value");
    }
}

#[test]
fn broken_files_are_refused_with_a_reason() {
    let full = aec(&chain(2), "UTF-8");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (full.as_bytes()[..full.len() / 2].to_vec(), "cortado"),
        (
            b"<?xml version=\"1.0\"?><EnvioDTE><SetDTE/></EnvioDTE>".to_vec(),
            "no es un archivo de cesiones",
        ),
        (
            b"<?xml version=\"1.0\"?><AEC><DocumentoAEC></DocumentoAEC></AEC>".to_vec(),
            "ninguna cesi",
        ),
        (
            b"<?xml version=\"1.0\"?><AEC><DocumentoAEC></Caratula></AEC>".to_vec(),
            "mal formado",
        ),
        (Vec::new(), "vacío"),
        (b"   \n".to_vec(), "vacío"),
        (b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj".to_vec(), "PDF"),
        (
            vec![0, 159, 146, 150, 1, 2, 3],
            "no es un archivo de cesiones",
        ),
        (format!("{HEADER}X\n1;2").into_bytes(), "encabezado"),
        (
            b"<?xml version=\"1.0\" encoding=\"klingon\"?><AEC/>".to_vec(),
            "codificaci",
        ),
        // found by fuzzing: a multi-byte character right after `encoding=`
        (
            b"<AEC \x83\x83\xC3\x92 encoding=\x92ENT*E\x00\x92;".to_vec(),
            "codificaci",
        ),
    ];
    for (bytes, why) in cases {
        let e = parse(&bytes).expect_err(why).to_string();
        assert!(e.contains(why), "{why}: {e}");
    }
}

/// A PDF with a text layer (Helvetica, WinAnsi): one page per entry, one line per string.
fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    let n = pages.len();
    // objects: 1 catalog, 2 pages, 3 font, then per page: page, contents
    let mut objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {n} >>",
            (0..n)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        let mut content = b"BT /F1 11 Tf 14 TL 50 780 Td\n".to_vec();
        for l in *lines {
            content.push(b'(');
            for c in l.chars() {
                match c {
                    '(' | ')' | '\\' => content.extend([b'\\', c as u8]),
                    c => content.push(u8::try_from(u32::from(c)).unwrap_or(b'?')),
                }
            }
            content.extend(b") Tj T*\n");
        }
        content.extend(b"ET");
        objs.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend(&content);
        stream.extend(b"\nendstream");
        objs.push(stream);
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).into_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .into_bytes(),
    );
    out
}

const CERTIFICATE: [&str; 9] = [
    "CERTIFICADO DE ANOTACION EN EL REGISTRO DE CESIONES",
    "Documento: Factura Electrónica",
    "RUT Emisor: 76.555.835-2   Folio N° : 5001",
    "Seq: 1",
    "Cedido por HORMIGONES ANDINOS SPA, RUT N° 76.555.835-2",
    "Cedido a FACTORING ÑUÑOA S.A., RUT N° 76.086.428-5",
    "Fecha de la Cesión: 2026-10-05 10:18:35",
    "Monto Cedido: $ 15.500.000",
    "Ultimo Vencimiento: 2026-11-30",
];

#[test]
fn a_certificate_pdf_with_text_gives_its_chain_and_says_what_a_block_lacks() {
    let second = [
        "Seq: 2",
        "Cedido por FACTORING ÑUÑOA S.A., RUT N° 76.086.428-5",
        "Cedido a BANCO SUR, RUT N° 96.667.560-8",
        "Fecha de la Cesion: 2026-10-09 16:00:00",
        "Monto Cedido: $ 15.500.000",
        "Identificador de Cesion: 7788-AB",
    ];
    let broken = [
        "Seq: 3",
        "Cedido a FONDO X, RUT N° 77.201.351-5",
        "Fecha de la Cesion: 2026-10-12 09:00:00",
    ];
    let mut page1: Vec<&str> = CERTIFICATE.to_vec();
    page1.extend(second);
    let mut page2: Vec<&str> = CERTIFICATE[..3].to_vec();
    page2.extend(broken);
    let bytes = pdf(&[&page1, &page2]);
    assert_eq!(detect(&bytes), Some(CesionFileKind::Certificado));
    let f = parse(&bytes).unwrap();
    let got: Vec<_> = f
        .cesiones
        .iter()
        .map(|c| (c.seq, c.cesionario_nombre.as_str(), c.monto_cedido, c.page))
        .collect();
    assert_eq!(
        got,
        [
            (1, "FACTORING ÑUÑOA S.A.", 15_500_000, Some(1)),
            (2, "BANCO SUR", 15_500_000, Some(1))
        ]
    );
    assert_eq!(f.cesiones[0].documento.to_string(), "76555835-2:33:5001");
    assert_eq!(f.cesiones[1].identificador.as_deref(), Some("7788-AB"));
    assert_eq!(f.cesiones[1].cedente_rut.to_string(), "76086428-5");
    assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    assert_eq!(f.errors[0].page, Some(2));
    assert!(f.errors[0].message.contains("Cedido por"), "{:?}", f.errors);
}

#[test]
fn the_notification_e_mail_as_text_reads_the_same() {
    let text = CERTIFICATE.join("\n");
    let f = parse(text.as_bytes()).unwrap();
    assert_eq!(f.kind, CesionFileKind::Certificado);
    assert_eq!(f.cesiones.len(), 1, "{:?}", f.errors);
    assert_eq!(f.cesiones[0].fecha.to_string(), "2026-10-05 10:18:35");
    // without the document's type nothing is guessed
    let vague = text.replace("Documento: Factura Electrónica\n", "");
    let f = parse(vague.as_bytes()).unwrap();
    assert!(f.cesiones.is_empty());
    assert!(
        f.errors[0].message.contains("tipo de documento"),
        "{:?}",
        f.errors
    );
}

#[test]
fn a_scanned_or_broken_pdf_is_refused() {
    let scanned = pdf(&[&[], &[]]);
    let e = parse(&scanned).unwrap_err().to_string();
    assert!(e.contains("escaneada") && e.contains("2 página"), "{e}");
    let e = parse(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj trailer")
        .unwrap_err()
        .to_string();
    assert!(e.contains("PDF"), "{e}");
}

#[test]
fn a_cesionario_without_a_rut_label_and_accented_names_do_not_break_the_reader() {
    let text = "Documento: Factura Electronica\nRUT Emisor: 76.555.835-2 Folio N° : 5001\nSeq: 1\n\
                Cedido por HORMIGONES ANDINOS SPA 76.555.835-2\nCedido a FACTORING ÑUÑOA SpA 76.086.428-5\n\
                Fecha de la Cesion: 2026-10-05 10:18:35\nMonto Cedido: $ 15.500.000\n";
    let f = parse(text.as_bytes()).unwrap();
    assert_eq!(f.cesiones.len(), 1, "{:?}", f.errors);
    assert_eq!(f.cesiones[0].cesionario_rut.to_string(), "76086428-5");
    assert!(
        f.cesiones[0]
            .cesionario_nombre
            .starts_with("FACTORING ÑUÑOA SpA")
    );
}

#[test]
fn an_annulled_cesion_of_the_sii_file_is_reported_not_imported() {
    let text = sii_txt().replace("Cesion Vigente;76086428-5;pagos@icc.cl;33;Factura Electronica;5001;2026-10-01;15500000;76086428-5", "Cesion Anulada;76086428-5;pagos@icc.cl;33;Factura Electronica;5001;2026-10-01;15500000;76086428-5");
    let f = parse(text.as_bytes()).unwrap();
    assert_eq!(f.cesiones.len(), 2);
    assert!(
        f.errors.iter().any(|e| e.message.contains("Anulada")),
        "{:?}",
        f.errors
    );
}

#[test]
fn hostile_files_are_read_or_refused_in_time_proportional_to_their_size() {
    // nesting deeper than any AEC: refused before each field's path grows with the depth
    let deep = format!(
        "<?xml version=\"1.0\"?><AEC><DocumentoAEC><Cesiones><DTECedido/><Cesion><DocumentoCesion>{}{}</DocumentoCesion></Cesion></Cesiones></DocumentoAEC></AEC>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let e = parse(deep.as_bytes()).expect_err("too deep").to_string();
    assert!(e.contains("anida más de 64"), "{e}");
    // a certificate of many blocks after a long preamble: each block looks up the
    // preamble's labels once per page, not once per block
    let mut text = "x".repeat(200_000);
    text.push('\n');
    for i in 0..20_000 {
        text.push_str(&format!("Seq: {}\n", i % 40 + 1));
    }
    let f = icc_io::cesion::parse_certificate_text(&[(Some(1), text)]);
    assert!(f.cesiones.is_empty());
    assert_eq!(f.errors.len(), 20_000);
    assert!(
        f.errors[0].message.contains("RUT del emisor"),
        "{:?}",
        f.errors[0]
    );
}

#[test]
fn only_a_pdf_that_reads_as_a_certificate_is_taken_for_one_among_invoice_files() {
    assert!(pdf_is_certificate(&pdf(&[&CERTIFICATE])));
    // an invoice's own PDF, a scan, a broken PDF, not a PDF at all
    assert!(!pdf_is_certificate(&pdf(&[&[
        "FACTURA ELECTRONICA N° 5001",
        "Hormigones Andinos SpA, RUT 76.555.835-2",
        "Total $ 1.190.000",
    ]])));
    assert!(!pdf_is_certificate(&pdf(&[&[], &[]])));
    assert!(!pdf_is_certificate(
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj trailer"
    ));
    assert!(!pdf_is_certificate(CERTIFICATE.join("\n").as_bytes()));
}

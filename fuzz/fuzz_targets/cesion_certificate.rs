//! Any bytes as a registry certificate: as a PDF (its text layer) and as the notification
//! e-mail's text; a file or an error, never a panic; every cesión read can be assigned, has
//! a sequence of 1–40 and a positive amount.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn check(parsed: Result<icc_io::cesion::CesionFile, icc_io::cesion::CesionFileError>) {
    if let Ok(f) = parsed {
        for c in &f.cesiones {
            assert!(matches!(c.documento.tipo_dte.code(), 33 | 34 | 43 | 46));
            assert!((1..=40).contains(&c.seq));
            assert!(c.monto_cedido > 0);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(icc_io::cesion::parse_certificate_pdf(data));
    check(Ok(icc_io::cesion::parse_certificate_text(&[(
        Some(1),
        String::from_utf8_lossy(data).into_owned(),
    )])));
});

//! Any bytes as a cesión file (AEC XML, the SII's cesiones text file, a certificate PDF or
//! its text), as `icc cesiones import` reads them: a file or an error, never a panic; every cesión read can be assigned
//! (types 33, 34, 43, 46), has a sequence of 1–40 and a positive amount.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for parsed in [
        icc_io::cesion::parse(data),
        icc_io::cesion::parse_aec(data),
        icc_io::cesion::parse_sii_txt(data),
        icc_io::cesion::parse_certificate_pdf(data),
        Ok(icc_io::cesion::parse_certificate_text(&[(
            Some(1),
            String::from_utf8_lossy(data).into_owned(),
        )])),
    ] {
        if let Ok(f) = parsed {
            for c in &f.cesiones {
                assert!(matches!(c.documento.tipo_dte.code(), 33 | 34 | 43 | 46));
                assert!((1..=40).contains(&c.seq));
                assert!(c.monto_cedido > 0);
            }
        }
    }
});

//! Any bytes as a registry certificate: as a PDF (its text layer) and as the notification
//! e-mail's text, held to the promises of `common/cesion.rs`; and the check the invoice
//! import makes of a dropped PDF, which must answer without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common/cesion.rs"]
mod common;
use common::check;

fuzz_target!(|data: &[u8]| {
    let _ = icc_io::cesion::pdf_is_certificate(data);
    check(icc_io::cesion::parse_certificate_pdf(data));
    check(Ok(icc_io::cesion::parse_certificate_text(&[(
        Some(1),
        String::from_utf8_lossy(data).into_owned(),
    )])));
});

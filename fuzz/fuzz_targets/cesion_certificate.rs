//! Any bytes as a registry certificate: as a PDF (its text layer) and as the notification
//! e-mail's text, held to the promises of `common/cesion.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common/cesion.rs"]
mod common;
use common::check;

fuzz_target!(|data: &[u8]| {
    check(icc_io::cesion::parse_certificate_pdf(data));
    check(Ok(icc_io::cesion::parse_certificate_text(&[(
        Some(1),
        String::from_utf8_lossy(data).into_owned(),
    )])));
});

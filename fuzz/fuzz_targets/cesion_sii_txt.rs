//! Any bytes as the SII's "cesiones en período" text file, held to the promises of `common/cesion.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common/cesion.rs"]
mod common;
use common::check;

fuzz_target!(|data: &[u8]| {
    check(icc_io::cesion::parse_sii_txt(data));
});

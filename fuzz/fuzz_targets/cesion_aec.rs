//! Any bytes as an AEC XML (and through the content detection `icc cesiones import` uses),
//! held to the promises of `common/cesion.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common/cesion.rs"]
mod common;
use common::check;

fuzz_target!(|data: &[u8]| {
    check(icc_io::cesion::parse_aec(data));
    check(icc_io::cesion::parse(data));
});

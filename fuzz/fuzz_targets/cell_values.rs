//! Chilean amounts and dates from text cells. Must never panic; an amount that parses must
//! print back within one peso of itself.
#![no_main]

use icc_io::cell::{Cell, amount, date};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(Some(a)) = amount(Cell::Text(s)) {
        let again = amount(Cell::Text(&a.pesos.to_string())).ok().flatten().map(|b| b.pesos);
        assert_eq!(again, Some(a.pesos));
    }
    let _ = date(Cell::Text(s));
});

//! A bank-transfer sheet (the predecessor's `Santander.xlsx`, any layout) read as records and
//! mapped to supplier accounts as `icc cuentas-bancarias importar` does: any bytes give
//! accounts and findings or an error, never a panic; every account read has a valid RUT and
//! a digits-only number.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = icc_io::legacy::read_records("Santander.xlsx", data.to_vec(), None) {
        let (accounts, _) = icc_io::bank::accounts_from_records("Santander.xlsx", &records);
        for a in &accounts {
            assert!(a.numero.bytes().all(|b| b.is_ascii_digit()));
            assert!(!a.nombre.is_empty() && !a.banco.is_empty());
        }
    }
});

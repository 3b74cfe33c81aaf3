//! Kame answers: any bytes as a `getListFicha` page, a `getCuentaxPagar` list, an error body
//! and a voucher's success answer. Reading must never panic; every ficha read has a valid
//! RUT and every item is either read or reported.
#![no_main]

use icc_kame::wire::{cuentas_por_pagar, error_in_success, error_message, ficha_page, posted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = posted(data);
    let _ = error_in_success(data);
    let text = String::from_utf8_lossy(data);
    assert!(error_message(&text).chars().count() <= 300);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(p) = ficha_page(&v) {
        assert_eq!(p.fichas.len() + p.rejected.len(), p.items);
        for f in &p.fichas {
            assert_eq!(f.rut.to_string().parse::<icc_core::Rut>().ok(), Some(f.rut));
        }
    }
    let _ = cuentas_por_pagar(&v);
});

//! iConstruye answers: any bytes as a search row and a detail answer. Reading and mapping must
//! never panic; a document that maps must keep total = neto + exento + IVA with none negative.
#![no_main]

use icc_iconstruye::wire::{Detalle, Resumen, pesos};
use icc_iconstruye::{DocKind, map_document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // first half: a search row; second half: a detail answer
    let mid = data.len() / 2;
    let (a, b) = data.split_at(mid);
    let (Ok(row), Ok(detail)) = (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) else {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
            let _ = pesos(&v);
            let _ = Detalle::from_answer(v);
        }
        return;
    };
    let Ok(r) = Resumen::from_value(row) else { return };
    let Ok(d) = Detalle::from_answer(detail) else { return };
    for kind in [DocKind::Factura, DocKind::Nota] {
        if let Ok(m) = map_document(kind, &r, &d) {
            let i = &m.invoice;
            assert!(i.monto_neto.pesos() >= 0 && i.monto_exento.pesos() >= 0 && i.monto_iva.pesos() >= 0);
            assert_eq!(
                i.monto_total.pesos(),
                i.monto_neto.pesos() + i.monto_exento.pesos() + i.monto_iva.pesos()
            );
        }
    }
});

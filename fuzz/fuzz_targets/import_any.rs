//! Any bytes as an import file: format sniffing, decoding, delimiter and header detection.
//! Must never panic; whatever is accepted must have only valid documents.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = icc_io::ParseOptions::default();
    if let Ok(p) = icc_io::parse_file("fuzz.bin", data.to_vec(), &opts, &mut |_| true) {
        // accepted documents passed validation: their totals add up
        for d in &p.docs {
            let i = &d.invoice;
            let sum = i.monto_neto.pesos() + i.monto_exento.pesos() + i.monto_iva.pesos() + i.otros_total().pesos();
            assert!(sum == i.monto_total.pesos() || i.key.tipo_dte.code() == 43);
        }
    }
});

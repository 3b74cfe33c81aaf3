//! The predecessor's files (facturas.csv, Santander.xlsx …) read as records, then mapped to
//! invoices as `icc migrate-legacy` does: any bytes give records or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = icc_io::legacy::read_records("facturas.csv", data.to_vec(), None) {
        for r in &records.rows {
            let _ = icc_iconstruye::mapping::map_flat(&r.fields);
        }
    }
});

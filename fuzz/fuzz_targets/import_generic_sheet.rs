//! Generic sheets: arbitrary text with a recognisable header somewhere in it, read with
//! header detection and synonyms. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (title, body) = data.split_at(data.len().min(64));
    let mut bytes = title.to_vec();
    bytes.extend_from_slice(b"\nR.U.T.;Proveedor;Tipo;N\xc2\xb0 Folio;Fecha;Neto;IVA;Total;Obra\n");
    bytes.extend_from_slice(body);
    let opts = icc_io::ParseOptions { format: icc_io::Format::Generic, ..Default::default() };
    let _ = icc_io::parse_file("hoja.csv", bytes, &opts, &mut |_| true);
});

//! The SII RCV reader: a real compras header, then arbitrary rows (continuations, dashes,
//! thousands separators, broken dates). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const HEADER: &str = "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Fecha Acuse;Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total;Monto Neto Activo Fijo;IVA Activo Fijo;IVA uso Comun;Impto. Sin Derecho a Credito;IVA No Retenido;Tabacos Puros;Tabacos Cigarrillos;Tabacos Elaborados;NCE o NDE sobre Fact. de Compra;Codigo Otro Impuesto;Valor Otro Impuesto;Tasa Otro Impuesto\r\n";

fuzz_target!(|data: &[u8]| {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(data);
    let opts = icc_io::ParseOptions { format: icc_io::Format::Rcv, ..Default::default() };
    let _ = icc_io::parse_file("rcv.csv", bytes, &opts, &mut |_| true);
});

//! Helpers shared by the integration tests of this crate (each test file includes it with
//! `mod common;`).

#![allow(dead_code, clippy::unwrap_used)] // not every test file uses every helper

use icc_core::{Clp, DteType, Folio, Invoice, InvoiceStatus, NaturalKey, Rut, Source};

/// An approved factura of supplier `rut` (body) named `nombre`, emitted 2026-10-01 and
/// received at the SII that morning.
pub fn factura(rut: u32, nombre: &str, folio: u64, total: i64) -> Invoice {
    let emision: chrono::NaiveDate = "2026-10-01".parse().unwrap();
    Invoice {
        key: NaturalKey {
            rut_emisor: Rut::from_body(rut).unwrap(),
            tipo_dte: DteType::FACTURA,
            folio: Folio::new(folio).unwrap(),
        },
        razon_social: nombre.into(),
        fecha_emision: emision,
        fecha_recepcion_sii: emision.and_hms_opt(9, 0, 0),
        fecha_vencimiento: None,
        monto_neto: Clp::new(total),
        monto_exento: Clp::ZERO,
        monto_iva: Clp::ZERO,
        otros_impuestos: vec![],
        monto_total: Clp::new(total),
        referencias: vec![],
        obra: None,
        centro_costo: None,
        cuenta: None,
        orden_compra: None,
        glosa: None,
        estado: InvoiceStatus::Aprobada,
        motivo_rechazo: None,
        source: Source::Manual,
        external_id: None,
        fecha_importacion: None,
    }
}

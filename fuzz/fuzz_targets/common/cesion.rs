//! What every cesión file reader promises, shared by the cesión fuzz targets: a file or an
//! error, never a panic; every cesión read can be assigned (types 33, 34, 43, 46), has a
//! sequence of 1–40 and a positive amount.

pub fn check(parsed: Result<icc_io::cesion::CesionFile, icc_io::cesion::CesionFileError>) {
    if let Ok(f) = parsed {
        for c in &f.cesiones {
            assert!(icc_core::records::assignable(c.documento.tipo_dte));
            assert!((1..=40).contains(&c.seq));
            assert!(c.monto_cedido > 0);
        }
    }
}

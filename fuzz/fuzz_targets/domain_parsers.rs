//! Every text parser of icc-core on arbitrary input: none may panic, and whatever parses must
//! print back to something that parses to the same value.
#![no_main]

use icc_core::{DteType, Folio, InvoiceStatus, NaturalKey, Role, Rut, parse_date, parse_datetime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = s.parse::<Rut>() {
        assert_eq!(r.to_string().parse::<Rut>().ok(), Some(r));
        assert_eq!(r.display().parse::<Rut>().ok(), Some(r));
    }
    if let Ok(k) = s.parse::<NaturalKey>() {
        assert_eq!(k.to_string().parse::<NaturalKey>().ok(), Some(k));
    }
    if let Ok(f) = s.parse::<Folio>() {
        assert!((1..=10_000_000_000).contains(&f.get()));
    }
    let _ = DteType::parse(s);
    let _ = s.parse::<InvoiceStatus>();
    let _ = s.parse::<Role>();
    let _ = parse_date("fecha", s);
    let _ = parse_datetime("fecha", s);
    if let Ok(key) = icc_core::recovery::decode(s) {
        assert_eq!(icc_core::recovery::decode(&icc_core::recovery::encode(&key)), Ok(key));
    }
});

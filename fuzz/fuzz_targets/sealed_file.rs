//! Any bytes as a sealed attachment (`icc_io::sealed`): opening never panics, never
//! accepts what was not sealed with the key, and a sealed copy of the input opens back
//! to it.
#![no_main]

use icc_io::sealed::{FileKey, open, seal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = FileKey([7; 32]);
    let mut out = Vec::new();
    // random bytes authenticate only with negligible probability: forged input is refused
    assert!(open(&key, &mut &data[..], &mut out).is_err());
    let mut sealed = Vec::new();
    seal(&key, &mut &data[..], &mut sealed).unwrap();
    let mut back = Vec::new();
    open(&key, &mut &sealed[..], &mut back).unwrap();
    assert_eq!(back, data);
});

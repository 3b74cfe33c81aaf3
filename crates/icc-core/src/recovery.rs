//! The recovery key: the 256-bit key that encrypts a data folder, written so a person can
//! print it, keep it in a drawer and type it back after the OS keyring was lost.
//!
//! Format: the 32 bytes in Crockford base32 (52 characters), then 4 characters (20 bits) of
//! a polynomial checksum that catches every single mistyped character, shown as 14 groups
//! of 4 separated by `-`. Decoding ignores case, spaces and dashes, reads `O` as `0` and
//! `I`/`L` as `1` (Crockford), and refuses anything else with the position of the fault.
//!
//! ```
//! use icc_core::recovery::{decode, encode};
//! let key = [7u8; 32];
//! let text = encode(&key);
//! assert_eq!(text.len(), 14 * 4 + 13);
//! assert_eq!(decode(&text.to_lowercase().replace('-', " ")).unwrap(), key);
//! ```

use std::fmt;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of the key proper (ceil(256 / 5)).
const KEY_CHARS: usize = 52;
/// Characters of checksum.
const CHECK_CHARS: usize = 4;
/// Characters per printed group.
const GROUP: usize = 4;

/// Why a typed recovery key was refused. Messages are for the person typing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryKeyError {
    /// A character that is not part of the alphabet.
    BadCharacter {
        /// 1-based position among the key's characters (dashes and spaces not counted).
        position: usize,
        /// The character.
        found: char,
    },
    /// Too few or too many characters.
    Length {
        /// Characters found (dashes and spaces not counted).
        found: usize,
    },
    /// The characters are valid but the checksum does not match: a typing error.
    Checksum,
}

impl fmt::Display for RecoveryKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryKeyError::BadCharacter { position, found } => write!(
                f,
                "la clave de recuperación tiene un carácter no válido «{found}» en la posición {position}; use solo letras y números como aparecen en la hoja impresa"
            ),
            RecoveryKeyError::Length { found } => write!(
                f,
                "la clave de recuperación tiene {found} caracteres y deben ser {} (14 grupos de 4)",
                KEY_CHARS + CHECK_CHARS
            ),
            RecoveryKeyError::Checksum => f.write_str(
                "la clave de recuperación no cuadra (su verificación no coincide): revise cada grupo contra la hoja impresa",
            ),
        }
    }
}

impl std::error::Error for RecoveryKeyError {}

/// The value of one Crockford character, with its usual misreadings folded in.
fn value_of(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u8)
}

/// A 20-bit check over the key (a rolling polynomial mod a prime below 2^20): catches every
/// single wrong character and every swap of two neighbours, which is what typing gets wrong.
fn checksum(key: &[u8; 32]) -> u32 {
    const PRIME: u64 = 1_048_573; // the largest prime below 2^20
    let mut acc: u64 = 0;
    for (i, b) in key.iter().enumerate() {
        acc = (acc * 257 + u64::from(*b) + (i as u64 + 1) * 31) % PRIME;
    }
    acc as u32
}

/// The printable form of `key`: `XXXX-XXXX-…` (14 groups).
pub fn encode(key: &[u8; 32]) -> String {
    let mut digits = Vec::with_capacity(KEY_CHARS + CHECK_CHARS);
    // 256 bits, 5 at a time, most significant first; the last character holds 1 bit + padding
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in key {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            digits.push(((acc >> bits) & 31) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        digits.push(((acc << (5 - bits)) & 31) as u8);
    }
    let check = checksum(key);
    for shift in [15, 10, 5, 0] {
        digits.push(((check >> shift) & 31) as u8);
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / GROUP);
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        out.push(ALPHABET[*d as usize] as char);
    }
    out
}

/// Reads a typed recovery key back into the 32 bytes.
///
/// # Errors
/// [`RecoveryKeyError`] naming what is wrong: a foreign character and where, the length,
/// or a checksum that does not match (a typing error).
pub fn decode(text: &str) -> Result<[u8; 32], RecoveryKeyError> {
    let mut digits = Vec::with_capacity(KEY_CHARS + CHECK_CHARS);
    for c in text.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        match value_of(c) {
            Some(v) => digits.push(v),
            None => {
                return Err(RecoveryKeyError::BadCharacter {
                    position: digits.len() + 1,
                    found: c,
                });
            }
        }
    }
    if digits.len() != KEY_CHARS + CHECK_CHARS {
        return Err(RecoveryKeyError::Length {
            found: digits.len(),
        });
    }
    let mut key = [0u8; 32];
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut n = 0;
    for d in &digits[..KEY_CHARS] {
        acc = (acc << 5) | u32::from(*d);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            if n < key.len() {
                key[n] = (acc >> bits) as u8;
                n += 1;
            }
            acc &= (1 << bits) - 1;
        }
    }
    // the 4 padding bits of the last key character must be zero, or two texts would decode
    // to the same key and a typo there would go unseen
    if acc != 0 {
        return Err(RecoveryKeyError::Checksum);
    }
    let check = digits[KEY_CHARS..]
        .iter()
        .fold(0u32, |acc, d| (acc << 5) | u32::from(*d));
    if check != checksum(&key) {
        return Err(RecoveryKeyError::Checksum);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_key_comes_back(key in proptest::array::uniform32(any::<u8>())) {
            let text = encode(&key);
            prop_assert_eq!(text.len(), 69);
            prop_assert_eq!(decode(&text).unwrap(), key);
            prop_assert_eq!(decode(&text.to_lowercase().replace('-', "  ")).unwrap(), key);
        }

        #[test]
        fn any_single_wrong_character_is_caught(
            key in proptest::array::uniform32(any::<u8>()),
            at in 0usize..56,
            delta in 1u8..32,
        ) {
            let text = encode(&key).replace('-', "");
            let mut chars: Vec<u8> = text.into_bytes();
            let v = value_of(chars[at] as char).unwrap();
            chars[at] = ALPHABET[((v + delta) % 32) as usize];
            let typo = String::from_utf8(chars).unwrap();
            prop_assert!(decode(&typo).is_err());
        }

        #[test]
        fn any_text_is_refused_or_read_never_panics(text in ".{0,120}") {
            let _ = decode(&text);
        }
    }

    #[test]
    fn misreadings_are_folded_and_faults_are_named() {
        let key = [0u8; 32];
        let text = encode(&key);
        assert!(text.starts_with("0000-0000"));
        assert_eq!(decode(&text.replace('0', "O")).unwrap(), key);
        let e = decode("0000-U000").unwrap_err();
        assert_eq!(
            e,
            RecoveryKeyError::BadCharacter {
                position: 5,
                found: 'U'
            }
        );
        assert!(e.to_string().contains("posición 5"), "{e}");
        assert_eq!(
            decode("0000").unwrap_err(),
            RecoveryKeyError::Length { found: 4 }
        );
        assert_eq!(
            decode("").unwrap_err(),
            RecoveryKeyError::Length { found: 0 }
        );
        // neighbours swapped
        let key: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let mut chars: Vec<char> = encode(&key).replace('-', "").chars().collect();
        let at = chars.windows(2).position(|w| w[0] != w[1]).unwrap();
        chars.swap(at, at + 1);
        assert!(decode(&chars.into_iter().collect::<String>()).is_err());
    }
}

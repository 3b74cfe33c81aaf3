//! RUT (rol único tributario): parsing of every common spelling and the módulo-11 check
//! digit (DOMAIN.md §2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{CoreError, Result};

/// Largest RUT body accepted (company RUTs are below 100 million; leave headroom).
const MAX_BODY: u32 = 999_999_999;

/// A Chilean RUT with a verified check digit.
///
/// Invariant: `dv == Rut::check_digit(body)`. The canonical form is `76123456-7`
/// ([`fmt::Display`]), the display form `76.123.456-7` ([`Rut::display`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rut {
    body: u32,
    dv: char,
}

impl Rut {
    /// Builds a RUT from its body, computing the check digit.
    ///
    /// # Errors
    /// When the body is 0 or larger than 999.999.999.
    pub fn from_body(body: u32) -> Result<Rut> {
        if body == 0 || body > MAX_BODY {
            return Err(CoreError::invalid(
                "RUT",
                body.to_string(),
                "el número está fuera de rango",
            ));
        }
        Ok(Rut {
            body,
            dv: Self::check_digit(body),
        })
    }

    /// The body (the digits before the check digit).
    pub fn body(&self) -> u32 {
        self.body
    }

    /// The check digit, `0`–`9` or `K`.
    pub fn dv(&self) -> char {
        self.dv
    }

    /// Módulo 11: multiply the body's digits from right to left by 2, 3, 4, 5, 6, 7, 2, 3, ...
    /// `r = 11 - (sum mod 11)`; 11 gives `0`, 10 gives `K`.
    pub fn check_digit(body: u32) -> char {
        let mut sum = 0u32;
        let mut factor = 2u32;
        let mut rest = body;
        while rest > 0 {
            sum += (rest % 10) * factor;
            rest /= 10;
            factor = if factor == 7 { 2 } else { factor + 1 };
        }
        match 11 - (sum % 11) {
            11 => '0',
            10 => 'K',
            // 1..=9 by construction: `sum % 11` is in 0..=10.
            r => char::from_digit(r, 10).unwrap_or('0'),
        }
    }

    /// Display form with thousands dots: `76.123.456-7`.
    pub fn display(&self) -> String {
        format!(
            "{}-{}",
            crate::clp::group_thousands(u64::from(self.body)),
            self.dv
        )
    }
}

impl FromStr for Rut {
    type Err = CoreError;

    /// Accepts `76123456-7`, `76.123.456-7`, `76 123 456 7`, `0076123456-7`, `761234567`,
    /// lowercase `k`.
    fn from_str(raw: &str) -> Result<Rut> {
        let bad = |reason: &str| CoreError::invalid("RUT", raw.trim(), reason);
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, '.' | ' ' | '\u{a0}' | '\t'))
            .collect();
        if cleaned.is_empty() {
            return Err(bad("está vacío; se espera un RUT como 76.123.456-7"));
        }
        let (body_str, dv_str) = match cleaned.rsplit_once('-') {
            Some((b, d)) => (b.to_owned(), d.to_owned()),
            None => {
                let mut chars = cleaned.clone();
                let dv = chars.pop().map(String::from).unwrap_or_default();
                (chars, dv)
            }
        };
        if body_str.is_empty() || !body_str.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "se espera un RUT como 76.123.456-7 (solo dígitos antes del guion)",
            ));
        }
        let dv = match dv_str.as_str() {
            "k" | "K" => 'K',
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => d.as_bytes()[0] as char,
            _ => return Err(bad("el dígito verificador debe ser 0-9 o K")),
        };
        let trimmed = body_str.trim_start_matches('0');
        if trimmed.len() > 9 {
            return Err(bad("el número es demasiado largo"));
        }
        let body: u32 = if trimmed.is_empty() {
            0
        } else {
            trimmed
                .parse()
                .map_err(|_| bad("el número es demasiado largo"))?
        };
        if body == 0 {
            return Err(bad("el número no puede ser cero"));
        }
        let expected = Rut::check_digit(body);
        if expected != dv {
            return Err(bad(&format!(
                "el dígito verificador no corresponde (para {body} debería ser {expected}); revise que el RUT esté bien escrito"
            )));
        }
        Ok(Rut { body, dv })
    }
}

impl fmt::Display for Rut {
    /// Canonical form `76123456-7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.body, self.dv)
    }
}

impl Serialize for Rut {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rut {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Rut, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn check_digits_match_the_domain_vectors() {
        let vectors = [
            (60910000, '1'),
            (76555835, '2'),
            (76177907, '9'),
            (76369187, 'K'),
            (77879240, '0'),
            (96874030, 'K'),
            (17317684, '8'),
        ];
        for (body, dv) in vectors {
            assert_eq!(Rut::check_digit(body), dv, "DOMAIN.md vector for {body}");
        }
    }

    #[test]
    fn every_common_spelling_parses_to_the_same_rut() {
        let canonical: Rut = "76369187-K".parse().unwrap();
        for spelling in [
            "76.369.187-K",
            "76369187-k",
            " 76 369 187 k ",
            "0076369187-K",
            "76369187K",
            "76.369.187k",
        ] {
            assert_eq!(
                spelling.parse::<Rut>().unwrap(),
                canonical,
                "spelling {spelling:?}"
            );
        }
        assert_eq!(canonical.to_string(), "76369187-K");
        assert_eq!(canonical.display(), "76.369.187-K");
        assert_eq!("1-9".parse::<Rut>().unwrap().display(), "1-9");
    }

    #[test]
    fn malformed_ruts_are_refused_with_a_message_naming_the_value() {
        for bad in [
            "",
            "-",
            "76123456-5",
            "abc-1",
            "7612a456-7",
            "76123456-X",
            "0-0",
            "1234567890123-1",
            "76123456--7",
        ] {
            let err = bad.parse::<Rut>().unwrap_err().to_string();
            assert!(err.starts_with("RUT"), "error names the field: {err}");
            assert!(
                err.contains(bad.trim()),
                "error quotes the value {bad:?}: {err}"
            );
        }
    }

    proptest! {
        #[test]
        fn canonical_and_display_forms_round_trip(body in 1u32..=MAX_BODY) {
            let rut = Rut::from_body(body).unwrap();
            prop_assert_eq!(rut.to_string().parse::<Rut>().unwrap(), rut);
            prop_assert_eq!(rut.display().parse::<Rut>().unwrap(), rut);
            prop_assert_eq!(rut.to_string().to_lowercase().parse::<Rut>().unwrap(), rut);
        }

        #[test]
        fn a_wrong_check_digit_is_always_refused(body in 1u32..=MAX_BODY, dv in prop::sample::select(vec!['0','1','2','3','4','5','6','7','8','9','K'])) {
            let good = Rut::check_digit(body);
            prop_assume!(dv != good);
            let text = format!("{}-{}", body, dv);
            prop_assert!(text.parse::<Rut>().is_err(), "accepted {}", text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,40}") {
            let _ = s.parse::<Rut>();
        }
    }
}

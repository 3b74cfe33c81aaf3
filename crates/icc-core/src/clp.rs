//! Money: whole Chilean pesos in an `i64`. Never floats.

use std::fmt;
use std::iter::Sum;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// An amount of Chilean pesos (CLP has no decimals).
///
/// Arithmetic is checked: [`Clp::checked_add`] and friends return an error instead of
/// wrapping. Display uses es-CL format: `$1.234.567`, `-$1.234.567`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(transparent)]
pub struct Clp(i64);

impl Clp {
    /// Zero pesos.
    pub const ZERO: Clp = Clp(0);

    /// Wraps an amount in pesos.
    pub const fn new(pesos: i64) -> Clp {
        Clp(pesos)
    }

    /// The amount in pesos.
    pub const fn pesos(self) -> i64 {
        self.0
    }

    /// Sum, or an error naming `what` on overflow.
    ///
    /// # Errors
    /// [`CoreError::Overflow`] when the result does not fit in `i64`.
    pub fn checked_add(self, other: Clp, what: &'static str) -> Result<Clp> {
        self.0
            .checked_add(other.0)
            .map(Clp)
            .ok_or(CoreError::Overflow(what))
    }

    /// Difference, or an error naming `what` on overflow.
    ///
    /// # Errors
    /// [`CoreError::Overflow`] when the result does not fit in `i64`.
    pub fn checked_sub(self, other: Clp, what: &'static str) -> Result<Clp> {
        self.0
            .checked_sub(other.0)
            .map(Clp)
            .ok_or(CoreError::Overflow(what))
    }

    /// Product by an integer, or an error naming `what` on overflow.
    ///
    /// # Errors
    /// [`CoreError::Overflow`] when the result does not fit in `i64`.
    pub fn checked_mul(self, factor: i64, what: &'static str) -> Result<Clp> {
        self.0
            .checked_mul(factor)
            .map(Clp)
            .ok_or(CoreError::Overflow(what))
    }

    /// Absolute value (saturating at `i64::MAX`).
    pub fn abs(self) -> Clp {
        Clp(self.0.saturating_abs())
    }

    /// `round(self * percent / 100)`, half away from zero, in integer arithmetic.
    pub fn percent(self, percent: i64) -> Clp {
        let num = i128::from(self.0) * i128::from(percent);
        let half = if num >= 0 { 50 } else { -50 };
        let r = (num + half) / 100;
        Clp(i64::try_from(r).unwrap_or(if r > 0 { i64::MAX } else { i64::MIN }))
    }

    /// Thousands-separated digits without the currency sign: `1.234.567`, `-1.234`.
    pub fn format_number(self) -> String {
        let grouped = group_thousands(self.0.unsigned_abs());
        if self.0 < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    }
}

/// `1234567` → `1.234.567` (Chilean thousands separator).
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Clp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.format_number();
        match n.strip_prefix('-') {
            Some(abs) => write!(f, "-${abs}"),
            None => write!(f, "${n}"),
        }
    }
}

impl From<i64> for Clp {
    fn from(p: i64) -> Clp {
        Clp(p)
    }
}

impl Sum for Clp {
    /// Saturating sum, for display totals. Use `checked_add` where overflow must be an error.
    fn sum<I: Iterator<Item = Clp>>(iter: I) -> Clp {
        Clp(iter.fold(0i64, |a, b| a.saturating_add(b.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_in_chilean_style() {
        assert_eq!(Clp::new(0).to_string(), "$0");
        assert_eq!(Clp::new(999).to_string(), "$999");
        assert_eq!(Clp::new(1_000).to_string(), "$1.000");
        assert_eq!(Clp::new(1_234_567).to_string(), "$1.234.567");
        assert_eq!(Clp::new(-1_234_567).to_string(), "-$1.234.567");
        assert_eq!(
            Clp::new(i64::MIN).to_string(),
            "-$9.223.372.036.854.775.808"
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(
            Clp::new(i64::MAX)
                .checked_add(Clp::new(1), "total")
                .is_err()
        );
        assert!(
            Clp::new(i64::MIN)
                .checked_sub(Clp::new(1), "total")
                .is_err()
        );
        assert_eq!(
            Clp::new(2).checked_add(Clp::new(3), "total").unwrap(),
            Clp::new(5)
        );
    }

    #[test]
    fn percent_rounds_half_away_from_zero() {
        assert_eq!(Clp::new(1000).percent(19), Clp::new(190));
        assert_eq!(Clp::new(50).percent(19), Clp::new(10)); // 9.5 -> 10
        assert_eq!(Clp::new(-50).percent(19), Clp::new(-10));
        assert_eq!(
            Clp::new(1_000_000_000_000).percent(19),
            Clp::new(190_000_000_000),
            "no float rounding on large amounts"
        );
    }

    proptest! {
        #[test]
        fn formatted_number_parses_back(n in any::<i64>()) {
            let s = Clp::new(n).format_number().replace('.', "");
            prop_assert_eq!(s.parse::<i64>().unwrap(), n);
        }
    }
}

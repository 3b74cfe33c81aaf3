//! Secrets that cannot be printed: passwords, tokens, API keys on their way through the
//! program.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroize;

/// A secret string. It has no `Display` and no `Serialize`; its `Debug` prints
/// `Secret(***)`; the only way to read it is [`Secret::expose`], called where the secret is
/// actually used (hashing, a request header, the keyring). Its memory is wiped on drop.
/// Logs, error messages and panics therefore cannot carry one by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret as it is (no trimming: a password may end in a space).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

impl From<&String> for Secret {
    fn from(s: &String) -> Secret {
        Secret(s.clone())
    }
}

impl From<&Secret> for Secret {
    fn from(s: &Secret) -> Secret {
        s.clone()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2 ");
        assert_eq!(s.expose(), "hunter2 ");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        let parsed: Secret = serde_json::from_str("\"pw\"").unwrap();
        assert_eq!(parsed.expose(), "pw");
        assert!(Secret::from("").is_empty());
    }
}

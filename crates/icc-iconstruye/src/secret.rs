//! A subscription key that cannot be printed.

use std::fmt;

/// An APIM subscription key. It has no `Display`, its `Debug` prints `ApiKey(***)`, and the
/// only way to read it is [`ApiKey::expose`], used once: when the request header is built
/// (and marked sensitive there). Logs, errors and panics cannot carry it by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, trimming the line ending and spaces a paste or `echo` adds.
    /// `None` for an empty key.
    pub fn new(raw: impl Into<String>) -> Option<ApiKey> {
        let s: String = raw.into();
        let t = s.trim();
        (!t.is_empty()).then(|| ApiKey(t.to_owned()))
    }

    /// The key itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let k = ApiKey::new("  s3cr3t-key\n").unwrap();
        assert_eq!(k.expose(), "s3cr3t-key");
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        assert_eq!(format!("{:?}", Some(&k)), "Some(ApiKey(***))");
        assert!(ApiKey::new(" \n").is_none());
    }
}

//! Configuration from the environment. Every secret may come as `NAME` or as `NAME_FILE` (a
//! path, for Docker and systemd secrets); there is no default for any secret, and a weak
//! signing secret stops the server before it listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8787";
/// Shortest signing secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Shortest metrics token accepted, in bytes.
pub const MIN_METRICS_TOKEN_BYTES: usize = 16;
/// Password hashes computed at once when `ICC_LOGIN_HASH_CONCURRENCY` is not set.
pub const DEFAULT_HASH_CONCURRENCY: usize = 2;
/// Most password hashes at once `ICC_LOGIN_HASH_CONCURRENCY` may ask for (each takes 19 MB).
pub const MAX_HASH_CONCURRENCY: usize = 64;
/// Most reverse proxies `ICC_TRUSTED_PROXIES` may name.
pub const MAX_TRUSTED_PROXIES: usize = 8;

/// A configuration problem, in Spanish, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuración: {0}")]
pub struct ConfigError(pub String);

/// A secret string that never prints.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> SecretString {
        SecretString(s.into())
    }

    /// The secret itself, to use, never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL URL (may carry a password).
    pub database_url: SecretString,
    /// The database password, when it comes apart from the URL (`DATABASE_PASSWORD` /
    /// `DATABASE_PASSWORD_FILE`, the Docker secret PostgreSQL's image reads too).
    pub database_password: Option<SecretString>,
    /// HMAC key that signs access tokens.
    pub signing_secret: SecretString,
    /// Listen address.
    pub bind: SocketAddr,
    /// TLS certificate and key (PEM), for native HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How many reverse proxies in front append to `X-Forwarded-For` (`ICC_TRUSTED_PROXIES`;
    /// `ICC_BEHIND_PROXY=1` means 1). With N of them the client is the N-th entry from the
    /// right; with 0 the connection's peer. Plain HTTP off loopback needs at least one.
    pub trusted_proxies: usize,
    /// Password hashes (login) computed at once (`ICC_LOGIN_HASH_CONCURRENCY`, default 2):
    /// each takes a core and 19 MB, so a burst of logins cannot starve the server.
    pub hash_concurrency: usize,
    /// Bearer token that `/metrics` asks for (`ICC_METRICS_TOKEN` / `_FILE`).
    pub metrics_token: Option<SecretString>,
    /// A separate listener for `/metrics` (`ICC_METRICS_BIND`), kept off the public one.
    /// With neither this nor a token, `/metrics` is not served.
    pub metrics_bind: Option<SocketAddr>,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
}

/// Reads `NAME`, or the file named by `NAME_FILE` (trailing newline removed). Both set is an
/// error: which one wins would be a guess.
///
/// # Errors
/// Both set, or the file unreadable.
pub fn env_or_file(
    name: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let direct = get(name).filter(|v| !v.is_empty());
    let file_var = format!("{name}_FILE");
    let file = get(&file_var).filter(|v| !v.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(ConfigError(format!(
            "{name} y {file_var} están definidas a la vez; deje solo una"
        ))),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_owned()))
            .map_err(|e| ConfigError(format!("{file_var}: no se pudo leer {path}: {e}"))),
        (None, None) => Ok(None),
    }
}

/// Whether a signing secret is strong enough: long, varied, not a placeholder.
///
/// # Errors
/// Why it is not.
pub fn check_secret(secret: &str) -> Result<(), ConfigError> {
    let lower = secret.to_lowercase();
    let placeholders = [
        "changeme", "secret", "password", "example", "default", "contrase",
    ];
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError(format!(
            "ICC_SERVER_SECRET tiene {} bytes y se exigen al menos {MIN_SECRET_BYTES}; genere uno con `openssl rand -base64 48`",
            secret.len()
        )));
    }
    let distinct: std::collections::HashSet<char> = secret.chars().collect();
    if distinct.len() < 12 || placeholders.iter().any(|p| lower.contains(p)) {
        return Err(ConfigError(
            "ICC_SERVER_SECRET parece un valor de ejemplo o repetitivo; genere uno aleatorio con `openssl rand -base64 48`".into(),
        ));
    }
    Ok(())
}

fn flag(v: Option<String>) -> bool {
    matches!(
        v.as_deref().map(str::to_lowercase).as_deref(),
        Some("1" | "true" | "yes" | "si" | "sí")
    )
}

/// `ICC_TRUSTED_PROXIES`, or 1 for the older `ICC_BEHIND_PROXY=1`.
fn trusted_proxies(get: &dyn Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let legacy = get("ICC_BEHIND_PROXY").filter(|v| !v.is_empty());
    let Some(raw) = get("ICC_TRUSTED_PROXIES").filter(|v| !v.is_empty()) else {
        return Ok(usize::from(flag(legacy)));
    };
    let n = raw
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_TRUSTED_PROXIES)
        .ok_or_else(|| {
            ConfigError(format!(
                "ICC_TRUSTED_PROXIES «{raw}» no es válido: indique cuántos proxies inversos hay delante (0 a {MAX_TRUSTED_PROXIES}; 1 con el Caddy de deploy/)"
            ))
        })?;
    if legacy.is_some_and(|l| flag(Some(l)) != (n > 0)) {
        return Err(ConfigError(format!(
            "ICC_BEHIND_PROXY e ICC_TRUSTED_PROXIES={n} se contradicen; deje solo ICC_TRUSTED_PROXIES"
        )));
    }
    Ok(n)
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A missing or weak secret, a bad address, plain HTTP off loopback without a proxy, a
    /// bad number of proxies or of hashes at once, a short metrics token.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (tests pass a map).
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let database_url = env_or_file("DATABASE_URL", get)?.ok_or_else(|| {
            ConfigError(
                "falta DATABASE_URL (o DATABASE_URL_FILE), por ejemplo postgres://icc@db/icc"
                    .into(),
            )
        })?;
        let database_password = env_or_file("DATABASE_PASSWORD", get)?.map(SecretString::new);
        let secret = env_or_file("ICC_SERVER_SECRET", get)?.ok_or_else(|| {
            ConfigError(
                "falta ICC_SERVER_SECRET (o ICC_SERVER_SECRET_FILE): la clave que firma los tokens; no hay valor por defecto"
                    .into(),
            )
        })?;
        check_secret(&secret)?;
        let bind_raw = get("ICC_BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let bind: SocketAddr = bind_raw.parse().map_err(|_| {
            ConfigError(format!(
                "ICC_BIND «{bind_raw}» no es una dirección válida; use IP:PUERTO, por ejemplo {DEFAULT_BIND}"
            ))
        })?;
        let tls = match (get("ICC_TLS_CERT"), get("ICC_TLS_KEY")) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "ICC_TLS_CERT e ICC_TLS_KEY van juntas: indique ambas o ninguna".into(),
                ));
            }
        };
        let trusted_proxies = trusted_proxies(get)?;
        if tls.is_none() && trusted_proxies == 0 && !bind.ip().is_loopback() {
            return Err(ConfigError(format!(
                "ICC_BIND {bind} no es local y no hay TLS: indique ICC_TLS_CERT e ICC_TLS_KEY, o ICC_TRUSTED_PROXIES=1 (antes ICC_BEHIND_PROXY=1) si un proxy inverso termina HTTPS"
            )));
        }
        let hash_concurrency = match get("ICC_LOGIN_HASH_CONCURRENCY").filter(|v| !v.is_empty()) {
            None => DEFAULT_HASH_CONCURRENCY,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_HASH_CONCURRENCY).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "ICC_LOGIN_HASH_CONCURRENCY «{raw}» no es válido: indique un número entre 1 y {MAX_HASH_CONCURRENCY} (por omisión {DEFAULT_HASH_CONCURRENCY})"
                    ))
                })?,
        };
        let metrics_token = env_or_file("ICC_METRICS_TOKEN", get)?;
        if let Some(t) = &metrics_token
            && t.len() < MIN_METRICS_TOKEN_BYTES
        {
            return Err(ConfigError(format!(
                "ICC_METRICS_TOKEN tiene {} bytes y se exigen al menos {MIN_METRICS_TOKEN_BYTES}; genere uno con `openssl rand -hex 24`",
                t.len()
            )));
        }
        let metrics_bind = match get("ICC_METRICS_BIND").filter(|v| !v.is_empty()) {
            None => None,
            Some(raw) => {
                let addr: SocketAddr = raw.parse().map_err(|_| {
                    ConfigError(format!(
                        "ICC_METRICS_BIND «{raw}» no es una dirección válida; use IP:PUERTO, por ejemplo 127.0.0.1:9787"
                    ))
                })?;
                if addr == bind {
                    return Err(ConfigError(format!(
                        "ICC_METRICS_BIND {addr} es la misma dirección que ICC_BIND; indique otro puerto para las métricas"
                    )));
                }
                Some(addr)
            }
        };
        Ok(Config {
            database_url: SecretString::new(database_url),
            database_password,
            signing_secret: SecretString::new(secret),
            bind,
            tls,
            trusted_proxies,
            hash_concurrency,
            metrics_token: metrics_token.map(SecretString::new),
            metrics_bind,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const GOOD: &str = "q8Zr2vN5xT0pL7wK3mB9cY4hJ6fD1sG0aE";

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn no_secret_no_start() {
        let e = cfg(&[("DATABASE_URL", "postgres://x/y")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ICC_SERVER_SECRET") && e.contains("no hay valor por defecto"),
            "{e}"
        );
        for weak in [
            "short",
            "changeme-changeme-changeme-changeme",
            &"a".repeat(64),
        ] {
            let e = cfg(&[
                ("DATABASE_URL", "postgres://x/y"),
                ("ICC_SERVER_SECRET", weak),
            ])
            .unwrap_err()
            .to_string();
            assert!(e.contains("ICC_SERVER_SECRET"), "{e}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback_or_behind_a_proxy() {
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("ICC_SERVER_SECRET", GOOD),
        ];
        let c = cfg(&base).unwrap();
        assert_eq!(c.bind.to_string(), DEFAULT_BIND);
        assert!(format!("{c:?}").contains("***") && !format!("{c:?}").contains(GOOD));
        let mut open = base.to_vec();
        open.push(("ICC_BIND", "0.0.0.0:8787"));
        let e = cfg(&open).unwrap_err().to_string();
        assert!(e.contains("ICC_TRUSTED_PROXIES=1"), "{e}");
        let mut legacy = open.clone();
        legacy.push(("ICC_BEHIND_PROXY", "1"));
        assert_eq!(cfg(&legacy).unwrap().trusted_proxies, 1);
        legacy.push(("ICC_TRUSTED_PROXIES", "0"));
        assert!(
            cfg(&legacy)
                .unwrap_err()
                .to_string()
                .contains("contradicen")
        );
        open.push(("ICC_TRUSTED_PROXIES", "2"));
        assert_eq!(cfg(&open).unwrap().trusted_proxies, 2);
        assert_eq!(c.trusted_proxies, 0);
        for bad in ["-1", "muchos", "99"] {
            let mut b = base.to_vec();
            b.push(("ICC_TRUSTED_PROXIES", bad));
            assert!(
                cfg(&b)
                    .unwrap_err()
                    .to_string()
                    .contains("ICC_TRUSTED_PROXIES"),
                "{bad}"
            );
        }
        let mut half = base.to_vec();
        half.push(("ICC_TLS_CERT", "/x.pem"));
        assert!(cfg(&half).unwrap_err().to_string().contains("ICC_TLS_KEY"));
    }

    #[test]
    fn login_hashes_and_metrics_are_configured_and_checked() {
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("ICC_SERVER_SECRET", GOOD),
        ];
        let c = cfg(&base).unwrap();
        assert_eq!(c.hash_concurrency, DEFAULT_HASH_CONCURRENCY);
        assert!(c.metrics_token.is_none() && c.metrics_bind.is_none());
        for bad in ["0", "-2", "dos", "1000"] {
            let mut b = base.to_vec();
            b.push(("ICC_LOGIN_HASH_CONCURRENCY", bad));
            let e = cfg(&b).unwrap_err().to_string();
            assert!(e.contains("ICC_LOGIN_HASH_CONCURRENCY"), "{bad}: {e}");
        }
        let mut b = base.to_vec();
        b.push(("ICC_LOGIN_HASH_CONCURRENCY", "4"));
        assert_eq!(cfg(&b).unwrap().hash_concurrency, 4);

        let mut b = base.to_vec();
        b.push(("ICC_METRICS_TOKEN", "corto"));
        assert!(
            cfg(&b)
                .unwrap_err()
                .to_string()
                .contains("ICC_METRICS_TOKEN")
        );
        let token = "metricas-0123456789abcdef";
        let mut b = base.to_vec();
        b.push(("ICC_METRICS_TOKEN", token));
        let c = cfg(&b).unwrap();
        assert_eq!(
            c.metrics_token.as_ref().map(SecretString::expose),
            Some(token)
        );
        assert!(!format!("{c:?}").contains(token));

        let mut b = base.to_vec();
        b.push(("ICC_METRICS_BIND", "127.0.0.1:9787"));
        assert_eq!(
            cfg(&b)
                .unwrap()
                .metrics_bind
                .map(|a| a.to_string())
                .as_deref(),
            Some("127.0.0.1:9787")
        );
        for (bad, why) in [
            ("9787", "no es una dirección"),
            (DEFAULT_BIND, "misma dirección"),
        ] {
            let mut b = base.to_vec();
            b.push(("ICC_METRICS_BIND", bad));
            let e = cfg(&b).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_come_from_files_too() {
        let dir = std::env::temp_dir().join(format!("icc-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("secret");
        std::fs::write(&f, format!("{GOOD}\n")).unwrap();
        let path = f.display().to_string();
        let c = cfg(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("ICC_SERVER_SECRET_FILE", &path),
        ])
        .unwrap();
        assert_eq!(c.signing_secret.expose(), GOOD);
        let e = cfg(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("ICC_SERVER_SECRET", GOOD),
            ("ICC_SERVER_SECRET_FILE", &path),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("a la vez"));
        std::fs::remove_dir_all(dir).ok();
    }
}

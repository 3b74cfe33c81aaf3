//! How clients of third-party APIs (iConstruye, Kame) wait before trying again: the
//! server's `Retry-After` when it sends one, else exponential backoff with jitter.

use std::time::Duration;

/// A `Retry-After` header value, as seconds or as an HTTP date (RFC 2822), as the wait from
/// `now`. `None` when it is neither.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = (at.timestamp_millis() - now.timestamp_millis()).max(0);
    Some(Duration::from_millis(ms.unsigned_abs()))
}

/// The wait before retry number `retry` (0-based): `base · 2^retry` plus up to a quarter
/// more (so many laptops do not retry in step), never above `max`. `retry_after`, when the
/// server sent one, wins (capped at `max` too).
pub fn backoff(
    base: Duration,
    max: Duration,
    retry: u32,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(d) = retry_after {
        return d.min(max);
    }
    let exp = base.saturating_mul(1u32 << retry.min(16)).min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = exp.mul_f64(f64::from(nanos % 1000) / 4000.0);
    (exp + jitter).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 02 Dec 2026 10:00:00 GMT")
            .unwrap()
            .to_utc();
        assert_eq!(retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 10:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("pronto", now), None);
    }

    #[test]
    fn backoff_doubles_within_its_cap() {
        let (b, m) = (Duration::from_millis(100), Duration::from_secs(2));
        for r in 0..10 {
            let w = backoff(b, m, r, None);
            let exp = b.saturating_mul(1 << r).min(m);
            assert!(w >= exp && w <= (exp + exp / 4).min(m), "{r}: {w:?}");
        }
        assert_eq!(
            backoff(b, m, 0, Some(Duration::from_secs(9))),
            Duration::from_secs(2)
        );
    }
}

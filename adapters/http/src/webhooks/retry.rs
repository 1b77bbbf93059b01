//! A receiver's `Retry-After` on 429 and 503: the wait it asks for, which the engine's
//! retry schedule respects up to its longest step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// The wait a receiver asked for, when it answered 429 or 503 with `Retry-After`
/// (delta-seconds or an HTTP date, compared with `now`, the wall clock). Other statuses
/// carry no request to wait (RFC 9110 §10.2.3 defines it for 503 and 3xx, RFC 6585 for
/// 429), and an unreadable value is ignored: the schedule still applies.
pub(super) fn asked_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is an RFC 2822 date.
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_is_read_on_429_and_503_only() {
        let now = Utc::now();
        let seven = Some(Duration::from_secs(7));
        assert_eq!(
            asked_wait(StatusCode::TOO_MANY_REQUESTS, &headers("7"), now),
            seven
        );
        assert_eq!(
            asked_wait(StatusCode::SERVICE_UNAVAILABLE, &headers(" 7 "), now),
            seven
        );
        assert_eq!(
            asked_wait(StatusCode::INTERNAL_SERVER_ERROR, &headers("7"), now),
            None
        );
        assert_eq!(
            asked_wait(StatusCode::TOO_MANY_REQUESTS, &headers("soon"), now),
            None
        );
        assert_eq!(
            asked_wait(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            None
        );
    }

    #[test]
    fn an_http_date_counts_from_now_and_a_past_one_is_no_wait() {
        let now = DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:30 GMT")
            .unwrap()
            .with_timezone(&Utc);
        let date = headers("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            asked_wait(StatusCode::TOO_MANY_REQUESTS, &date, now),
            Some(Duration::from_secs(7))
        );
        let later = now + chrono::Duration::minutes(1);
        assert_eq!(
            asked_wait(StatusCode::TOO_MANY_REQUESTS, &date, later),
            Some(Duration::ZERO)
        );
    }
}

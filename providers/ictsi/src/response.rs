//! Reading an ICTSI answer: its records, or a [`TraceError`] classified for the scheduler.
//!
//! | answer | error | why |
//! | --- | --- | --- |
//! | 2xx that parses | records (none: the caller decides, e.g. not found) | |
//! | 2xx that does not parse | transient, parse error and excerpt logged | a glitch or a changed format: an operator must look, retrying costs little |
//! | 401, 403 | permanent, `credentials_rejected`, error logged | only an operator can fix the subscription |
//! | 429 | rate limited, `Retry-After` honoured | |
//! | 400, 422 | permanent, `request_rejected` | the same request will be refused again |
//! | 3xx, 404 | transient, error logged | a wrong `baseUrl`: redirects are never followed, so the key never travels to another host |
//! | 408, 5xx, other | transient, `Retry-After` honoured | |

use std::time::Duration;

use boxtrace::{PermanentReason, Secret, TraceError};
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::wire::{Call, Envelope};

/// The environment variables of the default credentials source, for operator messages.
pub(crate) const ENV_HINT: &str =
    "BOXTRACE_ICTSI_SUBSCRIPTION_KEY and BOXTRACE_ICTSI_SUBSCRIPTION_ID \
     (or the credentials source's ictsi subscriptionKey and subscriptionId)";

/// The longest body excerpt put in a log line, in characters.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// Reads the answer to `call`. `secrets` are scrubbed from any excerpt that is logged;
/// `now` (real time) turns an HTTP-date `Retry-After` into a delay.
pub(crate) fn read<T: DeserializeOwned>(
    call: Call,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&Secret],
    now: DateTime<Utc>,
) -> Result<Vec<T>, TraceError> {
    let code = status.as_u16();
    if status.is_success() {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        return serde_json::from_slice::<Envelope<T>>(body)
            .map(|envelope| envelope.data)
            .map_err(|e| {
                tracing::warn!(
                    call = call.name(),
                    status = code,
                    error = %e,
                    excerpt = %excerpt(body, secrets),
                    "ICTSI's answer does not parse; the trace will be retried. If this \
                     persists, the API's format has changed: correct the provider's wire types"
                );
                TraceError::transient(format!(
                    "ICTSI's {} answer does not parse: {e}",
                    call.name()
                ))
            });
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            tracing::error!(
                call = call.name(),
                status = code,
                "ICTSI rejected the subscription credentials: set a valid subscription key and \
                 id in {ENV_HINT}, then publish the affected containers again"
            );
            Err(TraceError::Permanent {
                reason: PermanentReason::CredentialsRejected,
                message: format!(
                    "ICTSI rejected the configured subscription credentials (HTTP {code})"
                ),
            })
        }
        StatusCode::TOO_MANY_REQUESTS => Err(TraceError::RateLimited {
            retry_after: retry_after(headers, now),
        }),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            tracing::warn!(
                call = call.name(),
                status = code,
                excerpt = %excerpt(body, secrets),
                "ICTSI refused the request as invalid"
            );
            Err(TraceError::Permanent {
                reason: PermanentReason::RequestRejected,
                message: format!(
                    "ICTSI refused the {} request as invalid (HTTP {code})",
                    call.name()
                ),
            })
        }
        _ if status.is_redirection() || status == StatusCode::NOT_FOUND => {
            tracing::error!(
                call = call.name(),
                status = code,
                excerpt = %excerpt(body, secrets),
                "ICTSI has no such call at the configured address: check the provider's baseUrl"
            );
            Err(TraceError::transient(format!(
                "ICTSI answered the {} call with HTTP {code}; check the provider's baseUrl",
                call.name()
            )))
        }
        _ => Err(TraceError::Transient {
            message: format!("ICTSI answered the {} call with HTTP {code}", call.name()),
            retry_after: retry_after(headers, now),
        }),
    }
}

/// `Retry-After` as a delay: delta-seconds, or an HTTP date (a date in the past is no
/// delay).
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is a valid RFC 2822 date.
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// At most [`EXCERPT_CHARS`] characters of `body` for a log line: secrets replaced by
/// `***`, control characters and runs of white space collapsed.
pub(crate) fn excerpt(body: &[u8], secrets: &[&Secret]) -> String {
    // A few KiB hold the excerpt with room for a secret that straddles its end.
    let head = &body[..body.len().min(4096)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    for secret in secrets {
        if !secret.expose().is_empty() {
            text = text.replace(secret.expose(), "***");
        }
    }
    let text = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;
    use serde_json::Value;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Vec<Value>, TraceError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
            map.insert(name, HeaderValue::from_str(value).unwrap());
        }
        let status = StatusCode::from_u16(status).unwrap();
        let key = Secret::new("k3y-s3cret");
        read(
            Call::ContainerDetails,
            status,
            &map,
            body.as_bytes(),
            &[&key],
            now(),
        )
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(
            answer(200, &[], r#"{"data":[{"a":1}],"extra":{}}"#)
                .unwrap()
                .len(),
            1
        );
        assert!(answer(204, &[], "").unwrap().is_empty());
        let class = |status| answer(status, &[], "{}").unwrap_err();
        assert!(matches!(
            class(401),
            TraceError::Permanent {
                reason: PermanentReason::CredentialsRejected,
                ..
            }
        ));
        assert!(matches!(
            class(403),
            TraceError::Permanent {
                reason: PermanentReason::CredentialsRejected,
                ..
            }
        ));
        assert!(matches!(
            class(400),
            TraceError::Permanent {
                reason: PermanentReason::RequestRejected,
                ..
            }
        ));
        for status in [301, 404, 408, 500, 502, 503, 504] {
            assert_eq!(class(status).class(), "transient", "{status}");
        }
        assert_eq!(class(429), TraceError::RateLimited { retry_after: None });
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let err = answer(429, &[("retry-after", "120")], "").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
        let err = answer(429, &[("retry-after", "Mon, 02 Mar 2026 06:01:30 GMT")], "").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(90)));
        let err = answer(503, &[("retry-after", "Mon, 02 Mar 2026 05:00:00 GMT")], "").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::ZERO));
        let err = answer(429, &[("retry-after", "soon")], "").unwrap_err();
        assert_eq!(err.retry_after(), None);
    }

    #[test]
    fn an_unparsable_body_is_transient_and_names_the_problem() {
        let err = answer(200, &[], "<html>gateway</html>").unwrap_err();
        assert_eq!(err.class(), "transient");
        assert!(err.to_string().contains("does not parse"), "{err}");
        let err = answer(200, &[], r#"{"data": "none"}"#).unwrap_err();
        assert!(err.to_string().contains("not a list"), "{err}");
    }

    #[test]
    fn excerpts_are_bounded_and_scrubbed() {
        let key = Secret::new("k3y-s3cret");
        let body = format!("echo: {}\n\t{}", key.expose(), "x".repeat(1000));
        let cut = excerpt(body.as_bytes(), &[&key]);
        assert!(!cut.contains("k3y-s3cret"), "{cut}");
        assert!(cut.starts_with("echo: *** xxx"), "{cut}");
        assert_eq!(cut.chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt(b"short", &[]), "short");
        assert_eq!(excerpt(&[0xff, b'a'], &[]), "\u{fffd}a");
    }
}

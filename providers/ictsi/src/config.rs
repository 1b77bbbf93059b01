//! The provider's configuration: where ICTSI is, how long to wait, how politely to call.

use std::time::Duration;

use boxtrace::{HttpSettings, ProviderLimits};
use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The production track-and-trace host.
pub const DEFAULT_BASE_URL: &str = "https://api.ictsi.net/external/tnt/";

/// How the ICTSI provider behaves. Every field is optional (camelCase, durations like
/// `"10s"`); credentials are not configured here but come from the engine's
/// credentials source:
///
/// ```json
/// { "baseUrl": "https://api.ictsi.net/external/tnt/", "connectTimeout": "5s",
///   "requestTimeout": "15s", "userAgent": "acme-tms/2.1",
///   "limits": { "concurrency": 2, "ratePerSecond": 2, "batchSize": 10 },
///   "vesselVisitTtl": "30m" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct IctsiConfig {
    /// The API's base URL; call paths (`api/v2/…`) are resolved against it. Default: the
    /// production host, [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// Time to connect. Default: the engine's HTTP settings (5 s).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Time for one call, body included. Default: the engine's HTTP settings (20 s).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    /// The `User-Agent` header. Default: the engine's HTTP settings (`boxtrace/<version>`).
    pub user_agent: Option<String>,
    /// Limits for a partner API; fields not given keep these defaults: concurrency 4,
    /// 5 requests per second, burst 5, `batchSize` 20 boxes per container details call
    /// (1 turns batching off; at most [`MAX_BATCH_SIZE`]), `batchWindow` 15 min, trace
    /// timeout 45 s for a whole request (its container details call, then per box a
    /// container events call when it has holds, and a vessel visit call per vessel not
    /// cached).
    #[serde(deserialize_with = "limits_over_defaults")]
    pub limits: ProviderLimits,
    /// How long a vessel visit (receiving date, cut-offs) is reused for every box on that
    /// vessel before it is asked again, on the engine's clock. Default 30 min; `0s`
    /// disables the cache.
    #[serde(with = "humantime_serde")]
    pub vessel_visit_ttl: Duration,
    /// Keep the container record a result was mapped from in the result's `raw` field
    /// (stored with the job, never sent to clients). Default `false`: records are large
    /// and may name shippers.
    pub keep_raw: bool,
}

impl Default for IctsiConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: None,
            request_timeout: None,
            user_agent: None,
            limits: default_limits(),
            vessel_visit_ttl: Duration::from_secs(30 * 60),
            keep_raw: false,
        }
    }
}

/// Boxes per container details call by default. ICTSI documents no limit: its backend
/// splits `container-number` on commas into an `IN (…)` list without a cap, and answers
/// every visit of each box in its pruning window (up to 180 days), cut at the query
/// body's `limit`. 20 is the low end of what terminal APIs allow (20–50) and keeps an
/// answer to a few hundred rows, well inside one page of [`crate::lookup`].
pub const DEFAULT_BATCH_SIZE: usize = 20;

/// The most boxes per call accepted in configuration: beyond it the query string grows
/// past what gateways reliably take, and answers past what one lookup pages through.
pub const MAX_BATCH_SIZE: usize = 100;

/// The polite defaults for a partner API.
pub(crate) fn default_limits() -> ProviderLimits {
    ProviderLimits::default()
        .with_concurrency(4)
        .with_rate(Some(5), 5)
        // Under the engine's 60 s lease, with room for a batch's follow-up calls.
        .with_trace_timeout(Duration::from_secs(45))
        // A request with room takes the terminal's boxes due within 15 minutes: traced a
        // little early, for free.
        .with_batch(DEFAULT_BATCH_SIZE, Duration::from_secs(15 * 60))
}

/// The configuration with every default filled in from the engine's HTTP settings and
/// checked.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub base_url: Url,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub user_agent: String,
}

impl IctsiConfig {
    /// Reads a configuration (`null` gives the defaults), naming the field at fault.
    pub fn from_value(value: &Value) -> Result<Self> {
        if value.is_null() {
            return Ok(Self::default());
        }
        serde_path_to_error::deserialize(value).map_err(|e| Error::Parse {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// Checks the configuration and fills in what it leaves to the engine's settings.
    pub(crate) fn resolve(&self, http: &HttpSettings) -> Result<Resolved> {
        let base_url = base_url(&self.base_url)?;
        let connect_timeout = self.connect_timeout.unwrap_or(http.connect_timeout);
        let request_timeout = self.request_timeout.unwrap_or(http.request_timeout);
        for (field, value) in [
            ("connectTimeout", connect_timeout),
            ("requestTimeout", request_timeout),
            ("limits.traceTimeout", self.limits.trace_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Invalid {
                    field,
                    message: "must be longer than zero".into(),
                });
            }
        }
        if self.limits.concurrency == 0 {
            return Err(Error::Invalid {
                field: "limits.concurrency",
                message: "must be at least 1".into(),
            });
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.limits.batch_size) {
            return Err(Error::Invalid {
                field: "limits.batchSize",
                message: format!(
                    "must be 1 to {MAX_BATCH_SIZE} (boxes per container details call; 1 \
                     traces each box alone)"
                ),
            });
        }
        if self.limits.rate_per_second == Some(0) {
            return Err(Error::Invalid {
                field: "limits.ratePerSecond",
                message: "must be at least 1, or null for no rate limit".into(),
            });
        }
        Ok(Resolved {
            base_url,
            connect_timeout,
            request_timeout,
            user_agent: self
                .user_agent
                .clone()
                .unwrap_or_else(|| http.user_agent.clone()),
        })
    }
}

/// Parses the base URL and gives it a trailing slash, so that call paths are resolved
/// below it rather than replacing its last segment.
fn base_url(raw: &str) -> Result<Url> {
    let fail = |reason: &str| Error::BaseUrl {
        url: redacted(raw),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| fail(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fail("the scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(fail("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials come from the credentials source, never from configuration text.
        return Err(fail("it must not carry a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(fail("it must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `raw` without the user information of its authority (`https://***@host/`), so that a
/// misplaced password never reaches an error message or a log.
fn redacted(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(start) = raw.find("://").map(|i| i + 3) {
        let authority_end = raw[start..].find('/').map_or(raw.len(), |i| start + i);
        if let Some(at) = raw[start..authority_end].rfind('@') {
            return format!("{}***{}", &raw[..start], &raw[start + at..]);
        }
    }
    raw.to_owned()
}

/// Reads `limits` field by field over [`default_limits`], so that `{"concurrency": 2}`
/// keeps the polite rate rather than falling back to the engine's generic defaults.
fn limits_over_defaults<'de, D: Deserializer<'de>>(d: D) -> Result<ProviderLimits, D::Error> {
    use serde::de::Error as _;
    let patch = Value::deserialize(d)?;
    let mut merged = serde_json::to_value(default_limits()).map_err(D::Error::custom)?;
    match (&mut merged, patch) {
        (Value::Object(base), Value::Object(patch)) => base.extend(patch),
        (_, Value::Null) => {}
        (_, other) => {
            return Err(D::Error::custom(format!(
                "limits must be an object, got {other}"
            )))
        }
    }
    serde_json::from_value(merged).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_config_is_polite_and_points_at_production() {
        let config: IctsiConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(config, IctsiConfig::default());
        assert_eq!(config.limits.concurrency, 4);
        assert_eq!(config.limits.rate_per_second, Some(5));
        assert_eq!(config.limits.burst, 5);
        assert_eq!(config.limits.batch_size, DEFAULT_BATCH_SIZE);
        assert_eq!(config.limits.batch_window, Duration::from_secs(900));
        let resolved = config.resolve(&HttpSettings::default()).unwrap();
        assert_eq!(resolved.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(
            resolved.request_timeout,
            HttpSettings::default().request_timeout
        );
        assert!(resolved.user_agent.starts_with("boxtrace/"));
    }

    #[test]
    fn fields_are_camel_case_and_limits_merge_over_the_defaults() {
        let config: IctsiConfig = serde_json::from_value(json!({
            "baseUrl": "http://127.0.0.1:9/external/tnt",
            "connectTimeout": "2s", "requestTimeout": "750ms", "userAgent": "tms/1",
            "limits": { "concurrency": 2, "traceTimeout": "10s" },
            "vesselVisitTtl": "5m", "keepRaw": true
        }))
        .unwrap();
        assert_eq!(config.limits.concurrency, 2);
        assert_eq!(
            config.limits.rate_per_second,
            Some(5),
            "kept from the defaults"
        );
        assert_eq!(config.limits.trace_timeout, Duration::from_secs(10));
        assert_eq!(config.vessel_visit_ttl, Duration::from_secs(300));
        let resolved = config.resolve(&HttpSettings::default()).unwrap();
        assert_eq!(
            resolved.base_url.as_str(),
            "http://127.0.0.1:9/external/tnt/"
        );
        assert_eq!(resolved.request_timeout, Duration::from_millis(750));
        assert_eq!(resolved.user_agent, "tms/1");
        let unlimited: IctsiConfig =
            serde_json::from_value(json!({ "limits": { "ratePerSecond": null } })).unwrap();
        assert_eq!(unlimited.limits.rate_per_second, None);
    }

    #[test]
    fn bad_values_name_their_field() {
        for (config, field) in [
            (json!({ "baseUrl": "ftp://x/" }), "baseUrl"),
            (json!({ "baseUrl": "not a url" }), "baseUrl"),
            (json!({ "baseUrl": "https://user:pw@host/" }), "baseUrl"),
            (json!({ "requestTimeout": "0s" }), "requestTimeout"),
            (
                json!({ "limits": { "concurrency": 0 } }),
                "limits.concurrency",
            ),
            (
                json!({ "limits": { "ratePerSecond": 0 } }),
                "limits.ratePerSecond",
            ),
            (json!({ "limits": { "batchSize": 0 } }), "limits.batchSize"),
            (
                json!({ "limits": { "batchSize": 101 } }),
                "limits.batchSize",
            ),
        ] {
            let config: IctsiConfig = serde_json::from_value(config).unwrap();
            let err = config
                .resolve(&HttpSettings::default())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(field), "{err}");
            assert!(!err.contains("pw@"), "{err}");
        }
        assert!(serde_json::from_value::<IctsiConfig>(json!({ "limits": 3 })).is_err());
        for (config, key, accepted) in [
            (
                json!({ "vesselVisitTL": "1h" }),
                "vesselVisitTL",
                "vesselVisitTtl",
            ),
            (
                json!({ "limits": { "batchSze": 5 } }),
                "batchSze",
                "batchSize",
            ),
        ] {
            let err = IctsiConfig::from_value(&config).unwrap_err().to_string();
            assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
            assert!(err.contains(&format!("`{accepted}`")), "{err}");
        }
        let err = IctsiConfig::from_value(&json!({ "vesselVisitTtl": "soon" })).unwrap_err();
        assert!(err.to_string().starts_with("vesselVisitTtl: "), "{err}");
        assert_eq!(
            IctsiConfig::from_value(&Value::Null).unwrap(),
            IctsiConfig::default()
        );
    }
}

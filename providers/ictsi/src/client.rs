//! The HTTP client: ICTSI's calls with their headers, credentials and query, and
//! transport failures classified as transient.

use std::time::{Duration, Instant};

use boxtrace::{PermanentReason, ProviderCredentials, Secret, TraceError};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Response, Url};
use serde::de::DeserializeOwned;

use crate::config::Resolved;
use crate::error::{Error, Result};
use crate::response::{self, ENV_HINT};
use crate::wire::{header, Call};

/// The largest answer read; a bigger one is not a container's visits (a misrouted call)
/// and must not exhaust memory.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The credential names in the credentials source.
const KEY_NAME: &str = "subscriptionKey";
const ID_NAME: &str = "subscriptionId";

/// The subscription key and id of one trace, ready to be sent. `Debug` shows neither.
#[derive(Debug)]
pub(crate) struct Auth {
    key: Secret,
    id: Secret,
}

impl Auth {
    /// Takes `subscriptionKey` and `subscriptionId` from the credentials source's answer.
    /// Either missing (or blank) is a permanent `credentials_missing` error.
    pub(crate) fn from_credentials(credentials: &ProviderCredentials) -> Result<Self, TraceError> {
        let get = |name| {
            credentials
                .get(name)
                .filter(|secret| !secret.expose().trim().is_empty())
                .cloned()
        };
        match (get(KEY_NAME), get(ID_NAME)) {
            (Some(key), Some(id)) => Ok(Self { key, id }),
            (key, id) => {
                let missing: Vec<&str> = [(KEY_NAME, key.is_none()), (ID_NAME, id.is_none())]
                    .into_iter()
                    .filter_map(|(name, missing)| missing.then_some(name))
                    .collect();
                let missing = missing.join(" and ");
                tracing::error!(
                    missing = %missing,
                    "no ICTSI {missing} is configured: set {ENV_HINT}, then publish the \
                     affected containers again"
                );
                Err(TraceError::Permanent {
                    reason: PermanentReason::CredentialsMissing,
                    message: format!("no ICTSI {missing} is configured"),
                })
            }
        }
    }

    /// The secrets, to scrub them from anything logged.
    pub(crate) fn secrets(&self) -> [&Secret; 2] {
        [&self.key, &self.id]
    }
}

/// A client for ICTSI's API at one base URL.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base_url: Url,
    request_timeout: Duration,
}

impl Client {
    /// A client with the resolved configuration's base URL, timeouts and user agent.
    pub(crate) fn new(config: &Resolved) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            // A redirect would carry the subscription key, a custom header that reqwest does
            // not strip, to wherever it points; ICTSI has no reason to redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::HttpClient)?;
        let host = config.base_url.host_str().unwrap_or_default();
        if config.base_url.scheme() == "http" && !is_loopback(host) {
            tracing::warn!(
                base_url = %config.base_url,
                "the ICTSI base URL is plain http: the subscription key travels unencrypted"
            );
        }
        Ok(Self {
            http,
            base_url: config.base_url.clone(),
            request_timeout: config.request_timeout,
        })
    }

    /// Makes `call` with `query` and the backend's default query body (`{}`), and reads
    /// its records.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        call: Call,
        query: &[(&str, &str)],
        auth: &Auth,
    ) -> Result<Vec<T>, TraceError> {
        self.call_with_body(call, query, "{}", auth).await
    }

    /// Makes `call` with `query` and the JSON query `body` (the backend requires one; `{}`
    /// asks for its defaults), and reads its records.
    pub(crate) async fn call_with_body<T: DeserializeOwned>(
        &self,
        call: Call,
        query: &[(&str, &str)],
        body: &str,
        auth: &Auth,
    ) -> Result<Vec<T>, TraceError> {
        let url = self
            .base_url
            .join(call.path())
            .map_err(|e| TraceError::transient(format!("bad ICTSI URL: {e}")))?;
        let started = Instant::now();
        let response = self
            .http
            .post(url)
            .query(query)
            .header(header::SUBSCRIPTION_KEY, sensitive(&auth.key, KEY_NAME)?)
            .header(header::SUBSCRIPTION_ID, sensitive(&auth.id, ID_NAME)?)
            .header(header::API_ID, call.api_id())
            .header(header::PRODUCT_ID, call.product_id())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| self.transport(call, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response)
            .await
            .map_err(|e| self.transport(call, e))?
            .ok_or_else(|| {
                TraceError::transient(format!(
                    "ICTSI's {} answer is larger than {MAX_BODY_BYTES} bytes",
                    call.name()
                ))
            })?;
        tracing::debug!(
            call = call.name(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            bytes = body.len(),
            "ICTSI answered"
        );
        response::read(
            call,
            status,
            &headers,
            &body,
            &auth.secrets(),
            chrono::Utc::now(),
        )
    }

    /// A transport failure (timeout, connection, protocol) as a transient error. The
    /// message never holds a header, and so never a credential.
    fn transport(&self, call: Call, error: reqwest::Error) -> TraceError {
        if error.is_timeout() {
            return TraceError::transient(format!(
                "ICTSI did not answer the {} call within {:?}",
                call.name(),
                self.request_timeout
            ));
        }
        let what = if error.is_connect() {
            "could not connect to ICTSI"
        } else {
            "the call to ICTSI failed"
        };
        TraceError::transient(format!(
            "{} call: {what}: {}",
            call.name(),
            chain(&error.without_url())
        ))
    }
}

/// `secret` as a header value that HTTP tooling must not print.
fn sensitive(secret: &Secret, name: &str) -> Result<HeaderValue, TraceError> {
    let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
        tracing::error!(
            "the configured ICTSI {name} is not a valid HTTP header value: set it again in {ENV_HINT}"
        );
        TraceError::Permanent {
            reason: PermanentReason::CredentialsRejected,
            message: format!("the configured ICTSI {name} is not a valid HTTP header value"),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The body, or `None` when it exceeds [`MAX_BODY_BYTES`].
async fn read_body(mut response: Response) -> reqwest::Result<Option<Vec<u8>>> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The error and its sources, without the URL (it holds the query, which is noise here).
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_credentials_are_required_and_never_shown() {
        let both = ProviderCredentials::new()
            .with("subscriptionKey", "k3y")
            .with("subscription_id", "1d");
        let auth = Auth::from_credentials(&both).unwrap();
        assert!(!format!("{auth:?}").contains("k3y"));
        for partial in [
            ProviderCredentials::new(),
            ProviderCredentials::new().with("subscriptionKey", "k3y"),
            ProviderCredentials::new()
                .with("subscriptionKey", " ")
                .with("subscriptionId", "1d"),
        ] {
            let err = Auth::from_credentials(&partial).unwrap_err();
            assert!(matches!(
                err,
                TraceError::Permanent {
                    reason: PermanentReason::CredentialsMissing,
                    ..
                }
            ));
            assert!(!err.to_string().contains("k3y"), "{err}");
        }
    }

    #[test]
    fn a_key_that_is_no_header_value_is_refused_without_echo() {
        let err = sensitive(&Secret::new("bad\nk3y"), KEY_NAME).unwrap_err();
        assert!(!err.to_string().contains("k3y"), "{err}");
        assert!(sensitive(&Secret::new("good"), KEY_NAME)
            .unwrap()
            .is_sensitive());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1") && is_loopback("[::1]") && is_loopback("localhost"));
        assert!(!is_loopback("api.ictsi.net"));
    }
}

//! Provider credentials: where tracers get their keys, never from request data.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use async_trait::async_trait;

use crate::model::Tenant;

/// A secret string. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it (a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The credentials of one provider: named secrets such as `subscriptionKey`.
///
/// Names are matched ignoring case, `_` and `-`, so `subscriptionKey`,
/// `subscription_key` and `SUBSCRIPTION_KEY` are the same name.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ProviderCredentials {
    values: BTreeMap<String, Secret>,
}

impl ProviderCredentials {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a named secret.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds or replaces a named secret.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(fold(name), Secret::new(value));
    }

    /// The secret called `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(&fold(name))
    }

    /// Adds `other`'s secrets, replacing those of the same name.
    pub fn extend(&mut self, other: ProviderCredentials) {
        self.values.extend(other.values);
    }

    /// Whether nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for ProviderCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: which secrets exist is useful at 3 a.m., their values never are.
        f.debug_set().entries(self.values.keys()).finish()
    }
}

fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Why credentials could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The source is unreachable for now (a vault that is down): the trace is retried.
    #[error("credentials source unavailable: {0}")]
    Unavailable(String),
}

/// Where the engine gets a provider's credentials before each trace.
///
/// A source may answer per tenant (a vault keyed by organization) or for the whole
/// service (one partner subscription, as with ICTSI). Missing credentials are returned as
/// an empty set: the tracer decides whether it needs them.
#[async_trait]
pub trait Credentials: Send + Sync + fmt::Debug + 'static {
    /// The credentials for `provider_id` when tracing for `tenant`.
    async fn credentials(
        &self,
        provider_id: &str,
        tenant: &Tenant,
    ) -> Result<ProviderCredentials, CredentialsError>;
}

/// Credentials from configuration, the same for every tenant.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    providers: HashMap<String, ProviderCredentials>,
}

impl StaticCredentials {
    /// No credentials for any provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `provider_id`'s credentials.
    pub fn with_provider(mut self, provider_id: &str, credentials: ProviderCredentials) -> Self {
        self.providers
            .insert(provider_id.to_ascii_lowercase(), credentials);
        self
    }
}

#[async_trait]
impl Credentials for StaticCredentials {
    async fn credentials(
        &self,
        provider_id: &str,
        _tenant: &Tenant,
    ) -> Result<ProviderCredentials, CredentialsError> {
        Ok(self.providers.get(provider_id).cloned().unwrap_or_default())
    }
}

/// Credentials from environment variables named `<PREFIX><PROVIDER>_<NAME>`, read once
/// when built: with the default prefix `BOXTRACE_`, `BOXTRACE_ICTSI_SUBSCRIPTION_KEY`
/// is ICTSI's `subscriptionKey`.
#[derive(Debug, Clone)]
pub struct EnvCredentials {
    vars: Vec<(String, Secret)>,
}

impl EnvCredentials {
    /// Reads the process environment's variables that start with `BOXTRACE_`.
    pub fn from_env() -> Self {
        Self::from_vars("BOXTRACE_", std::env::vars())
    }

    /// Keeps the variables of `vars` that start with `prefix` (for tests and other
    /// prefixes).
    pub fn from_vars(prefix: &str, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .filter_map(|(k, v)| {
                    let rest = k.strip_prefix(prefix)?;
                    Some((rest.to_ascii_uppercase(), Secret::new(v)))
                })
                .collect(),
        }
    }
}

#[async_trait]
impl Credentials for EnvCredentials {
    async fn credentials(
        &self,
        provider_id: &str,
        _tenant: &Tenant,
    ) -> Result<ProviderCredentials, CredentialsError> {
        let prefix = format!("{}_", provider_id.to_ascii_uppercase());
        let mut credentials = ProviderCredentials::new();
        for (name, value) in &self.vars {
            if let Some(secret_name) = name.strip_prefix(&prefix) {
                credentials.insert(secret_name, value.expose());
            }
        }
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn env_credentials_map_names_and_hide_values() {
        let source = EnvCredentials::from_vars(
            "BOXTRACE_",
            [
                (
                    "BOXTRACE_ICTSI_SUBSCRIPTION_KEY".to_owned(),
                    "k3y".to_owned(),
                ),
                (
                    "BOXTRACE_ICTSI_SUBSCRIPTION_ID".to_owned(),
                    "id1".to_owned(),
                ),
                ("BOXTRACE_SIM_TOKEN".to_owned(), "other".to_owned()),
                ("HOME".to_owned(), "/root".to_owned()),
            ],
        );
        let tenant = Tenant::new("o", "s");
        let creds = source.credentials("ictsi", &tenant).await.unwrap();
        assert_eq!(
            creds.get("subscriptionKey").map(Secret::expose),
            Some("k3y")
        );
        assert_eq!(
            creds.get("subscription_id").map(Secret::expose),
            Some("id1")
        );
        assert!(creds.get("token").is_none());
        let shown = format!("{creds:?}");
        assert!(!shown.contains("k3y") && shown.contains("subscriptionkey"));
    }
}

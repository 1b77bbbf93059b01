//! Configuration of the PostgreSQL store, and the driver settings derived from it.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::error::PostgresError;

/// Configuration of the PostgreSQL store. Deserializes (camelCase) with every field but
/// `url` optional.
///
/// Not `Serialize` on purpose: the URL may carry a password, and nothing should write it
/// back out. `Debug` shows the URL with its password replaced.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PostgresConfig {
    /// The connection string: a URL (`postgres://user:password@host:5432/db`) or
    /// `key=value` pairs, as libpq takes them. TLS is not supported yet: use a local or
    /// private network, or a TLS-terminating proxy.
    pub url: String,
    /// Connections in the pool (one more is kept for wake-ups).
    pub pool_size: usize,
    /// Longest any one statement may run; a statement past it fails and the operation is
    /// reported unavailable (retry). Also bounds how long a transaction may sit idle.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Longest an operation waits for a connection: a free one from the pool, or a new one.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest one store operation may take, from waiting for a connection to the commit:
    /// boxtrace's own deadline, which holds when the server or the network stops
    /// answering altogether (the statement timeout needs a server that answers). Past it
    /// the operation is reported unavailable (retry); its transaction, if any, is
    /// abandoned and rolls back.
    #[serde(with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// The schema holding boxtrace's tables, created if missing. Separate schemas are
    /// separate stores on one database (tests use one each). Lower-case letters, digits
    /// and `_`, starting with a letter or `_`, at most 48 characters.
    pub schema: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(10),
            schema: "boxtrace".into(),
        }
    }
}

impl PostgresConfig {
    /// The default configuration for the connection string `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// The same configuration on schema `schema`.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The same configuration with `pool_size` connections.
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// Checks the configuration without connecting: `Err` is the
    /// [`PostgresError::Config`] that [`PostgresStore::connect`](super::PostgresStore::connect)
    /// would return, so that an application can refuse bad settings at start-up, by the
    /// store's own rules.
    pub fn validate(&self) -> Result<(), PostgresError> {
        self.driver_config().map(drop)
    }

    /// Checks the configuration and builds the driver's, with the session settings every
    /// connection of this store starts with.
    pub(super) fn driver_config(&self) -> Result<tokio_postgres::Config, PostgresError> {
        check_schema(&self.schema)?;
        if self.url.trim().is_empty() {
            return Err(PostgresError::Config(
                "url is empty: set the PostgreSQL connection string".into(),
            ));
        }
        if self.pool_size == 0 {
            return Err(PostgresError::Config("poolSize must be at least 1".into()));
        }
        if self.operation_timeout.is_zero() {
            return Err(PostgresError::Config(
                "operationTimeout must be longer than 0, e.g. 10s".into(),
            ));
        }
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|e| {
            // The driver's parse errors name the option at fault, never its value.
            PostgresError::Config(format!(
                "url is not a valid connection string: {}",
                super::error::describe(&e)
            ))
        })?;
        // Set at connection start-up rather than per statement, so that every connection
        // (pooled or the listener) has them before its first query. The schema name is
        // checked above, so it needs no quoting here.
        let ms = |d: Duration| d.as_millis().max(1);
        let mut options = format!(
            "-c search_path={} -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            self.schema,
            ms(self.statement_timeout),
            // A transaction of ours runs statement after statement; one left idle belongs
            // to a stuck process and holds row locks, so the server ends it.
            ms(self.statement_timeout * 2),
        );
        if let Some(existing) = config.get_options() {
            options = format!("{existing} {options}");
        }
        config.options(options);
        if config.get_application_name().is_none() {
            config.application_name("boxtrace");
        }
        config.connect_timeout(self.connect_timeout);
        // A peer that vanished (host down, network cut) is noticed within a minute or so
        // rather than the system's default two hours.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        Ok(config)
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Where `config` connects, for messages: `user@host:port/db`, never the password.
pub(super) fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

/// Only plain identifiers, so that the name is safe in SQL and in start-up options.
fn check_schema(schema: &str) -> Result<(), PostgresError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 48 {
        Ok(())
    } else {
        Err(PostgresError::Config(format!(
            "schema '{schema}' is not accepted: use lower-case letters, digits and '_', starting with a letter or '_', at most 48 characters"
        )))
    }
}

/// The connection string with its password replaced by `***`, in URL or `key=value` form.
pub(super) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // The user info ends at the last '@' before the path.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let redacted_query = redact_query(tail);
        return match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}{redacted_query}"),
                None => format!("{scheme}://{userinfo}@{host}{redacted_query}"),
            },
            None => format!("{scheme}://{authority}{redacted_query}"),
        };
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A URL's tail with a `password=` query parameter replaced.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        for (url, shown) in [
            (
                "postgres://bt:hunter2@db:5432/boxtrace",
                "postgres://bt:***@db:5432/boxtrace",
            ),
            (
                "postgresql://bt:p%40ss@db/x?sslmode=disable&password=hunter2",
                "postgresql://bt:***@db/x?sslmode=disable&password=***",
            ),
            ("postgres://bt@db/x", "postgres://bt@db/x"),
            (
                "host=db user=bt password=hunter2 dbname=x",
                "host=db user=bt password=*** dbname=x",
            ),
        ] {
            assert_eq!(redact(url), shown);
        }
        let config = PostgresConfig::new("postgres://bt:hunter2@db/x");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn deserializes_camel_case_with_defaults() {
        let config: PostgresConfig = serde_json::from_value(serde_json::json!({
            "url": "postgres://bt@db/x",
            "poolSize": 8,
            "statementTimeout": "2s",
        }))
        .unwrap();
        assert_eq!(config.pool_size, 8);
        assert_eq!(config.statement_timeout, Duration::from_secs(2));
        assert_eq!(
            config.connect_timeout,
            PostgresConfig::default().connect_timeout
        );
        assert_eq!(config.schema, "boxtrace");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["boxtrace", "_t1", "bt_test_0a1b"] {
            assert!(check_schema(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Boxtrace",
            "1x",
            "a-b",
            "a b",
            "x\";drop",
            &"a".repeat(49),
        ] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn driver_config_sets_the_session() {
        let config = PostgresConfig::new("postgres://bt:pw@db:6543/x?options=-c%20work_mem%3D8MB")
            .with_schema("tenant_a")
            .driver_config()
            .unwrap();
        let options = config.get_options().unwrap();
        assert!(options.starts_with("-c work_mem=8MB "), "{options}");
        assert!(options.contains("search_path=tenant_a"));
        assert!(options.contains("statement_timeout=5000"));
        assert_eq!(target(&config), "bt@db:6543/x");
        assert!(matches!(
            PostgresConfig::default().driver_config(),
            Err(PostgresError::Config(_))
        ));
        assert!(PostgresConfig::new("postgres://bt@db/x").validate().is_ok());
        assert!(matches!(
            PostgresConfig::new("postgres://bt@db/x")
                .with_schema("a;drop")
                .validate(),
            Err(PostgresError::Config(_))
        ));
    }
}

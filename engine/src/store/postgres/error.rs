//! Errors of the PostgreSQL store: what `connect` can fail with, and how driver errors map
//! into [`StoreError`].

use crate::store::StoreError;

/// Why [`PostgresStore::connect`](super::PostgresStore::connect) failed. Each variant
/// says what to do; [`PostgresError::is_retryable`] tells the ones a retry can fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The configuration is wrong: fix it; retrying will not help.
    #[error("PostgreSQL store configuration: {0}")]
    Config(String),
    /// The database could not be reached, or a statement failed on the way: retry with
    /// backoff.
    #[error(
        "cannot use PostgreSQL at {target}: {reason}; retry with backoff, and check that the \
         server is up and that the URL's host, port, user and password are right"
    )]
    Unreachable {
        /// `user@host:port/db` (never the password).
        target: String,
        /// What failed.
        reason: String,
    },
    /// The database answered with a refusal that retrying will not change (wrong password,
    /// no such database, missing rights): fix the configuration or the role's rights.
    #[error(
        "PostgreSQL at {target} refused: {reason}; fix the configuration or the role's rights"
    )]
    Refused {
        /// `user@host:port/db` (never the password).
        target: String,
        /// What the server said.
        reason: String,
    },
    /// The database named in the URL does not exist on the server: create it, or fix the
    /// URL's database name. Retrying will not help.
    #[error(
        "database '{database}' does not exist on PostgreSQL at {target}: create it \
         (CREATE DATABASE \"{database}\"), or fix the database name in the URL"
    )]
    NoDatabase {
        /// `user@host:port/db` (never the password).
        target: String,
        /// The database name.
        database: String,
    },
    /// The schema was migrated by a newer boxtrace than this one: run that version or a
    /// newer one. Downgrading is not supported.
    #[error(
        "schema '{schema}' is at version {found}, newer than the {supported} this build knows: \
         run a boxtrace at least as new as the one that migrated it"
    )]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// Its version.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
    /// A migration failed; being one transaction, none of it was applied. An operator must
    /// look (the database's log has the details).
    #[error("migration {version} ({name}) of schema '{schema}' failed: {reason}")]
    Migration {
        /// The schema.
        schema: String,
        /// The migration's version.
        version: i32,
        /// The migration's name.
        name: &'static str,
        /// What failed.
        reason: String,
    },
}

impl PostgresError {
    /// Whether retrying (with backoff) can succeed: the database may come back.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

impl From<PostgresError> for StoreError {
    fn from(e: PostgresError) -> Self {
        if e.is_retryable() {
            StoreError::Unavailable(e.to_string())
        } else {
            // Nothing stored is at fault: the store cannot be used as configured.
            StoreError::Unusable(e.to_string())
        }
    }
}

/// A driver error at start-up: `Unreachable` when no answer came or the server said to come
/// back later (connection, resources, shutting down or starting up, a conflict, a database
/// that does not take connections for now), `NoDatabase` for a database that does not
/// exist, `Refused` when it said no otherwise.
pub(super) fn at_startup(target: String, e: &tokio_postgres::Error) -> PostgresError {
    let code = e.code().map(|code| code.code());
    if code == Some("3D000") {
        // invalid_catalog_name: the URL names a database the server does not have.
        let database = target
            .rsplit_once('/')
            .map_or_else(|| "?".to_owned(), |(_, db)| db.to_owned());
        return PostgresError::NoDatabase { target, database };
    }
    // 55000 at connection start is "database ... is not currently accepting connections"
    // (ALTER DATABASE ... ALLOW_CONNECTIONS false, as during a restore): it comes back.
    let not_accepting = code == Some("55000")
        && e.as_db_error()
            .is_some_and(|db| db.message().contains("accepting connections"));
    let transient = not_accepting
        || code.is_none_or(|code| matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58")));
    let reason = describe(e);
    if transient {
        PostgresError::Unreachable { target, reason }
    } else {
        PostgresError::Refused { target, reason }
    }
}

/// A pool error at start-up, classified as [`at_startup`] does.
pub(super) fn pool_at_startup(target: String, e: &deadpool_postgres::PoolError) -> PostgresError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => at_startup(target, e),
        other => PostgresError::Unreachable {
            target,
            reason: other.to_string(),
        },
    }
}

/// A driver error with its cause (the driver's own message is only its kind).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({}): {}", db.severity(), db.code().code(), db.message());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A driver error during an operation: the connection, the server or a timeout. The
/// caller retries; nothing was acknowledged (a failed transaction rolls back).
pub(super) fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: {}", describe(&e)))
}

/// No connection could be had from the pool in time.
pub(super) fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL connection pool: {}", pool_reason(&e)))
}

pub(super) fn pool_reason(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

/// A stored value that does not decode.
pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// A column that does not decode: the row is corrupt (or the schema is not ours).
pub(super) fn column(what: &str, e: tokio_postgres::Error) -> StoreError {
    corrupt(what, describe(&e))
}

/// An unsigned number as PostgreSQL's BIGINT.
pub(super) fn to_i64(what: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| corrupt(what, format!("{n} is out of range")))
}

/// A BIGINT column as an unsigned number.
pub(super) fn to_u64(what: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt(what, format!("{n} is negative")))
}

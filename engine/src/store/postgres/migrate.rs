//! Versioned schema migrations, embedded in the binary and applied at connect under an
//! advisory lock, in one transaction.

use rand::Rng;

use super::config::target;
use super::error::{at_startup, describe, PostgresError};

/// One migration: its version (1, 2, ... in order) and its SQL.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration this build knows, oldest first. Never edit a released one: add the
/// next. (`CREATE INDEX CONCURRENTLY` cannot run inside the migration transaction; a
/// migration that needs one on a big table must be split out and run by hand. Version 4's
/// plain `CREATE INDEX` blocks writes to `jobs` while it builds: its file says so.)
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "cohorts",
        sql: include_str!("migrations/0002_cohorts.sql"),
    },
    Migration {
        version: 3,
        name: "results feed",
        sql: include_str!("migrations/0003_results_feed.sql"),
    },
    Migration {
        version: 4,
        name: "retention",
        sql: include_str!("migrations/0004_retention.sql"),
    },
];

/// The newest schema version this build knows.
pub(super) fn supported() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The advisory lock class of migrations ("bxtr"); the second key is the schema's hash,
/// so that stores on different schemas migrate in parallel.
const LOCK_CLASS: i32 = 0x6278_7472;

/// A stable 32-bit hash (FNV-1a) of the schema name, the same in every process and
/// release: the second key of the advisory lock.
fn lock_key(schema: &str) -> i32 {
    let hash = schema.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// Brings `schema` up to this build's version and returns the store's instance id.
///
/// Everything runs in one transaction that first takes a transaction-scoped advisory lock:
/// processes starting together wait for each other, and the second finds the work done.
/// PostgreSQL's DDL is transactional, so a failed migration leaves nothing half-applied.
pub(super) async fn migrate(
    client: &mut tokio_postgres::Client,
    config: &tokio_postgres::Config,
    schema: &str,
) -> Result<String, PostgresError> {
    let unreachable = |e: tokio_postgres::Error| at_startup(target(config), &e);
    let tx = client.transaction().await.map_err(unreachable)?;
    // Waiting for another process's migration and creating indexes on big tables may take
    // longer than an operation's statement timeout; still bounded, so that a stuck
    // migrator cannot hang every other process's start-up for good.
    tx.batch_execute("SET LOCAL statement_timeout = '5min'")
        .await
        .map_err(unreachable)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &lock_key(schema)],
    )
    .await
    .map_err(unreachable)?;
    // An operator may have created the schema for a role that cannot create schemas;
    // CREATE SCHEMA checks that right even when the schema exists.
    let exists = tx
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .await
        .map_err(unreachable)?
        .is_some();
    if !exists {
        // The name was checked to be a plain identifier (config.rs), so it can be spliced
        // into DDL.
        tx.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .map_err(unreachable)?;
    }
    tx.batch_execute(&format!(
        "SET LOCAL search_path TO {schema};
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(unreachable)?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(unreachable)?
        .try_get(0)
        .map_err(unreachable)?;
    if current > supported() {
        return Err(PostgresError::SchemaTooNew {
            schema: schema.to_owned(),
            found: current,
            supported: supported(),
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |e: tokio_postgres::Error| PostgresError::Migration {
            schema: schema.to_owned(),
            version: migration.version,
            name: migration.name,
            reason: describe(&e),
        };
        tx.batch_execute(migration.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(failed)?;
        tracing::info!(
            schema,
            version = migration.version,
            name = migration.name,
            "applied a schema migration"
        );
    }
    let fresh = format!("{:08x}", rand::rng().random::<u32>());
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ('instance', $1) ON CONFLICT (name) DO NOTHING",
        &[&fresh],
    )
    .await
    .map_err(unreachable)?;
    let instance: String = tx
        .query_one("SELECT value FROM meta WHERE name = 'instance'", &[])
        .await
        .map_err(unreachable)?
        .try_get(0)
        .map_err(unreachable)?;
    tx.commit().await.map_err(unreachable)?;
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
        }
        assert_eq!(supported(), MIGRATIONS.len() as i32);
    }

    #[test]
    fn lock_keys_are_stable() {
        // Changing the hash would let an old and a new binary migrate at once.
        assert_eq!(lock_key("boxtrace"), lock_key("boxtrace"));
        assert_ne!(lock_key("boxtrace"), lock_key("boxtrace2"));
        assert_eq!(lock_key(""), 0x811c_9dc5_u32 as i32);
    }
}

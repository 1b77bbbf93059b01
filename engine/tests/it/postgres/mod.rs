//! The PostgreSQL store against a real server, named by `BOXTRACE_TEST_DATABASE_URL`.
//! Each test works in a fresh schema of its own (dropped at the end, even on failure), so
//! tests run in parallel. Without the variable, every test says it was skipped.

mod cluster;
mod crash;
mod faults;
mod proxy;
mod store;
mod wake;

use std::time::Duration;

use boxtrace::testing::{container, request, ScriptedTracer};
use boxtrace::{
    Engine, EngineConfig, ManualClock, PostgresConfig, PostgresStore, StaticCredentials, Tenant,
    TraceKind, TraceRequest,
};

/// A fresh schema on the test database.
pub struct TestDb {
    url: String,
    pub schema: String,
}

impl TestDb {
    /// `None`, after saying so, when no test database is configured.
    pub fn new(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("BOXTRACE_TEST_DATABASE_URL") else {
            eprintln!("skipped {test}: set BOXTRACE_TEST_DATABASE_URL to run it");
            return None;
        };
        let schema = format!("bt_test_{:016x}", rand::random::<u64>());
        Some(Self { url, schema })
    }

    pub fn config(&self) -> PostgresConfig {
        let mut config = PostgresConfig::new(self.url.clone())
            .with_schema(self.schema.clone())
            .with_pool_size(4);
        // The test machine is shared and at times overloaded (a load of 36 on two cores
        // made single publishes take over 7 s): these tests are about other things than
        // the deadline, which `faults.rs` tests with its own.
        config.operation_timeout = std::time::Duration::from_secs(120);
        config
    }

    /// The test URL's `host:port`.
    pub fn host_port(&self) -> String {
        let (_, rest) = self.url.split_once('@').expect("a URL with a user");
        rest.split('/').next().expect("a host").to_owned()
    }

    /// The test URL through `addr` instead of the server's own address.
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        self.url.replacen(&self.host_port(), &addr.to_string(), 1)
    }

    /// The test URL with another database name (the URL must not carry a query).
    pub fn url_of_database(&self, name: &str) -> String {
        let (server, _) = self.url.rsplit_once('/').expect("a URL with a database");
        format!("{server}/{name}")
    }

    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect(self.config())
            .await
            .expect("connect to the test database")
    }

    /// A plain connection with the schema on its search path, for checks in SQL.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("SET search_path TO {}", self.schema))
            .await
            .unwrap();
        client
    }

    /// A count from SQL.
    pub async fn count(&self, client: &tokio_postgres::Client, sql: &str) -> i64 {
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop may run inside a runtime (or while unwinding): use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                    ))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}

pub fn tenant() -> Tenant {
    Tenant::new("org-a", "svc-1")
}

/// An export trace of container `n` at the scripted provider.
pub fn export(n: u32) -> TraceRequest {
    request(&tenant(), TraceKind::Export, "scripted", &container(n))
}

/// An engine on its own store (pool) of `db`, with `tracer` and `clock`.
pub async fn engine(
    db: &TestDb,
    tracer: &ScriptedTracer,
    clock: &ManualClock,
    config: EngineConfig,
) -> Engine {
    let store = PostgresStore::connect(db.config().with_pool_size(6))
        .await
        .expect("connect");
    Engine::builder()
        .store(store)
        .provider(tracer.clone())
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .config(config)
        .seed(7)
        .build()
        .expect("engine builds")
}

/// Waits (wall time) until `check` holds, or panics with `what` after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

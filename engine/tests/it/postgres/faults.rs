//! Faults of the PostgreSQL store: a database that stops answering (network pause), a
//! database that does not exist, and one that does not take connections for now.

use std::time::Duration;

use boxtrace::{JobStore, Outbox, PostgresError, PostgresStore, StoreError, RESULTS_QUEUE};

use super::proxy::Proxy;
use super::{export, TestDb};

#[tokio::test]
async fn a_database_that_stops_answering_fails_each_call_at_its_own_deadline() {
    let Some(db) = TestDb::new("a_database_that_stops_answering") else {
        return;
    };
    let proxy = Proxy::start(db.host_port()).await;
    let mut config = db.config();
    config.url = db.url_via(proxy.addr);
    config.operation_timeout = Duration::from_millis(500);
    let store = PostgresStore::connect(config).await.unwrap();
    let now = boxtrace::testing::t0();
    store.publish(export(1), true, now).await.unwrap();

    // The network pauses: connections stay open and nothing comes back, so the
    // server's statement timeout never gets a say.
    proxy.pause();
    let outer = Duration::from_secs(30);
    let publish = tokio::time::timeout(outer, store.publish(export(2), true, now))
        .await
        .expect("a publish must end at the store's deadline, not hang");
    let Err(StoreError::Unavailable(message)) = publish else {
        panic!("{publish:?}");
    };
    assert!(message.contains("operation timeout"), "{message}");
    // Readiness reads the outbox: it must not hang either.
    let stats = tokio::time::timeout(outer, store.outbox_stats(RESULTS_QUEUE))
        .await
        .expect("a read must end at the store's deadline, not hang");
    assert!(
        matches!(stats, Err(StoreError::Unavailable(_))),
        "{stats:?}"
    );

    // Back: the store serves again by itself.
    proxy.resume();
    let mut served = false;
    for _ in 0..40 {
        if store.publish(export(3), true, now).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the store never served again after the pause");
    assert!(store.get(&export(1).key).await.unwrap().is_some());
}

#[tokio::test]
async fn a_missing_database_is_named_not_called_corrupt() {
    let Some(db) = TestDb::new("a_missing_database_is_named") else {
        return;
    };
    let name = format!("bt_missing_{:08x}", rand::random::<u32>());
    let config = boxtrace::PostgresConfig::new(db.url_of_database(&name));
    let err = PostgresStore::connect(config).await.unwrap_err();
    assert!(matches!(err, PostgresError::NoDatabase { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let message = StoreError::from(err).to_string();
    assert!(
        message.contains(&format!("database '{name}' does not exist")),
        "{message}"
    );
    assert!(message.contains("CREATE DATABASE"), "{message}");
    assert!(!message.contains("corrupt"), "{message}");
}

#[tokio::test]
async fn a_database_not_accepting_connections_is_retried() {
    let Some(db) = TestDb::new("a_database_not_accepting_connections") else {
        return;
    };
    let name = format!("bt_closed_{:08x}", rand::random::<u32>());
    let admin = db.sql().await;
    // One statement per call: CREATE DATABASE cannot run in a multi-statement batch.
    for sql in [
        format!("CREATE DATABASE {name}"),
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    let config = boxtrace::PostgresConfig::new(db.url_of_database(&name));
    let err = PostgresStore::connect(config.clone()).await.unwrap_err();
    let message = err.to_string();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        message.contains("not currently accepting connections"),
        "{message}"
    );
    assert!(message.contains("retry"), "{message}");

    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let store = PostgresStore::connect(config)
        .await
        .expect("connects once it is open");
    drop(store);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}

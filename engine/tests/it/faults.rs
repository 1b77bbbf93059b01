//! Faults of the sled store that must not pass in silence: a write that fails (a full
//! disk), a writer that stops making progress, and a damaged database file.

use std::time::Duration;

use boxtrace::testing::{container, request, t0};
use boxtrace::{JobStore, SledConfig, SledStore, StoreError, Tenant, TraceKind};

fn publish_request(n: u32) -> boxtrace::TraceRequest {
    request(
        &Tenant::new("org-a", "svc-1"),
        TraceKind::Empty,
        "p",
        &container(n),
    )
}

/// Waits (up to 20 s) for the store to say it failed.
async fn failure(store: &SledStore) -> StoreError {
    tokio::time::timeout(Duration::from_secs(20), store.failed())
        .await
        .expect("the store never said it failed")
}

#[tokio::test]
async fn a_failed_write_makes_the_store_unwritable_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    store.publish(publish_request(1), true, t0()).await.unwrap();
    assert!(store.writable().is_ok());

    // As a full disk would: sled keeps its first I/O error, so no later write succeeds.
    store.inject_write_failure();
    let refused = store.publish(publish_request(2), true, t0()).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    let err = failure(&store).await;
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("full disk"), "{message}");
    assert!(message.contains("restart the process"), "{message}");
    assert!(
        matches!(store.writable(), Err(StoreError::Failed(_))),
        "readiness must see that the store cannot write"
    );
    // Later writes are refused at once, naming the cause.
    let later = store.publish(publish_request(3), true, t0()).await;
    assert!(matches!(later, Err(StoreError::Failed(_))), "{later:?}");
    // Reads still work.
    assert!(store.get(&publish_request(1).key).await.unwrap().is_some());
}

#[tokio::test]
async fn a_writer_that_makes_no_progress_fails_the_store_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&SledConfig {
        stall_limit: Duration::from_millis(200),
        ..SledConfig::new(dir.path())
    })
    .unwrap();
    store.publish(publish_request(1), true, t0()).await.unwrap();
    let hang = store.hang_writer();
    let stuck = {
        let store = store.clone();
        tokio::spawn(async move { store.publish(publish_request(2), true, t0()).await })
    };
    let err = failure(&store).await;
    let message = err.to_string();
    assert!(message.contains("no progress"), "{message}");
    assert!(message.contains("#1412"), "{message}");
    assert!(matches!(store.writable(), Err(StoreError::Failed(_))));
    // Callers are not queued behind the stuck writer.
    let refused = store.publish(publish_request(3), true, t0()).await;
    assert!(matches!(refused, Err(StoreError::Failed(_))), "{refused:?}");
    drop(hang);
    let _ = stuck.await;
}

#[tokio::test]
async fn a_truncated_database_file_refuses_to_open_unless_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open_path(dir.path()).unwrap();
        for n in 0..200 {
            store.publish(publish_request(n), true, t0()).await.unwrap();
        }
    }
    // Cut the database file to half its size, as a bad copy or a failing disk would.
    let db = dir.path().join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let err = SledStore::open_path(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Unusable(_)), "{err:?}");
    let message = err.to_string();
    // sled opens what is left without a word (about 113 of the 200 jobs); the record
    // beside it says what was acknowledged.
    assert!(message.contains("missing acknowledged writes"), "{message}");
    assert!(
        message.contains("records 200 durable write batches and 200 jobs created"),
        "{message}"
    );
    assert!(message.contains("restore"), "{message}");

    // The operator accepts the loss: the store opens with what is left, and the next
    // start needs no flag.
    let accepted = SledConfig {
        accept_data_loss: true,
        ..SledConfig::new(dir.path())
    };
    let store = SledStore::open(&accepted).unwrap();
    let mut left = 0;
    for n in 0..200 {
        if store.get(&publish_request(n).key).await.unwrap().is_some() {
            left += 1;
        }
    }
    assert!(left < 200, "{left} of 200 jobs left");
    drop(store);
    SledStore::open_path(dir.path()).unwrap();
}

#[tokio::test]
async fn an_intact_store_reopens_without_a_word() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let store = SledStore::open_path(dir.path()).unwrap();
        for n in 0..20 {
            store
                .publish(publish_request(round * 100 + n), true, t0())
                .await
                .unwrap();
        }
    }
    let store = SledStore::open_path(dir.path()).unwrap();
    assert!(store.writable().is_ok());
}

#[tokio::test]
async fn open_errors_say_what_is_wrong_and_only_a_lock_names_the_other_process() {
    let dir = tempfile::tempdir().unwrap();
    let _open = SledStore::open_path(dir.path()).unwrap();
    let in_use = SledStore::open_path(dir.path()).unwrap_err().to_string();
    assert!(in_use.contains("in use by another process"), "{in_use}");
    assert!(in_use.contains("one process per directory"), "{in_use}");

    // A path that is a file, not a directory: no word about other processes.
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let not_dir = SledStore::open_path(&file).unwrap_err();
    assert!(matches!(not_dir, StoreError::Unusable(_)), "{not_dir:?}");
    let message = not_dir.to_string();
    assert!(
        message.contains("cannot open the sled data directory"),
        "{message}"
    );
    assert!(!message.contains("another process"), "{message}");
    assert!(!message.contains("store unavailable"), "{message}");
}

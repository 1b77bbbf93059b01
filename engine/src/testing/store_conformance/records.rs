//! Conformance of adapter records ([`Records`]).

use crate::store::Records;

pub(super) async fn records_are_kept_by_kind_and_key<S: Records>(store: S) {
    let value = serde_json::json!({ "url": "https://tms.example/hook", "n": 1 });
    // Put in reverse key order, so that a listing in insertion order is caught.
    store
        .put_record("webhook", "org-b/1", &serde_json::json!({ "n": 3 }))
        .await
        .unwrap();
    store
        .put_record("webhook", "org-a/2", &serde_json::json!({ "n": 2 }))
        .await
        .unwrap();
    store
        .put_record("webhook", "org-a/1", &serde_json::json!({ "n": 0 }))
        .await
        .unwrap();
    store
        .put_record("client", "org-a/1", &serde_json::json!({ "n": 4 }))
        .await
        .unwrap();
    store
        .put_record("webhook", "org-a/1", &value)
        .await
        .unwrap();
    assert_eq!(
        store.get_record("webhook", "org-a/1").await.unwrap(),
        Some(value.clone()),
        "a second put replaces the record"
    );
    assert_eq!(store.get_record("webhook", "org-c/1").await.unwrap(), None);
    assert_eq!(
        store.get_record("client", "org-a/1").await.unwrap(),
        Some(serde_json::json!({ "n": 4 })),
        "kinds are separate"
    );
    let listed = store.list_records("webhook", "org-a/").await.unwrap();
    assert_eq!(
        listed,
        vec![
            ("org-a/1".to_owned(), value),
            ("org-a/2".to_owned(), serde_json::json!({ "n": 2 })),
        ],
        "by prefix, ordered by key, one kind only, each key once"
    );
    assert!(store.delete_record("webhook", "org-a/1").await.unwrap());
    assert!(
        !store.delete_record("webhook", "org-a/1").await.unwrap(),
        "deleting twice says so"
    );
    assert_eq!(store.list_records("webhook", "").await.unwrap().len(), 2);
}

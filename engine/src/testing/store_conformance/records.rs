//! Conformance of adapter records ([`Records`]).

use crate::store::Records;

pub(super) async fn records_are_kept_by_kind_and_key<S: Records>(store: S) {
    let value = serde_json::json!({ "url": "https://tms.example/hook", "n": 1 });
    store
        .put_record("webhook", "org-a/1", &value)
        .await
        .unwrap();
    store
        .put_record("webhook", "org-a/2", &serde_json::json!({ "n": 2 }))
        .await
        .unwrap();
    store
        .put_record("webhook", "org-b/1", &serde_json::json!({ "n": 3 }))
        .await
        .unwrap();
    store
        .put_record("client", "org-a/1", &serde_json::json!({ "n": 4 }))
        .await
        .unwrap();
    assert_eq!(
        store.get_record("webhook", "org-a/1").await.unwrap(),
        Some(value)
    );
    assert_eq!(store.get_record("webhook", "org-c/1").await.unwrap(), None);
    let listed = store.list_records("webhook", "org-a/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec!["org-a/1", "org-a/2"],
        "by prefix, ordered, one kind only"
    );
    assert!(store.delete_record("webhook", "org-a/1").await.unwrap());
    assert!(
        !store.delete_record("webhook", "org-a/1").await.unwrap(),
        "deleting twice says so"
    );
    assert_eq!(store.list_records("webhook", "").await.unwrap().len(), 2);
}

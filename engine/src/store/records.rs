//! Adapter records: the [`Records`] trait, a small durable key-value space beside the jobs.

use async_trait::async_trait;

use super::StoreResult;

/// Durable records of an adapter (web-hook registrations, API clients, console sign-outs),
/// by kind and key, kept in the same backend as the jobs so that an adapter needs no
/// second database. The engine never reads these; only an adapter that keeps state of its
/// own needs them. `boxtrace::testing::store_conformance::run_records` checks an
/// implementation.
#[async_trait]
pub trait Records: Send + Sync + std::fmt::Debug + 'static {
    /// Stores an adapter's record (web-hook registrations, API clients, ...) under
    /// `kind` and `key`, durably. The engine never reads these.
    async fn put_record(&self, kind: &str, key: &str, value: &serde_json::Value)
        -> StoreResult<()>;

    /// An adapter's record.
    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>>;

    /// An adapter's records of `kind` whose keys start with `prefix`, ordered by key.
    async fn list_records(
        &self,
        kind: &str,
        prefix: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>>;

    /// Removes an adapter's record, durably; whether it existed.
    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool>;
}

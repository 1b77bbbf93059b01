//! Transactions with pipelined statements: BEGIN travels with the first statement and
//! COMMIT with the last, so that a locked read-modify-write costs two round trips.
//!
//! Round trips are the cost that matters (a loopback one is 0.1–0.4 ms, more than the
//! statements themselves): the five of BEGIN, SELECT … FOR UPDATE, UPDATE, INSERT, COMMIT
//! become two. The driver sends requests in the order they are first polled and reads
//! the answers in the same order, so joining two futures pipelines them.

use deadpool_postgres::{Client, Object};
use tokio_postgres::Row;

use super::error::db;
use super::sql::Params;
use super::Shared;
use crate::store::StoreResult;

/// Opens every transaction of this store.
pub(super) const BEGIN: &str = "BEGIN";

/// Opens a transaction whose commit need not wait for the WAL flush: for writes whose
/// loss in a database crash only means a job is traced again.
pub(super) const BEGIN_ASYNC_COMMIT: &str = "BEGIN; SET LOCAL synchronous_commit = off";

/// An open transaction on a pooled connection.
///
/// Dropped while open (a statement failed halfway through a pipeline, or the caller's
/// future was cancelled), it takes its connection out of the pool and closes it: the
/// server then rolls the transaction back, and no later caller inherits it.
pub(super) struct Tx {
    client: Option<Client>,
}

impl Tx {
    /// Opens a transaction with `begin` and runs `sql` (a locking read) in it.
    pub(super) async fn open(
        shared: &Shared,
        begin: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> StoreResult<(Self, Vec<Row>)> {
        let client = shared.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        let tx = Self {
            client: Some(client),
        };
        let client = tx.client()?;
        let (_, rows) = tokio::try_join!(
            client.batch_execute(begin),
            client.query(&statement, params)
        )
        .map_err(db)?;
        Ok((tx, rows))
    }

    fn client(&self) -> StoreResult<&Client> {
        self.client.as_ref().ok_or_else(|| {
            crate::store::StoreError::Unavailable("transaction already ended".into())
        })
    }

    /// Runs `sql` and commits, in one round trip; returns how many rows `sql` touched.
    pub(super) async fn commit_with(mut self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        let client = self.client()?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        // If the statement fails, the server answers the COMMIT behind it with a rollback.
        let (touched, ()) = tokio::try_join!(
            client.execute(&statement, params),
            client.batch_execute("COMMIT")
        )
        .map_err(db)?;
        self.client.take();
        Ok(touched)
    }

    /// Commits.
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        self.client()?.batch_execute("COMMIT").await.map_err(db)?;
        self.client.take();
        Ok(())
    }

    /// Rolls back, releasing the locks (best effort: if even that fails, dropping the
    /// connection does it).
    pub(super) async fn rollback(mut self) {
        if let Ok(client) = self.client() {
            if client.batch_execute("ROLLBACK").await.is_ok() {
                self.client.take();
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

//! The store: the capability traits a backend implements ([`JobStore`], all the engine
//! needs; [`Outbox`] and [`Records`], opt-in), [`Store`] for a full backend, the embedded
//! sled backend (feature `sled`, on by default) and (feature `postgres`) the PostgreSQL
//! backend.
//!
//! A job store keeps jobs by key, a due index ordered by time, per-job result history and
//! leases; an outbox keeps result events for deliverers; records keep an adapter's own
//! state. The rules that decide what a publish, a cancel or a finished trace does to a job
//! live in [`crate::model`] as pure functions; a backend's job is to apply them atomically
//! and durably.

pub(crate) mod feed;
mod jobs;
mod outbox;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod records;
#[cfg(feature = "sled")]
pub(crate) mod sled;

use crate::model::Fenced;

pub use self::feed::{FeedCursor, FeedEntry, FeedPage, MAX_FEED_PAGE};
pub use self::jobs::{Claimed, Committed, DueClaim, JobPage, JobStore, ListQuery, TraceCommit};
pub use self::outbox::{
    EventSeq, FanOutEntry, Outbox, OutboxClaim, OutboxEntry, OutboxStats, Settlement, Verdict,
    RESULTS_QUEUE,
};
#[cfg(feature = "postgres")]
pub use self::postgres::{PostgresConfig, PostgresError, PostgresStore};
pub use self::records::Records;
#[cfg(feature = "sled")]
pub use self::sled::{SledConfig, SledStore};

/// A store error. Every variant says what the caller can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The commit was refused because the lease is no longer the caller's; drop the work.
    #[error("commit refused: {0}")]
    Fenced(#[from] Fenced),
    /// The store could not read or write (I/O, connection): retry later; nothing was
    /// acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be decoded: a bug or a disk fault; an operator must look.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The store cannot write again in this process (sled after an I/O error such as a
    /// full disk, a writer that stopped making progress): end the process so that a
    /// supervisor restarts it; nothing acknowledged is lost.
    #[error("the store cannot write any more: {0}")]
    Failed(String),
    /// The store cannot be opened as configured (a missing database, a data directory in
    /// use, damaged or unreadable): the message says what was found and what to do;
    /// retrying will not help.
    #[error("{0}")]
    Unusable(String),
    /// A list cursor this store did not issue (for this tenant): tell the client; retrying
    /// will not help.
    #[error("invalid page cursor: {0}")]
    InvalidCursor(String),
    /// This store does not offer what was asked (a store written before the results
    /// feed): the message says what.
    #[error("not supported by this store: {0}")]
    Unsupported(&'static str),
}

/// A store result.
pub type StoreResult<T> = Result<T, StoreError>;

/// A full backend: a job store with an outbox and adapter records, what the HTTP adapter
/// needs. Implemented for every type that implements the three traits; sled and PostgreSQL
/// are full backends.
pub trait Store: JobStore + Outbox + Records {}

impl<T: JobStore + Outbox + Records + ?Sized> Store for T {}

//! Integration tests of the engine crate, one binary: the event contract, the scheduler
//! under a simulated clock, crash recovery, the store conformance suite on sled, and the
//! PostgreSQL store against a real server (`BOXTRACE_TEST_DATABASE_URL`).

mod batching;
mod breaker;
mod conformance;
mod contract;
mod crash;
mod defaults;
mod delivery;
mod faults;
mod job_store_only;
mod model;
#[cfg(feature = "postgres")]
mod postgres;
mod retention;
mod scheduler;
mod support;

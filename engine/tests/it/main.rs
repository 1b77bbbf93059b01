//! Integration tests of the engine crate, one binary: the event contract, the scheduler
//! under a simulated clock, crash recovery, and the store conformance suite on sled.

mod conformance;
mod contract;
mod crash;
mod model;
mod scheduler;
mod support;

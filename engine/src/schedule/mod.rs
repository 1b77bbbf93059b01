//! Scheduling: the adaptive re-trace policy.

mod policy;

pub use policy::{Backoff, Decision, EmptyIntervals, ExportIntervals, Policy, PolicyInput};

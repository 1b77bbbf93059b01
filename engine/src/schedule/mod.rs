//! Scheduling: the adaptive re-trace policy and its cohort triggers.

mod cohort;
mod policy;

pub use cohort::{cohort_news, CohortPolicy};
pub use policy::{
    AppointmentPolicy, Backoff, Decision, EmptyIntervals, ExportIntervals, Policy, PolicyInput,
    PolicyRule, VisitPolicy,
};

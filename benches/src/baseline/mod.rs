//! Baselines measured in the same run as the figures they stand beside: what sled, the
//! HTTP client and the machine allow for the same work without boxtrace around it.

pub mod deliveries;
pub mod sled_ingest;
pub mod sled_traces;

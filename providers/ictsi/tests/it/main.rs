//! Integration tests of the ICTSI provider, as one binary, against a fake ICTSI server on
//! loopback: fixtures → results, the export lifecycle through a real engine, empties,
//! bookings, visits, masking, errors, the vessel visit cache, validation, secrets and the
//! provider contract.

// The linker drops a crate nothing names, and its `inventory` registration with it.
use boxtrace_ictsi as _;

mod batches;
mod coalescing;
mod contract;
mod empty;
mod errors;
mod headers;
mod lifecycle;
mod mapping;
mod patterns;
mod politeness;
mod registry;
mod secrets;
mod shape;
mod support;
mod visits;

//! Integration tests of the simulated terminal, as one binary: lifecycles, faults, data
//! validation, the registry, a whole engine run, the provider contract, the vessel
//! model's terminal API, and lifecycle files on disk.

mod contract;
mod engine;
mod faults;
mod files;
mod lifecycle;
mod registry;
mod support;
mod terminal;
mod validate;

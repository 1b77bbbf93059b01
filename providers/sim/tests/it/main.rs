//! Integration tests of the simulated terminal, as one binary: lifecycles, faults, data
//! validation, the registry, a whole engine run, the provider contract, and the vessel
//! model's terminal API.

mod contract;
mod engine;
mod faults;
mod lifecycle;
mod registry;
mod support;
mod terminal;
mod validate;

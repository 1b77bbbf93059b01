//! Integration tests of the simulated terminal, as one binary: lifecycles, faults, data
//! validation, the registry, a whole engine run and the provider contract.

mod contract;
mod engine;
mod faults;
mod lifecycle;
mod registry;
mod support;
mod validate;

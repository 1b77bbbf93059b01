//! Integration tests of the simulated terminal, as one binary: lifecycles, faults, data
//! validation, the registry and a whole engine run.

mod engine;
mod faults;
mod lifecycle;
mod registry;
mod support;
mod validate;

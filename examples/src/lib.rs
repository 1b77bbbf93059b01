//! The examples live in `examples/`; this library only compiles the README's code.

/// The README's code, compiled as a doctest so that it cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

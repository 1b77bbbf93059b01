//! Integration tests of the server over real HTTP on loopback: the whole loop, tenant
//! isolation, bad inputs, web-hook delivery under failure, SSRF, and the real binary.

mod api;
mod delivery;
mod process;
mod support;

//! Integration tests of the server over real HTTP on loopback: the whole loop, tenant
//! isolation, bad inputs, web-hook delivery under failure, SSRF, the real binary, and two
//! of its processes on one PostgreSQL database, and lifecycle files replayed through
//! `serve` and `demo`; the operator console, over HTTP and in headless Chromium.

mod api;
mod client_cache;
mod cluster;
mod conformance;
mod console;
mod dcsa;
mod delivery;
mod deploy;
mod faults;
mod health;
mod logs;
mod openapi;
mod operator;
mod process;
mod receivers;
mod replay;
mod results;
mod retention;
mod strictness;
mod support;

//! Ingest: durable publishes per second through `POST /api/events` of the real
//! `boxtrace serve`, against a bare axum handler that parses the same JSON and answers
//! 202 without storing (the baseline, in the same run).

use crate::options::Options;
use crate::report::Report;

/// Runs the scenario.
pub async fn run(_options: &Options) -> anyhow::Result<Report> {
    anyhow::bail!("scenario ingest is not written yet")
}

/// The baseline server's `main`: `boxtrace-bench bare-server --listen ADDR`.
pub fn bare_server_main(_listen: std::net::SocketAddr) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}

//! Scenario `efficiency` (being written).

use crate::options::Options;
use crate::report::Report;

/// Runs the scenario.
pub async fn run(_options: &Options) -> anyhow::Result<Report> {
    anyhow::bail!("scenario efficiency is not written yet")
}

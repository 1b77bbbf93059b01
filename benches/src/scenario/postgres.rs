//! Scenario `postgres` (being written).

use crate::options::Options;
use crate::report::Report;

/// Runs the scenario.
pub async fn run(_options: &Options) -> anyhow::Result<Report> {
    anyhow::bail!("scenario postgres is not written yet")
}

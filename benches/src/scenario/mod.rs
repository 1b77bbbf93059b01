//! The harness's scenarios, one module each; every one returns its figures as a
//! [`Report`](crate::report::Report).

pub mod apalis;
pub mod dispatch;
pub mod efficiency;
pub mod ingest;
pub mod lateness;
pub mod memory;
pub mod postgres;
pub mod webhooks;

use clap::ValueEnum;

use crate::options::Options;
use crate::report::Report;

/// A scenario the harness can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Durable publishes through `POST /api/events` against a bare axum handler.
    Ingest,
    /// Traces per second at several job counts, and the claim time at each.
    Dispatch,
    /// How late traces start at half of the measured capacity.
    Lateness,
    /// Resident memory and start-up time of `boxtrace serve` on 1M jobs.
    Memory,
    /// Signed web-hook deliveries per second to a local receiver.
    Webhooks,
    /// Provider calls and detection delay: adaptive policy against fixed polling.
    Efficiency,
    /// The dispatch workload on apalis with SQLite.
    Apalis,
    /// Dispatch on PostgreSQL with 1, 2 and 4 processes, against a bare SKIP LOCKED loop.
    Postgres,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 8] = [
        Self::Efficiency,
        Self::Ingest,
        Self::Dispatch,
        Self::Lateness,
        Self::Webhooks,
        Self::Memory,
        Self::Apalis,
        Self::Postgres,
    ];

    /// Whether it runs the `boxtrace` binary.
    pub fn needs_server(self) -> bool {
        matches!(self, Self::Ingest | Self::Memory | Self::Webhooks)
    }

    /// Runs it once.
    pub async fn run(self, options: &Options) -> anyhow::Result<Report> {
        match self {
            Self::Ingest => ingest::run(options).await,
            Self::Dispatch => dispatch::run(options).await,
            Self::Lateness => lateness::run(options).await,
            Self::Memory => memory::run(options).await,
            Self::Webhooks => webhooks::run(options).await,
            Self::Efficiency => efficiency::run(options).await,
            Self::Apalis => apalis::run(options).await,
            Self::Postgres => postgres::run(options).await,
        }
    }
}

//! The terminal's API: container lookups of up to N boxes of one terminal per request,
//! vessel-visit lookups, and a count of every request by kind. Every answer shows the
//! terminal as it was `lag` ago: the time a change takes to reach the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use boxtrace::TraceKind;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::generate::World;
use super::life::BoxLife;
use super::model::VesselModel;
use super::record::{vessel_of, ContainerRecord};
use super::visit::VisitState;
use super::Lifecycles;

/// Requests a terminal API has answered, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// Container lookups (one request, however many containers it asks about).
    pub container_lookups: u64,
    /// Containers asked about in those lookups.
    pub containers: u64,
    /// Vessel-visit lookups.
    pub visit_lookups: u64,
}

impl RequestCounts {
    /// Every request, whatever its kind: what a provider counts against a client.
    pub fn total(&self) -> u64 {
        self.container_lookups + self.visit_lookups
    }
}

/// One container a lookup asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Query<'a> {
    pub(crate) kind: TraceKind,
    pub(crate) container: &'a str,
    /// The booking the client traces the box under (exports).
    pub(crate) booking: Option<&'a str>,
}

/// Why a lookup was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// More containers than the API takes per request.
    #[error("a container lookup takes at most {max} containers, {asked} were asked")]
    TooMany { asked: usize, max: usize },
}

/// A simulated terminal API over recorded or generated lifecycles.
#[derive(Debug)]
pub struct TerminalApi {
    lifecycles: Lifecycles,
    /// Generates the lives of boxes no lifecycle holds, anchored at `epoch`; `None` when
    /// replaying a file (a box the file does not hold is unknown to the terminal).
    world: Option<World>,
    epoch: DateTime<Utc>,
    lag: chrono::Duration,
    max_batch: usize,
    container_lookups: AtomicU64,
    containers: AtomicU64,
    visit_lookups: AtomicU64,
}

impl TerminalApi {
    /// An API answering from `lifecycles` only.
    pub fn replay(lifecycles: Lifecycles, lag: Duration, max_batch: usize) -> Self {
        Self::new(lifecycles, None, DateTime::<Utc>::MIN_UTC, lag, max_batch)
    }

    /// An API answering from `lifecycles`, and for any other box from a life drawn from
    /// `seed` under `model`, published at `epoch`.
    pub fn generated(
        lifecycles: Lifecycles,
        model: VesselModel,
        seed: u64,
        epoch: DateTime<Utc>,
        lag: Duration,
        max_batch: usize,
    ) -> Self {
        let world = World::new(
            model,
            seed,
            epoch - chrono::Duration::days(12),
            epoch + chrono::Duration::days(60),
        );
        Self::new(lifecycles, Some(world), epoch, lag, max_batch)
    }

    fn new(
        lifecycles: Lifecycles,
        world: Option<World>,
        epoch: DateTime<Utc>,
        lag: Duration,
        max_batch: usize,
    ) -> Self {
        Self {
            lifecycles,
            world,
            epoch,
            lag: chrono::Duration::from_std(lag).unwrap_or_default(),
            max_batch: max_batch.max(1),
            container_lookups: AtomicU64::new(0),
            containers: AtomicU64::new(0),
            visit_lookups: AtomicU64::new(0),
        }
    }

    /// The most containers one lookup takes.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Requests answered so far.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            container_lookups: self.container_lookups.load(Ordering::Relaxed),
            containers: self.containers.load(Ordering::Relaxed),
            visit_lookups: self.visit_lookups.load(Ordering::Relaxed),
        }
    }

    /// The recorded lifecycles.
    pub fn lifecycles(&self) -> &Lifecycles {
        &self.lifecycles
    }

    /// One container lookup at `terminal` at `at`: each query's record, or `None` for a
    /// box the terminal has no life of. One request, whatever the number of queries.
    pub(crate) fn lookup(
        &self,
        terminal: &str,
        queries: &[Query<'_>],
        at: DateTime<Utc>,
    ) -> Result<Vec<Option<ContainerRecord>>, ApiError> {
        if queries.len() > self.max_batch {
            return Err(ApiError::TooMany {
                asked: queries.len(),
                max: self.max_batch,
            });
        }
        self.container_lookups.fetch_add(1, Ordering::Relaxed);
        self.containers
            .fetch_add(queries.len() as u64, Ordering::Relaxed);
        let seen = at - self.lag;
        Ok(queries
            .iter()
            .map(|q| self.record(terminal, q, seen))
            .collect())
    }

    /// What a lookup would answer, without counting a request: for the pure views of
    /// tests and benchmarks, which must not cost the terminal anything.
    pub(crate) fn peek(
        &self,
        terminal: &str,
        queries: &[Query<'_>],
        at: DateTime<Utc>,
    ) -> Vec<Option<ContainerRecord>> {
        queries
            .iter()
            .map(|q| self.record(terminal, q, at - self.lag))
            .collect()
    }

    /// Counts a container lookup of `containers` boxes made outside [`TerminalApi::lookup`]
    /// (the `independent` model draws its answers itself).
    pub(crate) fn count_lookup(&self, containers: u64) {
        self.container_lookups.fetch_add(1, Ordering::Relaxed);
        self.containers.fetch_add(containers, Ordering::Relaxed);
    }

    /// The life of a box, recorded or drawn, without counting a request.
    pub(crate) fn life_of(
        &self,
        terminal: &str,
        kind: TraceKind,
        container: &str,
        booking: Option<&str>,
    ) -> Option<BoxLife> {
        self.life(
            terminal,
            &Query {
                kind,
                container,
                booking,
            },
        )
    }

    /// One vessel-visit lookup: the visit `id` at `terminal` as it was at `at` (less the
    /// lag), if the terminal has it.
    pub(crate) fn visit(&self, terminal: &str, id: &str, at: DateTime<Utc>) -> Option<VisitState> {
        self.visit_lookups.fetch_add(1, Ordering::Relaxed);
        self.peek_visit(terminal, id, at)
    }

    /// What a visit lookup would answer, without counting a request.
    pub(crate) fn peek_visit(
        &self,
        terminal: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Option<VisitState> {
        let seen = at - self.lag;
        match self.lifecycles.visit(terminal, id) {
            Some(visit) => Some(visit.at(seen)),
            None => self
                .world
                .as_ref()
                .and_then(|w| w.call(terminal, id))
                .map(|v| v.at(seen)),
        }
    }

    /// The box's life: recorded, or (when generating) drawn for it. A generated box is
    /// held under the booking it is asked about, so that every tenant tracing it sees
    /// the same life with its own booking.
    fn life(&self, terminal: &str, query: &Query<'_>) -> Option<BoxLife> {
        if let Some(life) = self.lifecycles.life(query.kind, query.container) {
            return (life.terminal == terminal).then(|| life.clone());
        }
        let world = self.world.as_ref()?;
        let mut life = match query.kind {
            TraceKind::Export => {
                world.export_life(query.container, query.container, terminal, self.epoch)?
            }
            TraceKind::Empty => world.empty_life(query.container, terminal, self.epoch),
        };
        life.booking = query.booking.map(str::to_owned);
        Some(life)
    }

    fn record(
        &self,
        terminal: &str,
        query: &Query<'_>,
        seen: DateTime<Utc>,
    ) -> Option<ContainerRecord> {
        let life = self.life(terminal, query)?;
        let state = life.at(seen);
        let vessel = state.visit.as_deref().and_then(|id| {
            self.lifecycles
                .visit(terminal, id)
                .cloned()
                .or_else(|| self.world.as_ref().and_then(|w| w.call(terminal, id)))
                .map(|v| vessel_of(&v))
        });
        Some(ContainerRecord {
            kind: life.kind,
            terminal: life.terminal.clone(),
            booking: life.booking.clone(),
            state,
            vessel,
        })
    }
}

//! What the policies are measured on: a fleet of boxes with their lifecycles, replayed by
//! the `sim` provider. Either the `vessels` model (generated, or a recorded lifecycle file)
//! or the `independent` lifecycles of 2026-11, each box on its own.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use boxtrace::{
    Clock, ContainerId, ContainerNumber, DataError, JobKey, ManualClock, ProviderCredentials,
    ProviderLimits, Tenant, TraceError, TraceKind, TraceRequest, TraceResult, Tracer, Workflow,
};
use boxtrace_sim::{
    BoxLife, Change, Fleet, Lifecycles, SimConfig, SimModel, SimTracer, VesselModel,
};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::score::{milestones, Milestone};

/// One box of the fleet.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) request: TraceRequest,
    /// When its tracking starts.
    pub(super) published: DateTime<Utc>,
    /// Ground truth: its changes at the terminal.
    pub(super) milestones: Vec<Milestone>,
}

/// Where the answers come from.
#[derive(Debug)]
enum Source {
    /// One terminal replaying the fleet's lifecycles (the `vessels` model or a file).
    Replay(Lifecycles),
    /// One `independent` sim per box, anchored at the box's anchor (as measured on
    /// 2026-11).
    Independent {
        seed: u64,
        anchors: HashMap<String, DateTime<Utc>>,
    },
}

/// The fleet every policy traces, in publish order.
#[derive(Debug)]
pub(super) struct World {
    pub(super) cases: Vec<Case>,
    pub(super) start: DateTime<Utc>,
    pub(super) horizon: DateTime<Utc>,
    source: Source,
    /// What the fleet is, for the report.
    pub(super) description: String,
}

const TENANT: (&str, &str) = ("bench-org", "bench-svc");

fn tenant() -> Tenant {
    Tenant::new(TENANT.0, TENANT.1)
}

/// The request a client publishes for `life`.
fn request_for(life: &BoxLife) -> TraceRequest {
    let mut data = Map::new();
    data.insert("locationCode".into(), Value::String(life.terminal.clone()));
    if let Some(booking) = &life.booking {
        data.insert("bookingNumber".into(), Value::String(booking.clone()));
    }
    let container = match ContainerNumber::parse(&life.container) {
        Ok(number) => ContainerId::Validated(number),
        Err(_) => ContainerId::Unvalidated(life.container.clone()),
    };
    TraceRequest {
        key: JobKey {
            tenant: tenant(),
            kind: life.kind,
            provider_id: "sim".into(),
            container: container.as_str().to_owned(),
        },
        container,
        data,
        origin: Some("efficiency".into()),
    }
}

impl World {
    /// A fleet of `boxes` boxes under the `vessels` model, published over `days`.
    pub(super) fn vessels(boxes: usize, days: u32, seed: u64) -> Self {
        let fleet = Fleet {
            boxes,
            days,
            start: boxtrace::testing::t0(),
            seed,
            terminals: vec!["MICT".into(), "SBITC".into()],
            owner: "SIMU".into(),
        };
        let lifecycles = fleet.lifecycles(&VesselModel::default());
        let description = format!(
            "the `vessels` model (defaults of providers/sim/README.md), seed {seed}: {boxes} boxes \
             published at random over {days} days at MICT and SBITC, exports in bookings of 1 to 4 \
             boxes, two exports for every empty, {} calls",
            lifecycles.visits().count()
        );
        Self::replay(lifecycles, description)
    }

    /// The boxes and visits of a lifecycle file.
    pub(super) fn file(path: &Path) -> anyhow::Result<Self> {
        let lifecycles = Lifecycles::read_file(path)?;
        let description = format!(
            "the lifecycle file {} ({} boxes, {} visits)",
            path.display(),
            lifecycles.boxes().count(),
            lifecycles.visits().count()
        );
        Ok(Self::replay(lifecycles, description))
    }

    fn replay(lifecycles: Lifecycles, description: String) -> Self {
        let mut cases: Vec<Case> = lifecycles
            .boxes()
            .map(|life| Case {
                request: request_for(life),
                published: life.published_at,
                milestones: milestones(life),
            })
            .collect();
        cases.sort_by_key(|c| c.published);
        let start = cases
            .first()
            .map_or_else(boxtrace::testing::t0, |c| c.published);
        let last = lifecycles
            .boxes()
            .flat_map(|b| b.changes.last().map(|c| c.at))
            .max()
            .unwrap_or(start);
        Self {
            cases,
            start,
            // Every policy stops tracking after 30 days at the latest.
            horizon: last.max(start) + chrono::Duration::days(35),
            source: Source::Replay(lifecycles),
            description,
        }
    }

    /// `boxes` boxes of the `independent` model (two exports for every empty), each
    /// anchored at random over `days` and published up to 12 h after its anchor on a
    /// quarter hour: the fleet measured on 2026-11.
    pub(super) fn independent(boxes: usize, days: u32, seed: u64) -> anyhow::Result<Self> {
        let start = boxtrace::testing::t0();
        let mut rng = StdRng::seed_from_u64(seed);
        let ground: Arc<dyn Clock> = Arc::new(ManualClock::new(start));
        let mut cases = Vec::with_capacity(boxes);
        let mut anchors = HashMap::new();
        for i in 0..boxes {
            let number = u32::try_from(i)?;
            let kind = if i % 3 == 2 {
                TraceKind::Empty
            } else {
                TraceKind::Export
            };
            let container = boxtrace::testing::container(number);
            let request = boxtrace::testing::request(&tenant(), kind, "sim", &container);
            let anchor = start + seconds(rng.random_range(0..u64::from(days.max(1)) * 86_400));
            let lead = rng.random_range(0..=12 * 3600);
            let published = on_quarter_hour(anchor + seconds(lead));
            let sim = independent_sim(seed, anchor, ground.clone());
            let timeline = sim.timeline(kind, container.as_str(), &request.data);
            anyhow::ensure!(
                !timeline.is_empty(),
                "the sim has no lifecycle for {container}"
            );
            let life = BoxLife {
                container: container.as_str().to_owned(),
                kind,
                terminal: "SIM".into(),
                booking: request.booking_number().map(str::to_owned),
                published_at: published,
                changes: timeline
                    .iter()
                    .skip(1)
                    .map(|(at, status)| Change::status(*at, *status))
                    .collect(),
            };
            anchors.insert(container.as_str().to_owned(), anchor);
            cases.push(Case {
                request,
                published,
                milestones: milestones(&life),
            });
        }
        cases.sort_by_key(|c| c.published);
        Ok(Self {
            cases,
            start,
            horizon: start + chrono::Duration::days(i64::from(days) + 35),
            source: Source::Independent { seed, anchors },
            description: format!(
                "the `independent` model (the lifecycles of 2026-11), seed {seed}: {boxes} boxes anchored at \
                 random over {days} days, each published up to 12 h after its anchor on a quarter hour"
            ),
        })
    }

    /// The terminal for one policy's run, reading `clock`, and a way to count the
    /// requests it answered. `batch_size` containers per lookup.
    pub(super) fn terminal(&self, clock: Arc<dyn Clock>, batch_size: usize) -> Terminal {
        match &self.source {
            Source::Replay(lifecycles) => Terminal::Replay(Box::new(SimTracer::with_lifecycles(
                SimConfig {
                    batch_size,
                    ..SimConfig::default()
                },
                clock,
                lifecycles.clone(),
            ))),
            Source::Independent { seed, anchors } => Terminal::Independent(Arc::new(PerBox {
                sims: anchors
                    .iter()
                    .map(|(c, anchor)| (c.clone(), independent_sim(*seed, *anchor, clock.clone())))
                    .collect(),
            })),
        }
    }
}

fn independent_sim(seed: u64, anchor: DateTime<Utc>, clock: Arc<dyn Clock>) -> SimTracer {
    SimTracer::new(
        SimConfig {
            model: SimModel::Independent,
            seed,
            epoch: Some(anchor),
            ..SimConfig::default()
        },
        clock,
    )
}

fn seconds(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// `at` (whole seconds) if it is on a quarter hour, else the next quarter hour.
fn on_quarter_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    let grid = 900;
    let secs = at.timestamp();
    DateTime::from_timestamp(secs + (grid - secs.rem_euclid(grid)) % grid, 0).unwrap_or(at)
}

/// The terminal one policy's run asks.
#[derive(Debug, Clone)]
pub(super) enum Terminal {
    Replay(Box<SimTracer>),
    Independent(Arc<PerBox>),
}

impl Terminal {
    /// The tracer to give the engine.
    pub(super) fn tracer(&self) -> Arc<dyn Tracer> {
        match self {
            Self::Replay(sim) => Arc::new(sim.as_ref().clone()),
            Self::Independent(per_box) => per_box.clone(),
        }
    }

    /// Every request the terminal answered (container lookups and visit lookups).
    pub(super) fn requests(&self) -> u64 {
        match self {
            Self::Replay(sim) => sim.requests().total(),
            Self::Independent(per_box) => per_box.sims.values().map(|s| s.requests().total()).sum(),
        }
    }

    /// Visit lookups alone.
    pub(super) fn visit_lookups(&self) -> u64 {
        match self {
            Self::Replay(sim) => sim.requests().visit_lookups,
            Self::Independent(_) => 0,
        }
    }
}

/// The `independent` sims, one per box, as one provider.
#[derive(Debug)]
pub(super) struct PerBox {
    sims: HashMap<String, SimTracer>,
}

#[async_trait]
impl Tracer for PerBox {
    fn id(&self) -> &str {
        "sim"
    }
    fn workflow(&self) -> Workflow {
        Workflow::RealTime
    }
    fn limits(&self) -> ProviderLimits {
        SimConfig {
            model: SimModel::Independent,
            ..SimConfig::default()
        }
        .effective_limits()
    }
    fn validate(&self, _kind: TraceKind, _data: &Map<String, Value>) -> Result<(), DataError> {
        Ok(())
    }
    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        match self.sims.get(request.container.as_str()) {
            Some(sim) => sim.trace(request, credentials).await,
            None => Err(TraceError::transient("a box outside the fleet")),
        }
    }
}

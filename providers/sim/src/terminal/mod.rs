//! The terminal model: vessel visits that many boxes share, box lives linked to them,
//! where they come from (a generator with the structure of real terminals, or a recorded
//! lifecycle file) and the terminal API that answers about them.

mod api;
mod file;
mod fleet;
mod generate;
mod life;
mod model;
mod record;
mod visit;

use std::collections::BTreeMap;

use boxtrace::TraceKind;

pub use api::{RequestCounts, TerminalApi};
pub use file::LifecycleError;
pub use fleet::Fleet;
pub(crate) use life::initial;
pub use life::{BoxLife, BoxState, Change};
pub use model::VesselModel;
pub use visit::{ScheduleEntry, Visit, VisitState};

/// A terminal's history: its visits and the lives of the boxes traced there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycles {
    /// Visits by (terminal, visit id).
    pub(crate) visits: BTreeMap<(String, String), Visit>,
    /// Box lives by (kind, container).
    pub(crate) boxes: BTreeMap<(TraceKind, String), BoxLife>,
}

impl Lifecycles {
    /// Lifecycles of `visits` and `boxes`. A later entry with the same key replaces an
    /// earlier one.
    pub fn new(
        visits: impl IntoIterator<Item = Visit>,
        boxes: impl IntoIterator<Item = BoxLife>,
    ) -> Self {
        Self {
            visits: visits
                .into_iter()
                .map(|v| ((v.terminal.clone(), v.id.clone()), v))
                .collect(),
            boxes: boxes
                .into_iter()
                .map(|b| ((b.kind, b.container.clone()), b))
                .collect(),
        }
    }

    /// The visit `id` at `terminal`.
    pub fn visit(&self, terminal: &str, id: &str) -> Option<&Visit> {
        self.visits.get(&(terminal.to_owned(), id.to_owned()))
    }

    /// The life of `container`'s `kind` trace.
    pub fn life(&self, kind: TraceKind, container: &str) -> Option<&BoxLife> {
        self.boxes.get(&(kind, container.to_owned()))
    }

    /// Every visit, by terminal and id.
    pub fn visits(&self) -> impl Iterator<Item = &Visit> {
        self.visits.values()
    }

    /// Every box, by kind and container.
    pub fn boxes(&self) -> impl Iterator<Item = &BoxLife> {
        self.boxes.values()
    }

    /// Adds `other`'s visits and boxes (replacing those with the same keys).
    pub fn extend(&mut self, other: Lifecycles) {
        self.visits.extend(other.visits);
        self.boxes.extend(other.boxes);
    }
}

/// A container lookup's question about one box.
pub(crate) fn query<'a>(
    kind: TraceKind,
    container: &'a str,
    booking: Option<&'a str>,
) -> api::Query<'a> {
    api::Query {
        kind,
        container,
        booking,
    }
}

/// The result a trace under `booking` gets from `record`: the record's content when the
/// terminal holds the box under that booking (or the client named none), else only that
/// it is under another booking, with nothing of the owner's shown.
pub(crate) fn to_result(
    record: &record::ContainerRecord,
    booking: Option<&str>,
    visit: Option<&VisitState>,
    at: chrono::DateTime<chrono::Utc>,
) -> boxtrace::TraceResult {
    let other = match (booking, record.booking.as_deref()) {
        (Some(asked), Some(held)) => !asked.eq_ignore_ascii_case(held),
        _ => false,
    };
    if other && record.kind == TraceKind::Export {
        return record::other_booking(record, at);
    }
    record::result(record, visit, at)
}

//! The domain model: container numbers, events, jobs, normalized results and result events.

mod change;
mod container;
mod dcsa;
pub(crate) mod event;
mod job;
mod result;
mod result_event;
mod visit;

pub use change::ChangeKind;
pub use container::{
    canonical_id, check_value, ContainerId, ContainerNumber, ContainerNumberError,
};
pub use dcsa::{
    DcsaEquipmentEvent, DcsaEventType, DcsaLocation, DcsaTransportCall, DcsaVessel,
    EmptyIndicatorCode, ModeOfTransport,
};
pub use event::{
    Action, Command, Event, EventError, EventErrorKind, EventPayload, ENTITY_CONTAINER,
};
pub use job::{
    CancelOutcome, Fenced, ForceState, Job, JobId, JobKey, Lease, PublishOutcome, Tenant,
    TraceFailure, TraceKind, TraceRequest, TrackingState,
};
pub use result::{
    EmptyIndicator, EquipmentEvent, EquipmentEventCode, EventClassifier, Hold, KeyDates, Location,
    Status, TraceResult, Vessel,
};
pub use result_event::{
    Carrier, EmitReason, ErrorInfo, LegacyEvent, Place, ResultAction, ResultEvent, ResultPayload,
    RESULT_ORIGIN,
};
pub use visit::{Appointment, VesselVisit, VisitPhase};

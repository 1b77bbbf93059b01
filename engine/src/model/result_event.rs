//! Outbound result events (`TRACE_RESULT`, `TRACE_ERROR`): what client applications receive.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    DcsaEquipmentEvent, EmptyIndicator, Job, Location, Status, TraceFailure, TraceKind,
    TraceResult, TrackingState,
};
use crate::model::event::ENTITY_CONTAINER;

/// The origin stamped on every result event.
pub const RESULT_ORIGIN: &str = "boxtrace";

/// The action of a result event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultAction {
    /// A new or changed result, a forced trace's result, or the end of tracking.
    TraceResult,
    /// A trace failed for good (the provider refused the request), or tracing is
    /// suspended until an operator fixes the provider's credentials.
    TraceError,
}

impl ResultAction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TraceResult => "TRACE_RESULT",
            Self::TraceError => "TRACE_ERROR",
        }
    }
}

/// Why a result event was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmitReason {
    /// The first result of a tracking period.
    FirstResult,
    /// The normalized content changed.
    Changed,
    /// The client forced a trace by publishing again.
    Forced,
    /// Tracking stopped: completed, expired or cancelled.
    TrackingStopped,
    /// The provider refused the trace for good.
    Failed,
    /// `TRACE_ERROR` while tracking stays active: the provider rejected the operator's
    /// credentials, and the job waits until they are fixed. Sent once per job and
    /// suspension.
    Suspended,
    /// Tracing resumed after a suspension: the first result since.
    Resumed,
}

impl EmitReason {
    /// Whether the event reports a failure (`TRACE_ERROR`).
    pub fn is_error(self) -> bool {
        matches!(self, Self::Failed | Self::Suspended)
    }
}

/// A result event, in the same envelope as requests.
///
/// Its `payload` carries the fields that existing integrations of this kind of service
/// read (`containerNumber`, `providerId`, `tracedAt`, `nextTraceAt`, `loaded`, `carrier`,
/// `destination`, `events`) and boxtrace's own: trace kind, normalized status, tracking
/// state, the full normalized result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResultEvent {
    /// Unique, stable id (store-assigned), used as the web-hook message id.
    pub id: String,
    /// Organization id.
    pub org_id: String,
    /// Service id.
    pub svc_id: String,
    /// `CONTAINER`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "utoipa", schema(pattern = "^CONTAINER$"))]
    pub entity_type: String,
    /// `TRACE_RESULT` or `TRACE_ERROR`.
    pub action: ResultAction,
    /// `boxtrace`.
    pub origin: String,
    /// When the event was created.
    pub created_at: DateTime<Utc>,
    /// The result.
    pub payload: ResultPayload,
}

/// `carrier` as existing integrations read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Carrier {
    /// `VESSEL`.
    #[serde(rename = "type")]
    pub carrier_type: String,
    /// Steamship line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steamship_line: Option<String>,
    /// Vessel name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vessel: Option<String>,
    /// Voyage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
}

/// A place as existing integrations read it (`destination`, event locations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Place {
    /// `PORT` (UN/LOCODE known) or `TERMINAL`.
    #[serde(rename = "type")]
    pub place_type: String,
    /// UN/LOCODE or facility code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// Readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Place {
    fn from_location(location: &Location) -> Self {
        Self {
            place_type: if location.facility_code.is_some() {
                "TERMINAL".into()
            } else {
                "PORT".into()
            },
            site_id: location
                .facility_code
                .clone()
                .or_else(|| location.un_locode.clone()),
            name: location.name.clone().or_else(|| location.un_locode.clone()),
        }
    }
}

/// An event as existing integrations read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LegacyEvent {
    /// DCSA equipment event code, e.g. `GTIN`.
    pub code: String,
    /// When.
    pub date: DateTime<Utc>,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Place>,
}

/// The failure reported by a `TRACE_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// Machine-readable reason, e.g. `credentials_rejected`.
    pub reason: String,
    /// Readable message, free of secrets.
    pub message: String,
}

/// The payload of a result event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResultPayload {
    /// The container id as traced.
    pub container_number: String,
    /// Provider id.
    pub provider_id: String,
    /// `EXPORT` or `EMPTY`.
    pub trace_kind: TraceKind,
    /// The booking the trace was requested for (export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_number: Option<String>,
    /// When the trace ran (for a cancellation: when it was cancelled).
    pub traced_at: DateTime<Utc>,
    /// When the next trace is due; `null` once tracking stopped.
    #[cfg_attr(feature = "utoipa", schema(required = true))]
    pub next_trace_at: Option<DateTime<Utc>>,
    /// Tracking state after this event.
    pub tracking_state: TrackingState,
    /// Why this event was sent.
    pub reason: EmitReason,
    /// Normalized status, when there is a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// `laden` or `empty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<EmptyIndicator>,
    /// Vessel, voyage and line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<Carrier>,
    /// Port of discharge or destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Place>,
    /// Equipment events (DCSA codes), oldest first, in the shape existing integrations
    /// read.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(required = true))]
    pub events: Vec<LegacyEvent>,
    /// The same equipment events as DCSA Track & Trace 2.2 `equipmentEvent`s (field names,
    /// codes and casing as the specification writes them), oldest first.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(required = true))]
    pub equipment_events: Vec<DcsaEquipmentEvent>,
    /// The full normalized result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TraceResult>,
    /// For `TRACE_ERROR`: what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// `true` on a test event (a web-hook ping, container `PING0000000`), which a receiver
    /// should verify and acknowledge but not book as a result; absent on real events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl ResultEvent {
    /// The event describing `job` as it is now (after a trace or a state change).
    /// The id is empty until the store appends the event to the outbox.
    pub fn for_job(job: &Job, reason: EmitReason, at: DateTime<Utc>) -> Self {
        let result = job.last_result.as_ref();
        let error = reason
            .is_error()
            .then(|| job.last_error.as_ref().map(error_info))
            .flatten();
        let payload = ResultPayload {
            container_number: job.request.key.container.clone(),
            provider_id: job.request.key.provider_id.clone(),
            trace_kind: job.request.key.kind,
            booking_number: job.request.booking_number().map(str::to_owned),
            traced_at: job.last_traced_at.unwrap_or(at),
            next_trace_at: if job.state.is_active() {
                job.due_at
            } else {
                None
            },
            tracking_state: job.state,
            reason,
            status: result.map(|r| r.status),
            loaded: result.and_then(|r| r.empty_indicator),
            carrier: result.and_then(|r| r.vessel.as_ref()).map(|v| Carrier {
                carrier_type: "VESSEL".into(),
                steamship_line: v.line.clone(),
                vessel: v.name.clone(),
                voyage: v.voyage.clone(),
            }),
            destination: result
                .and_then(|r| r.destination.as_ref())
                .map(Place::from_location),
            events: result
                .map(|r| {
                    r.events
                        .iter()
                        .map(|e| LegacyEvent {
                            code: e.code.as_str().to_owned(),
                            date: e.event_at,
                            location: e.location.as_ref().map(Place::from_location),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            equipment_events: result
                .map(|r| {
                    DcsaEquipmentEvent::all_of(r, job.request.key.kind, &job.request.key.container)
                })
                .unwrap_or_default(),
            result: result.cloned().map(|mut r| {
                // The provider's raw answer is for operators, not for clients.
                r.raw = None;
                r
            }),
            error,
            test: false,
        };
        Self {
            id: String::new(),
            org_id: job.request.key.tenant.org_id.clone(),
            svc_id: job.request.key.tenant.svc_id.clone(),
            entity_type: ENTITY_CONTAINER.to_owned(),
            action: if reason.is_error() {
                ResultAction::TraceError
            } else {
                ResultAction::TraceResult
            },
            origin: RESULT_ORIGIN.to_owned(),
            created_at: at,
            payload,
        }
    }
}

impl ResultEvent {
    /// One readable line for logs and demos, e.g.
    /// `Mar 04 14:20  MSCU1234566  EXPORT GATED_IN          ACTIVE     changed  SIM DELTA 145E`.
    pub fn summary(&self) -> String {
        let p = &self.payload;
        let status = match (self.action, &p.error) {
            (ResultAction::TraceError, Some(error)) => format!("ERROR {}", error.reason),
            _ => p.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        };
        let reason = match p.reason {
            EmitReason::FirstResult => "first",
            EmitReason::Changed => "changed",
            EmitReason::Forced => "forced",
            EmitReason::TrackingStopped => "stopped",
            EmitReason::Failed => "failed",
            EmitReason::Suspended => "suspended",
            EmitReason::Resumed => "resumed",
        };
        let vessel = p
            .carrier
            .as_ref()
            .map(|c| {
                format!(
                    "{} {}",
                    c.vessel.as_deref().unwrap_or("?"),
                    c.voyage.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let holds = p
            .result
            .as_ref()
            .filter(|r| !r.holds.is_empty())
            .map(|r| {
                let codes: Vec<&str> = r.holds.iter().map(|h| h.code.as_str()).collect();
                format!("  holds: {}", codes.join(", "))
            })
            .unwrap_or_default();
        let line = format!(
            "{}  {:<12} {:<6} {:<17} {:<10} {:<8} {}{}",
            p.traced_at.format("%b %d %H:%M"),
            p.container_number,
            p.trace_kind.as_str(),
            status,
            p.tracking_state.as_str(),
            reason,
            vessel.trim_end(),
            holds
        );
        line.trim_end().to_owned()
    }
}

fn error_info(failure: &TraceFailure) -> ErrorInfo {
    ErrorInfo {
        reason: failure.reason.clone(),
        message: failure.message.clone(),
    }
}

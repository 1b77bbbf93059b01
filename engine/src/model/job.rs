//! Jobs: one trace of one container for one tenant, and the state transitions every store applies.
//!
//! The transitions live here, as pure functions over [`Job`], so that every [`Store`]
//! backend applies the same rules inside its own atomic step; a backend only decides how
//! to make the read-modify-write atomic.
//!
//! [`Store`]: crate::Store

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ContainerId, TraceResult};

/// The client application a job belongs to: an organization and one of its service
/// instances. Tenants never see each other's jobs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Organization id (`orgId`).
    pub org_id: String,
    /// Service (client application instance) id (`svcId`).
    pub svc_id: String,
}

impl Tenant {
    /// A tenant from its two ids.
    pub fn new(org_id: impl Into<String>, svc_id: impl Into<String>) -> Self {
        Self {
            org_id: org_id.into(),
            svc_id: svc_id.into(),
        }
    }
}

/// Which trace: an export box on its way to the vessel, or an empty on its way back.
/// Export and empty traces of one box are independent jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TraceKind {
    /// Export trace (`TRACE_EXPORT_*`).
    Export,
    /// Empty trace (`TRACE_EMPTY_*`).
    Empty,
}

impl TraceKind {
    /// `EXPORT` or `EMPTY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "EXPORT",
            Self::Empty => "EMPTY",
        }
    }
}

impl std::fmt::Display for TraceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of a job: tenant, trace kind, provider and container id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobKey {
    /// Whose trace.
    pub tenant: Tenant,
    /// Export or empty.
    pub kind: TraceKind,
    /// The provider id, e.g. `ictsi`.
    pub provider_id: String,
    /// The container id as traced: normalized number, or the id as given.
    pub container: String,
}

/// A store-assigned job id, unique within one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a tracer is asked to trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceRequest {
    /// The job's identity.
    pub key: JobKey,
    /// The container id, validated or as given.
    pub container: ContainerId,
    /// Provider-specific data from the request (`payload.data`), without `normalize`.
    pub data: Map<String, Value>,
    /// The `origin` of the latest publish event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl TraceRequest {
    /// A string field of `data`, if present and a string.
    pub fn data_str(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(Value::as_str)
    }

    /// `data.bookingNumber`, required for export traces.
    pub fn booking_number(&self) -> Option<&str> {
        self.data_str("bookingNumber")
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrackingState {
    /// Being traced at intervals.
    Active,
    /// A terminal status was reached (loaded/departed, returned).
    Completed,
    /// Tracking gave up: maximum tracking age, or not found for too long.
    Expired,
    /// The client cancelled the trace.
    Cancelled,
    /// The provider refused the trace for good (credentials, request); see `TRACE_ERROR`.
    Failed,
}

impl TrackingState {
    /// Whether the job is still traced.
    pub fn is_active(self) -> bool {
        self == Self::Active
    }

    /// The wire name, e.g. `ACTIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Completed => "COMPLETED",
            Self::Expired => "EXPIRED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
        }
    }
}

/// A job handed to one tracer until `until`; `token` fences the holder's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Increases with every claim of this job; a commit must present the current one.
    pub token: u64,
    /// When the lease lapses and the job comes due again by itself.
    pub until: DateTime<Utc>,
}

/// The last failed trace, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TraceFailure {
    /// `transient`, `rate_limited`, `permanent`, or `suspended` (the provider rejected
    /// the operator's credentials; tracking waits, see [`TraceFailure::SUSPENDED`]).
    pub class: String,
    /// A machine-readable reason, e.g. `credentials_rejected`.
    pub reason: String,
    /// A readable message, free of secrets.
    pub message: String,
    /// When it failed.
    pub at: DateTime<Utc>,
}

impl TraceFailure {
    /// The class of a failure that suspends tracking instead of ending it.
    pub const SUSPENDED: &'static str = "suspended";

    /// Whether this failure suspended tracking (and its client was told).
    pub fn is_suspension(&self) -> bool {
        self.class == Self::SUSPENDED
    }
}

/// Forced-trace bookkeeping: a forced trace is pending while `requested > handled`.
///
/// Counters rather than a flag, so that a force that arrives while a trace is running is
/// not lost when that trace commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForceState {
    /// Forced traces requested so far.
    pub requested: u64,
    /// The `requested` value the last committed trace covered.
    pub handled: u64,
}

impl ForceState {
    /// Whether a forced trace is pending.
    pub fn pending(&self) -> bool {
        self.requested > self.handled
    }
}

/// One trace of one container for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Store-assigned id.
    pub id: JobId,
    /// What to trace; the latest publish's data.
    pub request: TraceRequest,
    /// Tracking state.
    pub state: TrackingState,
    /// First publish.
    pub created_at: DateTime<Utc>,
    /// Start of the current tracking period (reset when a finished job is re-published);
    /// the maximum tracking age counts from here.
    pub tracking_since: DateTime<Utc>,
    /// Last change of any field.
    pub updated_at: DateTime<Utc>,
    /// When the next trace is due; `None` once tracking stopped. While leased, the lease's
    /// expiry, so that the job comes due again by itself if its tracer dies.
    pub due_at: Option<DateTime<Utc>>,
    /// The current lease, if a tracer holds the job.
    pub lease: Option<Lease>,
    /// Claims so far; the next lease token.
    pub lease_seq: u64,
    /// The latest normalized result.
    pub last_result: Option<TraceResult>,
    /// When the normalized content last changed.
    pub last_changed_at: Option<DateTime<Utc>>,
    /// When the job was last traced (successfully or not).
    pub last_traced_at: Option<DateTime<Utc>>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<TraceFailure>,
    /// Failures since the last success.
    pub consecutive_errors: u32,
    /// Since when the provider has reported the container not found, continuously.
    pub not_found_since: Option<DateTime<Utc>>,
    /// Traces run so far.
    pub trace_count: u64,
    /// Forced-trace bookkeeping.
    pub force: ForceState,
    /// The due time the job had when it was last claimed: how late a trace started is
    /// the claim time less this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_due_at: Option<DateTime<Utc>>,
}

/// What a publish did to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PublishOutcome {
    /// A new job; its initial trace is due now.
    Created,
    /// A finished job tracks again; a trace is due now.
    Restarted,
    /// An active job of a real-time provider: a trace is forced now (or right after the
    /// running one).
    Forced,
    /// An active job of a provider that is not real-time: nothing changes.
    AlreadyTracked,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancelOutcome {
    /// The trace was active and is now cancelled; a final event was written.
    Cancelled,
    /// No active trace matched; nothing changed. Not an error.
    NotTraced,
}

/// Why a trace commit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fenced {
    /// The job is gone.
    #[error("the job no longer exists")]
    Missing,
    /// Another holder took the job after this lease lapsed, or it was cancelled.
    #[error("the lease was lost (expired and taken over, or the job was cancelled)")]
    LeaseLost,
}

impl Job {
    /// Applies a publish to the job stored under the request's key, if any.
    ///
    /// `real_time` is the provider's workflow: only real-time providers force a trace of an
    /// active job (and take the request's data as the latest); for other workflows a
    /// publish of an active job changes nothing. `new_id` is called only when a job is
    /// created.
    pub fn plan_publish(
        current: Option<Job>,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> JobId,
    ) -> (Job, PublishOutcome) {
        match current {
            None => (
                Job {
                    id: new_id(),
                    request,
                    state: TrackingState::Active,
                    created_at: now,
                    tracking_since: now,
                    updated_at: now,
                    due_at: Some(now),
                    lease: None,
                    lease_seq: 0,
                    last_result: None,
                    last_changed_at: None,
                    last_traced_at: None,
                    last_error: None,
                    consecutive_errors: 0,
                    not_found_since: None,
                    trace_count: 0,
                    force: ForceState::default(),
                    claimed_due_at: None,
                },
                PublishOutcome::Created,
            ),
            Some(mut job) if !job.state.is_active() => {
                job.request = request;
                job.state = TrackingState::Active;
                job.tracking_since = now;
                job.updated_at = now;
                job.due_at = Some(now);
                job.lease = None;
                job.last_error = None;
                job.consecutive_errors = 0;
                job.not_found_since = None;
                // The restart's first trace reports like a first result.
                job.last_result = None;
                job.force = ForceState {
                    requested: job.force.requested,
                    handled: job.force.requested,
                };
                (job, PublishOutcome::Restarted)
            }
            Some(job) if !real_time => (job, PublishOutcome::AlreadyTracked),
            Some(mut job) => {
                // A corrected booking or terminal is the client's latest word; keep it.
                job.request = request;
                job.updated_at = now;
                job.force.requested += 1;
                // A running trace keeps its lease; its commit sees the force that arrived
                // meanwhile and makes the job due at once, so two traces of one job never
                // overlap.
                if job.lease.is_none() {
                    job.due_at = Some(job.due_at.map_or(now, |due| due.min(now)));
                }
                (job, PublishOutcome::Forced)
            }
        }
    }

    /// Cancels an active job. Returns `None` (nothing to do) when the job is not active.
    /// Clearing the lease fences out a trace that is running now.
    pub fn plan_cancel(current: Option<Job>, now: DateTime<Utc>) -> Option<Job> {
        let mut job = current.filter(|j| j.state.is_active())?;
        job.state = TrackingState::Cancelled;
        job.due_at = None;
        job.lease = None;
        job.updated_at = now;
        Some(job)
    }

    /// The cohort of the job's box: its vessel visit at its terminal, from the last
    /// result (`<facility>/<visit id>`). Active boxes of one provider and cohort share
    /// what the visit reveals ([`crate::CohortPolicy`]); `None` while no visit is known.
    pub fn cohort(&self) -> Option<String> {
        let result = self.last_result.as_ref()?;
        let visit = result.visit.as_ref()?;
        let facility = result
            .location
            .as_ref()
            .and_then(|l| l.facility_code.as_deref())
            .unwrap_or_default();
        Some(format!("{facility}/{}", visit.id))
    }

    /// The cohort the store indexes the job under: its [`Job::cohort`] while it is
    /// active, none once tracking stopped.
    pub fn indexed_cohort(&self) -> Option<String> {
        self.state.is_active().then(|| self.cohort()).flatten()
    }

    /// Whether a cohort's news at `seen` brings this job forward to `at`: it is active,
    /// not held by a tracer, due later than `at`, and was last traced before the news
    /// was seen (a box traced since knows already).
    pub fn expedites(&self, at: DateTime<Utc>, seen: DateTime<Utc>) -> bool {
        self.state.is_active()
            && self.lease.is_none_or(|lease| lease.until <= seen)
            && self.due_at.is_some_and(|due| due > at)
            && self.last_traced_at.is_none_or(|traced| traced < seen)
    }

    /// Whether the job can be claimed at `now`: active and due (a lapsed lease is due).
    pub fn is_claimable(&self, now: DateTime<Utc>) -> bool {
        self.is_claimable_by(now, now)
    }

    /// Whether a claim at `now` can take the job ahead of time: active, due by `due_by`,
    /// and not held by anyone (no lease, or one that lapsed by `now`). A lease that is
    /// still running is never taken early: its holder may be tracing.
    pub fn is_claimable_by(&self, due_by: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.state.is_active()
            && self.due_at.is_some_and(|due| due <= due_by)
            && self.lease.is_none_or(|lease| lease.until <= now)
    }

    /// Leases the job until `until` and returns the lease token. The due time moves to the
    /// lease's expiry, so the job comes due again by itself if its holder dies.
    pub fn claim(&mut self, until: DateTime<Utc>) -> u64 {
        self.claimed_due_at = self.due_at;
        self.lease_seq += 1;
        self.lease = Some(Lease {
            token: self.lease_seq,
            until,
        });
        self.due_at = Some(until);
        self.lease_seq
    }

    /// Extends a held lease to `until`.
    pub fn renew(&mut self, token: u64, until: DateTime<Utc>) -> Result<(), Fenced> {
        match &mut self.lease {
            Some(lease) if lease.token == token && self.state.is_active() => {
                lease.until = until;
                self.due_at = Some(until);
                Ok(())
            }
            _ => Err(Fenced::LeaseLost),
        }
    }

    /// Hands a held lease back without tracing: the job is due again at `due` and held by
    /// no one, so a claim ahead of time (a provider request with room) may take it before
    /// then. (A renewal to `due` would leave it held until `due`, and a job that is held is
    /// never taken early.)
    pub fn release(&mut self, token: u64, due: DateTime<Utc>) -> Result<(), Fenced> {
        match &self.lease {
            Some(lease) if lease.token == token && self.state.is_active() => {
                self.lease = None;
                self.claimed_due_at = None;
                self.due_at = Some(due);
                Ok(())
            }
            _ => Err(Fenced::LeaseLost),
        }
    }

    /// Merges a trace's outcome (`next`, computed by the engine from the leased snapshot)
    /// into the job as it is now.
    ///
    /// Refused unless `token` is still the job's lease. What a client may have changed
    /// while the trace ran is kept: the request data of a re-publish, and a forced trace
    /// requested meanwhile, which makes the job due at `now`. (A force that was pending
    /// before the trace and not handled by it, because the trace failed, waits for the
    /// next trace the backoff schedules.)
    pub fn merge_completion(
        current: &Job,
        mut next: Job,
        token: u64,
        now: DateTime<Utc>,
    ) -> Result<Job, Fenced> {
        if current.lease.map(|l| l.token) != Some(token) || !current.state.is_active() {
            return Err(Fenced::LeaseLost);
        }
        let forced_meanwhile = current.force.requested > next.force.requested;
        // A publish during the trace may have corrected the request; most did not, and
        // the writer that runs this should not copy it for nothing.
        if next.request != current.request {
            next.request = current.request.clone();
        }
        next.force.requested = current.force.requested;
        next.lease = None;
        next.lease_seq = current.lease_seq;
        if next.state.is_active() && forced_meanwhile {
            next.due_at = Some(next.due_at.map_or(now, |due| due.min(now)));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerNumber;
    use chrono::{Duration, TimeZone};

    fn request() -> TraceRequest {
        TraceRequest {
            key: JobKey {
                tenant: Tenant::new("org", "svc"),
                kind: TraceKind::Export,
                provider_id: "sim".into(),
                container: "CSQU3054383".into(),
            },
            container: ContainerId::Validated(ContainerNumber::parse("CSQU3054383").unwrap()),
            data: Map::new(),
            origin: None,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn publish_creates_then_forces_then_restarts() {
        let (job, outcome) = Job::plan_publish(None, request(), true, t0(), || JobId(7));
        assert_eq!(outcome, PublishOutcome::Created);
        assert_eq!(job.due_at, Some(t0()));
        assert_eq!(job.id, JobId(7));

        let mut traced = job.clone();
        traced.due_at = Some(t0() + Duration::hours(4));
        let later = t0() + Duration::hours(1);
        let (forced, outcome) =
            Job::plan_publish(Some(traced.clone()), request(), true, later, || JobId(0));
        assert_eq!(outcome, PublishOutcome::Forced);
        assert_eq!(forced.due_at, Some(later));
        assert!(forced.force.pending());

        let (same, outcome) =
            Job::plan_publish(Some(traced.clone()), request(), false, later, || JobId(0));
        assert_eq!(outcome, PublishOutcome::AlreadyTracked);
        assert_eq!(same.due_at, traced.due_at);

        let cancelled = Job::plan_cancel(Some(traced), later).unwrap();
        assert_eq!(cancelled.state, TrackingState::Cancelled);
        assert_eq!(cancelled.due_at, None);
        let (restarted, outcome) =
            Job::plan_publish(Some(cancelled), request(), true, later, || JobId(0));
        assert_eq!(outcome, PublishOutcome::Restarted);
        assert_eq!(restarted.due_at, Some(later));
        assert_eq!(restarted.tracking_since, later);
        assert!(!restarted.force.pending());
    }

    #[test]
    fn force_during_a_lease_waits_for_the_commit() {
        let (mut job, _) = Job::plan_publish(None, request(), true, t0(), || JobId(1));
        let until = t0() + Duration::seconds(60);
        let token = job.claim(until);
        let snapshot = job.clone();
        let (job, outcome) = Job::plan_publish(Some(job), request(), true, t0(), || JobId(0));
        assert_eq!(outcome, PublishOutcome::Forced);
        assert_eq!(job.due_at, Some(until), "the running lease keeps the job");

        let mut next = snapshot.clone();
        next.force.handled = snapshot.force.requested;
        next.due_at = Some(t0() + Duration::hours(4));
        let now = t0() + Duration::seconds(5);
        let merged = Job::merge_completion(&job, next, token, now).unwrap();
        assert_eq!(merged.due_at, Some(now), "the force arrived mid-trace");
        assert_eq!(merged.lease, None);
    }

    #[test]
    fn stale_lease_is_fenced() {
        let (mut job, _) = Job::plan_publish(None, request(), true, t0(), || JobId(1));
        let old = job.claim(t0() + Duration::seconds(1));
        let snapshot = job.clone();
        let new = job.claim(t0() + Duration::seconds(70));
        assert_ne!(old, new);
        assert_eq!(
            Job::merge_completion(&job, snapshot.clone(), old, t0()),
            Err(Fenced::LeaseLost)
        );
        let cancelled = Job::plan_cancel(Some(job), t0()).unwrap();
        assert_eq!(
            Job::merge_completion(&cancelled, snapshot, new, t0()),
            Err(Fenced::LeaseLost)
        );
    }
}

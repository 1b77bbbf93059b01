//! A model-based property test of the scheduler: random sequences of publishes, cancels,
//! provider answers and time steps, checked against a model of which traces are active.

use std::collections::HashMap;

use boxtrace::testing::{container, t0, ScriptedTracer};
use boxtrace::{Clock, JobKey, Policy, Status, Tenant, TraceKind, TraceResult, TrackingState};
use proptest::prelude::*;

use crate::support::{event, harness_with};

#[derive(Debug, Clone)]
enum Op {
    Publish(u32, TraceKind),
    Cancel(u32, TraceKind),
    Answer(u32, TraceKind, Status),
    Advance(i64),
}

fn kind() -> impl Strategy<Value = TraceKind> {
    prop_oneof![Just(TraceKind::Export), Just(TraceKind::Empty)]
}

fn status_for(kind: TraceKind, pick: u8) -> Status {
    let export = [
        Status::Expected,
        Status::GatedIn,
        Status::OnHold,
        Status::Loaded,
        Status::NotFound,
    ];
    let empty = [
        Status::NotReceivable,
        Status::Receivable,
        Status::Returned,
        Status::NotFound,
    ];
    match kind {
        TraceKind::Export => export[usize::from(pick) % export.len()],
        TraceKind::Empty => empty[usize::from(pick) % empty.len()],
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..4, kind()).prop_map(|(b, k)| Op::Publish(b, k)),
        1 => (0u32..4, kind()).prop_map(|(b, k)| Op::Cancel(b, k)),
        2 => (0u32..4, kind(), any::<u8>()).prop_map(|(b, k, s)| Op::Answer(b, k, status_for(k, s))),
        4 => (1i64..(60 * 12)).prop_map(Op::Advance),
    ]
}

fn key(b: u32, kind: TraceKind) -> JobKey {
    JobKey {
        tenant: Tenant::new("org-a", "svc-1"),
        kind,
        provider_id: "scripted".into(),
        container: container(b).to_string(),
    }
}

fn action(kind: TraceKind, publish: bool) -> &'static str {
    match (kind, publish) {
        (TraceKind::Export, true) => "TRACE_EXPORT_REQUESTED",
        (TraceKind::Empty, true) => "TRACE_EMPTY_REQUESTED",
        (TraceKind::Export, false) => "TRACE_EXPORT_CANCELLED",
        (TraceKind::Empty, false) => "TRACE_EMPTY_CANCELLED",
    }
}

async fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let h = harness_with(ScriptedTracer::new("scripted"), Policy::default());
    let max_delay = chrono::Duration::from_std(Policy::default().max_delay()).unwrap();
    // The model: whether each key is being tracked, as far as the client's events go.
    let mut cancelled_calls: HashMap<(u32, TraceKind), u32> = HashMap::new();
    for op in ops {
        match op {
            Op::Publish(b, k) => {
                let data = serde_json::json!({ "bookingNumber": "B1" });
                h.engine
                    .handle_event(&event(
                        "org-a",
                        action(k, true),
                        container(b).as_str(),
                        data,
                    ))
                    .await
                    .unwrap();
                cancelled_calls.remove(&(b, k));
            }
            Op::Cancel(b, k) => {
                h.engine
                    .handle_event(&event(
                        "org-a",
                        action(k, false),
                        container(b).as_str(),
                        serde_json::json!({}),
                    ))
                    .await
                    .unwrap();
                let calls = h.tracer.calls(container(b).as_str());
                cancelled_calls.insert((b, k), calls);
            }
            Op::Answer(b, k, status) => {
                h.tracer
                    .push_kind(k, container(b).as_str(), Ok(TraceResult::new(status, t0())));
            }
            Op::Advance(minutes) => h.clock.advance(chrono::Duration::minutes(minutes)),
        }
        h.engine.run_due().await.unwrap();
        let now = h.clock.now();
        for b in 0..4 {
            for k in [TraceKind::Export, TraceKind::Empty] {
                let Some(job) = h.engine.get(&key(b, k)).await.unwrap() else {
                    continue;
                };
                prop_assert!(job.lease.is_none(), "no lease outlives run_due");
                match job.state {
                    TrackingState::Active => {
                        let due = job.due_at.expect("an active job is due some time");
                        prop_assert!(due > now, "everything due was traced: {due} <= {now}");
                        prop_assert!(
                            due <= now + max_delay,
                            "due {due} beyond the policy's bound"
                        );
                    }
                    _ => prop_assert!(job.due_at.is_none(), "a stopped job is never due"),
                }
                if cancelled_calls.contains_key(&(b, k)) {
                    prop_assert_ne!(
                        job.state,
                        TrackingState::Active,
                        "a cancelled trace stays stopped"
                    );
                }
            }
        }
    }
    prop_assert!(
        h.tracer.max_overlap() <= 1,
        "never two traces of one job at once"
    );
    // Each job's history: a first result, then only changes, forced traces, or the stop.
    for b in 0..4 {
        for k in [TraceKind::Export, TraceKind::Empty] {
            let history = h.engine.history(&key(b, k), 1000).await.unwrap();
            for pair in history.windows(2) {
                let (a, b) = (&pair[0].payload, &pair[1].payload);
                let same_result = match (&a.result, &b.result) {
                    (Some(x), Some(y)) => x.same_content(y),
                    (None, None) => true,
                    _ => false,
                };
                let same = same_result && a.tracking_state == b.tracking_state;
                use boxtrace::EmitReason::{FirstResult, Forced, TrackingStopped};
                // A re-publish of a stopped job restarts it; if its first trace stops it
                // again, the stop repeats the previous one.
                let restarted_and_stopped =
                    a.reason == TrackingStopped && b.reason == TrackingStopped;
                prop_assert!(
                    !same || matches!(b.reason, Forced | FirstResult) || restarted_and_stopped,
                    "an event that changes nothing must be a forced trace or a restart: {:?}",
                    b.reason
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn scheduler_keeps_its_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check(ops))?;
    }
}

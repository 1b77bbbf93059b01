//! Conformance of the outbox ([`Outbox`]): queues ordered per job, leases, retries,
//! fan-out, burial and replay, and the results queue fed by the job store's commits.

use super::{claim_one, commit, first_results, mins, refused, tenant, traced};
use crate::model::{EmitReason, Status, TraceKind, TrackingState};
use crate::store::{FanOutEntry, JobStore, Outbox, Settlement, StoreError, Verdict, RESULTS_QUEUE};
use crate::testing::{container, request, t0};

/// A commit with an event, and a cancel, each append their event to the results queue
/// in the same step; a commit without an event and a fenced commit append nothing.
pub(super) async fn commits_and_cancels_feed_the_results_queue<S: JobStore + Outbox>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(4));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    let quiet = traced(&c.job, Status::GatedIn, t0(), Some(t0() + mins(1)));
    commit(&store, c.token, quiet, None, t0()).await;
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        0,
        "no outbox entry without a change"
    );
    let c = claim_one(&store, t0() + mins(1)).await;
    let next = traced(
        &c.job,
        Status::GatedIn,
        t0() + mins(1),
        Some(t0() + mins(120)),
    );
    let committed = commit(
        &store,
        c.token,
        next.clone(),
        Some(EmitReason::FirstResult),
        t0() + mins(1),
    )
    .await;
    let event = committed.event.expect("an event was due");
    let err = refused(
        &store,
        c.token,
        next,
        Some(EmitReason::Changed),
        t0() + mins(1),
    )
    .await;
    assert!(
        matches!(err, StoreError::Fenced(_)),
        "a second commit of one claim is fenced: {err:?}"
    );
    let claims = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(1), 10, t0() + mins(2))
        .await
        .unwrap();
    assert_eq!(
        claims.len(),
        1,
        "one entry for one event, none for the fenced commit"
    );
    assert_eq!(
        claims[0].entry.event, event,
        "the outbox holds the same event"
    );
    store
        .ack_outbox(RESULTS_QUEUE, claims[0].entry.seq, claims[0].token)
        .await
        .unwrap();
    assert_eq!(store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending, 0);
    let cancelled = store
        .cancel(&r.key, t0() + mins(2))
        .await
        .unwrap()
        .expect("an active job is cancelled");
    assert!(store
        .cancel(&r.key, t0() + mins(2))
        .await
        .unwrap()
        .is_none());
    let entries = store.outbox_entries(RESULTS_QUEUE, 10).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| &e.event).collect::<Vec<_>>(),
        vec![&cancelled],
        "exactly one final event"
    );
}

/// A holder whose lease lapsed and was taken over commits nothing, its event included: the
/// results queue holds only what the new holder commits.
pub(super) async fn a_fenced_commit_after_a_takeover_queues_nothing<S: JobStore + Outbox>(
    store: S,
) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(3));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let lease = t0() + mins(1);
    let first = claim_one(&store, t0()).await;
    // The first holder's lease lapses and a second takes the job over.
    let second = claim_one(&store, lease).await;
    let stale = traced(&first.job, Status::Loaded, lease, None);
    let err = refused(&store, first.token, stale, Some(EmitReason::Changed), lease).await;
    assert!(
        matches!(err, StoreError::Fenced(_)),
        "the first holder is fenced: {err:?}"
    );
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        0,
        "a fenced commit queues nothing"
    );
    let next = traced(&second.job, Status::GatedIn, lease, Some(t0() + mins(60)));
    let committed = commit(
        &store,
        second.token,
        next,
        Some(EmitReason::FirstResult),
        lease,
    )
    .await;
    let entries = store.outbox_entries(RESULTS_QUEUE, 10).await.unwrap();
    assert_eq!(
        entries.into_iter().map(|e| e.event).collect::<Vec<_>>(),
        vec![committed.event.expect("an event was due")],
        "only the new holder's event is queued"
    );
}

pub(super) async fn outbox_is_ordered_per_job<S: JobStore + Outbox>(store: S) {
    let a = request(&tenant(), TraceKind::Export, "p", &container(9));
    let b = request(&tenant(), TraceKind::Export, "p", &container(10));
    for r in [&a, &b] {
        store.publish(r.clone(), true, t0()).await.unwrap();
    }
    // Two events for a (first result, then cancel), one for b.
    first_results(&store, t0(), t0() + mins(60)).await;
    store.cancel(&a.key, t0()).await.unwrap();
    let lease = t0() + mins(1);
    let first = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(first.len(), 2, "one entry per job at a time");
    assert!(
        store
            .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "nothing more while the first are in flight"
    );
    let a_first = first
        .iter()
        .find(|c| c.entry.event.payload.container_number == a.key.container)
        .unwrap();
    let b_first = first
        .iter()
        .find(|c| c.entry.event.payload.container_number == b.key.container)
        .unwrap();
    store
        .ack_outbox(RESULTS_QUEUE, b_first.entry.seq, b_first.token)
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .ack_outbox(RESULTS_QUEUE, a_first.entry.seq, a_first.token + 1)
                .await,
            Err(StoreError::Fenced(_))
        ),
        "a wrong token cannot ack"
    );
    store
        .retry_outbox(
            RESULTS_QUEUE,
            a_first.entry.seq,
            a_first.token,
            t0() + mins(5),
            Some("503".into()),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_outbox(RESULTS_QUEUE, t0() + mins(2), 10, t0() + mins(3))
            .await
            .unwrap()
            .is_empty(),
        "a's later event waits behind its retried first"
    );
    let retried = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(5), 10, t0() + mins(6))
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        retried[0].entry.seq, a_first.entry.seq,
        "the retried entry comes back first"
    );
    assert_eq!(retried[0].entry.attempts, 1);
    assert_eq!(
        retried[0].entry.event.id, a_first.entry.event.id,
        "the event id is stable across retries"
    );
    store
        .ack_outbox(RESULTS_QUEUE, retried[0].entry.seq, retried[0].token)
        .await
        .unwrap();
    let second = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(5), 10, t0() + mins(6))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].entry.event.payload.tracking_state,
        TrackingState::Cancelled,
        "then a's second event"
    );
}

pub(super) async fn fan_out_all_keeps_order_and_fences_each<S: JobStore + Outbox>(store: S) {
    for n in [21, 22, 23] {
        let r = request(&tenant(), TraceKind::Export, "p", &container(n));
        store.publish(r, true, t0()).await.unwrap();
    }
    assert_eq!(first_results(&store, t0(), t0() + mins(60)).await.len(), 3);
    let lease = t0() + mins(1);
    let events = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "three jobs, one event each");
    let to = vec!["hook-z".to_owned()];
    let entries: Vec<FanOutEntry> = events
        .iter()
        .enumerate()
        .map(|(i, c)| FanOutEntry {
            seq: c.entry.seq,
            // The middle claim is not ours (a stale token): it alone must be refused.
            token: if i == 1 { c.token + 1_000 } else { c.token },
            to: to.clone(),
        })
        .collect();
    let results = store.fan_out_all(RESULTS_QUEUE, &entries, t0()).await;
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "a stale token is refused: {results:?}");
    let copies = store.claim_outbox("hook-z", t0(), 10, lease).await.unwrap();
    let ids: Vec<&str> = copies.iter().map(|c| c.entry.event.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            events[0].entry.event.id.as_str(),
            events[2].entry.event.id.as_str()
        ],
        "copies in the order given; the refused entry is not copied"
    );
    let left = store
        .claim_outbox(RESULTS_QUEUE, lease, 10, lease + mins(1))
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the refused entry stays in its queue");
    assert_eq!(left[0].entry.event.id, events[1].entry.event.id);
}

pub(super) async fn queues_fan_out_bury_and_replay<S: JobStore + Outbox>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(13));
    store.publish(r.clone(), true, t0()).await.unwrap();
    first_results(&store, t0(), t0() + mins(60)).await;
    store.cancel(&r.key, t0()).await.unwrap();

    let lease = t0() + mins(1);
    let claimed = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "one at a time per job");
    let to = vec!["hook-a".to_owned(), "hook-b".to_owned()];
    store
        .fan_out(
            RESULTS_QUEUE,
            claimed[0].entry.seq,
            claimed[0].token,
            &to,
            t0(),
        )
        .await
        .unwrap();
    let second = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(
        second.len(),
        1,
        "the job's next event is free once the first fanned out"
    );
    store
        .fan_out(
            RESULTS_QUEUE,
            second[0].entry.seq,
            second[0].token,
            &to,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending, 0);

    let a = store.claim_outbox("hook-a", t0(), 10, lease).await.unwrap();
    assert_eq!(a.len(), 1, "a destination's queue keeps the job's order");
    assert_eq!(
        a[0].entry.event.id, claimed[0].entry.event.id,
        "copies keep the event id"
    );
    assert_eq!(a[0].entry.queue, "hook-a");
    store
        .bury_outbox("hook-a", a[0].entry.seq, a[0].token, "410 Gone".into())
        .await
        .unwrap();
    let after_dead = store.claim_outbox("hook-a", t0(), 10, lease).await.unwrap();
    assert_eq!(
        after_dead.len(),
        1,
        "a dead entry no longer holds back the next"
    );
    assert_eq!(
        after_dead[0].entry.event.payload.tracking_state,
        TrackingState::Cancelled
    );
    store
        .ack_outbox("hook-a", after_dead[0].entry.seq, after_dead[0].token)
        .await
        .unwrap();
    assert_eq!(
        store.outbox_stats("hook-a").await.unwrap(),
        crate::store::OutboxStats {
            pending: 0,
            dead: 1
        }
    );
    assert!(
        store
            .claim_outbox("hook-a", t0(), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "dead is never handed out"
    );
    assert_eq!(
        store.replay_outbox("hook-a", t0() + mins(2)).await.unwrap(),
        1
    );
    let replayed = store
        .claim_outbox("hook-a", t0() + mins(2), 10, lease + mins(2))
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert!(
        replayed[0].token > a[0].token,
        "a replayed entry's token is above every earlier one"
    );
    assert_eq!(
        replayed[0].entry.event.id, a[0].entry.event.id,
        "the replay delivers the same event"
    );
    assert_eq!(replayed[0].entry.last_error.as_deref(), Some("410 Gone"));

    let b = store.claim_outbox("hook-b", t0(), 10, lease).await.unwrap();
    assert_eq!(b.len(), 1, "hook-b is independent of hook-a");
    assert_eq!(store.purge_outbox("hook-b").await.unwrap(), 2);
    assert_eq!(
        store.outbox_stats("hook-b").await.unwrap(),
        crate::store::OutboxStats::default()
    );
}

/// A release ([`Verdict::Release`]) hands an entry back untried: it comes back by the time
/// its lease would have ended (at once in a store that overrides `settle`; the default
/// lets the lease lapse), under a new token, with its attempts unchanged.
pub(super) async fn a_released_entry_keeps_its_attempts<S: JobStore + Outbox>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(14));
    store.publish(r, true, t0()).await.unwrap();
    first_results(&store, t0(), t0() + mins(60)).await;
    let lease = t0() + mins(1);
    let claimed = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap()
        .pop()
        .expect("the first result's entry");
    let results = store
        .settle(
            RESULTS_QUEUE,
            &[Settlement {
                seq: claimed.entry.seq,
                token: claimed.token,
                verdict: Verdict::Release,
            }],
        )
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        1,
        "a released entry stays"
    );
    let again = store
        .claim_outbox(RESULTS_QUEUE, lease, 10, lease + mins(1))
        .await
        .unwrap();
    assert_eq!(
        again.len(),
        1,
        "a released entry is back when its lease ends"
    );
    assert_eq!(again[0].entry.seq, claimed.entry.seq);
    assert_eq!(again[0].entry.attempts, 0, "a release is no attempt");
    assert!(again[0].token > claimed.token, "a new claim, a new token");
}

//! Conformance of claims ahead of time: jobs due by a horizon are taken, each leased from
//! its own due time.

use chrono::{DateTime, Duration, Utc};

use super::{claim_one, commit, mins, tenant};
use crate::model::TraceKind;
use crate::store::{Claimed, DueClaim, JobStore, StoreError};
use crate::testing::{container, request, t0};

pub(super) async fn claims_ahead_lease_each_job_from_its_own_due_time<S: JobStore>(store: S) {
    let now = t0();
    let soon = request(&tenant(), TraceKind::Export, "p", &container(60));
    let later = request(&tenant(), TraceKind::Export, "p", &container(61));
    let beyond = request(&tenant(), TraceKind::Export, "p", &container(62));
    for r in [&soon, &later, &beyond] {
        store.publish(r.clone(), true, now).await.unwrap();
    }
    // Move the three to 0, 10 and 30 minutes from now.
    for (c, due) in store
        .claim_due(now, 10, now + mins(1))
        .await
        .unwrap()
        .into_iter()
        .zip([0, 10, 30])
    {
        reschedule(&store, c, now, now + mins(due)).await;
    }
    let claim = DueClaim {
        now,
        due_by: now + mins(15),
        limit: 10,
        lease: Duration::seconds(60),
    };
    let claimed = store.claim_due_by(claim).await.unwrap();
    assert_eq!(
        claimed.len(),
        2,
        "the jobs due within the horizon, not the one beyond"
    );
    for c in &claimed {
        let due = c.job.claimed_due_at.expect("the due time it had");
        assert_eq!(
            c.job.lease.map(|l| l.until),
            Some(due.max(now) + Duration::seconds(60)),
            "leased a minute past its own due time"
        );
    }
    assert!(
        store.claim_due_by(claim).await.unwrap().is_empty(),
        "a held job is never taken ahead of time, though its lease ends within the horizon"
    );
    // The holder dies: each comes back a lease after its own due time.
    let back = store
        .claim_due(now + Duration::seconds(60), 10, now + mins(20))
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "the job due now is back after its lease");
    assert!(
        store
            .claim_due(now + mins(10), 10, now + mins(20))
            .await
            .unwrap()
            .is_empty(),
        "the other is still held at its due time"
    );
    let back = store
        .claim_due(now + mins(11), 10, now + mins(20))
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "and back a lease after it");
}

/// What every job store does with a job handed back, the trait's default (a renewal to the
/// due time) included: it comes due at its own time, not before, and only its holder can
/// hand it back.
pub(super) async fn a_released_job_comes_due_at_its_own_time<S: JobStore>(store: S) {
    let now = t0();
    let (ahead, _) = claim_ahead_and_release(&store, now).await;
    let due = now + mins(10);
    assert_eq!(
        store.claim_due(due, 10, due + mins(1)).await.unwrap().len(),
        1,
        "due at its time"
    );
    assert!(
        matches!(
            store.release(ahead.job.id, ahead.token, due).await,
            Err(StoreError::Fenced(_))
        ),
        "a stale token cannot hand it back"
    );
}

/// A store that overrides [`JobStore::release`]: the job handed back is held by no one.
pub(super) async fn a_released_job_can_be_claimed_ahead_again<S: JobStore>(store: S) {
    let now = t0();
    let (ahead, claim) = claim_ahead_and_release(&store, now).await;
    let job = store.get(&ahead.job.request.key).await.unwrap().unwrap();
    assert!(job.lease.is_none(), "held by no one");
    let again = DueClaim {
        now: now + mins(2),
        ..claim
    };
    assert_eq!(
        store.claim_due_by(again).await.unwrap().len(),
        1,
        "another request with room may take it ahead of time"
    );
    assert!(
        matches!(
            store.release(ahead.job.id, ahead.token, now).await,
            Err(StoreError::Fenced(_))
        ),
        "a stale token cannot hand it back"
    );
}

/// Publishes a job due 10 minutes after `now`, claims it ahead (by 15 minutes, leased a
/// minute) and releases it to its due time, as a dispatcher does when the provider
/// request it waited for had no room; returns the claim ahead and how it was asked for.
async fn claim_ahead_and_release<S: JobStore>(
    store: &S,
    now: DateTime<Utc>,
) -> (Claimed, DueClaim) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(63));
    store.publish(r, true, now).await.unwrap();
    let first = claim_one(store, now).await;
    reschedule(store, first, now, now + mins(10)).await;
    let claim = DueClaim {
        now,
        due_by: now + mins(15),
        limit: 10,
        lease: Duration::seconds(60),
    };
    let ahead = store
        .claim_due_by(claim)
        .await
        .unwrap()
        .pop()
        .expect("claimed ahead");
    store
        .release(ahead.job.id, ahead.token, now + mins(10))
        .await
        .unwrap();
    let job = store.get(&ahead.job.request.key).await.unwrap().unwrap();
    assert_eq!(
        job.due_at,
        Some(now + mins(10)),
        "due at its own time again"
    );
    assert!(
        store
            .claim_due(now + mins(5), 10, now + mins(6))
            .await
            .unwrap()
            .is_empty(),
        "not due before its time"
    );
    (ahead, claim)
}

/// Commits a trace of `claimed` at `now` that found nothing new and makes it due at `due`.
async fn reschedule<S: JobStore>(
    store: &S,
    claimed: Claimed,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) {
    let mut next = claimed.job;
    next.due_at = Some(due);
    commit(store, claimed.token, next, None, now).await;
}

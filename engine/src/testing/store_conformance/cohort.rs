//! Conformance of the cohort index: what one box reveals about its vessel visit brings
//! exactly the visit's other boxes forward.

use chrono::{DateTime, Duration, Utc};

use super::{claim_one, commit, mins, tenant, traced};
use crate::model::{EmitReason, Location, Status, TraceKind, VesselVisit};
use crate::store::{Claimed, JobStore};
use crate::testing::{container, request, t0};

/// Commits `claimed` as traced at `now` on `visit` at terminal `MICT`, next due `next`.
async fn on_visit<S: JobStore>(
    store: &S,
    claimed: Claimed,
    visit: &str,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
) {
    let mut job = traced(&claimed.job, Status::GatedIn, now, Some(next));
    if let Some(result) = job.last_result.as_mut() {
        result.visit = Some(VesselVisit::new(visit));
        result.location = Some(Location {
            facility_code: Some("MICT".into()),
            ..Location::default()
        });
    }
    commit(store, claimed.token, job, Some(EmitReason::Changed), now).await;
}

pub(super) async fn cohort_news_brings_only_the_visits_other_boxes_forward<S: JobStore>(store: S) {
    let requests: Vec<_> = (0..6)
        .map(|n| {
            let provider = if n == 5 { "other" } else { "p" };
            request(&tenant(), TraceKind::Export, provider, &container(40 + n))
        })
        .collect();
    for r in &requests {
        store.publish(r.clone(), true, t0()).await.unwrap();
    }
    let mut claimed = store.claim_due(t0(), 10, t0() + mins(1)).await.unwrap();
    claimed.sort_by_key(|c| c.job.request.key.container.clone());
    assert_eq!(claimed.len(), 6);
    let later = t0() + mins(180);
    for (n, c) in claimed.into_iter().enumerate() {
        match n {
            // Job 2 comes due soon and is claimed again below: a held job never moves.
            2 => on_visit(&store, c, "V1", t0(), t0() + mins(5)).await,
            // Job 3 is on another visit; job 5 of another provider on the same one.
            3 => on_visit(&store, c, "V2", t0(), later).await,
            // Job 4 is traced after the news: it knows already.
            4 => on_visit(&store, c, "V1", t0() + mins(70), later).await,
            _ => on_visit(&store, c, "V1", t0(), later).await,
        }
    }
    let held = store
        .claim_due(t0() + mins(5), 10, t0() + mins(120))
        .await
        .unwrap()
        .pop()
        .expect("job 2 is claimed again");
    assert_eq!(held.job.request.key, requests[2].key);

    let seen = t0() + mins(60);
    let at = seen + mins(1);
    let moved = store
        .expedite_cohort("p", "MICT/V1", at, seen)
        .await
        .unwrap();
    assert_eq!(
        moved, 2,
        "jobs 0 and 1: on the visit, idle, traced before the news"
    );
    let due: Vec<_> = store
        .claim_due(at, 10, at + mins(1))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.job.request.key.container)
        .collect();
    let mut expected = vec![
        requests[0].key.container.clone(),
        requests[1].key.container.clone(),
    ];
    expected.sort();
    let mut due_sorted = due.clone();
    due_sorted.sort();
    assert_eq!(due_sorted, expected, "only the cohort's idle jobs came due");
    for n in [3, 4, 5] {
        let job = store.get(&requests[n].key).await.unwrap().unwrap();
        assert_eq!(job.due_at, Some(later), "job {n} keeps its schedule");
    }
    assert_eq!(
        store
            .expedite_cohort("p", "MICT/V9", at, seen)
            .await
            .unwrap(),
        0,
        "an unknown cohort moves nothing"
    );
}

pub(super) async fn a_box_that_leaves_its_visit_leaves_the_cohort<S: JobStore>(store: S) {
    let a = request(&tenant(), TraceKind::Export, "p", &container(50));
    let b = request(&tenant(), TraceKind::Export, "p", &container(51));
    for r in [&a, &b] {
        store.publish(r.clone(), true, t0()).await.unwrap();
    }
    let later = t0() + mins(180);
    for c in store.claim_due(t0(), 10, t0() + mins(1)).await.unwrap() {
        on_visit(&store, c, "V1", t0(), later).await;
    }
    // Box b rolls to the next visit; box a is cancelled.
    let at = t0() + mins(10);
    store.publish(b.clone(), true, at).await.unwrap();
    let c = claim_one(&store, at).await;
    on_visit(&store, c, "V2", at, later).await;
    store.cancel(&a.key, at).await.unwrap();

    let seen = t0() + mins(60);
    let moved = store
        .expedite_cohort("p", "MICT/V1", seen + Duration::seconds(30), seen)
        .await
        .unwrap();
    assert_eq!(
        moved, 0,
        "neither the rolled nor the cancelled box is in the cohort"
    );
    let moved = store
        .expedite_cohort("p", "MICT/V2", seen + Duration::seconds(30), seen)
        .await
        .unwrap();
    assert_eq!(moved, 1, "the rolled box is in its new visit's cohort");
    assert_eq!(
        store.get(&b.key).await.unwrap().unwrap().due_at,
        Some(seen + Duration::seconds(30))
    );
}

//! Conformance of retention ([`JobStore::purge_finished`]): finished jobs leave with their
//! history and results-feed entries, oldest first, and nothing else goes; delivered
//! outbox entries leave nothing behind.

use super::feed::settle;
use super::{mins, publish_and_trace, tenant, trace_only};
use crate::model::{JobKey, PublishOutcome, ResultEvent, Tenant, TraceKind};
use crate::store::{
    FanOutEntry, FeedCursor, JobStore, ListQuery, Outbox, StoreError, RESULTS_QUEUE,
};
use crate::testing::{container, request, t0};

async fn gone<S: JobStore>(store: &S, key: &JobKey) -> bool {
    store.get(key).await.unwrap().is_none() && store.history(key, 10).await.unwrap().is_empty()
}

pub(super) async fn purge_removes_only_jobs_finished_before_the_cutoff<S: JobStore>(store: S) {
    let other = Tenant::new("org-b", "svc-1");
    let r = |owner: &Tenant, n| request(owner, TraceKind::Export, "p", &container(n));
    let (a, b, f, d, e, g, c) = (
        r(&tenant(), 600),
        r(&tenant(), 601),
        r(&other, 602),
        r(&tenant(), 603),
        r(&tenant(), 604),
        r(&tenant(), 605),
        r(&tenant(), 606),
    );
    // In time order: A completes at 10, B is cancelled at 20, F (another tenant)
    // completes at 25, D stays active, E completes at 40 and is re-published at 90, G
    // completes exactly at the cutoff (60), C at 80.
    let mut mine = vec![(
        a.key.clone(),
        publish_and_trace(&store, &a, t0() + mins(10), true).await,
    )];
    mine.push((
        b.key.clone(),
        publish_and_trace(&store, &b, t0() + mins(15), false).await,
    ));
    let cancelled = store.cancel(&b.key, t0() + mins(20)).await.unwrap();
    mine.push((b.key.clone(), cancelled.expect("B was active")));
    publish_and_trace(&store, &f, t0() + mins(25), true).await;
    mine.push((
        d.key.clone(),
        publish_and_trace(&store, &d, t0() + mins(30), false).await,
    ));
    mine.push((
        e.key.clone(),
        publish_and_trace(&store, &e, t0() + mins(40), true).await,
    ));
    mine.push((
        g.key.clone(),
        publish_and_trace(&store, &g, t0() + mins(60), true).await,
    ));
    mine.push((
        c.key.clone(),
        publish_and_trace(&store, &c, t0() + mins(80), true).await,
    ));
    let (_, outcome) = store
        .publish(e.clone(), true, t0() + mins(90))
        .await
        .unwrap();
    assert_eq!(outcome, PublishOutcome::Restarted);

    // A store without the results feed has no feed entries to remove.
    let feed = !matches!(
        store.results(&tenant(), FeedCursor::START, 1).await,
        Err(StoreError::Unsupported(_))
    );
    // A cursor handed out before the purge, after A's event.
    let mut cursor = FeedCursor::START;
    if feed {
        settle(&store, &tenant(), FeedCursor::START, mine.len()).await;
        settle(&store, &other, FeedCursor::START, 1).await;
        let first = store
            .results(&tenant(), FeedCursor::START, 1)
            .await
            .unwrap();
        assert_eq!(
            first.entries[0].event, mine[0].1,
            "the feed starts with A's event"
        );
        cursor = first.next;
    }

    let cutoff = t0() + mins(60);
    assert_eq!(
        store.purge_finished(cutoff, 2).await.unwrap(),
        2,
        "the limit holds"
    );
    assert!(
        gone(&store, &a.key).await && gone(&store, &b.key).await,
        "oldest first"
    );
    assert!(
        store.get(&f.key).await.unwrap().is_some(),
        "F waits for the next batch"
    );
    assert_eq!(store.purge_finished(cutoff, 10).await.unwrap(), 1);
    assert!(gone(&store, &f.key).await);
    assert_eq!(
        store.purge_finished(cutoff, 10).await.unwrap(),
        0,
        "nothing more"
    );

    for (key, why) in [
        (&d.key, "an active job stays"),
        (
            &e.key,
            "a job re-published after it finished keeps its new life",
        ),
        (
            &g.key,
            "a job finished at the cutoff stays (before it, strictly)",
        ),
        (&c.key, "a job finished after the cutoff stays"),
    ] {
        assert!(store.get(key).await.unwrap().is_some(), "{why}");
    }
    assert_eq!(
        store.history(&e.key, 10).await.unwrap().len(),
        1,
        "a kept job keeps its history"
    );
    let listed: Vec<_> = store
        .list(&tenant(), &ListQuery::default())
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.request.key)
        .collect();
    assert_eq!(
        listed,
        vec![d.key.clone(), e.key.clone(), g.key.clone(), c.key.clone()]
    );
    assert!(store
        .list(&other, &ListQuery::default())
        .await
        .unwrap()
        .jobs
        .is_empty());
    if feed {
        assert!(
            store
                .results(&other, FeedCursor::START, 10)
                .await
                .unwrap()
                .entries
                .is_empty(),
            "a removed job's events leave the feed"
        );
        let kept: Vec<ResultEvent> = mine[1..]
            .iter()
            .filter(|(key, _)| *key != b.key)
            .map(|(_, event)| event.clone())
            .collect();
        let page = store.results(&tenant(), cursor, 100).await.unwrap();
        let after: Vec<_> = page.entries.into_iter().map(|e| e.event).collect();
        assert_eq!(
            after, kept,
            "a cursor handed out before the purge pages on over everything still stored"
        );
    }

    // E finishes again, later: its new finish time counts, not its first.
    trace_only(&store, &e, t0() + mins(200), true).await;
    assert_eq!(store.purge_finished(t0() + mins(150), 10).await.unwrap(), 2);
    assert!(gone(&store, &g.key).await && gone(&store, &c.key).await);
    assert!(
        store.get(&e.key).await.unwrap().is_some(),
        "E finished at 200"
    );
    assert_eq!(store.purge_finished(t0() + mins(300), 10).await.unwrap(), 1);
    assert!(gone(&store, &e.key).await);
    assert!(
        store.get(&d.key).await.unwrap().is_some(),
        "D is still active"
    );
    assert_eq!(store.next_due().await.unwrap(), Some(t0() + mins(10_000)));

    let (job, outcome) = store
        .publish(a.clone(), true, t0() + mins(400))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PublishOutcome::Created,
        "a removed job's key is free"
    );
    assert!(store
        .history(&job.request.key, 10)
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn a_purge_leaves_undelivered_events_in_the_outbox<S: JobStore + Outbox>(
    store: S,
) {
    let a = request(&tenant(), TraceKind::Export, "p", &container(630));
    let b = request(&tenant(), TraceKind::Export, "p", &container(631));
    let first = publish_and_trace(&store, &a, t0(), true).await;
    let second = publish_and_trace(&store, &b, t0() + mins(1), true).await;
    let before = store.outbox_stats(RESULTS_QUEUE).await.unwrap();
    assert_eq!(before.pending, 2);
    assert_eq!(store.purge_finished(t0() + mins(60), 10).await.unwrap(), 2);
    assert!(gone(&store, &a.key).await && gone(&store, &b.key).await);
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap(),
        before,
        "a removed job's events still wait for their delivery"
    );
    let now = t0() + mins(61);
    let claims = store
        .claim_outbox(RESULTS_QUEUE, now, 10, now + mins(1))
        .await
        .unwrap();
    let events: Vec<_> = claims.iter().map(|c| c.entry.event.clone()).collect();
    assert_eq!(
        events,
        vec![first, second],
        "and are delivered as they were"
    );
    for claim in claims {
        store
            .ack_outbox(RESULTS_QUEUE, claim.entry.seq, claim.token)
            .await
            .unwrap();
    }
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap(),
        Default::default()
    );
}

pub(super) async fn delivered_entries_leave_nothing_behind<S: JobStore + Outbox>(store: S) {
    let a = request(&tenant(), TraceKind::Export, "p", &container(620));
    let b = request(&tenant(), TraceKind::Export, "p", &container(621));
    publish_and_trace(&store, &a, t0(), false).await;
    publish_and_trace(&store, &b, t0() + mins(1), false).await;
    let now = t0() + mins(2);
    let claims = store
        .claim_outbox(RESULTS_QUEUE, now, 10, now + mins(1))
        .await
        .unwrap();
    assert_eq!(claims.len(), 2);
    store
        .ack_outbox(RESULTS_QUEUE, claims[0].entry.seq, claims[0].token)
        .await
        .unwrap();
    let results = store
        .fan_out_all(
            RESULTS_QUEUE,
            &[FanOutEntry {
                seq: claims[1].entry.seq,
                token: claims[1].token,
                to: vec!["hook-1".into()],
            }],
            now,
        )
        .await;
    assert!(results.iter().all(Result::is_ok));
    let copy = store
        .claim_outbox("hook-1", now, 10, now + mins(1))
        .await
        .unwrap()
        .pop()
        .expect("the fan-out's copy");
    store
        .ack_outbox("hook-1", copy.entry.seq, copy.token)
        .await
        .unwrap();
    for queue in [RESULTS_QUEUE, "hook-1"] {
        assert_eq!(
            store.outbox_stats(queue).await.unwrap(),
            Default::default(),
            "after ack and fan-out nothing of an entry is counted in {queue}"
        );
        assert!(
            store.outbox_entries(queue, 100).await.unwrap().is_empty(),
            "after ack and fan-out nothing of an entry is stored in {queue}"
        );
    }
}

pub(super) async fn a_purge_racing_re_publishes_never_takes_a_live_job<S: JobStore>(store: S) {
    let requests: Vec<_> = (0..20)
        .map(|n| request(&tenant(), TraceKind::Empty, "p", &container(640 + n)))
        .collect();
    for r in &requests {
        store.publish(r.clone(), true, t0()).await.unwrap();
        store.cancel(&r.key, t0()).await.unwrap().expect("active");
    }
    let later = t0() + mins(60);
    let publishes = async {
        let mut outcomes = Vec::new();
        for r in &requests {
            let (_, outcome) = store.publish(r.clone(), true, later).await.unwrap();
            outcomes.push(outcome);
            // A store whose calls never wait (in memory) would otherwise run every
            // publish before the first purge: the race would never be run.
            tokio::task::yield_now().await;
        }
        outcomes
    };
    // One job per call, so that the purge and the publishes interleave.
    let purges = async {
        let mut removed = 0;
        for _ in 0..requests.len() {
            removed += store.purge_finished(t0() + mins(1), 1).await.unwrap();
            tokio::task::yield_now().await;
        }
        removed
    };
    let (outcomes, removed) = tokio::join!(publishes, purges);
    for (r, outcome) in requests.iter().zip(&outcomes) {
        let job = store.get(&r.key).await.unwrap().unwrap_or_else(|| {
            panic!(
                "{} was published ({outcome:?}) and is gone",
                r.key.container
            )
        });
        assert!(job.state.is_active(), "a published job is active");
        assert_eq!(job.due_at, Some(later));
        assert!(
            matches!(outcome, PublishOutcome::Restarted | PublishOutcome::Created),
            "{outcome:?}"
        );
    }
    let created = outcomes
        .iter()
        .filter(|o| **o == PublishOutcome::Created)
        .count();
    assert_eq!(
        created, removed,
        "every job the purge took was published afresh, and no other"
    );
    assert_eq!(store.purge_finished(later, 100).await.unwrap(), 0);
}

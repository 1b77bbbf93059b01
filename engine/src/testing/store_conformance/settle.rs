//! Conformance of batched verdicts ([`crate::store::Outbox::settle`]): acks, retries and
//! burials in one call, each fenced by its own token, and a job's next entry held back
//! until its predecessor is settled.

use super::{first_results, mins, tenant};
use crate::model::{TraceKind, TrackingState};
use crate::store::{JobStore, Outbox, Settlement, StoreError, Verdict, RESULTS_QUEUE};
use crate::testing::{container, request, t0};

pub(super) async fn settle_applies_each_verdict_and_fences_each<S: JobStore + Outbox>(store: S) {
    let keys: Vec<_> = (0..4)
        .map(|i| request(&tenant(), TraceKind::Export, "p", &container(400 + i)))
        .collect();
    for r in &keys {
        store.publish(r.clone(), true, t0()).await.unwrap();
    }
    first_results(&store, t0(), t0() + mins(60)).await;
    // A second event of the first job (its cancel): it waits behind the first.
    store.cancel(&keys[0].key, t0()).await.unwrap();
    let lease = t0() + mins(1);
    let mut claims = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(claims.len(), 4, "one entry per job");
    claims.sort_by_key(|c| c.entry.event.payload.container_number.clone());
    let settlements = vec![
        Settlement {
            seq: claims[0].entry.seq,
            token: claims[0].token,
            verdict: Verdict::Ack,
        },
        Settlement {
            seq: claims[1].entry.seq,
            token: claims[1].token,
            verdict: Verdict::Retry {
                not_before: t0() + mins(5),
                error: Some("503".into()),
            },
        },
        Settlement {
            seq: claims[2].entry.seq,
            token: claims[2].token,
            verdict: Verdict::Bury {
                error: "gone".into(),
            },
        },
        // Not ours: a stale token is refused, alone.
        Settlement {
            seq: claims[3].entry.seq,
            token: claims[3].token + 1_000,
            verdict: Verdict::Ack,
        },
        // The same entry again in the same batch: acked once, then refused.
        Settlement {
            seq: claims[0].entry.seq,
            token: claims[0].token,
            verdict: Verdict::Ack,
        },
    ];
    let results = store.settle(RESULTS_QUEUE, &settlements).await;
    assert_eq!(results.len(), 5, "one result per settlement: {results:?}");
    assert!(
        results[0].is_ok() && results[1].is_ok() && results[2].is_ok(),
        "{results:?}"
    );
    assert!(
        matches!(results[3], Err(StoreError::Fenced(_))),
        "a stale token is refused: {results:?}"
    );
    assert!(
        matches!(results[4], Err(StoreError::Fenced(_))),
        "an entry settled already is refused: {results:?}"
    );
    assert!(store.settle(RESULTS_QUEUE, &[]).await.is_empty());

    let stats = store.outbox_stats(RESULTS_QUEUE).await.unwrap();
    assert_eq!(
        (stats.pending, stats.dead),
        (3, 1),
        "acked one gone; retried, refused and the cancel pending; one buried"
    );
    let dead = store
        .outbox_entries(RESULTS_QUEUE, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.dead)
        .unwrap();
    assert_eq!(dead.seq, claims[2].entry.seq);
    assert_eq!(dead.last_error.as_deref(), Some("gone"));

    // The first job's cancel follows its acked first event; the refused entry keeps its
    // lease until it lapses; the retried one waits for its time.
    let next = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(
        next[0].entry.event.payload.tracking_state,
        TrackingState::Cancelled
    );
    let acked = store
        .settle(
            RESULTS_QUEUE,
            &[Settlement {
                seq: next[0].entry.seq,
                token: next[0].token,
                verdict: Verdict::Ack,
            }],
        )
        .await;
    assert!(acked[0].is_ok(), "{acked:?}");
    let lapsed = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(2), 10, t0() + mins(3))
        .await
        .unwrap();
    assert_eq!(lapsed.len(), 1);
    assert_eq!(lapsed[0].entry.seq, claims[3].entry.seq);
    let retried = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(5), 10, t0() + mins(6))
        .await
        .unwrap();
    let retried: Vec<_> = retried
        .into_iter()
        .filter(|c| c.entry.seq == claims[1].entry.seq)
        .collect();
    assert_eq!(retried.len(), 1, "the retried entry is back at its time");
    assert_eq!(retried[0].entry.attempts, 1);
    assert_eq!(retried[0].entry.last_error.as_deref(), Some("503"));

    // Handed back untried: claimable again at once, its attempts unchanged, under a
    // new token.
    let released = store
        .settle(
            RESULTS_QUEUE,
            &[Settlement {
                seq: retried[0].entry.seq,
                token: retried[0].token,
                verdict: Verdict::Release,
            }],
        )
        .await;
    assert!(released[0].is_ok(), "{released:?}");
    let stale = store
        .settle(
            RESULTS_QUEUE,
            &[Settlement {
                seq: retried[0].entry.seq,
                token: retried[0].token,
                verdict: Verdict::Ack,
            }],
        )
        .await;
    assert!(
        matches!(stale[0], Err(StoreError::Fenced(_))),
        "a released entry is not its releasing holder's any more: {stale:?}"
    );
    let again = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(5), 10, t0() + mins(6))
        .await
        .unwrap();
    let again: Vec<_> = again
        .into_iter()
        .filter(|c| c.entry.seq == claims[1].entry.seq)
        .collect();
    assert_eq!(again.len(), 1, "a released entry is claimed again at once");
    assert_eq!(again[0].entry.attempts, 1, "a release is no attempt");
    assert!(
        again[0].token > retried[0].token,
        "a new claim, a new token"
    );
}

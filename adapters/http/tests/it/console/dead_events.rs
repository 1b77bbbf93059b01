//! The web-hooks page's short list of dead events when they lie past the entries it reads.

use std::sync::Arc;

use boxtrace::testing::{container, request};
use boxtrace::{SystemClock, Tenant, TraceKind, RESULTS_QUEUE};
use boxtrace_http::App;
use chrono::{Duration, Utc};

use super::{browserless, get_with_cookie, sign_in, OPERATOR_TOKEN};
use crate::support::{config, server_of};

#[tokio::test]
async fn dead_events_past_the_entries_read_are_counted_and_said_to_be_further_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), true);
    config.operator_token = Some(boxtrace::Secret::new(OPERATOR_TOKEN));
    // Built, not yet serving: nothing but the test touches the queues.
    let app = App::build(config, Arc::new(SystemClock)).await.unwrap();
    let state = app.state().clone();
    let tenant = Tenant::new("org-a", "svc-1");
    let now = Utc::now();
    let hook = state
        .webhooks
        .create(&tenant, "http://127.0.0.1:9/".into(), Vec::new(), now)
        .await
        .unwrap();
    // Disabled: the deliverer leaves its queue as the test arranges it.
    state
        .webhooks
        .disable(&hook, "parked by the test".into())
        .await
        .unwrap();
    let store = state.store.clone();
    let queue = hook.queue();
    let lease = now + Duration::minutes(5);

    // 1,000 waiting entries of one trace, then one entry of another, which goes dead.
    let mut dead_job = None;
    for (n, copies) in [(1, 1000), (2, 1)] {
        let r = request(&tenant, TraceKind::Empty, "sim", &container(n));
        let (job, _) = store.publish(r.clone(), true, now).await.unwrap();
        store.cancel(&r.key, now).await.unwrap().unwrap();
        let claims = store
            .claim_outbox(RESULTS_QUEUE, now, 10, lease)
            .await
            .unwrap();
        assert_eq!(claims.len(), 1);
        let to = vec![queue.clone(); copies];
        store
            .fan_out(
                RESULTS_QUEUE,
                claims[0].entry.seq,
                claims[0].token,
                &to,
                now,
            )
            .await
            .unwrap();
        dead_job = Some(job.id);
    }
    for claim in store.claim_outbox(&queue, now, 10, lease).await.unwrap() {
        let (seq, token) = (claim.entry.seq, claim.token);
        if Some(claim.entry.job_id) == dead_job {
            store
                .bury_outbox(&queue, seq, token, "410 Gone".into())
                .await
                .unwrap();
        } else {
            store
                .retry_outbox(&queue, seq, token, now, None)
                .await
                .unwrap();
        }
    }
    let stats = store.outbox_stats(&queue).await.unwrap();
    assert_eq!((stats.pending, stats.dead), (1000, 1), "{stats:?}");

    let server = server_of(app, dir).await;
    let http = browserless();
    let cookie = sign_in(&http, &server.base, OPERATOR_TOKEN).await.unwrap();
    let html = get_with_cookie(&http, format!("{}/console/webhooks", server.base), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("1 dead; the first dead entries are beyond the first 1,000 entries read"),
        "the page says why it lists no dead event: {html}"
    );
}

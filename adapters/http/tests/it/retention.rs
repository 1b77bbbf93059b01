//! Retention seen through the API: a finished job past its retention answers 404 and
//! leaves the results feed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::eventually;

const BOX: &str = "CSQU3054383";

#[tokio::test]
async fn a_finished_job_past_retention_answers_404_and_leaves_the_feed() {
    let clock = boxtrace::ManualClock::new(boxtrace::testing::t0());
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config(dir.path(), true);
    config.engine.retention = Some(Duration::from_secs(24 * 3600));
    let app = boxtrace_http::App::build(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let server = crate::support::server_of(app, dir).await;
    let tms = server.tms("org-a").await;
    for action in ["TRACE_EMPTY_REQUESTED", "TRACE_EMPTY_CANCELLED"] {
        let event = tms.event(action, BOX, json!({}));
        assert_eq!(tms.post("/api/events", &event).await.status(), 202);
    }
    let path = format!("/api/containers/empty/sim/{BOX}");
    assert_eq!(tms.get(&path).await.status(), 200, "within retention");
    let feed: Value = tms.get("/api/results").await.json().await.unwrap();
    assert!(
        !feed["items"].as_array().unwrap().is_empty(),
        "the cancel's event is in the feed: {feed}"
    );

    clock.advance(chrono::Duration::days(2));
    // The sweep runs every 5 minutes of clock time.
    let (tms, path, clock) = (&tms, &path, &clock);
    eventually(
        Duration::from_secs(30),
        "a job cancelled two days ago answering 404 with a retention of one day",
        move || {
            clock.advance(chrono::Duration::minutes(5));
            async move { (tms.get(path).await.status() == 404).then_some(()) }
        },
    )
    .await;
    let feed: Value = tms.get("/api/results").await.json().await.unwrap();
    assert_eq!(feed["items"], json!([]), "its events left the feed: {feed}");
    server.shutdown.cancel();
}

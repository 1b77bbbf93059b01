//! Web-hook delivery under failure: a receiver that is down, slow, failing or gone.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{server, Delivery, Receiver};

#[tokio::test]
async fn a_receiver_down_then_up_gets_every_event_with_stable_ids() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    receiver.status.store(503, Ordering::SeqCst);
    let (hook, secret) = tms.register(&receiver.url).await;
    let boxes = ["CSQU3054383", "MSCU1234566", "MAEU7781200"];
    for container in boxes {
        let event = tms.event("TRACE_EMPTY_REQUESTED", container, json!({}));
        assert_eq!(tms.post("/api/events", &event).await.status(), 202);
    }
    // Down for a while: attempts are made and refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while receiver.attempts.load(Ordering::SeqCst) < 4 {
        assert!(tokio::time::Instant::now() < deadline, "no retries seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed_ids = receiver.attempts.load(Ordering::SeqCst);
    assert!(failed_ids >= 4);
    receiver.status.store(204, Ordering::SeqCst);
    let got = receiver.wait_for(3, 15).await;
    let mut containers: Vec<String> = got.iter().map(Delivery::container_number).collect();
    containers.sort();
    let mut expected: Vec<String> = boxes.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(containers, expected, "every event delivered, none lost");
    for d in &got {
        assert!(d.verifies(&secret));
        assert_eq!(
            d.id,
            d.json()["id"].as_str().unwrap(),
            "the id is the event's, the same on every retry"
        );
    }
    // The receiver records a delivery before the deliverer acknowledges it.
    let listed = tms
        .webhook_when(10, "deliveries never acknowledged", |hook| {
            hook["pending"] == 0
        })
        .await;
    assert_eq!(listed["id"], hook.as_str());
}

#[tokio::test]
async fn slow_receivers_time_out_and_failing_ones_go_dead_then_replay() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    receiver.delay_ms.store(1500, Ordering::SeqCst);
    let (hook, _) = tms.register(&receiver.url).await;
    tms.post(
        "/api/events",
        &tms.event("TRACE_EMPTY_REQUESTED", "CSQU3054383", json!({})),
    )
    .await;
    // Slower than the 500 ms timeout: retried, then dead after the schedule (3 retries).
    tms.webhook_when(15, "never went dead", |hook| hook["dead"] == 1)
        .await;
    assert_eq!(
        receiver.attempts.load(Ordering::SeqCst),
        4,
        "the first try and three retries"
    );
    assert!(receiver.received().is_empty());
    receiver.delay_ms.store(0, Ordering::SeqCst);
    let replayed: Value = tms
        .post(&format!("/api/webhooks/{hook}/replay"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["replayed"], 1);
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got[0].json()["payload"]["containerNumber"], "CSQU3054383");
}

#[tokio::test]
async fn a_gone_endpoint_is_disabled() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    receiver.status.store(410, Ordering::SeqCst);
    tms.register(&receiver.url).await;
    tms.post(
        "/api/events",
        &tms.event("TRACE_EMPTY_REQUESTED", "CSQU3054383", json!({})),
    )
    .await;
    // The endpoint is disabled, then the event buried: wait for both.
    tms.webhook_when(10, "never disabled with its event dead", |hook| {
        hook["disabled"].is_string() && hook["dead"] == 1
    })
    .await;
    tms.post(
        "/api/events",
        &tms.event("TRACE_EMPTY_REQUESTED", "MSCU1234566", json!({})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        receiver.attempts.load(Ordering::SeqCst),
        1,
        "nothing more is sent to a gone endpoint"
    );

    // The endpoint comes back: a replay re-enables it and delivers the dead event and the
    // one produced while it was disabled.
    receiver.status.store(204, Ordering::SeqCst);
    let hooks: Value = tms.get("/api/webhooks").await.json().await.unwrap();
    let id = hooks[0]["id"].as_str().unwrap().to_owned();
    let replayed: Value = tms
        .post(&format!("/api/webhooks/{id}/replay"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["replayed"], 1);
    let got = receiver.wait_for(2, 10).await;
    // Two containers: no order between them is promised.
    let mut containers: Vec<String> = got.iter().map(Delivery::container_number).collect();
    containers.sort();
    assert_eq!(
        containers,
        vec!["CSQU3054383", "MSCU1234566"],
        "nothing lost while disabled"
    );
}

#[tokio::test]
async fn ping_sends_a_signed_test_event() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    let (hook, secret) = tms.register(&receiver.url).await;
    let result: Value = tms
        .post(&format!("/api/webhooks/{hook}/ping"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["delivered"], true);
    let got = receiver.wait_for(1, 5).await;
    assert!(got[0].verifies(&secret));
    let ping = got[0].json();
    assert_eq!(ping["payload"]["containerNumber"], "PING0000000");
    assert_eq!(
        ping["payload"]["test"], true,
        "marked as a test event: {ping}"
    );
    assert_eq!(
        tms.delete(&format!("/api/webhooks/{hook}")).await.status(),
        204
    );
    assert_eq!(
        tms.delete(&format!("/api/webhooks/{hook}")).await.status(),
        404
    );
}

/// A receiver that answers 429 with `Retry-After: 7` the first time and 204 after,
/// noting the engine's clock at each attempt.
#[derive(Clone)]
struct Throttling {
    clock: boxtrace::ManualClock,
    attempts: std::sync::Arc<std::sync::Mutex<Vec<chrono::DateTime<chrono::Utc>>>>,
}

async fn throttle(
    axum::extract::State(r): axum::extract::State<Throttling>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut attempts = r.attempts.lock().unwrap();
    attempts.push(boxtrace::Clock::now(&r.clock));
    if attempts.len() == 1 {
        (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "7")],
        )
            .into_response()
    } else {
        axum::http::StatusCode::NO_CONTENT.into_response()
    }
}

#[tokio::test]
async fn a_receivers_retry_after_on_429_is_honoured() {
    let clock = boxtrace::ManualClock::new(boxtrace::testing::t0());
    let receiver = Throttling {
        clock: clock.clone(),
        attempts: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(throttle))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config(dir.path(), true);
    // The schedule would retry after 100 ms; the receiver asks for 7 s, within the
    // longest step (10 s).
    config.delivery.retry_schedule = vec![Duration::from_millis(100), Duration::from_secs(10)];
    let app = boxtrace_http::App::build(config, std::sync::Arc::new(clock.clone()))
        .await
        .unwrap();
    let state = app.state().clone();
    let listener = app.bind().await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.serve(listener, shutdown.clone()));
    let server = crate::support::Server {
        base,
        app: state,
        shutdown: shutdown.clone(),
        task: tokio::spawn(async { Ok(()) }),
        _dir: dir,
    };
    let tms = server.tms("org-a").await;
    tms.register(&url).await;
    let event = tms.event("TRACE_EMPTY_REQUESTED", "CSQU3054383", json!({}));
    assert_eq!(tms.post("/api/events", &event).await.status(), 202);

    // Time moves only when the test moves it: a quarter of a second per step, until the
    // retry arrives (or a minute of clock time has passed).
    for _ in 0..240 {
        if receiver.attempts.lock().unwrap().len() >= 2 {
            break;
        }
        if !receiver.attempts.lock().unwrap().is_empty() {
            clock.advance(chrono::Duration::milliseconds(250));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let attempts = receiver.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2, "the retry came: {attempts:?}");
    let waited = attempts[1] - attempts[0];
    assert!(
        waited >= chrono::Duration::seconds(7),
        "retried {waited} after a 429 asking for 7 s"
    );
    shutdown.cancel();
}

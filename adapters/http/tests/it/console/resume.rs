//! Resuming a gone endpoint, from the API's replay and the console's enable: its dead
//! events are queued again before it is enabled, so that none is left behind a later
//! event of its container, and a replay the store refuses leaves it disabled.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::auth::csrf_of;
use super::faulty::Op;
use super::{
    browserless, faulty_operator_server, operator_server, publish, sign_in, OPERATOR_TOKEN,
};
use crate::support::{Receiver, Tms};

const BOX: &str = "MSCU1234566";

/// Registers `receiver`, which answers 410, and publishes one event: the endpoint ends
/// disabled with that event dead. Returns the web-hook's id.
async fn gone(tms: &Tms, receiver: &Receiver) -> String {
    receiver.status.store(410, Ordering::SeqCst);
    let (hook, _) = tms.register(&receiver.url).await;
    publish(tms, &[BOX]).await;
    tms.webhook_when(10, "never disabled with its event dead", |h| {
        h["disabled"].is_string() && h["dead"] == 1
    })
    .await;
    hook
}

/// Signs in as the operator and presses the console's Enable of web-hook `hook`; returns
/// the status of the answer.
async fn press_enable(base: &str, hook: &str) -> u16 {
    let http = browserless();
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();
    let url = format!("{base}/console/webhooks/{hook}/enable");
    let csrf = csrf_of(&http, &url, &cookie).await;
    http.post(&url)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_consoles_enable_replays_the_dead_events_of_a_gone_endpoint() {
    let server = operator_server().await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    let hook = gone(&tms, &receiver).await;
    receiver.status.store(204, Ordering::SeqCst);

    assert_eq!(press_enable(&server.base, &hook).await, 303);
    // Enabled without a replay, the buried event would stay dead for good while the
    // container's later events went out.
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got[0].container_number(), BOX);
    tms.webhook_when(10, "the dead event was not delivered", |h| {
        h["disabled"].is_null() && h["dead"] == 0 && h["pending"] == 0
    })
    .await;
}

#[tokio::test]
async fn a_replay_the_store_refuses_leaves_the_endpoint_disabled() {
    let (server, faults) = faulty_operator_server().await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    let hook = gone(&tms, &receiver).await;

    faults.fail(Op::ReplayOutbox);
    let replay = tms
        .post(&format!("/api/webhooks/{hook}/replay"), &json!({}))
        .await;
    assert_eq!(replay.status(), 503);
    assert_eq!(press_enable(&server.base, &hook).await, 503);
    // Enabled before its dead event is back in the queue, the endpoint would take the
    // container's later events ahead of it.
    let hooks: Value = tms.get("/api/webhooks").await.json().await.unwrap();
    assert!(
        hooks[0]["disabled"].is_string(),
        "still disabled: {}",
        hooks[0]
    );
    assert_eq!(hooks[0]["dead"], 1);
}

//! Console pages while the store fails part of the way: each says what it could not read
//! or record instead of showing an empty or a stale answer. And a web-hook deleted while
//! its queue cannot be purged, and a client revoked by a write that failed after it landed.

use super::auth::csrf_of;
use super::faulty::Op;
use super::{
    browserless, faulty_operator_server, get_with_cookie, publish, sign_in, OPERATOR_TOKEN,
};
use crate::support::Receiver;

const BOX: &str = "MSCU1234566";

#[tokio::test]
async fn a_container_page_says_when_its_deliveries_cannot_be_read() {
    let (server, faults) = faulty_operator_server().await;
    let tms = server.tms("org-a").await;
    publish(&tms, &[BOX]).await;
    let receiver = Receiver::start().await;
    tms.register(&receiver.url).await;
    let http = browserless();
    let base = &server.base;
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();
    let page = format!("{base}/console/containers/org-a/svc-1/empty/sim/{BOX}");

    faults.fail(Op::OutboxEntries);
    let response = get_with_cookie(&http, &page, &cookie).await;
    assert_eq!(
        response.status(),
        200,
        "the rest of the page is still worth showing"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains(BOX));
    assert!(
        !html.contains("No deliveries recorded"),
        "a failed read is not an empty one: {html}"
    );
    assert!(
        html.contains("The deliveries could not be read"),
        "the page says the store failed: {html}"
    );
}

#[tokio::test]
async fn a_sign_out_the_store_cannot_record_still_clears_the_cookie() {
    let (server, faults) = faulty_operator_server().await;
    let http = browserless();
    let base = &server.base;
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();
    let csrf = csrf_of(&http, &format!("{base}/console"), &cookie).await;

    faults.fail(Op::PutRecord);
    let out = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.status(),
        503,
        "the operator learns the sign-out is not recorded"
    );
    let cleared = out
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("the answer clears the session cookie");
    assert!(
        cleared.starts_with("boxtrace_console=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let after = get_with_cookie(&http, format!("{base}/console"), &cookie).await;
    assert_eq!(
        after.status(),
        303,
        "ended in this server all the same: sent to sign in, not an error page"
    );
    assert_eq!(after.headers()["location"], "/console/login");
}

#[tokio::test]
async fn a_webhook_deleted_whose_queue_cannot_be_purged_is_deleted() {
    let (server, faults) = faulty_operator_server().await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    let (hook, _) = tms.register(&receiver.url).await;

    faults.fail(Op::PurgeOutbox);
    let deleted = tms.delete(&format!("/api/webhooks/{hook}")).await;
    assert_eq!(
        deleted.status(),
        204,
        "the registration is gone: a 503 saying nothing was stored would be untrue"
    );
    let hooks: serde_json::Value = tms.get("/api/webhooks").await.json().await.unwrap();
    assert_eq!(hooks, serde_json::json!([]));
}

#[tokio::test]
async fn a_revocation_whose_write_failed_after_it_landed_is_not_served_from_the_cache() {
    let (server, faults) = faulty_operator_server().await;
    let tms = server.tms("org-a").await;
    // The client's status is cached now, for an hour.
    assert_eq!(tms.get("/api/containers").await.status(), 200);

    faults.fail_after(Op::PutRecord);
    let revoked = reqwest::Client::new()
        .delete(format!("{}/admin/clients/{}", server.base, tms.client_id))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 503, "the store answered an error");
    assert_eq!(
        tms.get("/api/containers").await.status(),
        401,
        "the revocation is in the store: the cache must not answer for it"
    );
}

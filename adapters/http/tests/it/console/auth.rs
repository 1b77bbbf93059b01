//! Who gets a console page, over plain HTTP: only a session started with the operator
//! token. Everyone else gets no content and no data.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{browserless, get_with_cookie, operator_server, publish, sign_in, OPERATOR_TOKEN};
use crate::support::{server, Receiver};

const BOX: &str = "MSCU1234566";

/// Whether `body` gives away anything of the store.
fn leaks(body: &str) -> bool {
    body.contains(BOX) || body.contains("org-a") || body.contains("wh_")
}

#[tokio::test]
async fn without_the_operator_token_nothing_is_shown() {
    let server = operator_server().await;
    let tms = server.tms("org-a").await;
    publish(&tms, &[BOX]).await;
    let receiver = Receiver::start().await;
    tms.register(&receiver.url).await;
    let http = browserless();
    let base = &server.base;

    for path in [
        "/console",
        "/console/containers?q=MSCU",
        "/console/webhooks",
        "/console/efficiency",
        &format!("/console/containers/org-a/svc-1/empty/sim/{BOX}"),
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/console/login");
        assert!(response.text().await.unwrap().is_empty(), "{path}");
    }
    let live = http
        .get(format!("{base}/console/overview.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 401);
    assert!(!leaks(&live.text().await.unwrap()));

    // Wrong, empty and a tenant's tokens do not sign in, and the answer holds no data.
    let access_token = tms.token.clone();
    for token in [
        "wrong",
        "",
        &OPERATOR_TOKEN[..OPERATOR_TOKEN.len() - 1],
        &access_token,
        &tms.client_secret,
    ] {
        let response = http
            .post(format!("{base}/console/login"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("set-cookie").is_none());
        assert!(!leaks(&response.text().await.unwrap()));
    }
    // A tenant's bearer token is no session either.
    let response = http
        .get(format!("{base}/console"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    // Nor is a forged or altered cookie.
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();
    for forged in [
        "boxtrace_console=v1.99999999999.AAAA.AAAA".to_owned(),
        format!("{cookie}x"),
        format!("boxtrace_console={OPERATOR_TOKEN}"),
    ] {
        let response = get_with_cookie(&http, format!("{base}/console"), forged).await;
        assert_eq!(response.status(), 303);
    }
}

#[tokio::test]
async fn the_operator_signs_in_with_a_cookie_that_is_not_the_token_and_signs_out() {
    let server = operator_server().await;
    let tms = server.tms("org-a").await;
    publish(&tms, &[BOX]).await;
    let http = browserless();
    let base = &server.base;

    let response = http
        .post(format!("{base}/console/login"))
        .form(&[("token", OPERATOR_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/console");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains(OPERATOR_TOKEN));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let page = get_with_cookie(&http, format!("{base}/console/containers?q={BOX}"), &cookie).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let body = page.text().await.unwrap();
    assert!(body.contains(BOX), "the search finds the published box");
    assert!(!body.contains(OPERATOR_TOKEN));
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    let overview: serde_json::Value =
        get_with_cookie(&http, format!("{base}/console/overview.json"), &cookie)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(overview["jobs"]["total"], 1);
    assert!(
        overview["jobs"]["countedAt"].is_string(),
        "a count says when it was made"
    );

    // A sign-out without the form's CSRF token, or from another site, is refused.
    for (origin, token) in [
        (None, "wrong"),
        (Some("https://evil.example"), csrf.as_str()),
    ] {
        let mut request = http
            .post(format!("{base}/console/logout"))
            .header("cookie", &cookie)
            .form(&[("csrf", token)]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        assert_eq!(request.send().await.unwrap().status(), 403);
    }
    let out = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &cookie)
        .header("origin", base.as_str())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // The old cookie, even kept by someone, no longer opens a page.
    let after = get_with_cookie(&http, format!("{base}/console"), &cookie).await;
    assert_eq!(after.status(), 303);
}

#[tokio::test]
async fn the_console_is_off_without_an_operator_token() {
    let server = server(true).await;
    let http = browserless();
    for path in ["/console", "/console/login"] {
        let response = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("BOXTRACE_OPERATOR_TOKEN"));
    }
    assert!(sign_in(&http, &server.base, OPERATOR_TOKEN).await.is_none());
}

#[tokio::test]
async fn a_disabled_endpoint_gets_nothing_until_enabled() {
    let server = operator_server().await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    let (hook, _) = tms.register(&receiver.url).await;
    let http = browserless();
    let base = &server.base;
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();
    let confirm = get_with_cookie(
        &http,
        format!("{base}/console/webhooks/{hook}/disable"),
        &cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    let csrf = confirm
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let act = |action: &'static str| {
        http.post(format!("{base}/console/webhooks/{hook}/{action}"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str())])
            .send()
    };
    assert_eq!(act("disable").await.unwrap().status(), 303);
    publish(&tms, &[BOX]).await;
    tms.webhook_when(10, "the event never reached the endpoint's queue", |h| {
        h["pending"] == 1 && h["disabled"].is_string()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.attempts.load(Ordering::SeqCst),
        0,
        "a disabled endpoint is not called"
    );
    assert_eq!(act("enable").await.unwrap().status(), 303);
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got[0].json()["payload"]["containerNumber"], BOX);
}

#[tokio::test]
async fn the_search_spans_tenants_and_filters() {
    let server = operator_server().await;
    let a = server.tms("org-a").await;
    let b = server.tms("org-b").await;
    publish(&a, &[BOX, "TGHU1234567"]).await;
    publish(&b, &[BOX]).await;
    let cancel = a.event(
        "TRACE_EMPTY_CANCELLED",
        "TGHU1234567",
        serde_json::json!({}),
    );
    assert_eq!(a.post("/api/events", &cancel).await.status(), 202);
    let http = browserless();
    let base = &server.base;
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();
    let rows = |query: &'static str| {
        let http = http.clone();
        let cookie = cookie.clone();
        async move {
            let html = get_with_cookie(&http, format!("{base}/console/containers?{query}"), cookie)
                .await
                .text()
                .await
                .unwrap();
            html.matches("<tr data-container=").count()
        }
    };
    assert_eq!(rows("q=mscu1234566").await, 2, "one box, two tenants");
    assert_eq!(rows("q=MSCU1234566&tenant=org-b/svc-1").await, 1);
    assert_eq!(rows("state=CANCELLED").await, 1);
    assert_eq!(rows("kind=EXPORT").await, 0);
    assert_eq!(rows("provider=sim").await, 3);
    assert_eq!(rows("provider=ictsi").await, 0);
    let bad = get_with_cookie(
        &http,
        format!("{base}/console/containers?after=zz"),
        &cookie,
    )
    .await;
    assert_eq!(bad.status(), 400);
}

/// The CSRF token of the page at `url`.
pub(super) async fn csrf_of(http: &reqwest::Client, url: &str, cookie: &str) -> String {
    let html = get_with_cookie(http, url, cookie)
        .await
        .text()
        .await
        .unwrap();
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_sign_out_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config(dir.path(), true);
    config.operator_token = Some(boxtrace::Secret::new(OPERATOR_TOKEN));
    let server = crate::support::server_with(config.clone(), dir).await;
    let http = browserless();
    let base = server.base.clone();
    let ended = sign_in(&http, &base, OPERATOR_TOKEN).await.unwrap();
    let kept = sign_in(&http, &base, OPERATOR_TOKEN).await.unwrap();
    let csrf = csrf_of(&http, &format!("{base}/console"), &ended).await;
    let out = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &ended)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);

    let crate::support::Server {
        shutdown,
        task,
        app,
        _dir: dir,
        ..
    } = server;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    drop(app);
    let server = crate::support::server_with(config, dir).await;
    let status = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/console", server.base);
        async move { get_with_cookie(&http, url, cookie).await.status() }
    };
    assert_eq!(
        status(ended).await,
        303,
        "a copy of a signed-out cookie stays dead after a restart"
    );
    assert_eq!(
        status(kept).await,
        200,
        "a session not signed out lasts its 12 hours"
    );
}

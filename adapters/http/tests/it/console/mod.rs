//! The operator console: its sign-in rules over plain HTTP (`auth.rs`), and its pages in
//! headless Chromium over WebDriver (`browser.rs`, `webdriver.rs`), and hostile input (`hostile.rs`).

mod auth;
mod browser;
mod dead_events;
mod faulty;
mod hostile;
mod resume;
mod store_faults;
mod webdriver;

use boxtrace::Secret;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::support::{config, server_of, server_with, Server, Tms};

/// The operator token of these tests.
pub const OPERATOR_TOKEN: &str = "operator-token-for-the-console-tests-0123456789";

/// A server with the sim provider, private web-hook targets allowed, and the operator
/// token set.
pub async fn operator_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), true);
    config.operator_token = Some(Secret::new(OPERATOR_TOKEN));
    server_with(config, dir).await
}

/// [`operator_server`] on a store whose operations fail when the test says so, with
/// clients' statuses cached for an hour.
pub async fn faulty_operator_server() -> (Server, faulty::Faults) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), true);
    config.operator_token = Some(Secret::new(OPERATOR_TOKEN));
    // Far longer than a test: only an invalidation ends a client's cached status.
    config.client_cache_ttl = std::time::Duration::from_secs(3600);
    let faults = faulty::Faults::default();
    let store = faulty::FaultyStore::open(&dir.path().join("store"), faults.clone());
    let app = boxtrace_http::App::with_store(
        config,
        std::sync::Arc::new(boxtrace::SystemClock),
        std::sync::Arc::new(store),
    )
    .unwrap();
    (server_of(app, dir).await, faults)
}

/// An HTTP client that does not follow redirects and keeps no cookies: each test says
/// which cookie it sends.
pub fn browserless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `token`; the session cookie (`name=value`) on success.
pub async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> Option<String> {
    let response = http
        .post(format!("{base}/console/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status() == 303).then(|| cookie.unwrap().split(';').next().unwrap().to_owned())
}

/// `GET url` with the session cookie `cookie` (`name=value`).
pub async fn get_with_cookie(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    cookie: impl AsRef<str>,
) -> reqwest::Response {
    http.get(url)
        .header("cookie", cookie.as_ref())
        .send()
        .await
        .unwrap()
}

/// Publishes empty traces of `containers` for `tms` at the sim provider.
pub async fn publish(tms: &Tms, containers: &[&str]) {
    for container in containers {
        let event = tms.event("TRACE_EMPTY_REQUESTED", container, json!({}));
        assert_eq!(tms.post("/api/events", &event).await.status(), 202);
    }
}

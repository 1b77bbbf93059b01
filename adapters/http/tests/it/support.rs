//! A server on 127.0.0.1:0 with a temporary data directory and the sim provider, a
//! recording web-hook receiver, and an HTTP client that knows its token.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use boxtrace::{Secret, SystemClock, Tenant};
use boxtrace_http::webhooks::sign;
use boxtrace_http::{App, ServerConfig};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use crate::conformance::send;

pub const TOKEN_KEY: &str = "test-token-key-0123456789-abcdefghijklmnop";

pub struct Server {
    pub base: String,
    pub app: boxtrace_http::state::AppState,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), boxtrace_http::ServerError>>,
    pub _dir: tempfile::TempDir,
}

pub fn config(dir: &std::path::Path, allow_private: bool) -> ServerConfig {
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("store"),
        token_key: Some(Secret::new(TOKEN_KEY)),
        allow_private_webhooks: allow_private,
        // The recording receivers listen on loopback over plain http.
        allow_insecure_webhooks: true,
        providers: vec!["sim".into()],
        ..ServerConfig::default()
    };
    config.delivery.retry_schedule = vec![
        Duration::from_millis(100),
        Duration::from_millis(200),
        Duration::from_millis(300),
    ];
    config.delivery.poll_interval = Duration::from_millis(20);
    config.delivery.timeout = Duration::from_millis(500);
    config.http.body_limit = 16 * 1024;
    config
}

pub async fn server(allow_private: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), allow_private);
    server_with(config, dir).await
}

/// A server with `config`, whose data directory is in `dir`.
pub async fn server_with(config: ServerConfig, dir: tempfile::TempDir) -> Server {
    let app = App::build(config, Arc::new(SystemClock)).await.unwrap();
    server_of(app, dir).await
}

/// Serves a built `app`, whose data directory is in `dir`.
pub async fn server_of(app: App, dir: tempfile::TempDir) -> Server {
    let state = app.state().clone();
    let listener = app.bind().await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.serve(listener, shutdown.clone()));
    Server {
        base,
        app: state,
        shutdown,
        task,
        _dir: dir,
    }
}

/// A client application: its credentials and token.
pub struct Tms {
    pub http: reqwest::Client,
    pub base: String,
    pub tenant: Tenant,
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

impl Server {
    pub async fn tms(&self, org: &str) -> Tms {
        let tenant = Tenant::new(org, "svc-1");
        let created = self
            .app
            .clients
            .create(&tenant, chrono::Utc::now())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let token: Value = send(http.post(format!("{}/oauth/token", self.base)).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &created.client_id),
            ("client_secret", &created.client_secret),
        ]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        Tms {
            http,
            base: self.base.clone(),
            tenant,
            client_id: created.client_id,
            client_secret: created.client_secret,
            token: token["access_token"].as_str().unwrap().to_owned(),
        }
    }
}

impl Tms {
    pub fn event(&self, action: &str, container: &str, data: Value) -> Value {
        json!({
            "orgId": self.tenant.org_id, "svcId": self.tenant.svc_id, "type": "CONTAINER",
            "action": action, "origin": "test",
            "payload": { "id": container, "providerId": "sim", "data": data }
        })
    }

    // Every request goes through `conformance::send`: its answer is checked against the
    // OpenAPI document.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body),
        )
        .await
        .unwrap()
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.post_typed(path, "application/json", body).await
    }

    /// POSTs `body` declared as `content_type`.
    pub async fn post_typed(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header("content-type", content_type)
                .body(body),
        )
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await
        .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        send(
            self.http
                .delete(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await
        .unwrap()
    }

    /// Registers `url`; returns (id, secret).
    pub async fn register(&self, url: &str) -> (String, String) {
        let response = self
            .post("/api/webhooks", &json!({ "url": url, "triggers": ["TRACE_RESULT", "TRACE_ERROR"], "entityType": "CONTAINER" }))
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The container the delivered event is about (empty when the body has none).
    pub fn container_number(&self) -> String {
        self.json()["payload"]["containerNumber"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn verifies(&self, secret: &str) -> bool {
        sign::verify(
            secret,
            &self.id,
            self.timestamp,
            &self.body,
            &self.signature,
        )
    }
}

/// A web-hook receiver on loopback that records what it gets and answers with a
/// status the test chooses (and optionally slowly).
#[derive(Clone, Default)]
pub struct Receiver {
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// Deliveries whose body breaks the OpenAPI document's `webhooks` schema.
    pub violations: Arc<Mutex<Vec<String>>>,
    pub attempts: Arc<AtomicU64>,
    pub status: Arc<AtomicU16>,
    pub delay_ms: Arc<AtomicU64>,
    pub url: String,
}

async fn record(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    r.attempts.fetch_add(1, Ordering::SeqCst);
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap();
    if let Err(e) = crate::conformance::check_webhook(&body) {
        r.violations
            .lock()
            .unwrap()
            .push(format!("{e}\nbody: {}", String::from_utf8_lossy(&body)));
    }
    if status.is_success() {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        r.deliveries.lock().unwrap().push(Delivery {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp").parse().unwrap_or_default(),
            signature: h("webhook-signature"),
            body: body.to_vec(),
        });
    }
    status
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        receiver.status.store(204, Ordering::SeqCst);
        let app = Router::new()
            .route("/hook", post(record))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// What arrived so far; panics if a delivery broke the document's web-hook schema.
    pub fn received(&self) -> Vec<Delivery> {
        let violations = self.violations.lock().unwrap().clone();
        assert!(
            violations.is_empty(),
            "web-hook bodies against the OpenAPI document: {violations:#?}"
        );
        self.deliveries.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries arrived (or panics after `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} deliveries arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Tms {
    /// Polls the caller's web-hooks until `done` holds for the first one (or panics after
    /// `secs`), and returns that web-hook as listed.
    pub async fn webhook_when(
        &self,
        secs: u64,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let hooks: Value = self.get("/api/webhooks").await.json().await.unwrap();
            if done(&hooks[0]) {
                return hooks[0].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {hooks}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Polls `check` every 20 ms until it gives `Some`, and returns what it gave; panics,
/// saying `what` was awaited, after `within` of real time. A check that needs a manual
/// clock moved on moves it itself, before it looks.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(done) = check().await {
            return done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! `boxtrace demo`: the whole loop on one machine with nothing to install.
//!
//! A server on a free loopback port with a temporary data directory, the simulated
//! terminal on an accelerated clock, a web-hook receiver that verifies every signature,
//! an API client and a token, export and empty boxes published through the real HTTP
//! API, and a timeline of the verified web-hooks as simulated days pass.
//!
//! With `--lifecycles FILE` the terminal replays that file instead: the clock starts at
//! the file's first `publishedAt`, and each box of the file is published when the clock
//! reaches its own `publishedAt`.

mod boxes;
mod clock;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use boxtrace::{Clock, ResultEvent, Secret, Tenant, TrackingState};
use chrono::{TimeZone, Utc};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::webhooks::sign;
use crate::{App, ServerConfig};

/// Options of `boxtrace demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// How many times faster than real time the simulated clock runs.
    #[arg(long, default_value_t = 20_000.0)]
    pub speed: f64,
    /// Stop after this many real seconds even if boxes are still tracked.
    #[arg(long, default_value_t = 50)]
    pub max_seconds: u64,
    /// The simulated terminal's seed.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Replay this lifecycle file (JSON Lines, see providers/sim/README.md): every box
    /// in it is published at its `publishedAt`, and the clock starts at the first one.
    #[arg(long)]
    pub lifecycles: Option<PathBuf>,
}

#[derive(Clone)]
struct Receiver {
    secret: Arc<Mutex<Option<String>>>,
    verified: mpsc::UnboundedSender<ResultEvent>,
}

/// Verifies a delivery as any Standard Webhooks receiver would, and passes it on.
async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let secret = receiver
        .secret
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return StatusCode::BAD_REQUEST;
    };
    let fresh = (Utc::now().timestamp() - timestamp).abs() <= 300;
    let valid = secret.is_some_and(|s| sign::verify(&s, &id, timestamp, &body, &signature));
    if !(fresh && valid) {
        return StatusCode::UNAUTHORIZED;
    }
    match serde_json::from_slice::<ResultEvent>(&body) {
        Ok(event) => {
            let _ = receiver.verified.send(event);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// Runs the demo; returns when every box is done or the time is up.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        options.speed.is_finite() && options.speed > 0.0,
        "--speed must be a positive number, got {}",
        options.speed
    );
    // A bad file stops the demo here, naming the file and line, before anything starts.
    let (boxes, sim) = match &options.lifecycles {
        Some(path) => (
            boxes::from_file(path)?,
            json!({ "lifecycles": path, "seed": options.seed }),
        ),
        None => {
            let start = Utc
                .with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
                .single()
                .context("start time")?;
            (
                boxes::built_in(start),
                json!({ "seed": options.seed, "epoch": start }),
            )
        }
    };
    let start = boxes::start_of(&boxes)?;
    let data = tempfile::tempdir()?;
    // Every subcommand says which store it uses; the demo's is its own and temporary.
    eprintln!(
        "boxtrace demo: using a temporary sled store in {} (removed at the end)",
        data.path().join("store").display()
    );
    let clock = Arc::new(clock::DemoClock::new(start, options.speed));

    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: data.path().join("store"),
        token_key: Some(Secret::new(sign::new_secret())),
        // The receiver runs on loopback, which production refuses.
        allow_private_webhooks: true,
        // The demo's receiver is on this machine, over plain http.
        allow_insecure_webhooks: true,
        providers: vec!["sim".into()],
        // With an operator token in the environment, the demo's server opens the console.
        operator_token: std::env::var("BOXTRACE_OPERATOR_TOKEN")
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| t.len() >= crate::auth::MIN_OPERATOR_TOKEN_LEN)
            .map(Secret::new),
        ..ServerConfig::default()
    };
    let console = config.operator_token.is_some();
    config.provider.insert(
        "sim".into(),
        crate::config::ProviderSection {
            config: Some(sim),
            ..Default::default()
        },
    );
    let app = App::build(config, clock.clone()).await?;
    let clients = app.state().clients.clone();
    let listener = app.bind().await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.serve(listener, shutdown.clone()));

    let (verified, mut timeline) = mpsc::unbounded_channel();
    let receiver = Receiver {
        secret: Arc::new(Mutex::new(None)),
        verified,
    };
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hooks/boxtrace", hook_listener.local_addr()?);
    let hook_app = Router::new()
        .route("/hooks/boxtrace", post(receive))
        .with_state(receiver.clone());
    let hook_stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(hook_listener, hook_app)
            .with_graceful_shutdown(async move { hook_stop.cancelled().await })
            .await;
    });

    let tenant = Tenant::new("acme-trucking", "tms-1");
    let client = clients.create(&tenant, clock.now()).await?;
    println!("boxtrace demo: server {base}, web-hook receiver {hook_url}");
    if console {
        println!("operator console: {base}/console (sign in with BOXTRACE_OPERATOR_TOKEN)");
    }
    println!(
        "API client {} for orgId {} / svcId {}",
        client.client_id, tenant.org_id, tenant.svc_id
    );

    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("a token")?
        .to_owned();
    let hook: serde_json::Value = http
        .post(format!("{base}/api/webhooks"))
        .bearer_auth(&token)
        .json(&json!({ "url": hook_url, "triggers": ["TRACE_RESULT", "TRACE_ERROR"], "entityType": "CONTAINER" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    *receiver
        .secret
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = hook["secret"].as_str().map(str::to_owned);
    println!(
        "web-hook {} registered; every delivery below had a valid signature\n",
        hook["id"].as_str().unwrap_or("?")
    );

    if let Some(path) = &options.lifecycles {
        println!(
            "replaying {}: {} boxes, the clock starts at {start} (the first publishedAt)\n",
            path.display(),
            boxes.len()
        );
    }
    let total = boxes.len();
    // Set-up is done: from here on simulated time passes, from the first publish on.
    clock.go();
    let (refused_tx, mut refused) = mpsc::unbounded_channel();
    let publisher = Publisher {
        http,
        base,
        token,
        tenant,
        clock: clock.clone(),
    };
    tokio::spawn(publisher.run(boxes, refused_tx));

    // Until every published box is done (and every box published or refused), or the
    // time is up.
    let (mut done, mut expected) = (0, total);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(options.max_seconds);
    while done < expected {
        tokio::select! {
            event = timeline.recv() => match event {
                Some(event) => {
                    println!("{}", event.summary());
                    if event.payload.tracking_state != TrackingState::Active {
                        done += 1;
                    }
                }
                None => break,
            },
            Some(()) = refused.recv() => expected -= 1,
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    println!(
        "\n{done} of {expected} boxes done after {:.1} simulated days; shutting down.",
        (clock.now() - start).num_minutes() as f64 / 1440.0
    );
    shutdown.cancel();
    server.await??;
    Ok(())
}

/// Publishes the demo's boxes through the HTTP API, each when the clock reaches its time.
struct Publisher {
    http: reqwest::Client,
    base: String,
    token: String,
    tenant: Tenant,
    clock: Arc<clock::DemoClock>,
}

impl Publisher {
    /// Publishes `boxes` in order; a box the server refuses is reported on the console
    /// and on `refused`, and the others go on.
    async fn run(self, boxes: Vec<boxes::DemoBox>, refused: mpsc::UnboundedSender<()>) {
        for demo_box in boxes {
            tokio::time::sleep(self.clock.real_until(demo_box.at)).await;
            if let Err(problem) = self.publish(&demo_box).await {
                println!("{} not published: {problem}", demo_box.container);
                let _ = refused.send(());
            }
        }
    }

    async fn publish(&self, demo_box: &boxes::DemoBox) -> Result<(), String> {
        let event = json!({
            "orgId": self.tenant.org_id, "svcId": self.tenant.svc_id, "type": "CONTAINER",
            "action": demo_box.action, "origin": "boxtrace-demo",
            "payload": { "id": demo_box.container, "providerId": "sim", "data": demo_box.data }
        });
        let response = self
            .http
            .post(format!("{}/api/events", self.base))
            .bearer_auth(&self.token)
            .json(&event)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status();
        let problem: serde_json::Value = response.json().await.unwrap_or_default();
        Err(problem["detail"]
            .as_str()
            .map_or_else(|| status.to_string(), str::to_owned))
    }
}

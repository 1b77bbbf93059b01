//! `boxtrace demo`: the whole loop on one machine with nothing to install.
//!
//! A server on a free loopback port with a temporary data directory, the simulated
//! terminal on an accelerated clock, a web-hook receiver that verifies every signature,
//! an API client and a token, export and empty boxes published through the real HTTP
//! API, and a timeline of the verified web-hooks as simulated days pass.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use boxtrace::{AcceleratedClock, Clock, ResultEvent, Secret, Tenant, TrackingState};
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
    let data = tempfile::tempdir()?;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
        .single()
        .context("start time")?;
    let clock = Arc::new(AcceleratedClock::new(start, options.speed));

    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: data.path().join("store"),
        token_key: Some(Secret::new(sign::new_secret())),
        // The receiver runs on loopback, which production refuses.
        allow_private_webhooks: true,
        providers: vec!["sim".into()],
        ..ServerConfig::default()
    };
    config.provider.insert(
        "sim".into(),
        crate::config::ProviderSection {
            config: Some(json!({ "seed": options.seed, "epoch": start })),
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

    let boxes = [
        (
            "TRACE_EXPORT_REQUESTED",
            "MSCU1234566",
            json!({ "locationCode": "MICT", "bookingNumber": "TASF883714" }),
        ),
        (
            "TRACE_EXPORT_REQUESTED",
            "MAEU7781200",
            json!({ "locationCode": "MICT", "bookingNumber": "TASF883715", "scenario": "hold" }),
        ),
        (
            "TRACE_EXPORT_REQUESTED",
            "CMAU4551027",
            json!({ "locationCode": "SBITC", "bookingNumber": "TASF883716" }),
        ),
        (
            "TRACE_EMPTY_REQUESTED",
            "HLXU8207315",
            json!({ "locationCode": "MICT" }),
        ),
        (
            "TRACE_EMPTY_REQUESTED",
            "OOLU6012942",
            json!({ "locationCode": "MICT" }),
        ),
    ];
    for (action, container, data) in &boxes {
        let event = json!({
            "orgId": tenant.org_id, "svcId": tenant.svc_id, "type": "CONTAINER",
            "action": action, "origin": "boxtrace-demo",
            "payload": { "id": container, "providerId": "sim", "data": data }
        });
        http.post(format!("{base}/api/events"))
            .bearer_auth(&token)
            .json(&event)
            .send()
            .await?
            .error_for_status()?;
    }

    let mut done = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(options.max_seconds);
    while done < boxes.len() {
        match tokio::time::timeout_at(deadline, timeline.recv()).await {
            Ok(Some(event)) => {
                println!("{}", event.summary());
                if event.payload.tracking_state != TrackingState::Active {
                    done += 1;
                }
            }
            _ => break,
        }
    }
    println!(
        "\n{done} of {} boxes done after {} simulated days; shutting down.",
        boxes.len(),
        (clock.now() - start).num_days()
    );
    shutdown.cancel();
    server.await??;
    Ok(())
}

//! A web-hook receiver for boxtrace: verifies each delivery's Standard Webhooks signature
//! and prints the result event as one line.
//!
//! `WEBHOOK_SECRET=whsec_… cargo run -p boxtrace-examples --example webhook_receiver`
//! listens on 127.0.0.1:9000 (or `RECEIVER_LISTEN`) and accepts POSTs to `/hooks`.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use boxtrace::ResultEvent;
use boxtrace_http::webhooks::sign;

/// How far a delivery's timestamp may be from our clock, as Standard Webhooks advises.
const TOLERANCE_SECS: i64 = 300;

async fn receive(headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let secret = std::env::var("WEBHOOK_SECRET").unwrap_or_default();
    let Ok(timestamp) = header("webhook-timestamp").parse::<i64>() else {
        eprintln!("refused: no webhook-timestamp");
        return StatusCode::BAD_REQUEST;
    };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > TOLERANCE_SECS {
        eprintln!("refused: stale timestamp");
        return StatusCode::BAD_REQUEST;
    }
    if !sign::verify(
        &secret,
        header("webhook-id"),
        timestamp,
        &body,
        header("webhook-signature"),
    ) {
        eprintln!("refused: bad signature (is WEBHOOK_SECRET the web-hook's secret?)");
        return StatusCode::UNAUTHORIZED;
    }
    match serde_json::from_slice::<ResultEvent>(&body) {
        Ok(event) => {
            println!("verified {}  {}", header("webhook-id"), event.summary());
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            eprintln!("refused: not a result event: {e}");
            StatusCode::BAD_REQUEST
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::var("RECEIVER_LISTEN").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("receiving web-hooks on http://{listen}/hooks");
    axum::serve(listener, Router::new().route("/hooks", post(receive))).await?;
    Ok(())
}

//! The real `boxtrace` binary: the providers it ships, a SIGKILL under load and a
//! restart on the same data directory, what its logs must never contain, and start-up
//! while its database is unreachable.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::support::{send, Delivery, Receiver, TOKEN_KEY};

pub const BIN: &str = env!("CARGO_BIN_EXE_boxtrace");

pub fn boxtrace(dir: &Path, port: u16, log: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("BOXTRACE_LISTEN", format!("127.0.0.1:{port}"))
        .env("BOXTRACE_DATA_DIR", dir)
        .env("BOXTRACE_TOKEN_KEY", TOKEN_KEY)
        .env("BOXTRACE_ALLOW_PRIVATE_WEBHOOKS", "true")
        .env("BOXTRACE_ALLOW_INSECURE_WEBHOOKS", "true")
        .env("BOXTRACE_PROVIDERS", "sim")
        // Leases of the killed process lapse sooner (the sim's trace timeout is 10 s).
        .env("BOXTRACE_LEASE_SECS", "16")
        .env("BOXTRACE_SIM_API_KEY", "provider-key-never-logged")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        );
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn serve(dir: &Path, port: u16, log: &Path) -> Child {
    let child = boxtrace(dir, port, log)
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(port).await;
    child
}

/// Makes an API client of `org-a` with the binary in a new store, before the server
/// starts (`--create-store`: the CLI makes no data directory unasked); returns its id and
/// secret.
pub async fn create_client(data: &Path, port: u16, log: &Path) -> (String, String) {
    let created = boxtrace(data, port, log)
        .args([
            "clients",
            "create",
            "--create-store",
            "--org",
            "org-a",
            "--svc",
            "svc-1",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    client_of(&serde_json::from_slice(&created.stdout).unwrap())
}

/// The id and secret of a client as `boxtrace clients create` prints it.
pub fn client_of(created: &Value) -> (String, String) {
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An access token for the client, from the server at `base` (client credentials grant).
pub async fn access_token(http: &reqwest::Client, base: &str, client: &(String, String)) -> String {
    let token: Value = send(
        http.post(format!("{base}/oauth/token"))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// Waits (up to 20 s) until the server on `port` answers `/readyz` with 200.
pub async fn wait_ready(port: u16) {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = send(http.get(format!("http://127.0.0.1:{port}/readyz"))).await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server on port {port} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_binary_lists_every_provider_it_ships() {
    let output = Command::new(BIN).arg("providers").output().await.unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let ids: BTreeSet<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    // Every provider crate the server depends on must survive linking.
    assert_eq!(ids, BTreeSet::from(["ictsi", "sim"]), "{text}");
}

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_publish_and_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("boxtrace.log");
    let port = free_port();

    let client = create_client(&data, port, &log).await;
    let client_secret = client.1.as_str();

    let mut server = serve(&data, port, &log).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token = access_token(&http, &base, &client).await;
    let receiver = Receiver::start().await;
    let hook: Value = send(
        http.post(format!("{base}/api/webhooks"))
            .bearer_auth(&token)
            .json(&json!({ "url": receiver.url, "triggers": ["TRACE_RESULT"] })),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let webhook_secret = hook["secret"].as_str().unwrap().to_owned();

    // Publish from 16 concurrent clients and kill the server while they are at it.
    let containers: Vec<String> = (0..400)
        .map(|n| boxtrace::testing::container(n).to_string())
        .collect();
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut publishers = Vec::new();
    for chunk in containers.chunks(25) {
        let (http, base, token, chunk, acked) = (
            http.clone(),
            base.clone(),
            token.clone(),
            chunk.to_vec(),
            acked_tx.clone(),
        );
        publishers.push(tokio::spawn(async move {
            for container in chunk {
                let event = json!({
                    "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER", "action": "TRACE_EMPTY_REQUESTED",
                    "origin": "kill-test", "payload": { "id": container, "providerId": "sim", "data": {} }
                });
                match send(http.post(format!("{base}/api/events")).bearer_auth(&token).json(&event)).await {
                    Ok(r) if r.status() == 202 => {
                        let _ = acked.send(container);
                    }
                    _ => return,
                }
            }
        }));
    }
    drop(acked_tx);
    let mut acked = BTreeSet::new();
    while let Some(container) = acked_rx.recv().await {
        acked.insert(container);
        if acked.len() == 150 {
            server.start_kill().unwrap();
        }
    }
    server.wait().await.unwrap();
    for p in publishers {
        let _ = p.await;
    }
    assert!(acked.len() >= 150, "{} acknowledged", acked.len());

    // Restart on the same directory: every acknowledged publish is traced and its
    // result delivered.
    let mut server = serve(&data, port, &log).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: BTreeSet<String> = receiver
            .received()
            .iter()
            .map(Delivery::container_number)
            .collect();
        let missing: Vec<_> = acked.iter().filter(|c| !delivered.contains(*c)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} acknowledged publishes never delivered, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiver
        .received()
        .iter()
        .all(|d| d.verifies(&webhook_secret)));
    // Graceful stop on SIGTERM.
    let status = terminate(&mut server, 30).await;
    assert!(status.success(), "a graceful stop exits 0");

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("boxtrace is serving"),
        "the logs were captured"
    );
    for secret in [
        client_secret,
        webhook_secret.as_str(),
        token.as_str(),
        "provider-key-never-logged",
        TOKEN_KEY,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// Sends SIGTERM to `child` and returns its exit status (panics after `secs`).
pub async fn terminate(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let pid = child.id().expect("the process is running").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(secs), child.wait())
        .await
        .expect("the process exits after SIGTERM")
        .unwrap()
}

#[tokio::test]
async fn an_unreachable_database_leaves_it_alive_not_ready_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    // Bound then released: nothing listens there, so every connection is refused.
    let db_port = free_port();
    let password = "db-password-never-logged";
    let mut server = boxtrace(&dir.path().join("data"), port, &log)
        .env(
            "BOXTRACE_DATABASE_URL",
            format!("postgres://bt:{password}@127.0.0.1:{db_port}/boxtrace"),
        )
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let healthz = send(http.get(format!("{base}/healthz"))).await;
        let readyz = send(http.get(format!("{base}/readyz"))).await;
        if let (Ok(healthz), Ok(readyz)) = (healthz, readyz) {
            assert_eq!(healthz.status(), 200, "alive while the store is not open");
            break readyz;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the port was never open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for response in [
        ready,
        send(http.post(format!("{base}/api/events")).json(&json!({})))
            .await
            .unwrap(),
        send(http.get(format!("{base}/metrics"))).await.unwrap(),
    ] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 503);
        assert_eq!(problem["type"], "urn:boxtrace:problem:unavailable");
    }

    // The log says what is wrong and where, without the password.
    let actionable = format!("bt@127.0.0.1:{db_port}/boxtrace");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        if logs.contains("PostgreSQL is unreachable; check BOXTRACE_DATABASE_URL")
            && logs.contains(&actionable)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no actionable log line: {logs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let status = terminate(&mut server, 15).await;
    assert!(status.success(), "SIGTERM while starting exits 0: {status}");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.contains(password),
        "the database password reached the logs"
    );
    assert!(!logs.contains(TOKEN_KEY), "the token key reached the logs");
    assert!(!logs.contains("boxtrace is serving"), "{logs}");
}

#[tokio::test]
async fn sigterm_serves_connections_accepted_before_it_rather_than_reset_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    let mut server = serve(&dir.path().join("data"), port, &log).await;
    let addr = format!("127.0.0.1:{port}");
    // Connections open, their requests not sent yet: as under load, when a stop comes
    // between a client's connect and its request.
    let mut connections = Vec::new();
    for _ in 0..8 {
        connections.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let pid = server.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    // The stop has begun once the listener is closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener never closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for mut connection in connections {
        connection
            .write_all(b"GET /readyz HTTP/1.1\r\nhost: boxtrace\r\n\r\n")
            .await
            .expect("the connection is still open");
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(20), connection.read_to_end(&mut answer))
                .await
                .expect("an answer, then the connection closes");
        let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(
            read.is_ok(),
            "the connection was reset: {read:?} after {answer:?}"
        );
        // Served (not ready any more: 503 with Retry-After), not reset.
        assert!(
            answer.starts_with("http/1.1 503"),
            "closed without an answer, or a wrong one: {answer:?}"
        );
        assert!(answer.contains("retry-after:"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    }
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("the server exits")
        .unwrap();
    assert!(status.success(), "{status}");
}

//! The example receivers a TMS team copies (examples/receivers: Python and TypeScript,
//! each on the `standardwebhooks` package), run against the real binary: each verifies
//! the server's signatures, parses `TRACE_RESULT` and `TRACE_ERROR` into its typed
//! event, and refuses a tampered body, a wrong secret and a body that is no result event.
//!
//! They need `pip install -r examples/receivers/python/requirements.txt` and `npm ci` in
//! examples/receivers/typescript (`.ci/run` does both). Without them a local run skips
//! with a message; under CI (`CI` set) it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxtrace_http::webhooks::sign;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::process::{access_token, boxtrace, create_client, free_port, terminate, wait_ready};

fn receivers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/receivers")
}

/// Skips (locally) or fails (under CI) when a receiver's tools are not installed.
fn missing(what: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}; .ci/run installs it"
    );
    eprintln!("skipped: {what} (.ci/run installs it; CI fails without it)");
    true
}

async fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// The Python receiver's command, or `None` when Python or the package is missing.
async fn python() -> Option<Command> {
    let dir = receivers_dir().join("python");
    if !succeeds(Command::new("python3").args(["-c", "import standardwebhooks"])).await {
        missing("python3 with the standardwebhooks package is not installed");
        return None;
    }
    let mut command = Command::new("python3");
    command.arg("-u").arg(dir.join("receiver.py"));
    Some(command)
}

/// The TypeScript receiver, compiled with the project's own `tsc`; `None` when Node or
/// the packages are missing.
async fn typescript() -> Option<Command> {
    let dir = receivers_dir().join("typescript");
    if !dir.join("node_modules/standardwebhooks").exists()
        || !succeeds(Command::new("node").arg("--version")).await
    {
        missing(
            "node, or the packages of examples/receivers/typescript (npm ci), are not installed",
        );
        return None;
    }
    let compiled = Command::new("node")
        .arg("node_modules/typescript/bin/tsc")
        .args(["-p", "."])
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(
        compiled.status.success(),
        "the TypeScript receiver does not compile: {}",
        String::from_utf8_lossy(&compiled.stdout)
    );
    let mut command = Command::new("node");
    command.arg(dir.join("dist/receiver.js"));
    Some(command)
}

/// A receiver process and the lines it printed on stdout.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    url: String,
    log: PathBuf,
    /// The server's log, whose end a timed-out wait shows (why nothing was delivered).
    server_log: PathBuf,
}

impl Running {
    async fn start(
        mut command: Command,
        secret: &str,
        port: u16,
        log: &Path,
        server_log: &Path,
    ) -> Self {
        let mut child = command
            .env("WEBHOOK_SECRET", secret)
            .env("RECEIVER_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let running = Self {
            child,
            lines,
            url: format!("http://127.0.0.1:{port}/hooks"),
            log: log.to_owned(),
            server_log: server_log.to_owned(),
        };
        running
            .wait_line(20, "the receiver to listen", |l| {
                l.starts_with("receiving web-hooks on")
            })
            .await;
        running
    }

    async fn wait_line(&self, secs: u64, what: &str, found: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| found(l)) {
                return line.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited {secs} s for {what}; printed: {:?}; its stderr: {}\nthe server's log ends:\n{}",
                self.lines.lock().unwrap(),
                std::fs::read_to_string(&self.log).unwrap_or_default(),
                log_tail(&self.server_log, 60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The verified event the receiver printed for `container` with `action`.
    async fn event(&self, container: &str, action: &str) -> Value {
        let line = self
            .wait_line(60, &format!("{action} of {container}"), |l| {
                serde_json::from_str::<Value>(l)
                    .is_ok_and(|v| v["containerNumber"] == container && v["action"] == action)
            })
            .await;
        serde_json::from_str(&line).unwrap()
    }

    fn printed(&self, container: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(container))
    }
}

/// The last `lines` lines of the log at `path`.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A sender that goes away mid-body: headers announcing 1000 bytes, a few sent, then the
/// connection closed (a timed-out or restarted sender does this).
async fn abort_mid_body(port: u16) {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"POST /hooks HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":")
        .await
        .unwrap();
    stream.flush().await.unwrap();
    // The receiver has started reading the body when the connection closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
}

/// A signed delivery of `body` as the server sends one.
async fn deliver(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    id: &str,
    body: &[u8],
    sent_body: &[u8],
) -> u16 {
    let timestamp = chrono::Utc::now().timestamp();
    http.post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign::sign(secret, id, timestamp, body).unwrap(),
        )
        .body(sent_body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn check_receiver(language: &str, command: Command) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    let client = create_client(&data, port, &log).await;
    let mut server = boxtrace(&data, port, &log)
        // http:// on loopback: allowed for this test only (harmless where unknown).
        .env("BOXTRACE_ALLOW_INSECURE_WEBHOOKS", "true")
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token = access_token(&http, &base, &client).await;

    // Registered before the receiver runs: its secret is what the receiver needs.
    let receiver_port = free_port();
    let hook = http
        .post(format!("{base}/api/webhooks"))
        .bearer_auth(&token)
        .json(&json!({
            "url": format!("http://127.0.0.1:{receiver_port}/hooks"),
            "triggers": ["TRACE_RESULT", "TRACE_ERROR"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let receiver_log = dir.path().join(format!("{language}.log"));
    let mut receiver = Running::start(command, &secret, receiver_port, &receiver_log, &log).await;

    // A box the terminal knows (TRACE_RESULT) and one it refuses for good (TRACE_ERROR).
    for (container, data) in [
        ("MSCU1234566", json!({})),
        ("TGHU1234567", json!({ "scenario": "rejected" })),
    ] {
        let published = http
            .post(format!("{base}/api/events"))
            .bearer_auth(&token)
            .json(&json!({
                "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER",
                "action": "TRACE_EMPTY_REQUESTED", "origin": "receiver-test",
                "payload": { "id": container, "providerId": "sim", "data": data },
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(published.status(), 202);
    }
    let result = receiver.event("MSCU1234566", "TRACE_RESULT").await;
    assert_eq!(result["receiver"], language);
    assert_eq!(result["traceKind"], "EMPTY");
    assert_eq!(result["trackingState"], "ACTIVE");
    assert_eq!(result["reason"], "FIRST_RESULT");
    assert_eq!(
        result["webhookId"], result["id"],
        "the web-hook id is the event id"
    );
    let error = receiver.event("TGHU1234567", "TRACE_ERROR").await;
    assert_eq!(error["trackingState"], "FAILED");
    assert_eq!(error["error"]["reason"], "request_rejected", "{error}");
    assert!(error["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));

    // What the receiver parsed is what the server recorded for that event.
    let trace: Value = http
        .get(format!("{base}/api/containers/empty/sim/MSCU1234566"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = trace["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == result["id"])
        .unwrap_or_else(|| panic!("{result} is not in the history: {trace}"));
    for field in ["status", "trackingState", "reason", "traceKind"] {
        assert_eq!(result[field], recorded["payload"][field], "{field}");
    }

    // Refused: a tampered body, a wrong secret, and a signed body that is no result event.
    let genuine = serde_json::to_vec(&json!({
        "id": "evt_test", "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER",
        "action": "TRACE_RESULT", "origin": "boxtrace", "createdAt": "2026-12-07T10:00:00Z",
        "payload": {
            "containerNumber": "HLXU1234561", "providerId": "sim", "traceKind": "EXPORT",
            "tracedAt": "2026-12-07T10:00:00Z", "nextTraceAt": null,
            "trackingState": "COMPLETED", "reason": "TRACKING_STOPPED", "events": [],
        },
    }))
    .unwrap();
    let tampered = String::from_utf8(genuine.clone())
        .unwrap()
        .replace("HLXU1234561", "OOLU1234567")
        .into_bytes();
    let url = receiver.url.clone();
    assert_eq!(
        deliver(&http, &url, &secret, "msg_1", &genuine, &tampered).await,
        401,
        "a tampered body"
    );
    let other = sign::new_secret();
    assert_eq!(
        deliver(&http, &url, &other, "msg_2", &tampered, &tampered).await,
        401,
        "another secret"
    );
    let not_an_event = br#"{"type": "CONTAINER", "action": "TRACE_SOMETHING", "payload": {}}"#;
    assert_eq!(
        deliver(&http, &url, &secret, "msg_3", not_an_event, not_an_event).await,
        400
    );
    // A sender gone mid-body fails that request only: the receiver keeps serving.
    abort_mid_body(receiver_port).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.child.try_wait().unwrap().is_none(),
        "the receiver stopped after an aborted request; its stderr: {}",
        std::fs::read_to_string(&receiver.log).unwrap_or_default()
    );
    assert_eq!(
        deliver(&http, &url, &secret, "msg_4", &genuine, &genuine).await,
        204,
        "the genuine body, after an aborted one"
    );
    let template: Value = serde_json::from_slice(&genuine).unwrap();
    let genuine = receiver.event("HLXU1234561", "TRACE_RESULT").await;
    assert_eq!(genuine["webhookId"], "msg_4");
    assert!(
        !receiver.printed("OOLU1234567"),
        "a refused body was processed"
    );

    // Deliveries at once (the server sends up to concurrencyPerEndpoint together): each
    // is printed as a whole line of its own (the Python receiver's threads once
    // interleaved their lines, which a TMS would have misread).
    let mut at_once = tokio::task::JoinSet::new();
    for i in 0..16 {
        let mut event = template.clone();
        event["payload"]["containerNumber"] = json!(format!("CONCURRENT{i:02}"));
        let body = serde_json::to_vec(&event).unwrap();
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        at_once.spawn(async move {
            deliver(&http, &url, &secret, &format!("msg_c{i}"), &body, &body).await
        });
    }
    let answers = at_once.join_all().await;
    assert!(answers.iter().all(|&a| a == 204), "{answers:?}");
    for i in 0..16 {
        receiver
            .wait_line(20, &format!("CONCURRENT{i:02} on a line of its own"), |l| {
                serde_json::from_str::<Value>(l)
                    .is_ok_and(|v| v["containerNumber"] == format!("CONCURRENT{i:02}"))
            })
            .await;
    }

    receiver.child.start_kill().unwrap();
    let _ = receiver.child.wait().await;
    assert!(terminate(&mut server, 30).await.success());
}

#[tokio::test]
async fn the_python_receiver_verifies_and_parses_the_servers_web_hooks() {
    if let Some(command) = python().await {
        check_receiver("python", command).await;
    }
}

#[tokio::test]
async fn the_typescript_receiver_verifies_and_parses_the_servers_web_hooks() {
    if let Some(command) = typescript().await {
        check_receiver("typescript", command).await;
    }
}

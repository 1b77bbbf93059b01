//! Two real `boxtrace serve` processes on one PostgreSQL schema: one is SIGKILLed while
//! traces are in flight, and the other takes over its leased work once the leases lapse;
//! and `boxtrace clients`, which makes no schema unasked.
//! Needs `BOXTRACE_TEST_DATABASE_URL` (and `psql` to drop the test's schema afterwards).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::process::{free_port, terminate, wait_ready};
use crate::support::{send, Receiver, TOKEN_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_boxtrace");

/// Publishes, spread over both processes.
const CONTAINERS: u32 = 200;
/// Acknowledgements from process A before it is killed (of the half it is sent).
const KILL_AFTER_A_ACKED: usize = 50;
/// A trace of the sim takes this long, so that traces are in flight when A dies.
const LATENCY: &str = "2s";
/// Results of A's publishes traced this long after the kill can only be leases that
/// lapsed. A trace A had in flight was claimed less than a trace (2 s) before the kill
/// and leased for the trace timeout (3 s) plus the engine's 5 s margin, so B traces it
/// 8 s or more after the kill; a publish A had not claimed yet, B finds within `maxIdle`
/// (1 s) and has traced about 3 s after the kill.
const RETAKEN_AFTER: chrono::Duration = chrono::Duration::seconds(5);

/// A schema of its own on the test database, dropped at the end.
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// None (and a line saying `test` was skipped) without `BOXTRACE_TEST_DATABASE_URL`.
    pub fn new(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("BOXTRACE_TEST_DATABASE_URL") else {
            eprintln!("skipped {test}: set BOXTRACE_TEST_DATABASE_URL to run it");
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("bt_cluster_{}_{nanos}", std::process::id());
        Some(Self { url, name })
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // The test has no PostgreSQL client of its own: the servers' store is behind the
        // engine's API, which has no way to drop a schema.
        let dropped = std::process::Command::new("psql")
            .args([
                self.url.as_str(),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!(
                    "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.name
                ),
            ])
            .output();
        if !matches!(&dropped, Ok(output) if output.status.success()) {
            eprintln!(
                "could not drop test schema {} (is psql installed?)",
                self.name
            );
        }
    }
}

/// `boxtrace` on `schema` with the test's configuration file, logging to `log`.
fn boxtrace(schema: &TestSchema, port: u16, config: &Path, log: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("BOXTRACE_CONFIG", config)
        .env("BOXTRACE_LISTEN", format!("127.0.0.1:{port}"))
        .env("BOXTRACE_DATABASE_URL", &schema.url)
        .env("BOXTRACE_DATABASE_SCHEMA", &schema.name)
        .env("BOXTRACE_DATABASE_POOL_SIZE", "4")
        .env("BOXTRACE_TOKEN_KEY", TOKEN_KEY)
        .env("BOXTRACE_ALLOW_PRIVATE_WEBHOOKS", "true")
        .env("BOXTRACE_ALLOW_INSECURE_WEBHOOKS", "true")
        .env("BOXTRACE_PROVIDERS", "sim")
        // The sim's trace timeout (3 s, in the file) must be shorter. The effective lease
        // is longer still: never less than the trace timeout plus 5 s.
        .env("BOXTRACE_LEASE_SECS", "4")
        // The engine at debug: a trace whose commit is fenced says so.
        .env("RUST_LOG", "info,boxtrace=debug")
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

async fn serve(schema: &TestSchema, port: u16, config: &Path, log: &Path) -> Child {
    let child = boxtrace(schema, port, config, log)
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(port).await;
    child
}

fn container_of(delivery: &Value) -> String {
    delivery["payload"]["containerNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_s_leased_traces_are_retaken_and_each_traced_once() {
    let Some(schema) =
        TestSchema::new("a_killed_process_s_leased_traces_are_retaken_and_each_traced_once")
    else {
        return;
    };
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("boxtrace.toml");
    // One epoch for both processes, so that both simulate the same terminal.
    std::fs::write(
        &config,
        format!(
            r#"
            [engine]
            maxIdle = "1s"
            [delivery]
            timeout = "2s"
            pollInterval = "50ms"
            retrySchedule = ["200ms", "500ms", "1s", "2s"]
            [provider.sim]
            config = {{ epoch = "{}", latency = "{LATENCY}" }}
            [provider.sim.limits]
            concurrency = 1024
            ratePerSecond = 0
            traceTimeout = "3s"
            "#,
            Utc::now().to_rfc3339()
        ),
    )
    .unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let (port_a, port_b) = (free_port(), free_port());
    let (mut a, mut b) = tokio::join!(
        serve(&schema, port_a, &config, &log_a),
        serve(&schema, port_b, &config, &log_b)
    );
    let bases = [
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    ];

    // The client is created while both servers run: the store is shared.
    let created = boxtrace(
        &schema,
        free_port(),
        &config,
        &dir.path().join("clients.log"),
    )
    .args(["clients", "create", "--org", "org-a", "--svc", "svc-1"])
    .output()
    .await
    .unwrap();
    assert!(
        created.status.success(),
        "{}",
        std::fs::read_to_string(dir.path().join("clients.log")).unwrap_or_default()
    );
    let client = crate::process::client_of(&serde_json::from_slice(&created.stdout).unwrap());
    let http = reqwest::Client::new();
    let token = crate::process::access_token(&http, &bases[0], &client).await;
    let receiver = Receiver::start().await;
    let hook: Value = send(
        http.post(format!("{}/api/webhooks", bases[1]))
            .bearer_auth(&token)
            .json(&json!({ "url": receiver.url, "triggers": ["TRACE_RESULT", "TRACE_ERROR"] })),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();

    // Eight publishers, four on each process; A is killed once it acknowledged enough,
    // and its publishers stop at their first failure.
    let containers: Vec<String> = (0..CONTAINERS)
        .map(|n| boxtrace::testing::container(n).to_string())
        .collect();
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut publishers = Vec::new();
    for (n, chunk) in containers.chunks(containers.len() / 8).enumerate() {
        let node = n % 2;
        let (http, base, token, chunk, acked) = (
            http.clone(),
            bases[node].clone(),
            token.clone(),
            chunk.to_vec(),
            acked_tx.clone(),
        );
        publishers.push(tokio::spawn(async move {
            for container in chunk {
                let event = json!({
                    "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER",
                    "action": "TRACE_EMPTY_REQUESTED", "origin": "cluster-test",
                    "payload": { "id": container, "providerId": "sim", "data": {} }
                });
                match send(
                    http.post(format!("{base}/api/events"))
                        .bearer_auth(&token)
                        .json(&event),
                )
                .await
                {
                    Ok(r) if r.status() == 202 => {
                        let _ = acked.send((node, container));
                    }
                    _ => return,
                }
            }
        }));
    }
    drop(acked_tx);
    let mut acked: [BTreeSet<String>; 2] = Default::default();
    let mut killed_at: Option<DateTime<Utc>> = None;
    while let Some((node, container)) = acked_rx.recv().await {
        acked[node].insert(container);
        if killed_at.is_none() && acked[0].len() >= KILL_AFTER_A_ACKED {
            a.start_kill().unwrap();
            killed_at = Some(Utc::now());
        }
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    a.wait().await.unwrap();
    let killed_at = killed_at.expect("A acknowledged enough publishes to be killed");
    let all_acked: BTreeSet<&String> = acked[0].iter().chain(&acked[1]).collect();
    eprintln!(
        "A acknowledged {}, B {}; A killed after {:?}",
        acked[0].len(),
        acked[1].len(),
        started.elapsed()
    );
    assert_eq!(
        acked[1].len(),
        containers.len() / 2,
        "B acknowledged every publish sent to it"
    );

    // Every acknowledged publish gets its result delivered, whichever process traced it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let deliveries = loop {
        let deliveries = receiver.received();
        let delivered: BTreeSet<String> =
            deliveries.iter().map(|d| container_of(&d.json())).collect();
        let missing: Vec<&&String> = all_acked
            .iter()
            .filter(|c| !delivered.contains(c.as_str()))
            .collect();
        if missing.is_empty() {
            break deliveries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} acknowledged publishes never delivered, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("every result delivered after {:?}", started.elapsed());

    // At least once: the same event may come twice (same webhook-id), but each container
    // has one event only, its first result.
    let mut events: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for delivery in &deliveries {
        assert!(delivery.verifies(&secret), "a delivery's signature");
        let body = delivery.json();
        assert_eq!(delivery.id, body["id"].as_str().unwrap_or_default());
        assert_eq!(body["action"], "TRACE_RESULT", "{body}");
        events
            .entry(container_of(&body))
            .or_default()
            .insert(delivery.id.clone(), body);
    }
    for (container, by_id) in &events {
        assert_eq!(
            by_id.len(),
            1,
            "{container}: two different result events for one due time: {:?}",
            by_id.keys()
        );
    }

    // The store agrees: one trace committed per job, one history entry, the one delivered.
    for container in &all_acked {
        let detail: Value = send(
            http.get(format!("{}/api/containers/empty/sim/{container}", bases[1]))
                .bearer_auth(&token),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(detail["trace"]["traceCount"], 1, "{container}: {detail}");
        let history = detail["history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "{container}: {detail}");
        let delivered = &events[container.as_str()];
        assert!(
            delivered.contains_key(history[0]["id"].as_str().unwrap_or_default()),
            "{container}: the delivered event is not the stored one"
        );
    }

    // The results feed (read from B) holds each committed event once, whichever process
    // committed it, page after page and in the NDJSON export alike.
    let stored: BTreeSet<String> = events
        .values()
        .flat_map(|by_id| by_id.keys().cloned())
        .collect();
    let feed_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let feed = loop {
        let mut feed: Vec<Value> = Vec::new();
        let mut after = String::new();
        loop {
            let cursor = if after.is_empty() {
                String::new()
            } else {
                format!("&after={after}")
            };
            let page: Value = http
                .get(format!("{}/api/results?limit=50{cursor}", bases[1]))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            feed.extend(page["items"].as_array().unwrap().iter().cloned());
            after = page["next"].as_str().unwrap().to_owned();
            if page["more"] != true {
                break;
            }
        }
        if feed.len() >= stored.len() || tokio::time::Instant::now() > feed_deadline {
            break feed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let feed_ids: Vec<String> = feed
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        feed_ids.len(),
        stored.len(),
        "one feed entry per committed event"
    );
    assert_eq!(feed_ids.iter().cloned().collect::<BTreeSet<_>>(), stored);
    let export = http
        .get(format!("{}/api/results", bases[1]))
        .bearer_auth(&token)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: Vec<Value> = export
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(exported, feed, "the export is the pages, in the same order");

    // A's leased traces were taken over by B once the leases lapsed: results of
    // publishes A acknowledged, traced well after A died.
    let traced_at = |container: &str| -> DateTime<Utc> {
        let body = events[container].values().next().unwrap();
        serde_json::from_value(body["payload"]["tracedAt"].clone()).unwrap()
    };
    let retaken: Vec<&String> = acked[0]
        .iter()
        .filter(|c| traced_at(c) >= killed_at + RETAKEN_AFTER)
        .collect();
    eprintln!(
        "{} of A's publishes retaken by B after their leases lapsed",
        retaken.len()
    );
    assert!(
        !retaken.is_empty(),
        "none of A's in-flight traces was retaken after the kill"
    );

    // No trace ran past a lost lease, in either process.
    let status = terminate(&mut b, 30).await;
    assert!(status.success(), "B stops cleanly on SIGTERM: {status}");
    for log in [&log_a, &log_b] {
        let logs = std::fs::read_to_string(log).unwrap();
        assert!(logs.contains("using the PostgreSQL store"), "{logs}");
        assert!(
            !logs.contains("the lease is no longer ours"),
            "a job was traced twice at once: {}",
            log.display()
        );
        assert!(!logs.contains("panicked"), "{}", log.display());
        assert!(!logs.contains(TOKEN_KEY), "a secret reached the logs");
    }
    eprintln!("done after {:?}", started.elapsed());
}

/// `boxtrace clients` makes no PostgreSQL schema unasked: a mistyped
/// BOXTRACE_DATABASE_SCHEMA would put the client in a new store no server reads.
#[tokio::test]
async fn the_cli_makes_no_postgresql_schema_unasked() {
    let Some(schema) = TestSchema::new("the_cli_makes_no_postgresql_schema_unasked") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("boxtrace.toml");
    std::fs::write(&config, "").unwrap();
    let log = dir.path().join("clients.log");
    let list = |extra: &'static [&'static str]| {
        let mut command = boxtrace(&schema, free_port(), &config, &log);
        command
            .env_remove("BOXTRACE_OPERATOR_TOKEN")
            .env_remove("BOXTRACE_SERVER_URL")
            .args(["clients", "list"])
            .args(extra)
            .output()
    };
    for _ in 0..2 {
        let refused = list(&[]).await.unwrap();
        let says = String::from_utf8_lossy(&refused.stderr).into_owned();
        assert!(!refused.status.success(), "{says}");
        assert!(
            says.contains(&format!("no boxtrace schema '{}'", schema.name))
                && says.contains("--create-store"),
            "{says}"
        );
    }
    let made = list(&["--create-store"]).await.unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&made.stdout).unwrap(),
        json!([])
    );
    let listed = list(&[]).await.unwrap();
    assert!(
        listed.status.success(),
        "the schema exists now: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

//! Lifecycle files through the real binary: `boxtrace serve` with `lifecycles = "FILE"`
//! in the sim's configuration traces a box of the file with the status the file gives
//! now, and refuses to start on a bad file; `boxtrace demo --lifecycles FILE` replays the
//! file from its first publish to the end.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::process::{access_token, boxtrace, create_client, free_port, terminate, wait_ready};
use crate::support::send;

const BIN: &str = env!("CARGO_BIN_EXE_boxtrace");

/// A history around `now`: a call that works in five days, an export that gated in a day
/// ago and is loaded in five days, and an empty returned two hours ago. Every change is
/// hours away from now, so the test does not depend on how long it takes.
fn history_around(now: DateTime<Utc>) -> String {
    let t = |hours: i64| (now + chrono::Duration::hours(hours)).to_rfc3339();
    let visit = json!({
        "visit": "V0900", "terminal": "MICT", "vessel": "ONE APUS", "voyage": "042E",
        "schedule": [{ "at": t(-96), "beginReceive": t(-72), "cutoff": t(96), "eta": t(120), "etd": t(140) }],
        "phases": [{ "at": t(120), "phase": "ARRIVED" }, { "at": t(122), "phase": "WORKING" }, { "at": t(140), "phase": "DEPARTED" }]
    });
    let export = json!({
        "container": "CSQU3054383", "kind": "export", "terminal": "MICT", "booking": "TASF883714",
        "publishedAt": t(-72),
        "changes": [
            { "at": t(-70), "status": "EXPECTED", "visit": "V0900" },
            { "at": t(-24), "status": "GATED_IN" },
            { "at": t(124), "status": "LOADED" },
            { "at": t(140), "status": "DEPARTED" }
        ]
    });
    let empty = json!({
        "container": "MSKU7750846", "kind": "empty", "terminal": "MICT", "publishedAt": t(-72),
        "changes": [{ "at": t(-2), "status": "RETURNED" }]
    });
    format!("{visit}\n{export}\n{empty}\n")
}

fn config_file(dir: &Path, lifecycles: &Path) -> std::path::PathBuf {
    let path = dir.join("boxtrace.toml");
    let toml = format!(
        "[provider.sim.config]\nlifecycles = {:?}\n",
        lifecycles.display().to_string()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// Whether a trace detail carries a result.
fn has_result(detail: &Value) -> bool {
    detail["trace"]["result"].is_object()
}

/// Polls a trace until `done` holds for its detail (or panics after 30 s) and returns it.
async fn traced(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let detail: Value = send(http.get(url).bearer_auth(token))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&detail) {
            return detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never traced: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_replays_a_lifecycle_file_named_in_the_sim_config() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("boxtrace.log"));
    let history = dir.path().join("history.jsonl");
    std::fs::write(&history, history_around(Utc::now())).unwrap();
    let config = config_file(dir.path(), &history);
    let port = free_port();
    let client = create_client(&data, port, &log).await;
    let mut server = boxtrace(&data, port, &log)
        .args(["serve", "--config"])
        .arg(&config)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(port).await;

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token = access_token(&http, &base, &client).await;
    for (action, container, data) in [
        (
            "TRACE_EXPORT_REQUESTED",
            "CSQU3054383",
            json!({ "locationCode": "MICT", "bookingNumber": "TASF883714" }),
        ),
        (
            "TRACE_EMPTY_REQUESTED",
            "MSKU7750846",
            json!({ "locationCode": "MICT" }),
        ),
        (
            "TRACE_EXPORT_REQUESTED",
            "MSCU1234566",
            json!({ "locationCode": "MICT", "bookingNumber": "TASF883714" }),
        ),
    ] {
        let event = json!({
            "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER", "action": action,
            "origin": "replay-test", "payload": { "id": container, "providerId": "sim", "data": data }
        });
        let response = send(
            http.post(format!("{base}/api/events"))
                .bearer_auth(&token)
                .json(&event),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 202, "{container}");
    }

    let export = traced(
        &http,
        &format!("{base}/api/containers/export/sim/CSQU3054383"),
        &token,
        has_result,
    )
    .await;
    assert_eq!(
        export["trace"]["status"], "GATED_IN",
        "the file's status now: {export}"
    );
    let result = &export["trace"]["result"];
    assert_eq!(result["visit"]["id"], "V0900", "{result}");
    assert_eq!(result["bookingReference"], "TASF883714", "{result}");
    let empty = traced(
        &http,
        &format!("{base}/api/containers/empty/sim/MSKU7750846"),
        &token,
        has_result,
    )
    .await;
    assert_eq!(empty["trace"]["status"], "RETURNED", "{empty}");
    // A box the file does not hold is unknown to the replayed terminal.
    // Traced once, with a result or an error.
    let stranger = traced(
        &http,
        &format!("{base}/api/containers/export/sim/MSCU1234566"),
        &token,
        |d| d["trace"]["traceCount"].as_u64().unwrap_or(0) > 0,
    )
    .await;
    assert_eq!(stranger["trace"]["status"], "NOT_FOUND", "{stranger}");

    let status = terminate(&mut server, 30).await;
    assert!(status.success(), "a graceful stop exits 0");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("the simulated terminal replays a lifecycle file"),
        "the start-up log names the replay"
    );
}

#[tokio::test]
async fn serve_refuses_to_start_on_a_bad_lifecycle_file() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("boxtrace.log"));
    let history = dir.path().join("bad.jsonl");
    let text = history_around(Utc::now()).replace("\"GATED_IN\"", "\"IN_YARD\"");
    std::fs::write(&history, text).unwrap();
    let config = config_file(dir.path(), &history);
    let run = boxtrace(&data, free_port(), &log)
        .args(["serve", "--config"])
        .arg(&config)
        .kill_on_drop(true)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the server stops by itself")
        .unwrap();
    assert!(!run.status.success(), "a bad file stops the server");
    // `output()` captures stderr, where the error is printed.
    let logs = String::from_utf8_lossy(&run.stderr);
    assert!(
        logs.contains("bad.jsonl:2"),
        "the error names file and line: {logs}"
    );
    assert!(logs.contains("unknown status 'IN_YARD'"), "{logs}");
}

#[tokio::test]
async fn demo_replays_a_file_from_its_first_publish_to_the_end() {
    let history =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../providers/sim/testdata/history.jsonl");
    let run = Command::new(BIN)
        .args([
            "demo",
            "--speed",
            "100000",
            "--max-seconds",
            "90",
            "--lifecycles",
        ])
        .arg(&history)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("the demo ends by itself")
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        out.contains("the clock starts at 2026-03-02 06:00:00 UTC"),
        "the replay starts at the first publish: {out}"
    );
    // Each box's web-hooks follow the file: both exports end loaded on their vessel (the
    // rolled one on V0002's), both empties returned. (Whether a 12-hour hold is seen is
    // the policy's business, not the replay's.)
    let lines_of =
        |container: &str| -> Vec<&str> { out.lines().filter(|l| l.contains(container)).collect() };
    let held = lines_of("MSCU1234566").join("\n");
    assert!(held.contains("ONE APUS"), "MSCU1234566 on V0001: {out}");
    assert!(
        held.contains("LOADED") || held.contains("DEPARTED"),
        "MSCU1234566: {out}"
    );
    let rolled = lines_of("CSQU3054383").join("\n");
    assert!(rolled.contains("WAN HAI 317"), "rolled to V0002: {out}");
    for empty in ["MSKU7750846", "HLXU8207315"] {
        assert!(
            lines_of(empty).join("\n").contains("RETURNED"),
            "{empty}: {out}"
        );
    }
    assert!(out.contains("4 of 4 boxes done"), "{out}");
}

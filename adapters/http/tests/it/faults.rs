//! Faults an operator meets, with the real binary: a disk that fills up (a small tmpfs in
//! a mount namespace of the test's own).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

use crate::process::{access_token, client_of, free_port, terminate, wait_ready, BIN};
use crate::support::{send, TOKEN_KEY};

/// Whether this machine lets the test mount a tmpfs in a namespace of its own.
async fn can_mount_tmpfs() -> bool {
    Command::new("unshare")
        .args([
            "-r",
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs /mnt",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Kills the first server if the test ends before it did.
struct KillOnDrop(std::path::PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .status();
        }
    }
}

async fn wait_for_file(path: &Path, secs: u64, what: &str, log: &Path) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_full_disk_stops_the_server_with_a_reason_and_a_restart_recovers_when_space_returns() {
    if !can_mount_tmpfs().await {
        eprintln!("skipped: this machine does not allow a tmpfs in a user and mount namespace");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let mnt = out.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let log = out.join("boxtrace.log");
    let port = free_port();
    // In a mount namespace of its own: a 4 MiB file system for the data directory; a
    // client; the first server, whose exit status is noted; then, once the test says so,
    // the file system grows and a second server starts on the same data.
    let script = r#"
        set -e
        mount -t tmpfs -o size=4m tmpfs "$MNT"
        "$BIN" clients create --create-store --org org-a --svc svc-1 > "$OUT/client.json"
        set +e
        "$BIN" serve & echo $! > "$OUT/pid"
        wait $!; echo $? > "$OUT/first-exit"
        while [ ! -e "$OUT/grow" ]; do sleep 0.05; done
        mount -o remount,size=64m "$MNT"
        exec "$BIN" serve
    "#;
    let mut namespace = Command::new("unshare")
        .args(["-r", "-m", "sh", "-c", script])
        .env("MNT", &mnt)
        .env("OUT", out)
        .env("BIN", BIN)
        .env("BOXTRACE_LISTEN", format!("127.0.0.1:{port}"))
        .env("BOXTRACE_DATA_DIR", mnt.join("data"))
        .env("BOXTRACE_TOKEN_KEY", TOKEN_KEY)
        .env("BOXTRACE_PROVIDERS", "sim")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _first = KillOnDrop(out.join("pid"));
    wait_ready(port).await;

    let client = client_of(
        &serde_json::from_str(&std::fs::read_to_string(out.join("client.json")).unwrap()).unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token = access_token(&http, &base, &client).await;

    // Publish boxes with a large `data` until the file system is full.
    let padding = "x".repeat(16 * 1024);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        let container = boxtrace::testing::container(n).to_string();
        let event = json!({
            "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER", "action": "TRACE_EMPTY_REQUESTED",
            "origin": "disk-full", "payload": { "id": container, "providerId": "sim", "data": { "note": padding } }
        });
        match send(
            http.post(format!("{base}/api/events"))
                .bearer_auth(&token)
                .json(&event),
        )
        .await
        {
            Ok(r) if r.status() == 202 => acknowledged.push(container),
            Ok(r) => {
                refused = Some(r.status());
                break;
            }
            Err(_) => break,
        }
    }
    assert!(!acknowledged.is_empty(), "nothing was acknowledged");
    assert!(
        refused.is_none_or(|s| s == 503),
        "a full disk answers 503: {refused:?}"
    );

    // The server says why and stops, so that a supervisor restarts it (before, it stayed
    // up and ready, and never wrote again).
    let status = wait_for_file(
        &out.join("first-exit"),
        60,
        "the server did not stop after the disk filled up",
        &log,
    )
    .await;
    assert_ne!(
        status.trim(),
        "0",
        "a stop for a failed store is an error exit"
    );
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("cannot write any more"), "{logs}");
    assert!(logs.contains("No space left on device"), "{logs}");

    // Space returns; the restarted server takes writes, and every acknowledged publish
    // is there.
    std::fs::write(out.join("grow"), "").unwrap();
    wait_ready(port).await;
    let token = access_token(&http, &base, &client).await;
    let event = json!({
        "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER", "action": "TRACE_EMPTY_REQUESTED",
        "origin": "disk-full", "payload": { "id": "CSQU3054383", "providerId": "sim", "data": {} }
    });
    let after = send(
        http.post(format!("{base}/api/events"))
            .bearer_auth(&token)
            .json(&event),
    )
    .await
    .unwrap();
    assert_eq!(after.status(), 202, "the restarted server writes again");
    for container in &acknowledged {
        let r = send(
            http.get(format!("{base}/api/containers/empty/sim/{container}"))
                .bearer_auth(&token),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "acknowledged {container} was lost");
    }
    let status = terminate(&mut namespace, 30).await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_opened_is_named_once_without_a_wrong_hint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let mut config = crate::support::config(dir.path(), false);
    config.data_dir = file.clone();
    let err = boxtrace_http::server::open_store(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert_eq!(err.matches("store unavailable").count(), 0, "{err}");
    assert!(!err.contains("one process per"), "{err}");
}

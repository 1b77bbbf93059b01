//! The real binary's logs written to a file: plain text, no terminal colour codes.

use crate::process::{boxtrace, free_port, terminate, wait_ready};

#[tokio::test]
async fn logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = boxtrace(&dir.path().join("data"), port, &log)
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(port).await;
    assert!(terminate(&mut child, 30).await.success());
    let logs = std::fs::read(&log).unwrap();
    assert!(
        logs.len() > 100,
        "the server logged: {}",
        String::from_utf8_lossy(&logs)
    );
    assert!(
        !logs.contains(&0x1b),
        "no ESC byte in a log that is not a terminal: {}",
        String::from_utf8_lossy(&logs[..logs.len().min(400)])
    );
}

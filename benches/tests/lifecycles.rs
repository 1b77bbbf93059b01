//! `boxtrace-bench lifecycles`: the file it writes reads back as the fleet it generated,
//! and bad options are refused without writing anything.

use std::process::Command;

use boxtrace_benches::lifecycles::default_start;
use boxtrace_sim::{Fleet, Lifecycles, VesselModel};

const BIN: &str = env!("CARGO_BIN_EXE_boxtrace-bench");

#[test]
fn writes_a_fleet_that_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet.jsonl");
    let run = Command::new(BIN)
        .args([
            "lifecycles",
            "--boxes",
            "30",
            "--days",
            "3",
            "--seed",
            "7",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read = Lifecycles::read_file(&out).expect("the file is valid");
    let fleet = Fleet {
        boxes: 30,
        days: 3,
        start: default_start(),
        seed: 7,
        terminals: vec!["MICT".into(), "SBITC".into()],
        owner: "SIMU".into(),
    };
    let generated = fleet.lifecycles(&VesselModel::default());
    assert_eq!(read.boxes().count(), 30);
    assert!(read.visits().count() > 0);
    assert_eq!(
        read, generated,
        "the file holds exactly the generated fleet"
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("30 boxes"), "{stderr}");

    // Another structure gives other lives.
    let slots = dir.path().join("slots.jsonl");
    let run = Command::new(BIN)
        .args(["lifecycles", "--boxes", "30", "--days", "3", "--seed", "7"])
        .args(["--vessels", r#"{"slot": "3h"}"#, "--out"])
        .arg(&slots)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_ne!(Lifecycles::read_file(&slots).unwrap(), read);
}

#[test]
fn bad_options_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.jsonl");
    for (args, expected) in [
        (vec!["--vessels", r#"{"slott": "3h"}"#], "--vessels"),
        (vec!["--vessels", r#"{"rollRate": 2.0}"#], "rollRate"),
        (vec!["--start", "yesterday"], "RFC 3339"),
    ] {
        let run = Command::new(BIN)
            .arg("lifecycles")
            .args(&args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!out.exists(), "nothing is written");
    }
}

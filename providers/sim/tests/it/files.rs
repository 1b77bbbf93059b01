//! Lifecycle files on disk: the README's example replays as it says, and every bad file
//! (malformed line, unknown status, change before publish, container without changes, a
//! visit nobody defines) is refused naming the file and the line, by the reader and by
//! the registry's factory, so that nothing starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use boxtrace::{
    build_provider, ManualClock, ProviderContext, ProviderCredentials, Status, TraceKind,
};
use boxtrace_sim::{LifecycleError, Lifecycles};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::support::{data, request};

/// The example file the README shows.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/history.jsonl")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The example's lines, to break one at a time.
fn lines() -> Vec<String> {
    std::fs::read_to_string(example())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes `lines` as a file named `name` in `dir`.
fn write(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The reader's error for `path`, after checking that the registry's factory refuses
/// the same file with the same words.
fn refused(path: &Path) -> LifecycleError {
    let error = Lifecycles::read_file(path).expect_err("the file is refused");
    let built = build_provider(
        "sim",
        ProviderContext::new().with_config(json!({ "lifecycles": path })),
    )
    .expect_err("nothing starts on a bad file")
    .to_string();
    assert!(built.contains(&error.to_string()), "{built}");
    assert_eq!(error.file, path.display().to_string());
    error
}

#[test]
fn the_readme_shows_the_example_file_as_it_is() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```jsonl\n")
        .expect("the README has a jsonl block")
        + "```jsonl\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let file = std::fs::read_to_string(example()).unwrap();
    assert_eq!(
        &readme[start..end],
        file,
        "README.md and testdata/history.jsonl must show the same file"
    );
}

#[tokio::test]
async fn the_example_replays_as_the_readme_says() {
    let clock = ManualClock::new(at("2026-03-02T06:00:00Z"));
    let tracer = build_provider(
        "sim",
        ProviderContext::new()
            .with_clock(Arc::new(clock.clone()))
            .with_config(json!({ "lifecycles": example() })),
    )
    .expect("the example builds");
    let none = ProviderCredentials::new();
    let export = |container: &str, booking: &str| {
        request(
            TraceKind::Export,
            container,
            data(json!({ "bookingNumber": booking, "locationCode": "MICT" })),
        )
    };
    let held = export("MSCU1234566", "TASF883714");
    let rolled = export("CSQU3054383", "TASF883715");
    let late_empty = request(
        TraceKind::Empty,
        "HLXU8207315",
        data(json!({ "locationCode": "MICT" })),
    );
    let status = |r: Result<boxtrace::TraceResult, boxtrace::TraceError>| r.map(|r| r.status);

    // Before its first change an export's booking is not known yet.
    assert_eq!(
        status(tracer.trace(&held, &none).await),
        Ok(Status::BookingNotFound)
    );
    clock.set(at("2026-03-05T12:00:00Z"));
    let on_hold = tracer.trace(&held, &none).await.unwrap();
    assert_eq!(on_hold.status, Status::OnHold);
    assert_eq!(on_hold.holds[0].code, "CUSTOMS");
    assert_eq!(
        on_hold.key_dates.cargo_cutoff,
        Some(at("2026-03-06T06:00:00Z")),
        "the revised schedule"
    );
    clock.set(at("2026-03-09T00:00:00Z"));
    assert_eq!(
        status(tracer.trace(&held, &none).await),
        Ok(Status::Departed)
    );
    let rolled_now = tracer.trace(&rolled, &none).await.unwrap();
    assert_eq!(
        rolled_now.status,
        Status::GatedIn,
        "rolled, still in the yard"
    );
    assert_eq!(
        rolled_now.visit.map(|v| v.id).as_deref(),
        Some("V0002"),
        "linked to the next call from the roll on"
    );
    assert_eq!(
        status(tracer.trace(&late_empty, &none).await),
        Ok(Status::NotFound),
        "an empty is not found until it is returned"
    );
    clock.set(at("2026-03-10T15:05:00Z"));
    assert_eq!(
        status(tracer.trace(&late_empty, &none).await),
        Ok(Status::Returned)
    );
}

#[test]
fn a_malformed_line_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = lines();
    broken.insert(1, String::new());
    broken[3] = broken[3].replace("\"changes\":", "\"changes\"");
    let error = refused(&write(&dir, "malformed.jsonl", &broken));
    assert_eq!(error.line, 4, "blank lines count: {error}");
    assert!(error.message.contains("not valid JSON"), "{error}");
}

#[test]
fn an_unknown_status_is_refused_naming_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = lines();
    broken[2] = broken[2].replace("\"LOADED\"", "\"ON_BOARD\"");
    let error = refused(&write(&dir, "status.jsonl", &broken));
    assert_eq!(error.line, 3);
    assert!(
        error.message.contains("unknown status 'ON_BOARD'"),
        "{error}"
    );
    assert!(
        error.message.contains("GATED_IN"),
        "lists the statuses: {error}"
    );

    let mut wrong_kind = lines();
    wrong_kind[4] = wrong_kind[4].replace("\"RETURNED\"", "\"LOADED\"");
    let error = refused(&write(&dir, "kind.jsonl", &wrong_kind));
    assert_eq!(error.line, 5);
    assert!(
        error.message.contains("not one of an empty trace"),
        "{error}"
    );
}

#[test]
fn a_change_before_publish_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = lines();
    broken[5] = broken[5].replace("2026-03-10T15:00:00Z", "2026-03-01T15:00:00Z");
    let error = refused(&write(&dir, "early.jsonl", &broken));
    assert_eq!(error.line, 6);
    assert!(error.message.contains("before publishedAt"), "{error}");
    assert!(error.message.contains("HLXU8207315"), "{error}");
}

#[test]
fn a_container_without_changes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, line) in [
        (
            "empty-list.jsonl",
            r#"{"container": "OOLU1234567", "kind": "empty", "terminal": "MICT", "publishedAt": "2026-03-02T06:00:00Z", "changes": []}"#,
        ),
        (
            "no-list.jsonl",
            r#"{"container": "OOLU1234567", "kind": "empty", "terminal": "MICT", "publishedAt": "2026-03-02T06:00:00Z"}"#,
        ),
    ] {
        let mut broken = lines();
        broken.push(line.to_owned());
        let error = refused(&write(&dir, name, &broken));
        assert_eq!(error.line, 7, "{error}");
        assert!(error.message.contains("has no changes"), "{error}");
    }
}

#[test]
fn a_visit_nobody_defines_is_refused_at_its_container() {
    let dir = tempfile::tempdir().unwrap();
    let broken: Vec<String> = lines().into_iter().skip(1).collect();
    let error = refused(&write(&dir, "orphan.jsonl", &broken));
    assert_eq!(error.line, 2, "the first container naming V0001");
    assert!(error.message.contains("names visit V0001"), "{error}");
}

#[test]
fn unknown_fields_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut extended = lines();
    extended[0] = extended[0].replacen('{', r#"{"berth": "B3", "#, 1);
    extended[2] = extended[2].replace(
        "\"status\": \"LOADED\"",
        "\"status\": \"LOADED\", \"crane\": 7",
    );
    let path = write(&dir, "extended.jsonl", &extended);
    assert_eq!(
        Lifecycles::read_file(&path).unwrap(),
        Lifecycles::read_file(&example()).unwrap()
    );
}

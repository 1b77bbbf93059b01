//! What the demo publishes: its five built-in boxes, or every box of a lifecycle file,
//! each at the clock time its trace starts.

use std::path::Path;

use anyhow::Context;
use boxtrace::{ContainerNumber, TraceKind};
use boxtrace_sim::Lifecycles;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// One publish: when (clock time), the event's action, the container and `data`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DemoBox {
    pub(super) at: DateTime<Utc>,
    pub(super) action: &'static str,
    pub(super) container: String,
    pub(super) data: Value,
}

/// The boxes the demo shows without a file, all published at `start` on the generated
/// terminal.
pub(super) fn built_in(start: DateTime<Utc>) -> Vec<DemoBox> {
    let demo_box = |action, container: &str, data| DemoBox {
        at: start,
        action,
        container: container.to_owned(),
        data,
    };
    vec![
        demo_box(
            "TRACE_EXPORT_REQUESTED",
            "MSCU1234566",
            json!({ "locationCode": "MICT", "bookingNumber": "TASF883714" }),
        ),
        demo_box(
            "TRACE_EXPORT_REQUESTED",
            "MAEU7781200",
            json!({ "locationCode": "MICT", "bookingNumber": "TASF883715", "scenario": "hold" }),
        ),
        demo_box(
            "TRACE_EXPORT_REQUESTED",
            "CMAU4551027",
            json!({ "locationCode": "SBITC", "bookingNumber": "TASF883716" }),
        ),
        demo_box(
            "TRACE_EMPTY_REQUESTED",
            "HLXU8207315",
            json!({ "locationCode": "MICT" }),
        ),
        demo_box(
            "TRACE_EMPTY_REQUESTED",
            "OOLU6012942",
            json!({ "locationCode": "MICT" }),
        ),
    ]
}

/// Every box of the lifecycle file at `path`, each published at its `publishedAt`, in
/// that order. A file the sim would refuse is refused here, with the same message (file
/// and line), before anything starts.
pub(super) fn from_file(path: &Path) -> anyhow::Result<Vec<DemoBox>> {
    let lifecycles = Lifecycles::read_file(path)?;
    let mut boxes: Vec<DemoBox> = lifecycles.boxes().map(replayed).collect();
    anyhow::ensure!(
        !boxes.is_empty(),
        "{} holds no container lines: nothing to replay",
        path.display()
    );
    boxes.sort_by(|a, b| (a.at, &a.container).cmp(&(b.at, &b.container)));
    Ok(boxes)
}

/// The publish a client would have sent for `life`: its terminal as `locationCode`, its
/// booking, and `normalize: false` for a number that fails the ISO 6346 check (recorded
/// numbers are not always clean; the sim answers for the number as the file writes it).
fn replayed(life: &boxtrace_sim::BoxLife) -> DemoBox {
    let mut data = json!({ "locationCode": life.terminal });
    if let Some(booking) = &life.booking {
        data["bookingNumber"] = json!(booking);
    }
    if ContainerNumber::parse(&life.container).is_err() {
        data["normalize"] = json!(false);
    }
    DemoBox {
        at: life.published_at,
        action: match life.kind {
            TraceKind::Export => "TRACE_EXPORT_REQUESTED",
            TraceKind::Empty => "TRACE_EMPTY_REQUESTED",
        },
        container: life.container.clone(),
        data,
    }
}

/// When the demo's clock starts: at the first publish, so that the replay begins where
/// the file's history does.
pub(super) fn start_of(boxes: &[DemoBox]) -> anyhow::Result<DateTime<Utc>> {
    boxes
        .iter()
        .map(|b| b.at)
        .min()
        .context("no boxes to publish")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"visit": "V1", "terminal": "MICT", "schedule": [], "phases": []}
{"container": "CSQU3054383", "kind": "export", "terminal": "MICT", "booking": "B2", "publishedAt": "2026-03-03T00:00:00Z", "changes": [{"at": "2026-03-04T00:00:00Z", "status": "EXPECTED", "visit": "V1"}]}
{"container": "ABCD1234567", "kind": "empty", "terminal": "MICT", "publishedAt": "2026-03-02T00:00:00Z", "changes": [{"at": "2026-03-05T00:00:00Z", "status": "RETURNED"}]}
"#;

    #[test]
    fn a_file_gives_its_boxes_in_publish_order_with_their_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, FILE).unwrap();
        let boxes = from_file(&path).unwrap();
        assert_eq!(boxes.len(), 2);
        assert_eq!(
            start_of(&boxes).unwrap(),
            "2026-03-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(boxes[0].action, "TRACE_EMPTY_REQUESTED");
        assert_eq!(
            boxes[0].data,
            json!({ "locationCode": "MICT", "normalize": false }),
            "ABCD1234567 fails the check digit"
        );
        assert_eq!(boxes[1].action, "TRACE_EXPORT_REQUESTED");
        assert_eq!(
            boxes[1].data,
            json!({ "locationCode": "MICT", "bookingNumber": "B2" })
        );
    }

    #[test]
    fn a_bad_or_empty_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, FILE.replace("RETURNED", "GONE")).unwrap();
        let error = from_file(&bad).unwrap_err().to_string();
        assert!(error.contains("bad.jsonl:3"), "{error}");
        let visits_only = dir.path().join("visits.jsonl");
        std::fs::write(&visits_only, FILE.lines().next().unwrap()).unwrap();
        let error = from_file(&visits_only).unwrap_err().to_string();
        assert!(error.contains("nothing to replay"), "{error}");
    }
}

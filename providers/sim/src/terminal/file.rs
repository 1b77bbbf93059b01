//! Lifecycle files: recorded (or generated) terminal history as JSON Lines, one visit or
//! one container per line, so that an operator can replay their own terminal's history.
//! The format is documented in the crate's README.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use boxtrace::{Appointment, Status, TraceKind, VisitPhase};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::life::{BoxLife, Change};
use super::visit::{ScheduleEntry, Visit};
use super::Lifecycles;

/// A lifecycle file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct LifecycleError {
    /// The file, as given.
    pub file: String,
    /// The line, from 1 (0: the file as a whole).
    pub line: usize,
    /// What is wrong and what is accepted.
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VisitLine {
    visit: String,
    terminal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vessel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    voyage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<String>,
    #[serde(default)]
    schedule: Vec<ScheduleLine>,
    #[serde(default)]
    phases: Vec<PhaseLine>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleLine {
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    begin_receive: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cutoff: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eta: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etd: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PhaseLine {
    at: DateTime<Utc>,
    phase: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoxLine {
    container: String,
    kind: String,
    terminal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    booking: Option<String>,
    published_at: DateTime<Utc>,
    #[serde(default)]
    changes: Vec<ChangeLine>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChangeLine {
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    visit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appointment: Option<AppointmentLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holds: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AppointmentLine {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// Every normalized status, by wire name.
const STATUSES: [Status; 11] = [
    Status::NotFound,
    Status::BookingNotFound,
    Status::BookingMismatch,
    Status::Expected,
    Status::GatedIn,
    Status::OnHold,
    Status::Loaded,
    Status::Departed,
    Status::NotReceivable,
    Status::Receivable,
    Status::Returned,
];

impl Lifecycles {
    /// Reads a lifecycle file. Nothing is returned unless every line is valid.
    pub fn read_file(path: &Path) -> Result<Self, LifecycleError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| LifecycleError {
            file: name.clone(),
            line: 0,
            message: format!("cannot be read: {e}"),
        })?;
        Self::read(&name, std::io::BufReader::new(file))
    }

    /// Reads lifecycles in JSON Lines from `reader`; `name` names it in errors.
    pub fn read(name: &str, reader: impl BufRead) -> Result<Self, LifecycleError> {
        let mut visits = BTreeMap::new();
        let mut boxes = BTreeMap::new();
        let mut box_lines = BTreeMap::new();
        for (index, line) in reader.lines().enumerate() {
            let number = index + 1;
            let error = |message: String| LifecycleError {
                file: name.to_owned(),
                line: number,
                message,
            };
            let line = line.map_err(|e| error(format!("cannot be read: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value =
                serde_json::from_str(&line).map_err(|e| error(format!("not valid JSON: {e}")))?;
            if value.get("container").is_some() {
                let parsed: BoxLine = serde_json::from_value(value)
                    .map_err(|e| error(format!("not a container line: {e}")))?;
                let life = box_life(parsed).map_err(error)?;
                let key = (life.kind, life.container.clone());
                if boxes.contains_key(&key) {
                    return Err(error(format!(
                        "container {} ({}) appears twice",
                        life.container,
                        life.kind.as_str().to_ascii_lowercase()
                    )));
                }
                box_lines.insert(key.clone(), number);
                boxes.insert(key, life);
            } else if value.get("visit").is_some() {
                let parsed: VisitLine = serde_json::from_value(value)
                    .map_err(|e| error(format!("not a visit line: {e}")))?;
                let visit = visit(parsed).map_err(error)?;
                let key = (visit.terminal.clone(), visit.id.clone());
                if visits.contains_key(&key) {
                    return Err(error(format!(
                        "visit {} at {} appears twice",
                        visit.id, visit.terminal
                    )));
                }
                visits.insert(key, visit);
            } else {
                return Err(error(
                    "a line is a visit (with \"visit\") or a container (with \"container\")".into(),
                ));
            }
        }
        // In file order, so that the error names the first line that is wrong.
        let mut in_order: Vec<_> = box_lines.iter().map(|(key, line)| (*line, key)).collect();
        in_order.sort();
        for (line, key) in in_order {
            let Some(life) = boxes.get(key) else { continue };
            for change in &life.changes {
                if let Some(id) = &change.visit {
                    if !visits.contains_key(&(life.terminal.clone(), id.clone())) {
                        return Err(LifecycleError {
                            file: name.to_owned(),
                            line,
                            message: format!(
                                "container {} names visit {id}, which no line of terminal {} defines",
                                life.container, life.terminal
                            ),
                        });
                    }
                }
            }
        }
        Ok(Self { visits, boxes })
    }

    /// Writes the lifecycles as JSON Lines: visits first, then containers, each in key
    /// order, so that the same lifecycles always give the same file.
    pub fn write(&self, mut out: impl Write) -> std::io::Result<()> {
        for visit in self.visits.values() {
            serde_json::to_writer(&mut out, &visit_line(visit))?;
            out.write_all(b"\n")?;
        }
        for life in self.boxes.values() {
            serde_json::to_writer(&mut out, &box_line(life))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

fn status(name: &str, kind: TraceKind) -> Result<Status, String> {
    let status = STATUSES
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| {
            let names: Vec<_> = STATUSES.iter().map(|s| s.as_str()).collect();
            format!("unknown status '{name}' (statuses: {})", names.join(", "))
        })?;
    if !status.applies_to(kind) {
        return Err(format!(
            "status {name} is not one of an {} trace",
            kind.as_str().to_ascii_lowercase()
        ));
    }
    Ok(status)
}

fn box_life(line: BoxLine) -> Result<BoxLife, String> {
    let kind = match line.kind.to_ascii_lowercase().as_str() {
        "export" => TraceKind::Export,
        "empty" => TraceKind::Empty,
        other => return Err(format!("kind '{other}' is not export or empty")),
    };
    if line.container.trim().is_empty() {
        return Err("container is empty".into());
    }
    if line.changes.is_empty() {
        return Err(format!(
            "container {} has no changes: a box needs at least one",
            line.container
        ));
    }
    let mut changes = Vec::with_capacity(line.changes.len());
    let mut last: Option<DateTime<Utc>> = None;
    for change in line.changes {
        if change.at < line.published_at {
            return Err(format!(
                "container {}: a change at {} is before publishedAt {}",
                line.container,
                change.at.to_rfc3339(),
                line.published_at.to_rfc3339()
            ));
        }
        if last.is_some_and(|l| change.at < l) {
            return Err(format!(
                "container {}: changes must be in time order ({} comes after a later one)",
                line.container,
                change.at.to_rfc3339()
            ));
        }
        last = Some(change.at);
        let appointment = match change.appointment {
            Some(a) if a.end < a.start => {
                return Err(format!(
                    "container {}: an appointment ends before it starts",
                    line.container
                ))
            }
            Some(a) => Some(Appointment {
                start: a.start,
                end: a.end,
            }),
            None => None,
        };
        changes.push(Change {
            at: change.at,
            status: change
                .status
                .as_deref()
                .map(|s| status(s, kind))
                .transpose()?,
            visit: change.visit,
            appointment,
            holds: change.holds,
        });
    }
    Ok(BoxLife {
        container: line.container.to_ascii_uppercase(),
        kind,
        // Requests name terminals in upper case (`locationCode` is upper-cased).
        terminal: line.terminal.to_ascii_uppercase(),
        booking: line.booking,
        published_at: line.published_at,
        changes,
    })
}

fn visit(line: VisitLine) -> Result<Visit, String> {
    if line.visit.trim().is_empty() {
        return Err("visit id is empty".into());
    }
    let mut phases = Vec::with_capacity(line.phases.len());
    for p in line.phases {
        let phase = VisitPhase::parse(&p.phase).ok_or_else(|| {
            let names: Vec<_> = VisitPhase::ALL.iter().map(|p| p.as_str()).collect();
            format!(
                "visit {}: unknown phase '{}' (phases: {})",
                line.visit,
                p.phase,
                names.join(", ")
            )
        })?;
        phases.push((p.at, phase));
    }
    phases.sort_by_key(|(at, _)| *at);
    let mut schedule: Vec<ScheduleEntry> = line
        .schedule
        .into_iter()
        .map(|s| ScheduleEntry {
            at: s.at,
            begin_receive: s.begin_receive,
            cutoff: s.cutoff,
            eta: s.eta,
            etd: s.etd,
        })
        .collect();
    schedule.sort_by_key(|s| s.at);
    Ok(Visit {
        id: line.visit,
        terminal: line.terminal.to_ascii_uppercase(),
        vessel: line.vessel.unwrap_or_default(),
        voyage: line.voyage.unwrap_or_default(),
        line: line.line,
        schedule,
        phases,
    })
}

fn visit_line(visit: &Visit) -> VisitLine {
    VisitLine {
        visit: visit.id.clone(),
        terminal: visit.terminal.clone(),
        vessel: Some(visit.vessel.clone()),
        voyage: Some(visit.voyage.clone()),
        line: visit.line.clone(),
        schedule: visit
            .schedule
            .iter()
            .map(|s| ScheduleLine {
                at: s.at,
                begin_receive: s.begin_receive,
                cutoff: s.cutoff,
                eta: s.eta,
                etd: s.etd,
            })
            .collect(),
        phases: visit
            .phases
            .iter()
            .map(|(at, phase)| PhaseLine {
                at: *at,
                phase: phase.as_str().to_owned(),
            })
            .collect(),
    }
}

fn box_line(life: &BoxLife) -> BoxLine {
    BoxLine {
        container: life.container.clone(),
        kind: life.kind.as_str().to_ascii_lowercase(),
        terminal: life.terminal.clone(),
        booking: life.booking.clone(),
        published_at: life.published_at,
        changes: life
            .changes
            .iter()
            .map(|c| ChangeLine {
                at: c.at,
                status: c.status.map(|s| s.as_str().to_owned()),
                visit: c.visit.clone(),
                appointment: c.appointment.map(|a| AppointmentLine {
                    start: a.start,
                    end: a.end,
                }),
                holds: c.holds.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"visit": "V0001", "terminal": "MICT", "vessel": "ONE APUS", "voyage": "042E", "schedule": [{"at": "2026-03-01T00:00:00Z", "beginReceive": "2026-03-02T00:00:00Z", "cutoff": "2026-03-06T00:00:00Z", "eta": "2026-03-07T00:00:00Z", "etd": "2026-03-08T00:00:00Z"}], "phases": [{"at": "2026-03-07T02:00:00Z", "phase": "ARRIVED"}, {"at": "2026-03-07T04:00:00Z", "phase": "WORKING"}, {"at": "2026-03-08T02:00:00Z", "phase": "DEPARTED"}]}
{"container": "MSCU1234566", "kind": "export", "terminal": "MICT", "booking": "TASF883714", "publishedAt": "2026-03-01T06:00:00Z", "somethingNew": 1, "changes": [{"at": "2026-03-02T06:00:00Z", "status": "EXPECTED", "visit": "V0001"}, {"at": "2026-03-04T06:00:00Z", "appointment": {"start": "2026-03-05T08:00:00Z", "end": "2026-03-05T10:00:00Z"}}, {"at": "2026-03-05T09:00:00Z", "status": "GATED_IN"}, {"at": "2026-03-07T10:00:00Z", "status": "LOADED"}]}

{"container": "TGHU1234562", "kind": "empty", "terminal": "MICT", "publishedAt": "2026-03-01T06:00:00Z", "changes": [{"at": "2026-03-09T06:00:00Z", "status": "RETURNED"}]}
"#;

    fn read(text: &str) -> Result<Lifecycles, LifecycleError> {
        Lifecycles::read("test.jsonl", text.as_bytes())
    }

    fn error(text: &str) -> LifecycleError {
        read(text).expect_err("the file is refused")
    }

    #[test]
    fn a_good_file_reads_and_writes_back_the_same() {
        let lifecycles = read(GOOD).unwrap();
        assert_eq!(lifecycles.visits.len(), 1);
        assert_eq!(lifecycles.boxes.len(), 2);
        let mut out = Vec::new();
        lifecycles.write(&mut out).unwrap();
        let again = Lifecycles::read("again", &out[..]).unwrap();
        assert_eq!(again, lifecycles);
    }

    #[test]
    fn every_bad_line_names_the_file_and_line() {
        let lines: Vec<&str> = GOOD.lines().collect();
        let e = error(&format!("{}\n{{not json\n", lines[0]));
        assert_eq!((e.file.as_str(), e.line), ("test.jsonl", 2));
        assert!(e.message.contains("not valid JSON"), "{e}");

        let e = error(&lines[1].replace("GATED_IN", "IN_YARD"));
        assert_eq!(e.line, 1);
        assert!(e.message.contains("unknown status 'IN_YARD'"), "{e}");

        let e = error(&format!(
            "{}\n{}",
            lines[0],
            lines[1]
                .replace("\"RETURNED\"", "\"X\"")
                .replace("\"LOADED\"", "\"RETURNED\"")
        ));
        assert!(e.message.contains("not one of an export trace"), "{e}");

        let early = lines[1].replace("2026-03-02T06:00:00Z", "2026-02-27T06:00:00Z");
        let e = error(&format!("{}\n{early}", lines[0]));
        assert_eq!(e.line, 2);
        assert!(e.message.contains("before publishedAt"), "{e}");

        let bare = r#"{"container": "TGHU1234562", "kind": "empty", "terminal": "MICT", "publishedAt": "2026-03-01T06:00:00Z", "changes": []}"#;
        let e = error(bare);
        assert!(e.message.contains("has no changes"), "{e}");

        let e = error(lines[1]);
        assert!(e.message.contains("names visit V0001"), "{e}");

        let e = error(r#"{"id": 1}"#);
        assert!(e.message.contains("a line is a visit"), "{e}");

        let e = error(&lines[0].replace("WORKING", "LOADING"));
        assert!(e.message.contains("unknown phase 'LOADING'"), "{e}");

        let e = error(&format!("{GOOD}{}", lines[3]));
        assert!(e.message.contains("appears twice"), "{e}");
    }
}

//! Empty traces: has the empty come back to the terminal?
//!
//! | visit (not departed) | status |
//! | --- | --- |
//! | none | not found: not returned yet |
//! | advised or inbound (`S10_ADVISED`, `S20_INBOUND`, `2ADVISED`) | not found: not returned yet |
//! | in the terminal (`S30_ECIN` … `S60_LOADED`) | `RETURNED`, `GTIN` (empty) at `time_in` |
//!
//! `RECEIVABLE` and `NOT_RECEIVABLE` are not used: ICTSI's records say where an empty is,
//! not whether the terminal would take it (no receiving rules per line or size are
//! exposed), and a pre-advice says that someone announced the return, not that the
//! terminal accepts it. The fields these rules read (transit and visit state, times,
//! facility, line) are not among those ICTSI masks.

use boxtrace::{EmptyIndicator, Status, TraceError, TraceResult, Vessel};
use chrono::{DateTime, Utc};

use super::{base, gate_in, phase, Phase};
use crate::terminal::Terminal;
use crate::wire::ContainerRecord;

/// The empty's current visit as a result.
pub(crate) fn found(
    terminal: Terminal,
    record: &ContainerRecord,
    now: DateTime<Utc>,
    keep_raw: bool,
) -> Result<TraceResult, TraceError> {
    match phase(record) {
        Phase::InYard | Phase::Loaded => {}
        Phase::Advised | Phase::Departed | Phase::LeftByLand => return Err(TraceError::NotFound),
    }
    let indicator = super::empty_indicator(record, EmptyIndicator::Empty);
    let mut result = base(Status::Returned, record, indicator, now, keep_raw);
    result.events.extend(gate_in(record, indicator, terminal));
    result.location = Some(terminal.location());
    // The line the empty was returned for; an empty rides no vessel yet.
    let line = record
        .line_operator_id
        .clone()
        .or_else(|| record.line_operator_name.clone());
    result.vessel = line.map(|line| Vessel {
        line: Some(line),
        ..Vessel::default()
    });
    Ok(result)
}

//! Which of the records ICTSI returns is the visit a trace is about.
//!
//! Container details answer every visit of the box at the terminal still inside ICTSI's
//! pruning window (about 45–180 days): earlier trips, the current one, sometimes a
//! pre-advice of the next. The current visit is the **livest** one (active in the terminal,
//! then advised or allocated, then departed; retired visits never count), and among equally
//! live ones the one that **changed last** (`time_state_change`, else the later of
//! `time_in` and `time_out`); a tie keeps ICTSI's order, which puts the latest `time_in`
//! first.
//!
//! Export traces first keep the visits under the traced booking; see [`export`].

use chrono::{DateTime, Utc};

use crate::wire::ContainerRecord;

/// How live a visit is, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Liveness {
    /// `S99_RETIRED`: a cancelled or corrected visit; never current.
    Retired,
    /// The box has left the terminal on this visit.
    Departed,
    /// Pre-advised or allocated, not yet in.
    Advised,
    /// In the terminal (gate, yard, on the way to or on the vessel).
    Active,
}

/// The visit's liveness: from `visit_state`, else from `transit_state`, else from its
/// times.
pub(crate) fn liveness(record: &ContainerRecord) -> Liveness {
    let transit = record.transit_state.as_deref().unwrap_or_default();
    if transit.starts_with("S99") {
        return Liveness::Retired;
    }
    match record.visit_state.as_deref() {
        Some("1ACTIVE") => return Liveness::Active,
        Some("2ADVISED" | "4ALLOCATED") => return Liveness::Advised,
        Some("3DEPARTED") => return Liveness::Departed,
        _ => {}
    }
    match transit.get(..3) {
        Some("S10") => Liveness::Advised,
        Some("S20" | "S30" | "S40" | "S50" | "S60") => Liveness::Active,
        Some("S70") => Liveness::Departed,
        _ if record.time_out.is_some() => Liveness::Departed,
        _ if record.time_in.is_some() => Liveness::Active,
        _ => Liveness::Advised,
    }
}

/// How a visit ranks for being current: liveness, then last change.
type Rank = (Liveness, Option<DateTime<Utc>>);

/// When the visit last changed, as far as the record says.
pub(crate) fn last_change(record: &ContainerRecord) -> Option<DateTime<Utc>> {
    record
        .time_state_change
        .or_else(|| record.time_in.max(record.time_out))
}

/// The current visit among `records` (see the module documentation).
pub(crate) fn current<'a>(
    records: impl IntoIterator<Item = &'a ContainerRecord>,
) -> Option<&'a ContainerRecord> {
    let mut best: Option<(&ContainerRecord, Rank)> = None;
    for record in records {
        let rank: Rank = (liveness(record), last_change(record));
        if rank.0 == Liveness::Retired {
            continue;
        }
        // Strictly greater: the first of equals wins, keeping ICTSI's order.
        if best.as_ref().is_none_or(|(_, best_rank)| rank > *best_rank) {
            best = Some((record, rank));
        }
    }
    best.map(|(record, _)| record)
}

/// What an export trace found among the records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ExportPick<'a> {
    /// The current visit under the traced booking.
    Ours(&'a ContainerRecord),
    /// No visit under the traced booking, but a live one under another booking.
    OtherBooking(&'a ContainerRecord),
    /// Nothing that concerns this trace.
    Nothing,
}

/// Picks the export visit for `booking` among the records of `container`.
///
/// A record is under the traced booking when its `booking_number` equals it (ignoring case
/// and surrounding space), or when it names no booking and is not masked. A masked record
/// (`mask_data` = 1) is under another booking: the trace asks with `ms-booking` set to
/// its booking, and ICTSI unmasks exactly the records under the bookings named there.
/// Another booking's visit counts only while it is live (advised or active): earlier trips
/// of the box that have departed are not a mismatch.
pub(crate) fn export<'a>(
    records: &'a [ContainerRecord],
    container: &str,
    booking: &str,
) -> ExportPick<'a> {
    let (ours, others): (Vec<_>, Vec<_>) = records
        .iter()
        .filter(|r| same_container(r, container))
        .partition(|r| is_ours(r, booking));
    if let Some(record) = current(ours) {
        return ExportPick::Ours(record);
    }
    let live = others
        .into_iter()
        .filter(|r| liveness(r) >= Liveness::Advised);
    match current(live) {
        Some(record) => ExportPick::OtherBooking(record),
        None => ExportPick::Nothing,
    }
}

/// Picks the empty visit among the records of `container`: the current visit that has not
/// departed. A departed visit is an earlier trip: the empty left again since.
pub(crate) fn empty<'a>(
    records: &'a [ContainerRecord],
    container: &str,
) -> Option<&'a ContainerRecord> {
    current(
        records
            .iter()
            .filter(|r| same_container(r, container))
            .filter(|r| liveness(r) >= Liveness::Advised),
    )
}

fn is_ours(record: &ContainerRecord, booking: &str) -> bool {
    match record.booking_number.as_deref() {
        Some(theirs) => theirs.trim().eq_ignore_ascii_case(booking.trim()),
        None => record.mask_data.unwrap_or(0) == 0,
    }
}

/// ICTSI filters by container number already; a record naming another box (an answer
/// that ignored the filter) must still never be mapped onto this one.
fn same_container(record: &ContainerRecord, container: &str) -> bool {
    record.container_nbr.as_deref().is_none_or(|number| {
        let canonical = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect()
        };
        canonical(number) == canonical(container)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).single()
    }

    fn record(key: &str, visit: &str, booking: Option<&str>, changed: u32) -> ContainerRecord {
        ContainerRecord {
            unique_key: Some(key.into()),
            container_nbr: Some("CSQU3054383".into()),
            visit_state: Some(visit.into()),
            booking_number: booking.map(Into::into),
            time_state_change: at(changed),
            mask_data: Some(if booking.is_some() { 0 } else { 1 }),
            ..ContainerRecord::default()
        }
    }

    fn key(pick: ExportPick<'_>) -> (&'static str, Option<String>) {
        match pick {
            ExportPick::Ours(r) => ("ours", r.unique_key.clone()),
            ExportPick::OtherBooking(r) => ("other", r.unique_key.clone()),
            ExportPick::Nothing => ("nothing", None),
        }
    }

    #[test]
    fn the_active_visit_beats_newer_advised_and_departed_ones() {
        let records = [
            record("old", "3DEPARTED", Some("B1"), 20),
            record("next", "2ADVISED", Some("B1"), 19),
            record("now", "1ACTIVE", Some("b1 "), 3),
        ];
        assert_eq!(
            key(export(&records, "CSQU 305438-3", "B1")),
            ("ours", Some("now".into()))
        );
        let records = [
            record("a", "1ACTIVE", Some("B1"), 3),
            record("b", "1ACTIVE", Some("B1"), 4),
        ];
        assert_eq!(
            key(export(&records, "CSQU3054383", "B1")).1.as_deref(),
            Some("b")
        );
    }

    #[test]
    fn retired_and_other_boxes_never_count() {
        let mut retired = record("r", "1ACTIVE", Some("B1"), 9);
        retired.transit_state = Some("S99_RETIRED".into());
        let mut other_box = record("x", "1ACTIVE", Some("B1"), 9);
        other_box.container_nbr = Some("MSKU0000000".into());
        assert_eq!(
            key(export(&[retired, other_box], "CSQU3054383", "B1")).0,
            "nothing"
        );
    }

    #[test]
    fn other_bookings_mismatch_only_while_live() {
        let departed = record("old", "3DEPARTED", Some("B0"), 1);
        assert_eq!(
            key(export(std::slice::from_ref(&departed), "CSQU3054383", "B1")).0,
            "nothing"
        );
        let masked = record("m", "1ACTIVE", None, 2);
        let records = [departed.clone(), masked];
        assert_eq!(
            key(export(&records, "CSQU3054383", "B1")),
            ("other", Some("m".into()))
        );
        let records = [
            departed,
            record("v", "2ADVISED", Some("B2"), 2),
            record("o", "2ADVISED", Some("B1"), 1),
        ];
        assert_eq!(
            key(export(&records, "CSQU3054383", "B1")),
            ("ours", Some("o".into()))
        );
    }

    #[test]
    fn an_unmasked_record_without_booking_is_ours() {
        let mut unknown = record("u", "2ADVISED", None, 1);
        unknown.mask_data = None;
        assert_eq!(key(export(&[unknown], "CSQU3054383", "B1")).0, "ours");
    }

    #[test]
    fn liveness_falls_back_on_transit_state_and_times() {
        let mut r = ContainerRecord::default();
        assert_eq!(liveness(&r), Liveness::Advised);
        r.time_in = at(1);
        assert_eq!(liveness(&r), Liveness::Active);
        r.transit_state = Some("S70_DEPARTED".into());
        assert_eq!(liveness(&r), Liveness::Departed);
        r.transit_state = Some("S10_ADVISED".into());
        assert_eq!(liveness(&r), Liveness::Advised);
    }

    #[test]
    fn empties_ignore_departed_visits() {
        let records = [
            record("gone", "3DEPARTED", None, 9),
            record("back", "1ACTIVE", None, 1),
        ];
        assert_eq!(
            empty(&records, "CSQU3054383").and_then(|r| r.unique_key.as_deref()),
            Some("back")
        );
        assert!(empty(&records[..1], "CSQU3054383").is_none());
    }
}

//! The generator: terminal history with the structure of real terminals, drawn from a
//! seed. Vessel calls carry the receiving window, cut-off, arrival (revised over time),
//! berth and working window and departure that all their boxes share; export gate-ins
//! bunch before the cut-off in appointment slots, some trucks are late, some boxes are
//! held, loading happens while the vessel works, a few boxes roll to the next call;
//! empties come back days later, most in a booked slot. Every default is explained in
//! `providers/sim/README.md` with its source.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use boxtrace::{Appointment, Status, TraceKind, VisitPhase};
use chrono::{DateTime, DurationRound, Utc};

use super::life::{BoxLife, Change};
use super::model::VesselModel;
use super::visit::{ScheduleEntry, Visit};
use crate::seed::{Draws, Key};

pub(super) const HOUR: Duration = Duration::from_secs(3600);
pub(super) const DAY: Duration = Duration::from_secs(24 * 3600);

pub(super) fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Vessel names, IMO-like numbers and lines for generated calls.
const VESSELS: [(&str, &str); 8] = [
    ("SIM AURORA", "MAEU"),
    ("SIM BOREALIS", "CMDU"),
    ("SIM CORAL", "ONEY"),
    ("SIM DELTA", "EGLV"),
    ("SIM EMERALD", "PCIU"),
    ("SIM FALCON", "HLCU"),
    ("SIM GALLEON", "MSCU"),
    ("SIM HARBOR", "COSU"),
];

/// The generated calls of the terminals a world has been asked about.
#[derive(Debug)]
pub(crate) struct World {
    model: VesselModel,
    seed: u64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    calls: Mutex<HashMap<String, Arc<Vec<Visit>>>>,
}

impl World {
    /// A world of calls from `from` to `to`, drawn from `seed`.
    pub(crate) fn new(
        model: VesselModel,
        seed: u64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        Self {
            model,
            seed,
            from,
            to,
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// The calls at `terminal`, in order of first planned arrival; generated on first use.
    pub(crate) fn calls(&self, terminal: &str) -> Arc<Vec<Visit>> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls
            .entry(terminal.to_owned())
            .or_insert_with(|| Arc::new(self.generate_calls(terminal)))
            .clone()
    }

    /// The call `id` at `terminal`.
    pub(crate) fn call(&self, terminal: &str, id: &str) -> Option<Visit> {
        self.calls(terminal).iter().find(|c| c.id == id).cloned()
    }

    /// Every generated call.
    pub(crate) fn all_calls(&self) -> Vec<Visit> {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.values().flat_map(|c| c.iter().cloned()).collect()
    }

    fn generate_calls(&self, terminal: &str) -> Vec<Visit> {
        let m = &self.model;
        let interval = span(m.call_interval);
        let mut draws = Key::new("calls", self.seed).str(terminal).draws();
        let mut calls = Vec::new();
        let mut planned = self.from;
        let mut k = 0u32;
        while planned <= self.to {
            k += 1;
            // Calls follow a timetable with some slack: the gaps vary by a third.
            let jitter = draws.between(Duration::ZERO, m.call_interval * 2 / 3);
            let eta = planned + jitter - interval / 3;
            let id = format!("{terminal}{k:04}");
            calls.push(self.new_call(terminal, &id, eta, &mut draws));
            planned += interval;
        }
        calls
    }

    /// One call: its schedule as published and revised, and its phases.
    fn new_call(
        &self,
        terminal: &str,
        id: &str,
        planned: DateTime<Utc>,
        draws: &mut Draws,
    ) -> Visit {
        let m = &self.model;
        let (vessel, line) = draws
            .pick(&VESSELS)
            .copied()
            .unwrap_or(("SIM VESSEL", "SIMU"));
        let voyage = format!(
            "{:03}{}",
            1 + draws.next_u64() % 999,
            ["N", "S", "E", "W"][(draws.next_u64() % 4) as usize]
        );
        let delay = if draws.chance(m.late_call_share) {
            draws.between(36 * HOUR, 96 * HOUR)
        } else {
            let hours = (4.0 + draws.normal() * m.arrival_spread.as_secs_f64() / 3600.0).max(-8.0);
            chrono::Duration::seconds((hours * 3600.0) as i64)
        };
        let ata = planned + delay;
        let berthing = draws.between(HOUR, 3 * HOUR);
        let stay = draws
            .lognormal(m.working_median, 0.35)
            .clamp(8 * HOUR, 48 * HOUR);
        let work_start = ata + berthing;
        let work_end = work_start + span(stay);
        let atd = work_end + chrono::Duration::hours(1);
        let planned_stay = span(m.working_median) + chrono::Duration::hours(3);
        let cutoff_lead = span(m.cutoff_before_arrival);
        let mut schedule = vec![ScheduleEntry {
            at: planned - span(m.schedule_published),
            begin_receive: Some(planned - span(m.receiving_opens)),
            cutoff: Some(planned - cutoff_lead),
            eta: Some(planned),
            etd: Some(planned + planned_stay),
        }];
        // Revisions come closer together and closer to the truth as the call nears.
        let mut at = planned.min(ata) - chrono::Duration::days(5);
        let every = m.eta_revision_every.as_secs_f64();
        loop {
            let gap = -every * draws.unit().max(1e-9).ln();
            at += chrono::Duration::seconds(gap.max(600.0) as i64);
            if at >= ata - chrono::Duration::hours(1) {
                break;
            }
            let left = (ata - at).num_seconds() as f64;
            let error = draws.normal() * 0.1 * left;
            let eta = (ata + chrono::Duration::seconds(error as i64))
                .max(at + chrono::Duration::hours(1));
            schedule.push(ScheduleEntry {
                at,
                begin_receive: None,
                cutoff: Some(eta - cutoff_lead),
                eta: Some(eta),
                etd: Some(eta + planned_stay),
            });
        }
        schedule.push(ScheduleEntry {
            at: ata,
            begin_receive: None,
            cutoff: None,
            eta: Some(ata),
            etd: Some(atd),
        });
        Visit {
            id: id.to_owned(),
            terminal: terminal.to_owned(),
            vessel: vessel.to_owned(),
            voyage,
            line: Some(line.to_owned()),
            schedule,
            phases: vec![
                (ata, VisitPhase::Arrived),
                (work_start, VisitPhase::Working),
                (work_end, VisitPhase::Complete),
                (atd, VisitPhase::Departed),
            ],
        }
    }

    /// The life of an export box of `booking` at `terminal`, published at `published`:
    /// its call is the first whose cut-off leaves 1.5 to 6 days (drawn per booking), so
    /// that the boxes of one booking share a call.
    pub(crate) fn export_life(
        &self,
        container: &str,
        booking: &str,
        terminal: &str,
        published: DateTime<Utc>,
    ) -> Option<BoxLife> {
        let mut booking_draws = Key::new("booking", self.seed)
            .str(terminal)
            .str(booking)
            .draws();
        let lead = booking_draws.between(36 * HOUR, 6 * DAY);
        let cluster = booking_draws.unit();
        let calls = self.calls(terminal);
        let call_index = calls
            .iter()
            .position(|c| final_cutoff(c).is_some_and(|cut| cut >= published + lead))?;
        let call = calls.get(call_index)?;
        let later = calls
            .get(call_index + 1..(call_index + 12).min(calls.len()))
            .unwrap_or(&[]);
        let mut draws = Key::new("export", self.seed)
            .str(terminal)
            .str(container)
            .draws();
        Some(export(
            &self.model,
            &mut draws,
            Export {
                container,
                booking,
                terminal,
                published,
                call,
                later_calls: later,
                cluster,
            },
        ))
    }

    /// The life of an empty released at `published`, to be returned at `terminal`.
    pub(crate) fn empty_life(
        &self,
        container: &str,
        terminal: &str,
        published: DateTime<Utc>,
    ) -> BoxLife {
        let mut draws = Key::new("empty", self.seed)
            .str(terminal)
            .str(container)
            .draws();
        empty(&self.model, &mut draws, container, terminal, published)
    }
}

/// A call's cut-off as finally revised.
fn final_cutoff(call: &Visit) -> Option<DateTime<Utc>> {
    call.schedule.iter().rev().find_map(|e| e.cutoff)
}

/// When a call works cargo: (start, end).
fn working(call: &Visit) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let at = |phase| {
        call.phases
            .iter()
            .find(|(_, p)| *p == phase)
            .map(|(at, _)| *at)
    };
    Some((at(VisitPhase::Working)?, at(VisitPhase::Complete)?))
}

struct Export<'a> {
    container: &'a str,
    booking: &'a str,
    terminal: &'a str,
    published: DateTime<Utc>,
    call: &'a Visit,
    /// The calls after it, that a rolled box goes to.
    later_calls: &'a [Visit],
    /// Where in its call's loading the booking's boxes go (0..1), the same for the booking.
    cluster: f64,
}

/// An appointment slot on the slot grid (slots start at midnight UTC, every `slot`).
fn slot_at(model: &VesselModel, t: DateTime<Utc>) -> Appointment {
    let grid = span(model.slot);
    let start = t.duration_trunc(grid).unwrap_or(t);
    Appointment {
        start,
        end: start + grid,
    }
}

/// When a truck with `slot` arrives, and the slot it ends up using (a no-show books a
/// later one, visible `rebooked` after the first slot ends).
fn truck(
    model: &VesselModel,
    draws: &mut Draws,
    slot: Appointment,
) -> (DateTime<Utc>, Option<(DateTime<Utc>, Appointment)>) {
    let u = draws.unit();
    if u < model.early_trucks {
        (
            slot.start - draws.between(Duration::from_secs(60), HOUR),
            None,
        )
    } else if u < model.early_trucks + model.late_trucks {
        (
            slot.end + draws.between(Duration::from_secs(60), 3 * HOUR),
            None,
        )
    } else if u < model.early_trucks + model.late_trucks + model.no_shows {
        let rebooked_at = slot.end + draws.between(HOUR, 6 * HOUR);
        let next = slot_at(model, rebooked_at + draws.between(6 * HOUR, 30 * HOUR));
        (
            next.start + draws.between(Duration::from_secs(60), model.slot),
            Some((rebooked_at, next)),
        )
    } else {
        (
            slot.start + draws.between(Duration::from_secs(60), model.slot),
            None,
        )
    }
}

fn export(model: &VesselModel, draws: &mut Draws, x: Export<'_>) -> BoxLife {
    let minute = chrono::Duration::minutes(1);
    let published = x.published;
    let call = x.call.at(DateTime::<Utc>::MAX_UTC);
    let cutoff = call
        .key_dates
        .cargo_cutoff
        .unwrap_or(published + chrono::Duration::days(3));
    let receive = call
        .key_dates
        .earliest_receiving
        .unwrap_or(cutoff - chrono::Duration::days(4))
        .max(published + chrono::Duration::hours(6));
    // Gate-ins bunch before the cut-off.
    let u = draws.unit();
    let before_cutoff = if u < model.gate_in_last_day {
        draws.between(HOUR, 24 * HOUR)
    } else if u < model.gate_in_last_two_days {
        draws.between(24 * HOUR, 48 * HOUR)
    } else {
        let window = (cutoff - receive)
            .to_std()
            .unwrap_or_default()
            .max(49 * HOUR);
        draws.between(48 * HOUR, window)
    };
    let target = (cutoff - before_cutoff).max(receive);
    let slot = slot_at(model, target);
    let lead = draws
        .lognormal(model.appointment_lead, 0.7)
        .clamp(6 * HOUR, 7 * DAY);
    let visible = (slot.start - span(lead)).max(published + chrono::Duration::minutes(10));
    let advised = (visible - draws.between(Duration::ZERO, 24 * HOUR))
        .max(published + chrono::Duration::minutes(5));
    // Most bookings are known to the terminal when the client publishes.
    let known = if draws.chance(0.7) {
        published
    } else {
        (published + draws.between(Duration::from_secs(60), 24 * HOUR)).min(advised - minute)
    };
    let (mut gate_in, rebooking) = truck(model, draws, slot);
    gate_in = gate_in.max(visible + minute);

    let mut changes = vec![Change::status(known, Status::NotFound)];
    changes.push(Change {
        visit: Some(x.call.id.clone()),
        ..Change::status(advised.max(known + minute), Status::Expected)
    });
    changes.push(appointment_change(visible.max(advised + minute), slot));
    if let Some((rebooked_at, next)) = rebooking {
        changes.push(appointment_change(rebooked_at, next));
    }
    changes.push(Change::status(gate_in, Status::GatedIn));

    // Holds: most are on the box as it gates in, the rest come before the cut-off.
    let mut free_at = gate_in;
    if draws.chance(model.hold_rate) {
        let placed = if draws.chance(model.hold_at_gate_in) {
            gate_in + draws.between(Duration::from_secs(60), Duration::from_secs(30 * 60))
        } else {
            let until = (cutoff - gate_in)
                .to_std()
                .unwrap_or_default()
                .max(2 * HOUR);
            gate_in + draws.between(HOUR, until)
        };
        let length = draws
            .lognormal(model.hold_release, 0.8)
            .clamp(HOUR, 72 * HOUR);
        let code = if draws.chance(0.5) {
            "CUSTOMS"
        } else {
            "DOCUMENTS"
        };
        changes.push(Change {
            holds: Some(vec![code.to_owned()]),
            ..Change::status(placed, Status::OnHold)
        });
        free_at = placed + span(length);
        changes.push(Change::status(free_at, Status::GatedIn));
    }

    // Loading: the booking's boxes go together, after the first part of the window.
    let shut_out = draws.chance(model.roll_rate);
    let offset = draws.unit();
    let load_on = |call: &Visit, cluster: f64, offset: f64| -> Option<DateTime<Utc>> {
        let (start, end) = working(call)?;
        let window = (end - start).num_seconds() as f64;
        let first = start + chrono::Duration::seconds((window * model.loading_starts) as i64);
        let load_span = model
            .booking_load_span
            .as_secs_f64()
            .min(window * (1.0 - model.loading_starts));
        let room = ((end - first).num_seconds() as f64 - load_span).max(0.0);
        Some(first + chrono::Duration::seconds((room * cluster + load_span * offset) as i64))
    };
    // A box that is shut out, or still held or not in the yard when its booking is
    // loaded, rolls to the next call when loading of its call ends without it (at most
    // three times; a box that misses them all stays in the yard).
    let mut call = Some(x.call);
    let mut ready = free_at + chrono::Duration::minutes(20);
    let mut rolls = 0;
    while let Some(current) = call {
        let fits = load_on(current, x.cluster, offset)
            .zip(working(current))
            .map(|(load, (_, end))| (load.max(ready), end))
            .filter(|(load, end)| load < end);
        if let (Some((load, _)), false) = (fits, rolls == 0 && shut_out) {
            changes.push(Change::status(load, Status::Loaded));
            if let Some(departed) = current.departed_at().filter(|d| *d > load) {
                changes.push(Change::status(departed, Status::Departed));
            }
            break;
        }
        if rolls == 3 {
            break;
        }
        rolls += 1;
        let rolled_at = working(current).map_or(ready, |(_, end)| end).max(free_at) + minute;
        ready = ready.max(rolled_at + chrono::Duration::hours(1));
        // The next call that still has loading ahead of it.
        let next = x
            .later_calls
            .iter()
            .find(|c| working(c).is_some_and(|(_, end)| end > ready + chrono::Duration::hours(2)));
        let Some(next) = next else { break };
        changes.push(Change {
            at: rolled_at,
            status: None,
            visit: Some(next.id.clone()),
            appointment: None,
            holds: None,
        });
        call = Some(next);
    }
    changes.sort_by_key(|c| c.at);
    BoxLife {
        container: x.container.to_owned(),
        kind: TraceKind::Export,
        terminal: x.terminal.to_owned(),
        booking: Some(x.booking.to_owned()),
        published_at: published,
        changes,
    }
}

fn appointment_change(at: DateTime<Utc>, slot: Appointment) -> Change {
    Change {
        at,
        status: None,
        visit: None,
        appointment: Some(slot),
        holds: None,
    }
}

fn empty(
    model: &VesselModel,
    draws: &mut Draws,
    container: &str,
    terminal: &str,
    published: DateTime<Utc>,
) -> BoxLife {
    let back = draws
        .lognormal(model.empty_return, model.empty_sigma())
        .clamp(6 * HOUR, 30 * DAY);
    let planned = published + span(back);
    let mut changes = Vec::new();
    let returned = if draws.chance(model.empty_appointment_share) {
        let slot = slot_at(model, planned);
        let lead = draws.between(6 * HOUR, 48 * HOUR);
        let visible = (slot.start - lead).max(published + chrono::Duration::minutes(10));
        changes.push(appointment_change(visible, slot));
        let (mut at, rebooking) = truck(model, draws, slot);
        if let Some((rebooked_at, next)) = rebooking {
            changes.push(appointment_change(rebooked_at, next));
        }
        at = at.max(visible + chrono::Duration::minutes(1));
        at
    } else {
        planned
    };
    changes.push(Change::status(
        returned.max(published + chrono::Duration::minutes(30)),
        Status::Returned,
    ));
    changes.sort_by_key(|c| c.at);
    BoxLife {
        container: container.to_owned(),
        kind: TraceKind::Empty,
        terminal: terminal.to_owned(),
        booking: None,
        published_at: published,
        changes,
    }
}

#[cfg(test)]
mod tests;

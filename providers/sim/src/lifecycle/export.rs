//! The export lifecycle: booking opens, the box is expected, gates in, may meet a hold,
//! is loaded and leaves with its vessel, all within about a week of the epoch.

use boxtrace::{EmptyIndicator, EquipmentEventCode, Hold, KeyDates, Location, Status, Vessel};
use chrono::{DateTime, Duration, Utc};

use super::{terminal, Details, Step};
use crate::scenario::Scenario;
use crate::seed::Draws;

const HOUR: i64 = 60;
const DAY: i64 = 24 * HOUR;

/// Share of `standard` boxes that meet a hold after gate-in.
const HOLD_RATE: f64 = 0.35;

/// Vessel name, IMO number (valid check digit) and line (SCAC code).
const VESSELS: [(&str, &str, &str); 6] = [
    ("SIM AURORA", "9000106", "MAEU"),
    ("SIM BOREALIS", "9000118", "CMDU"),
    ("SIM CORAL", "9000120", "ONEY"),
    ("SIM DELTA", "9000132", "EGLV"),
    ("SIM EMERALD", "9000144", "PCIU"),
    ("SIM FALCON", "9000156", "HLCU"),
];

/// Ports of discharge: UN/LOCODE and name.
const DESTINATIONS: [(&str, &str); 10] = [
    ("SGSIN", "Singapore"),
    ("CNSHA", "Shanghai"),
    ("HKHKG", "Hong Kong"),
    ("JPTYO", "Tokyo"),
    ("KRPUS", "Busan"),
    ("TWKHH", "Kaohsiung"),
    ("VNSGN", "Ho Chi Minh City"),
    ("USLAX", "Los Angeles"),
    ("NLRTM", "Rotterdam"),
    ("AUSYD", "Sydney"),
];

/// A kind of hold: its code, its description while in force, and the equipment event
/// its release leaves.
#[derive(Debug)]
struct HoldKind {
    code: &'static str,
    description: &'static str,
    release: Option<(EquipmentEventCode, &'static str)>,
}

/// A customs hold ends with the inspection (DCSA `INSP`); a documents hold leaves no
/// equipment event, only the hold's disappearance. DCSA's `RSEA` means "resealed", not
/// "released", so it is not used for a release.
const HOLDS: [HoldKind; 2] = [
    HoldKind {
        code: "CUSTOMS",
        description: "Customs hold: export declaration under review",
        release: Some((
            EquipmentEventCode::Insp,
            "Inspected by customs; hold released",
        )),
    },
    HoldKind {
        code: "DOCUMENTS",
        description: "Documents hold: verified gross mass missing",
        release: None,
    },
];

/// The export plan. Every draw is made whatever the scenario, so that a scenario changes
/// only what it is about (the hold), never the box's dates or vessel.
///
/// Offsets from the epoch, in whole minutes:
/// - booking open: 1 min – 12 h (booking not found before);
/// - earliest receiving: 12 – 36 h; cargo cut-off 3 – 4 days later; vessel departure
///   1 – 2 days after the cut-off (so at most 7.5 days after the epoch);
/// - gate-in: between 2 h after earliest receiving and 6 h before the cut-off;
/// - hold (35 %, or as the scenario says; customs or documents, even odds): starts
///   2 – 12 h after gate-in, lasts 4 – 36 h, released at the latest an hour before
///   loading;
/// - loading: 4 – 12 h before departure.
pub(super) fn plan(
    draws: &mut Draws,
    epoch: DateTime<Utc>,
    scenario: Scenario,
    booking: Option<&str>,
) -> (Vec<Step>, Details) {
    let booking_open = epoch + draws.minutes(1, 12 * HOUR);
    let receiving = epoch + draws.minutes(12 * HOUR, 36 * HOUR);
    let cutoff = receiving + draws.minutes(3 * DAY, 4 * DAY);
    let departure = cutoff + draws.minutes(DAY, 2 * DAY);
    let window = (cutoff - receiving).num_minutes();
    let gate_in = receiving + draws.minutes(2 * HOUR, window - 6 * HOUR);
    let seeded_hold = draws.chance(HOLD_RATE);
    let hold_kind = draws.pick(&HOLDS);
    let hold_start = gate_in + draws.minutes(2 * HOUR, 12 * HOUR);
    let hold_length = draws.minutes(4 * HOUR, 36 * HOUR);
    let load = departure - draws.minutes(4 * HOUR, 12 * HOUR);
    let vessel = draws.pick(&VESSELS);
    let voyage = voyage(draws.next_u64());
    let destination = draws.pick(&DESTINATIONS);

    let has_hold = match scenario {
        Scenario::Hold => true,
        Scenario::NoHold => false,
        _ => seeded_hold,
    };
    let laden = EmptyIndicator::Laden;
    let mut steps = vec![
        Step::new(epoch, Status::BookingNotFound).unknown(),
        Step::new(booking_open, Status::Expected),
        Step::new(gate_in, Status::GatedIn)
            .with_indicator(laden)
            .with_event(EquipmentEventCode::Gtin, "Gate in full for export".into()),
    ];
    if let (true, Some(kind)) = (has_hold, hold_kind) {
        let release = (hold_start + hold_length).min(load - Duration::hours(1));
        let hold = Hold {
            code: kind.code.into(),
            description: Some(kind.description.into()),
            applies_to: Some("vessel".into()),
        };
        steps.push(
            Step::new(hold_start, Status::OnHold)
                .with_indicator(laden)
                .with_holds(vec![hold]),
        );
        let mut back = Step::new(release, Status::GatedIn).with_indicator(laden);
        if let Some((event, text)) = kind.release {
            back = back.with_event(event, text.into());
        }
        steps.push(back);
    }
    let vessel = vessel.map(|(name, imo, line)| Vessel {
        name: Some((*name).into()),
        imo: Some((*imo).into()),
        voyage: Some(voyage),
        line: Some((*line).into()),
    });
    let loaded_on = match &vessel {
        Some(Vessel {
            name: Some(name),
            voyage: Some(voyage),
            ..
        }) => format!("Loaded on {name} voyage {voyage}"),
        _ => "Loaded on vessel".into(),
    };
    steps.push(
        Step::new(load, Status::Loaded)
            .with_indicator(laden)
            .with_event(EquipmentEventCode::Load, loaded_on),
    );
    steps.push(Step::new(departure, Status::Departed).with_indicator(laden));

    let details = Details {
        location: Some(terminal()),
        destination: destination.map(|(code, name)| Location {
            un_locode: Some((*code).into()),
            facility_code: None,
            name: Some((*name).into()),
        }),
        vessel,
        booking_reference: booking.map(str::to_owned),
        key_dates: KeyDates {
            earliest_receiving: Some(receiving),
            cargo_cutoff: Some(cutoff),
            vessel_departure: Some(departure),
            last_free_day: None,
        },
    };
    (steps, details)
}

/// A voyage number such as `042W`.
fn voyage(bits: u64) -> String {
    let bound = ["N", "S", "E", "W"][(bits % 4) as usize];
    format!("{:03}{bound}", 1 + (bits >> 2) % 999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Key;
    use chrono::TimeZone;

    fn epoch() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
    }

    fn statuses(steps: &[Step]) -> Vec<Status> {
        steps.iter().map(|s| s.status).collect()
    }

    #[test]
    fn dates_keep_their_order_for_many_boxes() {
        let mut holds = 0;
        for n in 0..2000 {
            let mut draws = Key::new("t", 9).str(&n.to_string()).draws();
            let (steps, details) = plan(&mut draws, epoch(), Scenario::Standard, None);
            assert!(steps.windows(2).all(|w| w[0].at < w[1].at), "box {n}");
            let k = &details.key_dates;
            let gate_in = steps[2].at;
            assert!(k.earliest_receiving.unwrap() < gate_in);
            assert!(gate_in < k.cargo_cutoff.unwrap());
            assert!(steps.last().unwrap().at <= epoch() + Duration::days(8));
            if statuses(&steps).contains(&Status::OnHold) {
                holds += 1;
            }
        }
        assert!((500..900).contains(&holds), "{holds} of 2000 boxes held");
    }

    #[test]
    fn scenario_changes_the_hold_only() {
        let draws = Key::new("t", 1).str("box").draws();
        let (held, _) = plan(&mut draws.clone(), epoch(), Scenario::Hold, None);
        let (free, _) = plan(&mut draws.clone(), epoch(), Scenario::NoHold, None);
        assert_eq!(
            statuses(&held),
            [
                Status::BookingNotFound,
                Status::Expected,
                Status::GatedIn,
                Status::OnHold,
                Status::GatedIn,
                Status::Loaded,
                Status::Departed
            ]
        );
        assert!(!statuses(&free).contains(&Status::OnHold));
        assert_eq!(held.last().map(|s| s.at), free.last().map(|s| s.at));
    }

    #[test]
    fn voyages_look_like_voyages() {
        for bits in [0, 1, 7, u64::MAX] {
            let v = voyage(bits);
            assert_eq!(v.len(), 4, "{v}");
            assert!(v[..3].chars().all(|c| c.is_ascii_digit()) && v != "000N");
        }
    }
}

//! The empty-return lifecycle: unknown, then not receivable, receivable, and returned
//! within four days of the epoch.

use boxtrace::{EmptyIndicator, EquipmentEventCode, Status};
use chrono::{DateTime, Utc};

use super::{terminal, Details, Step};
use crate::seed::Draws;

const HOUR: i64 = 60;

/// The empty plan. Offsets from the epoch, in whole minutes:
/// - the terminal does not know the box (a `NotFound` error) until 1 min – 2 h;
/// - then not receivable for 1 – 22 h (so receivable by 24 h at the latest);
/// - returned 26 – 96 h after the epoch, with a `GTIN` event of an empty box.
pub(super) fn plan(draws: &mut Draws, epoch: DateTime<Utc>) -> (Vec<Step>, Details) {
    let known = epoch + draws.minutes(1, 2 * HOUR);
    let receivable = known + draws.minutes(HOUR, 22 * HOUR);
    let returned = epoch + draws.minutes(26 * HOUR, 96 * HOUR);
    let empty = EmptyIndicator::Empty;
    let steps = vec![
        Step::new(epoch, Status::NotFound).unknown(),
        Step::new(known, Status::NotReceivable).with_indicator(empty),
        Step::new(receivable, Status::Receivable).with_indicator(empty),
        Step::new(returned, Status::Returned)
            .with_indicator(empty)
            .with_event(EquipmentEventCode::Gtin, "Empty returned".into()),
    ];
    let details = Details {
        location: Some(terminal()),
        ..Details::default()
    };
    (steps, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Key;
    use chrono::{Duration, TimeZone};

    #[test]
    fn empties_are_returned_within_four_days() {
        let epoch = Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap();
        for n in 0..1000 {
            let mut draws = Key::new("t", 2).str(&n.to_string()).draws();
            let (steps, _) = plan(&mut draws, epoch);
            assert!(steps.windows(2).all(|w| w[0].at < w[1].at), "box {n}");
            assert!(steps[2].at <= epoch + Duration::hours(24));
            assert!(steps[3].at <= epoch + Duration::hours(96));
            let event = steps[3].event.as_ref().unwrap();
            assert_eq!(event.empty_indicator, Some(EmptyIndicator::Empty));
        }
    }
}

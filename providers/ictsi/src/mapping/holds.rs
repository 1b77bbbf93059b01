//! Holds: which impediments a container record shows, and their details from its events.
//!
//! A record shows a hold per move it stops: the names in `imped_vessel`, `imped_road`,
//! `imped_rail` (comma-separated), or, when a move is stopped (`stopped_*`) without a
//! named impediment, a generic `STOPPED` hold. The container events say more: a hold's
//! description is taken from the latest event whose type names it (for `STOPPED`, the
//! latest event whose type names a hold), skipping events that release something. How
//! ICTSI names hold events is not confirmed; matching ignores case and punctuation.

use boxtrace::Hold;

use crate::wire::{ContainerEvent, ContainerRecord};

/// The code of a stop without a named impediment.
const STOPPED: &str = "STOPPED";

/// The holds the record shows, vessel moves first, then road, then rail.
pub(crate) fn holds(record: &ContainerRecord) -> Vec<Hold> {
    let mut holds = Vec::new();
    for (applies_to, stopped, imped) in [
        ("vessel", record.stopped_vessel, &record.imped_vessel),
        ("road", record.stopped_road, &record.imped_road),
        ("rail", record.stopped_rail, &record.imped_rail),
    ] {
        let mut names: Vec<&str> = imped
            .as_deref()
            .unwrap_or_default()
            .split([',', ';'])
            .map(str::trim)
            .filter(|name| !name.is_empty() && !name.eq_ignore_ascii_case("null"))
            .collect();
        names.dedup();
        if names.is_empty() && stopped == Some(true) {
            names.push(STOPPED);
        }
        holds.extend(names.into_iter().map(|code| Hold {
            code: code.to_owned(),
            description: None,
            applies_to: Some(applies_to.to_owned()),
        }));
    }
    holds
}

/// Fills in each hold's description from the visit's events.
pub(crate) fn describe(holds: &mut [Hold], events: &[ContainerEvent]) {
    // Latest first: placed time, then sequence.
    let mut events: Vec<&ContainerEvent> = events.iter().collect();
    events.sort_by_key(|e| std::cmp::Reverse((e.placed_time, e.sequence)));
    for hold in holds.iter_mut() {
        let wanted = if hold.code == STOPPED {
            "HOLD".to_owned()
        } else {
            squash(&hold.code)
        };
        hold.description = events
            .iter()
            .filter(|e| {
                let kind = squash(e.event_type.as_deref().unwrap_or_default());
                kind.contains(&wanted)
                    && !["RELEASE", "REMOVE", "CANCEL"]
                        .iter()
                        .any(|r| kind.contains(r))
            })
            .find_map(|e| description(e));
    }
}

/// The event's English description, else its first one, else its notes.
fn description(event: &ContainerEvent) -> Option<String> {
    let texts = &event.event_descriptions;
    texts
        .iter()
        .find(|d| {
            d.language
                .as_deref()
                .is_some_and(|l| l.to_ascii_lowercase().starts_with("en"))
        })
        .or_else(|| texts.first())
        .and_then(|d| d.description.clone())
        .or_else(|| event.notes.clone())
}

/// Upper case letters and digits only, so that `Customs Hold` matches `CUSTOMS_HOLD`.
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::LanguageDescription;

    fn event(kind: &str, minute: u32, text: &str) -> ContainerEvent {
        ContainerEvent {
            event_type: Some(kind.into()),
            placed_time: chrono::DateTime::from_timestamp(
                1_770_000_000 + i64::from(minute) * 60,
                0,
            ),
            event_descriptions: vec![
                LanguageDescription {
                    language: Some("tl".into()),
                    description: Some(format!("{text} (tl)")),
                },
                LanguageDescription {
                    language: Some("en-US".into()),
                    description: Some(text.into()),
                },
            ],
            ..ContainerEvent::default()
        }
    }

    #[test]
    fn named_impediments_and_bare_stops_become_holds() {
        let record = ContainerRecord {
            imped_vessel: Some("CUSTOMS HOLD, LINE HOLD".into()),
            stopped_vessel: Some(true),
            stopped_road: Some(true),
            stopped_rail: Some(false),
            ..ContainerRecord::default()
        };
        let holds = holds(&record);
        let codes: Vec<_> = holds
            .iter()
            .map(|h| (h.code.as_str(), h.applies_to.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            codes,
            [
                ("CUSTOMS HOLD", "vessel"),
                ("LINE HOLD", "vessel"),
                ("STOPPED", "road")
            ]
        );
        assert!(super::holds(&ContainerRecord::default()).is_empty());
    }

    #[test]
    fn descriptions_come_from_the_latest_matching_event() {
        let mut holds = vec![
            Hold {
                code: "CUSTOMS HOLD".into(),
                description: None,
                applies_to: None,
            },
            Hold {
                code: "STOPPED".into(),
                description: None,
                applies_to: None,
            },
            Hold {
                code: "XRAY".into(),
                description: None,
                applies_to: None,
            },
        ];
        let events = [
            event("CUSTOMS_HOLD", 1, "Customs hold: documents pending"),
            event("CUSTOMS_HOLD", 5, "Customs hold: inspection ordered"),
            event("CUSTOMS_HOLD_RELEASED", 9, "Customs hold released"),
            event("UNIT_IN_YARD", 10, "In yard"),
        ];
        describe(&mut holds, &events);
        assert_eq!(
            holds[0].description.as_deref(),
            Some("Customs hold: inspection ordered")
        );
        assert_eq!(
            holds[1].description.as_deref(),
            Some("Customs hold: inspection ordered")
        );
        assert_eq!(holds[2].description, None);
    }
}

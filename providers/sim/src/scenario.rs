//! `data.scenario`: how a client steers one simulated box (hold, no hold, unknown, refused).

use boxtrace::DataError;
use serde_json::{Map, Value};

/// What a simulated box does, chosen by the request's `data.scenario` (default
/// `standard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scenario {
    /// `standard`: the seeded lifecycle; about a third of export boxes meet a hold.
    #[default]
    Standard,
    /// `hold`: an export box always meets a hold after gate-in, released before loading.
    Hold,
    /// `no-hold`: an export box never meets a hold.
    NoHold,
    /// `not-found`: the terminal never knows the box; every trace is `NotFound`.
    NotFound,
    /// `rejected`: the terminal refuses the request for good; every trace is a permanent
    /// `request_rejected` error.
    Rejected,
}

impl Scenario {
    /// Every scenario, in the order the error message lists them.
    pub const ALL: [Scenario; 5] = [
        Self::Standard,
        Self::Hold,
        Self::NoHold,
        Self::NotFound,
        Self::Rejected,
    ];

    /// The value of `data.scenario`, e.g. `no-hold`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Hold => "hold",
            Self::NoHold => "no-hold",
            Self::NotFound => "not-found",
            Self::Rejected => "rejected",
        }
    }

    /// Reads `data.scenario`: absent is `standard`; anything but one of the names
    /// (including `null` and other non-strings) is refused, naming the accepted values.
    /// Other keys are not looked at.
    pub fn from_data(data: &Map<String, Value>) -> Result<Self, DataError> {
        match data.get("scenario") {
            None => Ok(Self::Standard),
            Some(Value::String(s)) => Self::ALL
                .into_iter()
                .find(|scenario| scenario.as_str() == s)
                .ok_or_else(refusal),
            Some(_) => Err(refusal()),
        }
    }
}

fn refusal() -> DataError {
    let names: Vec<_> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
    DataError::new("scenario", format!("must be one of {}", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn names_round_trip_and_default_is_standard() {
        for scenario in Scenario::ALL {
            let parsed = Scenario::from_data(&data(json!({ "scenario": scenario.as_str() })));
            assert_eq!(parsed, Ok(scenario));
        }
        assert_eq!(Scenario::from_data(&Map::new()), Ok(Scenario::Standard));
        assert_eq!(
            Scenario::from_data(&data(json!({ "other": 1 }))),
            Ok(Scenario::Standard)
        );
    }

    #[test]
    fn unknown_or_non_string_is_refused_with_the_accepted_list() {
        let expected = DataError::new(
            "scenario",
            "must be one of standard, hold, no-hold, not-found, rejected",
        );
        for bad in [
            json!("HOLD"),
            json!("later"),
            json!(3),
            json!(null),
            json!(["hold"]),
        ] {
            assert_eq!(
                Scenario::from_data(&data(json!({ "scenario": bad }))),
                Err(expected.clone())
            );
        }
    }
}

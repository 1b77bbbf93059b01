//! ICTSI's terminals (`data.locationCode`) and the publish-time rules for a request's `data`.

use std::fmt;

use boxtrace::{DataError, Location, TraceKind};

use crate::patterns;
use serde_json::{Map, Value};

/// The `data` key naming the terminal.
pub(crate) const LOCATION_CODE: &str = "locationCode";
/// The `data` key of the booking (required for export traces).
pub(crate) const BOOKING_NUMBER: &str = "bookingNumber";

/// The accepted location codes, as error messages list them.
const ACCEPTED: &str = "MICT, SBITC";

/// A terminal ICTSI traces at, named by `data.locationCode`.
///
/// The UN/LOCODEs are general knowledge (Manila, Subic Bay), not confirmed by ICTSI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Terminal {
    /// `MICT`: Manila International Container Terminal (UN/LOCODE `PHMNL`).
    Mict,
    /// `SBITC`: Subic Bay International Terminal Corp. (UN/LOCODE `PHSFS`).
    Sbitc,
}

impl Terminal {
    /// Every terminal.
    pub const ALL: [Terminal; 2] = [Terminal::Mict, Terminal::Sbitc];

    /// The location code clients send and ICTSI's `facility-id`, e.g. `MICT`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Mict => "MICT",
            Self::Sbitc => "SBITC",
        }
    }

    /// The UN/LOCODE of the terminal's port.
    pub fn un_locode(self) -> &'static str {
        match self {
            Self::Mict => "PHMNL",
            Self::Sbitc => "PHSFS",
        }
    }

    /// The terminal's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mict => "Manila International Container Terminal",
            Self::Sbitc => "Subic Bay International Terminal Corp.",
        }
    }

    /// The terminal with location code `code` (exactly as listed: upper case).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The terminal as a normalized location.
    pub fn location(self) -> Location {
        Location {
            un_locode: Some(self.un_locode().to_owned()),
            facility_code: Some(self.code().to_owned()),
            name: Some(self.name().to_owned()),
        }
    }

    /// Reads `data.locationCode`, naming the key and the accepted values when it is
    /// missing or not one of them.
    pub(crate) fn from_data(data: &Map<String, Value>) -> Result<Self, DataError> {
        match data.get(LOCATION_CODE) {
            None | Some(Value::Null) => Err(DataError::new(
                LOCATION_CODE,
                format!("is required: must be one of {ACCEPTED}"),
            )),
            // The value is not echoed: it is client input of any size and shape.
            Some(value) => value
                .as_str()
                .and_then(Self::from_code)
                .ok_or_else(|| DataError::new(LOCATION_CODE, format!("must be one of {ACCEPTED}"))),
        }
    }
}

impl fmt::Display for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The provider's rules for `data`, checked at publish time: a known `locationCode`, and a
/// non-blank `bookingNumber` for export traces (the engine checks it too; the provider
/// does not rely on that). Other keys are tolerated.
pub(crate) fn validate(kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
    Terminal::from_data(data)?;
    if kind == TraceKind::Export {
        booking(data)?;
    }
    Ok(())
}

/// `data.bookingNumber`, trimmed, non-blank and matching the strict pattern of a value
/// put in a query ([`patterns::is_booking`]).
pub(crate) fn booking(data: &Map<String, Value>) -> Result<&str, DataError> {
    match data.get(BOOKING_NUMBER) {
        None | Some(Value::Null) => Err(DataError::new(
            BOOKING_NUMBER,
            "is required for export traces",
        )),
        // The value is not echoed: it is client input of any size and shape.
        Some(Value::String(s)) if !s.trim().is_empty() && !patterns::is_booking(s.trim()) => {
            Err(DataError::new(BOOKING_NUMBER, patterns::BOOKING_RULE))
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(_) => Err(DataError::new(
            BOOKING_NUMBER,
            "must be a non-empty string (the booking the container is exported under)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn location_code_is_required_and_listed() {
        let err = validate(TraceKind::Empty, &data(json!({}))).unwrap_err();
        assert_eq!(err.field, "locationCode");
        assert!(err.message.contains("must be one of MICT, SBITC"), "{err}");
        for bad in [
            json!("MNL"),
            json!("mict"),
            json!(7),
            json!(["MICT"]),
            json!(""),
        ] {
            let err =
                validate(TraceKind::Empty, &data(json!({ "locationCode": bad }))).unwrap_err();
            assert_eq!(err.field, "locationCode");
            assert_eq!(err.message, "must be one of MICT, SBITC");
        }
    }

    #[test]
    fn exports_need_a_booking_and_unknown_keys_pass() {
        let err =
            validate(TraceKind::Export, &data(json!({ "locationCode": "MICT" }))).unwrap_err();
        assert_eq!(err.field, "bookingNumber");
        let err = validate(
            TraceKind::Export,
            &data(json!({ "locationCode": "MICT", "bookingNumber": " " })),
        )
        .unwrap_err();
        assert_eq!(err.field, "bookingNumber");
        for bad in ["B1,B2", "B1' OR '1'='1", "B1 B2", "-B1"] {
            let err = validate(
                TraceKind::Export,
                &data(json!({ "locationCode": "MICT", "bookingNumber": bad })),
            )
            .unwrap_err();
            assert_eq!(err.field, "bookingNumber");
            assert!(err.message.contains("commas, quotes or spaces"), "{err}");
            assert!(!err.message.contains(bad), "not echoed: {err}");
        }
        let ok = data(json!({
            "locationCode": "SBITC", "bookingNumber": "TASF883714", "somethingNew": { "x": 1 }
        }));
        assert!(validate(TraceKind::Export, &ok).is_ok());
        assert!(validate(TraceKind::Empty, &data(json!({ "locationCode": "MICT" }))).is_ok());
    }

    #[test]
    fn terminals_know_their_port() {
        assert_eq!(Terminal::from_code("SBITC"), Some(Terminal::Sbitc));
        assert_eq!(Terminal::Mict.un_locode(), "PHMNL");
        let location = Terminal::Sbitc.location();
        assert_eq!(location.un_locode.as_deref(), Some("PHSFS"));
        assert_eq!(location.facility_code.as_deref(), Some("SBITC"));
    }
}

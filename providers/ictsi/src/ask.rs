//! What one trace asks ICTSI: the terminal, the container type, the container, and for
//! exports the booking and the `ms-booking` value that unmasks its records.
//!
//! Boxes share one container details call only when every query value but the container
//! number is identical ([`Ask::group`]). That rule is what keeps bookings apart: ICTSI
//! unmasks a record when its `booking_number` is *any* of the `ms-booking` values sent, so
//! a call naming two bookings would show one owner's unmasked record (holds, position,
//! port of discharge, its booking) to the job traced under the other booking. One call
//! carries one `ms-booking` value, and a job only ever sees records fetched with its own.

use boxtrace::{PermanentReason, TraceError, TraceKind, TraceRequest};

use crate::patterns;
use crate::terminal::{self, Terminal};
use crate::wire::query;

/// One box's question, read from its request and checked against the strict patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask<'a> {
    pub terminal: Terminal,
    pub kind: TraceKind,
    /// The container id as sent (a validated number, or an id that matched the pattern).
    pub container: &'a str,
    /// The traced booking (exports), trimmed.
    pub booking: Option<&'a str>,
    /// The `ms-booking` value sent with it.
    pub unmask: Option<String>,
}

impl<'a> Ask<'a> {
    /// Reads `request`. Data stored before a rule changed, or an id that does not match
    /// the pattern, is refused here as it would be at publish: a permanent error for this
    /// box alone, and nothing is sent.
    pub(crate) fn of(request: &'a TraceRequest) -> Result<Self, TraceError> {
        let terminal = Terminal::from_data(&request.data).map_err(rejected)?;
        if !patterns::is_facility(terminal.code()) {
            // Terminal codes are ours; this guards the rule if one is ever added badly.
            return Err(refused(format!(
                "the facility {terminal} breaks the pattern"
            )));
        }
        let container = request.container.as_str();
        if !patterns::is_container(container) {
            return Err(refused(format!("payload.id: {}", patterns::CONTAINER_RULE)));
        }
        let kind = request.key.kind;
        let booking = match kind {
            TraceKind::Export => Some(terminal::booking(&request.data).map_err(rejected)?),
            TraceKind::Empty => None,
        };
        Ok(Self {
            terminal,
            kind,
            container,
            booking,
            unmask: booking.map(unmask),
        })
    }

    /// The `container-type` value.
    pub(crate) fn container_type(&self) -> &'static str {
        match self.kind {
            TraceKind::Export => query::EXPORT,
            TraceKind::Empty => query::EMPTY,
        }
    }

    /// Every query value but the container number: boxes with equal groups may share one
    /// call (the provider's batch key).
    pub(crate) fn group(&self) -> String {
        format!(
            "{}|{}|{}",
            self.terminal.code(),
            self.container_type(),
            self.unmask.as_deref().unwrap_or_default()
        )
    }

    /// The whole question: jobs with equal keys (of any tenant) share one lookup.
    pub(crate) fn lookup_key(&self) -> String {
        format!("{}|{}", self.group(), self.container)
    }
}

/// The `ms-booking` value for `booking`. ICTSI compares it exactly, so the upper-case
/// spelling N4 uses is named too when the client's differs. `ms-booking`, not
/// `booking-number`: the latter filters, so a box under another booking would read as
/// not found; the former unmasks the traced booking's records (holds, position, POD) and
/// leaves the others masked.
fn unmask(booking: &str) -> String {
    let upper = booking.to_ascii_uppercase();
    if upper == booking {
        upper
    } else {
        format!("{booking},{upper}")
    }
}

fn rejected(error: boxtrace::DataError) -> TraceError {
    refused(format!("data.{error}"))
}

fn refused(message: String) -> TraceError {
    TraceError::Permanent {
        reason: PermanentReason::RequestRejected,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxtrace::{ContainerId, ContainerNumber, JobKey, Tenant};
    use serde_json::{json, Value};

    fn request(kind: TraceKind, id: ContainerId, data: Value) -> TraceRequest {
        TraceRequest {
            key: JobKey {
                tenant: Tenant::new("o", "s"),
                kind,
                provider_id: "ictsi".into(),
                container: id.as_str().to_owned(),
            },
            container: id,
            data: data.as_object().cloned().unwrap(),
            origin: None,
        }
    }

    fn number(s: &str) -> ContainerId {
        ContainerId::Validated(ContainerNumber::parse(s).unwrap())
    }

    #[test]
    fn groups_hold_every_query_value_but_the_container() {
        let data = json!({ "locationCode": "MICT", "bookingNumber": "tasf883714" });
        let export = request(TraceKind::Export, number("CSQU3054383"), data);
        let ask = Ask::of(&export).unwrap();
        assert_eq!(ask.unmask.as_deref(), Some("tasf883714,TASF883714"));
        assert_eq!(ask.group(), "MICT|export|tasf883714,TASF883714");
        assert_eq!(
            ask.lookup_key(),
            "MICT|export|tasf883714,TASF883714|CSQU3054383"
        );
        let empty = request(
            TraceKind::Empty,
            number("CSQU3054383"),
            json!({ "locationCode": "SBITC" }),
        );
        assert_eq!(Ask::of(&empty).unwrap().group(), "SBITC|empty|");
    }

    #[test]
    fn bad_values_are_refused_for_the_box_alone() {
        for (id, data) in [
            (
                ContainerId::Unvalidated("CSQU3054383,MSKU0000000".into()),
                json!({ "locationCode": "MICT" }),
            ),
            (
                ContainerId::Unvalidated("csqu3054383".into()),
                json!({ "locationCode": "MICT" }),
            ),
            (number("CSQU3054383"), json!({ "locationCode": "MICT'" })),
        ] {
            let err = Ask::of(&request(TraceKind::Empty, id, data)).unwrap_err();
            assert!(
                matches!(
                    err,
                    TraceError::Permanent {
                        reason: PermanentReason::RequestRejected,
                        ..
                    }
                ),
                "{err}"
            );
        }
        let export = request(
            TraceKind::Export,
            number("CSQU3054383"),
            json!({ "locationCode": "MICT", "bookingNumber": "B1,B2" }),
        );
        let err = Ask::of(&export).unwrap_err().to_string();
        assert!(err.contains("data.bookingNumber"), "{err}");
        assert!(!err.contains("B1,B2"), "{err}");
    }
}

//! Strict patterns for every value put in an ICTSI query.
//!
//! ICTSI's backend builds its database query by splitting each parameter on commas and
//! pasting every piece between single quotes (`c.container_nbr IN ('A', 'B')`), without
//! escaping. A comma in a value would ask about another box (or unmask another booking);
//! a quote would change the query. So a value is sent only when it matches a pattern
//! that holds no separator, quote or space: at publish time (`validate`,
//! `validate_container`) a value that fails is refused with a message saying what is
//! accepted, and at trace time, for jobs stored before a rule changed, it fails that box
//! alone and is never sent.

/// What a container id may be (with `data.normalize = false`; a validated ISO 6346 number
/// always matches): 4 to 15 upper-case letters and digits.
pub(crate) const CONTAINER_RULE: &str =
    "ICTSI takes 4 to 15 upper-case letters and digits (A-Z, 0-9), e.g. CSQU3054383";

/// What a booking number may be: 1 to 35 letters, digits, `-`, `_`, `/`, `.`, starting
/// with a letter or digit.
pub(crate) const BOOKING_RULE: &str =
    "must be 1 to 35 letters, digits, '-', '_', '/' or '.', starting with a letter or digit \
     (ICTSI's query cannot carry commas, quotes or spaces)";

/// Whether `id` may be sent as a `container-number`.
pub(crate) fn is_container(id: &str) -> bool {
    (4..=15).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Whether `booking` may be sent in `ms-booking`.
pub(crate) fn is_booking(booking: &str) -> bool {
    let bytes = booking.as_bytes();
    (1..=35).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
}

/// Whether `code` may be sent as a `facility-id` (upper-case letters, 2 to 10).
pub(crate) fn is_facility(code: &str) -> bool {
    (2..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether a key ICTSI gave us (a record's `unique_key`, a carrier visit id) may be sent
/// back in a query: 1 to 64 letters, digits, `-`, `_`, `/`, `.`. ICTSI's own values
/// are sent back only when they match, so that an odd answer cannot shape a query.
pub(crate) fn is_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_upper_case_letters_and_digits() {
        for ok in ["CSQU3054383", "ABCD", "TEST12345678901"] {
            assert!(is_container(ok), "{ok}");
        }
        for bad in [
            "",
            "ABC",
            "csqu3054383",
            "CSQU 3054383",
            "CSQU3054383,MSKU0000000",
            "CSQU'3054383",
            "CSQU-305438-3",
            "TEST123456789012",
            "ÄBCD1234567",
        ] {
            assert!(!is_container(bad), "{bad}");
        }
    }

    #[test]
    fn bookings_hold_no_separator_quote_or_space() {
        for ok in ["TASF883714", "tasf883714", "MNL-12/3.4_5", "1"] {
            assert!(is_booking(ok), "{ok}");
        }
        for bad in [
            "",
            "B1,B2",
            "B1'",
            "B1 B2",
            "-B1",
            "B1\"",
            "B1;DROP",
            "B1%2C",
            &"B".repeat(36),
        ] {
            assert!(!is_booking(bad), "{bad}");
        }
    }

    #[test]
    fn facilities_and_keys() {
        assert!(is_facility("MICT") && is_facility("SBITC"));
        assert!(!is_facility("mict") && !is_facility("MICT,SBITC") && !is_facility("M"));
        assert!(is_key("ICTSI/PH/MICT/25878505") && is_key("TAGE610"));
        assert!(!is_key("V1,V2") && !is_key("V1'") && !is_key("") && !is_key(&"K".repeat(65)));
    }
}

//! Tolerant readers for ICTSI's field values: text, flags, numbers, times and lists.
//!
//! ICTSI's backend builds its answers with Java's `String.valueOf`, so a missing or masked
//! value often arrives as the string `"null"`, booleans as `"true"`, and numbers either
//! way. Every reader here accepts any JSON value and answers `None` (or an empty list) for
//! what it cannot use, so that one odd field never makes a whole answer unreadable.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Text, trimmed; `None` for null, blank, `"null"` and masked (`"***"`) values.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(text_of(&Value::deserialize(d)?))
}

/// A yes/no flag: JSON booleans, `"true"`/`"false"`, `"Y"`/`"N"`, `1`/`0`.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(flag_of(&Value::deserialize(d)?))
}

/// An integer, from a JSON number or a numeric string.
pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        other => text_of(&other).and_then(|s| s.parse().ok()),
    })
}

/// An instant; see [`parse_time`] for the accepted forms.
pub(crate) fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(text_of(&Value::deserialize(d)?).and_then(|s| parse_time(&s)))
}

/// A calendar day: `2026-03-09`, or the day of an instant.
pub(crate) fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Ok(text_of(&Value::deserialize(d)?).and_then(|s| {
        NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .ok()
            .or_else(|| parse_time(&s).map(|t| t.date_naive()))
    }))
}

/// The `data` of an answer: an array (items that do not read as `T` are skipped), or
/// `null` for none. Anything else is an error: an answer whose shape changed must not read
/// as "no record", or every container would silently look not found.
pub(crate) fn records<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect()),
        other => Err(serde::de::Error::custom(format!(
            "`data` is {}, not a list of records",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A list of objects inside a record; items that do not read as `T` are skipped, and
/// anything but an array is an empty list.
pub(crate) fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

fn text_of(value: &Value) -> Option<String> {
    let s = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    let masked = !s.is_empty() && s.chars().all(|c| c == '*');
    if s.is_empty() || masked || s.eq_ignore_ascii_case("null") {
        None
    } else {
        Some(s)
    }
}

fn flag_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        other => match text_of(other)?.to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "1" => Some(true),
            "false" | "n" | "no" | "0" => Some(false),
            _ => None,
        },
    }
}

/// Reads an instant: RFC 3339 (`2026-03-02T06:00:00Z`, with or without fractions or an
/// offset), or a date and time without offset (`2026-03-02T06:00:00`,
/// `2026-03-02 06:00:00.000`), taken as UTC because the backend stamps its own times with
/// `Z` (unconfirmed for every field).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
    .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "text")]
        text: Option<String>,
        #[serde(default, deserialize_with = "flag")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "int")]
        int: Option<i64>,
        #[serde(default, deserialize_with = "time")]
        time: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "date")]
        date: Option<NaiveDate>,
    }

    fn probe(value: Value) -> Probe {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn java_nulls_blanks_and_masks_are_absent() {
        for value in [
            json!(null),
            json!("null"),
            json!("NULL"),
            json!("  "),
            json!("****"),
        ] {
            assert_eq!(
                probe(json!({ "text": value.clone() })).text,
                None,
                "{value}"
            );
            assert_eq!(
                probe(json!({ "flag": value.clone() })).flag,
                None,
                "{value}"
            );
            assert_eq!(
                probe(json!({ "time": value.clone() })).time,
                None,
                "{value}"
            );
        }
        assert_eq!(probe(json!({})).text, None);
        assert_eq!(
            probe(json!({ "text": " MSKU " })).text.as_deref(),
            Some("MSKU")
        );
        assert_eq!(probe(json!({ "text": 20 })).text.as_deref(), Some("20"));
        assert_eq!(probe(json!({ "text": { "nested": 1 } })).text, None);
    }

    #[test]
    fn flags_read_java_and_sql_spellings() {
        for (value, expected) in [
            (json!(true), Some(true)),
            (json!("true"), Some(true)),
            (json!("Y"), Some(true)),
            (json!(1), Some(true)),
            (json!("false"), Some(false)),
            (json!("0"), Some(false)),
            (json!(0), Some(false)),
            (json!("maybe"), None),
        ] {
            assert_eq!(
                probe(json!({ "flag": value.clone() })).flag,
                expected,
                "{value}"
            );
        }
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(probe(json!({ "int": 1 })).int, Some(1));
        assert_eq!(probe(json!({ "int": "0" })).int, Some(0));
        assert_eq!(probe(json!({ "int": 1.0 })).int, Some(1));
        assert_eq!(probe(json!({ "int": "x" })).int, None);
    }

    #[test]
    fn times_with_and_without_offsets() {
        let at = |s: &str| probe(json!({ "time": s })).time.map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-03-02T06:00:00Z").as_deref(),
            Some("2026-03-02T06:00:00+00:00")
        );
        assert_eq!(
            at("2026-03-02T14:00:00.250+08:00").as_deref(),
            Some("2026-03-02T06:00:00.250+00:00")
        );
        assert_eq!(
            at("2026-03-02 06:00:00.000").as_deref(),
            Some("2026-03-02T06:00:00+00:00")
        );
        assert_eq!(
            at("2026-03-02T06:00:00").as_deref(),
            Some("2026-03-02T06:00:00+00:00")
        );
        assert_eq!(at("next tuesday"), None);
        let day = |s: &str| probe(json!({ "date": s })).date.map(|d| d.to_string());
        assert_eq!(day("2026-03-09").as_deref(), Some("2026-03-09"));
        assert_eq!(day("2026-03-09T23:59:00Z").as_deref(), Some("2026-03-09"));
    }
}

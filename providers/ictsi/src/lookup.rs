//! One container details lookup for a list of boxes: comma-separated `container-number`
//! values, the rows paged, checked for shape, and sorted out per box.
//!
//! ICTSI answers every visit of every listed box still in its pruning window, ordered by
//! container number, then newest `time_in` first, and cuts the answer at the query body's
//! `limit` (50 when the body names none). The lookup asks for [`ROWS_PER_PAGE`] rows and
//! pages on while a page is full, at most [`MAX_PAGES`] pages. If the answer is still cut
//! (or the backend ignores the paging fields and repeats a page), the boxes from the last
//! container answered on may be missing visits: they get a transient error instead of a
//! result, and the boxes before it are complete.
//!
//! Shape: a row that is not an object, or names no container, cannot be attributed to a
//! box, so the whole answer is a format error (transient, logged with a short excerpt);
//! a row of a listed box that has neither `visit_state` nor `transit_state` is a format
//! error for that box. An answer of unknown shape is never read as "not found".

use std::collections::{BTreeMap, BTreeSet};

use boxtrace::TraceError;
use serde_json::{json, Value};

use crate::ask::Ask;
use crate::client::{Auth, Client};
use crate::response::excerpt;
use crate::wire::{body, query, Call, ContainerRecord};

/// Rows asked for per page.
pub(crate) const ROWS_PER_PAGE: usize = 250;
/// Pages read at most for one lookup.
pub(crate) const MAX_PAGES: usize = 4;

/// What one lookup found, per box (by canonical container number).
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Each listed box's records.
    pub records: BTreeMap<String, Vec<ContainerRecord>>,
    /// Boxes whose records may be incomplete (the answer was cut): from this canonical
    /// number on.
    pub cut_from: Option<String>,
    /// Boxes with a record of unknown shape.
    pub malformed: BTreeSet<String>,
}

impl Found {
    /// The outcome for `container` before selection: its records, or why there are none
    /// to trust.
    pub(crate) fn of(&self, container: &str) -> Result<&[ContainerRecord], TraceError> {
        let key = canonical(container);
        if self.malformed.contains(&key) {
            return Err(TraceError::transient(
                "ICTSI's container details answer has a record of unknown shape for this box",
            ));
        }
        if self.cut_from.as_ref().is_some_and(|cut| key >= *cut) {
            return Err(TraceError::transient(format!(
                "ICTSI's container details answer was cut after {} rows; this box is traced \
                 again",
                ROWS_PER_PAGE * MAX_PAGES
            )));
        }
        Ok(self.records.get(&key).map_or(&[], Vec::as_slice))
    }
}

/// Looks up `containers` (distinct, all of `ask`'s group) in one call per page.
pub(crate) async fn containers(
    client: &Client,
    auth: &Auth,
    ask: &Ask<'_>,
    containers: &[&str],
) -> Result<Found, TraceError> {
    let list = containers.join(",");
    let mut params = vec![
        (query::CONTAINER_TYPE, ask.container_type()),
        (query::FACILITY_ID, ask.terminal.code()),
        (query::CONTAINER_NUMBER, list.as_str()),
    ];
    if let Some(unmask) = ask.unmask.as_deref() {
        params.push((query::MS_BOOKING, unmask));
    }
    let mut rows: Vec<Value> = Vec::new();
    let mut cut = true;
    for _ in 0..MAX_PAGES {
        let page_body = json!({ body::OFFSET: rows.len(), body::LIMIT: ROWS_PER_PAGE });
        let page: Vec<Value> = client
            .call_with_body(
                Call::ContainerDetails,
                &params,
                &page_body.to_string(),
                auth,
            )
            .await?;
        if let Some(row) = page.iter().find(|row| container_of(row).is_none()) {
            // Nothing more is worth asking for: this answer cannot be attributed.
            return Err(unknown_shape(row, page.len(), auth));
        }
        if !rows.is_empty() && page.first().is_some_and(|first| rows.contains(first)) {
            // The backend ignored the offset: paging cannot go on.
            break;
        }
        // A page of the backend's default size may be one whose `limit` was ignored; a
        // page longer than asked is not paged as asked, so it is all there is.
        let full = page.len() == ROWS_PER_PAGE || page.len() == body::DEFAULT_LIMIT;
        rows.extend(page);
        if !full {
            cut = false;
            break;
        }
    }
    sort_out(rows, containers, cut, auth)
}

/// Attributes `rows` to the listed boxes, checking their shape.
fn sort_out(
    rows: Vec<Value>,
    containers: &[&str],
    cut: bool,
    auth: &Auth,
) -> Result<Found, TraceError> {
    let listed: BTreeSet<String> = containers.iter().map(|c| canonical(c)).collect();
    let mut found = Found::default();
    let mut previous: Option<String> = None;
    let mut sorted = true;
    for row in &rows {
        let Some(number) = container_of(row) else {
            return Err(unknown_shape(row, rows.len(), auth));
        };
        sorted &= previous.as_ref().is_none_or(|p| *p <= number);
        previous = Some(number.clone());
        if !listed.contains(&number) {
            // ICTSI filters by container number; a row of another box is never used.
            continue;
        }
        let has_state = ["visit_state", "transit_state"]
            .iter()
            .filter_map(|field| row.get(*field).and_then(Value::as_str))
            .any(|state| !state.trim().is_empty() && !state.eq_ignore_ascii_case("null"));
        match serde_json::from_value::<ContainerRecord>(row.clone()) {
            Ok(record) if has_state => found.records.entry(number).or_default().push(record),
            _ => {
                tracing::warn!(
                    call = Call::ContainerDetails.name(),
                    excerpt = %excerpt(row.to_string().as_bytes(), &auth.secrets()),
                    "a record in ICTSI's answer has neither visit_state nor transit_state; \
                     its box is traced again. If this persists, the API's format has changed"
                );
                found.malformed.insert(number);
            }
        }
    }
    if cut {
        tracing::warn!(
            rows = rows.len(),
            boxes = containers.len(),
            "ICTSI's container details answer was cut; lower limits.batchSize"
        );
        // Rows come by container number: the last one answered may be incomplete, and
        // the ones after it missing. Unsorted rows leave nothing certain.
        found.cut_from = Some(match (sorted, previous) {
            (true, Some(last)) => last,
            _ => String::new(),
        });
    }
    Ok(found)
}

/// The canonical container number a row names, if it names one.
fn container_of(row: &Value) -> Option<String> {
    row.get("container_nbr")
        .and_then(Value::as_str)
        .map(canonical)
        .filter(|n| !n.is_empty() && n != "NULL")
}

fn unknown_shape(row: &Value, rows: usize, auth: &Auth) -> TraceError {
    tracing::warn!(
        call = Call::ContainerDetails.name(),
        rows,
        excerpt = %excerpt(row.to_string().as_bytes(), &auth.secrets()),
        "ICTSI's answer holds a record of unknown shape (no container_nbr); the trace will \
         be retried. If this persists, the API's format has changed: correct the provider's \
         wire types"
    );
    TraceError::transient(format!(
        "ICTSI's {} answer does not have the expected shape: a record names no container \
         ({rows} records)",
        Call::ContainerDetails.name()
    ))
}

/// The container number as compared: letters and digits, upper case.
pub(crate) fn canonical(number: &str) -> String {
    number
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxtrace::ProviderCredentials;

    fn auth() -> Auth {
        Auth::from_credentials(
            &ProviderCredentials::new()
                .with("subscriptionKey", "k3y")
                .with("subscriptionId", "1d"),
        )
        .unwrap()
    }

    fn row(number: &str, state: &str) -> Value {
        json!({ "container_nbr": number, "visit_state": state })
    }

    #[test]
    fn rows_go_to_their_box_and_others_are_ignored() {
        let rows = vec![
            row("AAAU0000001", "1ACTIVE"),
            row("AAAU0000001", "3DEPARTED"),
            row("BBBU0000002", "2ADVISED"),
            row("ZZZU0000009", "1ACTIVE"),
        ];
        let found = sort_out(
            rows,
            &["AAAU0000001", "BBBU0000002", "CCCU0000003"],
            false,
            &auth(),
        )
        .unwrap();
        assert_eq!(found.of("AAAU0000001").unwrap().len(), 2);
        assert_eq!(found.of("BBBU0000002").unwrap().len(), 1);
        assert!(found.of("CCCU0000003").unwrap().is_empty());
        assert!(!found.records.contains_key("ZZZU0000009"));
    }

    #[test]
    fn a_row_without_a_container_fails_the_answer_and_one_without_state_its_box() {
        let err = sort_out(vec![json!({ "x": 1 })], &["AAAU0000001"], false, &auth()).unwrap_err();
        assert_eq!(err.class(), "transient");
        assert!(err.to_string().contains("expected shape"), "{err}");
        assert!(sort_out(vec![json!(7)], &["AAAU0000001"], false, &auth()).is_err());
        let found = sort_out(
            vec![
                json!({ "container_nbr": "AAAU0000001" }),
                row("BBBU0000002", "1ACTIVE"),
            ],
            &["AAAU0000001", "BBBU0000002"],
            false,
            &auth(),
        )
        .unwrap();
        assert!(found.of("AAAU0000001").is_err());
        assert_eq!(found.of("BBBU0000002").unwrap().len(), 1);
    }

    #[test]
    fn a_cut_answer_fails_the_boxes_from_the_last_one_on() {
        let rows = vec![row("AAAU0000001", "1ACTIVE"), row("BBBU0000002", "1ACTIVE")];
        let boxes = ["AAAU0000001", "BBBU0000002", "CCCU0000003"];
        let found = sort_out(rows.clone(), &boxes, true, &auth()).unwrap();
        assert!(found.of("AAAU0000001").is_ok());
        assert!(found.of("BBBU0000002").is_err());
        assert!(found.of("CCCU0000003").is_err());
        let unsorted = vec![rows[1].clone(), rows[0].clone()];
        let found = sort_out(unsorted, &boxes, true, &auth()).unwrap();
        assert!(found.of("AAAU0000001").is_err(), "nothing certain");
    }
}

//! Every rule of the event contract, with the exact error it produces.

use boxtrace::{
    Action, CancelOutcome, Command, ContainerId, Error, EventErrorKind, ListQuery, PublishOutcome,
    Tenant, TraceKind, RESULTS_QUEUE,
};
use serde_json::{json, Value};

use crate::support::{event, export, harness};

/// A valid export event to derive broken ones from.
fn base() -> Value {
    json!({
        "orgId": "3b42ff39-d731-43f6-a8a2-1b257f87469e",
        "svcId": "7cd437c3-f25a-4e22-b221-47b6485f140d",
        "type": "CONTAINER",
        "action": "TRACE_EXPORT_REQUESTED",
        "origin": "profit-tools-web-services-trace-requested",
        "payload": {
            "id": "CSQU3054383",
            "siteId": "urn:site",
            "providerId": "ictsi",
            "data": { "locationCode": "MICT", "bookingNumber": "TASF883714" }
        }
    })
}

fn with(mut value: Value, path: &[&str], new: Option<Value>) -> Value {
    let (last, parents) = path.split_last().expect("a path");
    let mut target = &mut value;
    for p in parents {
        target = target.get_mut(*p).expect("path exists");
    }
    let object = target.as_object_mut().expect("an object");
    match new {
        Some(v) => {
            object.insert((*last).to_owned(), v);
        }
        None => {
            object.remove(*last);
        }
    }
    value
}

/// Asserts that `body` is rejected with `code` on `field` with exactly `message`.
fn rejects(body: Value, code: &str, field: &str, message: &str) {
    let err = Command::from_value(body).expect_err("must be rejected");
    assert_eq!(
        (err.kind.code(), err.field.as_str(), err.message.as_str()),
        (code, field, message)
    );
}

#[test]
fn the_reference_export_example_is_accepted_with_a_valid_number() {
    let Command::Publish(request) = Command::from_value(base()).unwrap() else {
        panic!("a publish");
    };
    assert_eq!(request.key.kind, TraceKind::Export);
    assert_eq!(
        request.key.provider_id, "ictsi",
        "providerId wins over siteId"
    );
    assert_eq!(
        request.key.tenant.org_id,
        "3b42ff39-d731-43f6-a8a2-1b257f87469e"
    );
    assert_eq!(request.booking_number(), Some("TASF883714"));
    assert_eq!(request.data_str("locationCode"), Some("MICT"));
    assert_eq!(
        request.origin.as_deref(),
        Some("profit-tools-web-services-trace-requested")
    );
}

#[test]
fn malformed_json_names_line_and_column() {
    // The reference's cancellation examples end their payload with a trailing comma.
    let body = b"{\n\"orgId\": \"o\",\n\"payload\": {\"id\": \"x\",}\n}";
    let err = Command::from_json(body).unwrap_err();
    assert_eq!(
        err.kind,
        EventErrorKind::MalformedJson {
            line: 3,
            column: 23
        }
    );
    assert_eq!(err.field, "");
    assert!(
        err.message
            .starts_with("the body is not valid JSON: trailing comma"),
        "{}",
        err.message
    );
}

#[test]
fn envelope_rules() {
    rejects(
        json!([1]),
        "invalid-type",
        "",
        "the event must be a JSON object with orgId, svcId, type, action and payload",
    );
    rejects(
        with(base(), &["orgId"], None),
        "missing-field",
        "orgId",
        "is required",
    );
    rejects(
        with(base(), &["orgId"], Some(json!("  "))),
        "invalid-value",
        "orgId",
        "must not be empty",
    );
    rejects(
        with(base(), &["orgId"], Some(json!(42))),
        "invalid-type",
        "orgId",
        "must be a string",
    );
    rejects(
        with(base(), &["svcId"], None),
        "missing-field",
        "svcId",
        "is required",
    );
    rejects(
        with(base(), &["svcId"], Some(json!("a\u{0}b"))),
        "invalid-value",
        "svcId",
        "must not contain control characters",
    );
    rejects(
        with(base(), &["svcId"], Some(json!("x".repeat(201)))),
        "invalid-value",
        "svcId",
        "is longer than 200 characters",
    );
    rejects(
        with(base(), &["type"], None),
        "missing-field",
        "type",
        "is required",
    );
    rejects(
        with(base(), &["type"], Some(json!("BOOKING"))),
        "unsupported-type",
        "type",
        "'BOOKING' is not supported; accepted: CONTAINER",
    );
    rejects(
        with(base(), &["type"], Some(json!("container"))),
        "unsupported-type",
        "type",
        "'container' is not supported; accepted: CONTAINER",
    );
    rejects(
        with(base(), &["action"], None),
        "missing-field",
        "action",
        "is required",
    );
    rejects(
        with(base(), &["action"], Some(json!("TRACE_IMPORT_REQUESTED"))),
        "unsupported-action",
        "action",
        "'TRACE_IMPORT_REQUESTED' is not supported; accepted: TRACE_EXPORT_REQUESTED, TRACE_EMPTY_REQUESTED, TRACE_EXPORT_CANCELLED, TRACE_EMPTY_CANCELLED",
    );
    rejects(
        with(base(), &["origin"], Some(json!(1))),
        "invalid-type",
        "origin",
        "must be a string",
    );
    rejects(
        with(base(), &["payload"], None),
        "missing-field",
        "payload",
        "is required: an object with id, providerId and data",
    );
    rejects(
        with(base(), &["payload"], Some(json!("x"))),
        "invalid-type",
        "payload",
        "must be a JSON object with id, providerId and data",
    );
}

#[test]
fn unknown_fields_are_tolerated() {
    let body = with(base(), &["future"], Some(json!({"anything": true})));
    let body = with(body, &["payload", "priority"], Some(json!(3)));
    assert!(Command::from_value(body).is_ok());
    let no_origin = with(base(), &["origin"], None);
    assert!(Command::from_value(no_origin).is_ok(), "origin is optional");
}

#[test]
fn provider_and_site_rules() {
    let no_provider = with(base(), &["payload", "providerId"], None);
    rejects(
        no_provider.clone(),
        "site-id-not-supported",
        "payload.siteId",
        "siteId is not supported yet, send providerId",
    );
    rejects(
        with(no_provider, &["payload", "siteId"], None),
        "missing-field",
        "payload.providerId",
        "one of payload.providerId or payload.siteId is required; only providerId is supported yet",
    );
    rejects(
        with(base(), &["payload", "providerId"], Some(json!(""))),
        "invalid-value",
        "payload.providerId",
        "must not be empty",
    );
    let upper = with(base(), &["payload", "providerId"], Some(json!("ICTSI")));
    assert_eq!(
        Command::from_value(upper).unwrap().key().provider_id,
        "ictsi",
        "provider ids are case-insensitive"
    );
}

#[test]
fn container_number_rules() {
    rejects(
        with(base(), &["payload", "id"], None),
        "missing-field",
        "payload.id",
        "is required",
    );
    rejects(
        with(base(), &["payload", "id"], Some(json!("CSQU3054384"))),
        "invalid-container-number",
        "payload.id",
        "check digit is 4, expected 3 (send data.normalize = false to skip validation)",
    );
    rejects(
        with(base(), &["payload", "id"], Some(json!("CONT123456"))),
        "invalid-container-number",
        "payload.id",
        "container number has 10 characters once spaces and dashes are removed, expected 11 (4 letters, 6 digits, 1 check digit) (send data.normalize = false to skip validation)",
    );
    let spaced = with(base(), &["payload", "id"], Some(json!(" csqu 305438-3 ")));
    assert_eq!(
        Command::from_value(spaced).unwrap().key().container,
        "CSQU3054383",
        "normalized"
    );

    let raw = with(base(), &["payload", "id"], Some(json!("  CONT123456 ")));
    let raw = with(raw, &["payload", "data", "normalize"], Some(json!(false)));
    let Command::Publish(request) = Command::from_value(raw).unwrap() else {
        panic!("a publish");
    };
    assert_eq!(
        request.container,
        ContainerId::Unvalidated("CONT123456".into()),
        "kept as given, trimmed"
    );
    assert!(
        !request.data.contains_key("normalize"),
        "normalize is a contract flag, not provider data"
    );
    rejects(
        with(base(), &["payload", "data", "normalize"], Some(json!("no"))),
        "invalid-type",
        "payload.data.normalize",
        "must be true or false",
    );
}

#[test]
fn data_rules() {
    rejects(
        with(base(), &["payload", "data"], Some(json!(["MICT"]))),
        "invalid-type",
        "payload.data",
        "must be a JSON object (send {} when there is nothing to add)",
    );
    rejects(
        with(base(), &["payload", "data", "bookingNumber"], None),
        "missing-field",
        "payload.data.bookingNumber",
        "is required for TRACE_EXPORT_REQUESTED: the booking number of the export",
    );
    rejects(
        with(
            base(),
            &["payload", "data", "bookingNumber"],
            Some(json!(" ")),
        ),
        "invalid-value",
        "payload.data.bookingNumber",
        "must not be empty; export traces need the booking number",
    );
    rejects(
        with(
            base(),
            &["payload", "data", "bookingNumber"],
            Some(json!(883714)),
        ),
        "invalid-type",
        "payload.data.bookingNumber",
        "must be a string, e.g. \"TASF883714\"",
    );
    let empty = with(base(), &["action"], Some(json!("TRACE_EMPTY_REQUESTED")));
    let empty = with(empty, &["payload", "data"], None);
    let Command::Publish(request) = Command::from_value(empty).unwrap() else {
        panic!("a publish");
    };
    assert_eq!(request.key.kind, TraceKind::Empty);
    assert!(
        request.data.is_empty(),
        "missing data is an empty object; empties need no booking"
    );
}

#[test]
fn credentials_in_data_are_refused_without_echoing_them() {
    for (key, field) in [
        ("subscriptionKey", "payload.data.subscriptionKey"),
        ("subscription_id", "payload.data.subscription_id"),
        ("apiKey", "payload.data.apiKey"),
        ("PASSWORD", "payload.data.PASSWORD"),
        ("clientSecret", "payload.data.clientSecret"),
    ] {
        let body = with(
            base(),
            &["payload", "data", key],
            Some(json!("s3cr3t-value")),
        );
        let err = Command::from_value(body).unwrap_err();
        assert_eq!(err.kind, EventErrorKind::CredentialInData);
        assert_eq!(err.field, field);
        assert_eq!(
            err.message,
            "credentials are not accepted in data; provider credentials are configured by the operator"
        );
        assert!(
            !format!("{err} {err:?}").contains("s3cr3t"),
            "the value is never echoed"
        );
    }
    let nested = with(
        base(),
        &["payload", "data", "login"],
        Some(json!({"password": "s3cr3t"})),
    );
    let err = Command::from_value(nested).unwrap_err();
    assert_eq!(err.field, "payload.data.login.password");
}

#[test]
fn cancellations_need_no_data_and_match_the_published_key() {
    let cancel = with(base(), &["action"], Some(json!("TRACE_EXPORT_CANCELLED")));
    let cancel = with(cancel, &["payload", "data"], None);
    let cancel = with(cancel, &["payload", "id"], Some(json!("csqu3054383")));
    let Command::Cancel(key) = Command::from_value(cancel.clone()).unwrap() else {
        panic!("a cancel");
    };
    assert_eq!(key.container, "CSQU3054383");
    assert_eq!(key.kind, TraceKind::Export);
    // An id that does not validate can only have been published with normalize = false.
    let raw = with(cancel, &["payload", "id"], Some(json!(" CONT123456 ")));
    assert_eq!(
        Command::from_value(raw).unwrap().key().container,
        "CONT123456"
    );
}

#[tokio::test]
async fn engine_rules_and_nothing_stored_on_rejection() {
    let h = harness();
    let tenant = Tenant::new("org-a", "svc-1");
    let bad = [
        event("org-a", "TRACE_EXPORT_REQUESTED", "CSQU3054383", json!({})),
        event(
            "org-a",
            "TRACE_EXPORT_REQUESTED",
            "CSQU3054384",
            json!({"bookingNumber": "B"}),
        ),
        event(
            "org-a",
            "TRACE_EMPTY_REQUESTED",
            "CSQU3054383",
            json!({"reject": true}),
        ),
        event(
            "org-a",
            "TRACE_EMPTY_REQUESTED",
            "CSQU3054383",
            json!({"token": "abc"}),
        ),
    ];
    for body in bad {
        assert!(matches!(
            h.engine.handle_event(&body).await,
            Err(Error::Rejected(_))
        ));
    }
    let provider_refusal = h
        .engine
        .handle_event(&event(
            "org-a",
            "TRACE_EMPTY_REQUESTED",
            "CSQU3054383",
            json!({"reject": true}),
        ))
        .await
        .unwrap_err();
    let Error::Rejected(err) = provider_refusal else {
        panic!("rejected")
    };
    assert_eq!(
        (err.kind.code(), err.field.as_str()),
        ("invalid-provider-data", "payload.data.reject")
    );

    let mut unknown: Value = serde_json::from_slice(&export("CSQU3054383")).unwrap();
    unknown["payload"]["providerId"] = json!("nope");
    let Error::Rejected(err) = h
        .engine
        .handle_event(&serde_json::to_vec(&unknown).unwrap())
        .await
        .unwrap_err()
    else {
        panic!("rejected")
    };
    assert_eq!(err.kind, EventErrorKind::UnknownProvider);
    assert_eq!(err.field, "payload.providerId");
    assert_eq!(
        err.message,
        "'nope' is not a configured provider; configured: scripted"
    );

    let page = h.engine.list(&tenant, &ListQuery::default()).await.unwrap();
    assert!(page.jobs.is_empty(), "nothing stored from rejected events");
    assert_eq!(
        h.engine
            .outbox()
            .expect("a full backend")
            .outbox_stats(RESULTS_QUEUE)
            .await
            .unwrap()
            .pending,
        0
    );

    let cancel = h
        .engine
        .handle_event(&event(
            "org-a",
            "TRACE_EXPORT_CANCELLED",
            "CSQU3054383",
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(cancel.action, Action::TraceExportCancelled);
    assert_eq!(
        cancel.cancelled,
        Some(CancelOutcome::NotTraced),
        "cancelling the untraced is not an error"
    );

    // An id traced with validation off is cancelled by a cancellation without data,
    // however it is spelled.
    let raw = event(
        "org-a",
        "TRACE_EMPTY_REQUESTED",
        "tstu-0001",
        json!({"normalize": false}),
    );
    h.engine.handle_event(&raw).await.unwrap();
    let cancel = event("org-a", "TRACE_EMPTY_CANCELLED", "TSTU0001", json!({}));
    let cancelled = h.engine.handle_event(&cancel).await.unwrap();
    assert_eq!(cancelled.cancelled, Some(CancelOutcome::Cancelled));

    let accepted = h.engine.handle_event(&export("CSQU3054383")).await.unwrap();
    assert_eq!(accepted.published, Some(PublishOutcome::Created));
    let again = h.engine.handle_event(&export("CSQU3054383")).await.unwrap();
    assert_eq!(
        again.published,
        Some(PublishOutcome::Forced),
        "publishing again is not an error"
    );
}

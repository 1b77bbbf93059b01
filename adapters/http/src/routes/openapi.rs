//! The OpenAPI document: utoipa's, generated from the handlers' annotations, completed with
//! what annotations cannot say well: the event envelope typed per action, the responses
//! that every operation shares (401 with its challenge, 400/413/415 for bodies and
//! parameters, 503 with `Retry-After`), and the result events as OpenAPI 3.1 `webhooks`.
//!
//! The document is built once and served as is; the API tests validate every body they
//! receive against it (adapters/http/tests/it/conformance.rs), so that it stays honest.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use utoipa::openapi::schema::{Object, Schema};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi as _, PartialSchema, ToSchema};

use super::ApiDoc;
use crate::error::PROBLEM_JSON;

/// The body of `POST /api/events`: one envelope per action. A placeholder for utoipa; the
/// schema is [`event_schemas`]'s, put in the document by [`build`].
#[derive(Debug)]
pub struct EventEnvelope;

impl PartialSchema for EventEnvelope {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(Object::new()))
    }
}

impl ToSchema for EventEnvelope {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventEnvelope")
    }
}

/// The form body of `POST /oauth/token` (RFC 6749 §4.4.2). Documents the form; the
/// handler parses it itself.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Never built: it only describes the form.
pub struct TokenRequest {
    /// `client_credentials`, the only grant.
    grant_type: GrantType,
    /// The client id, unless sent with HTTP Basic.
    client_id: Option<String>,
    /// The client secret, unless sent with HTTP Basic.
    client_secret: Option<String>,
    /// Ignored: a token carries no scopes.
    scope: Option<String>,
}

/// The grants of `POST /oauth/token`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Never built: it only describes the form.
pub enum GrantType {
    /// RFC 6749 §4.4.
    ClientCredentials,
}

/// The document served at `/openapi.json`.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> Value {
    // Serializing utoipa's own types cannot fail; an empty document would fail every
    // test that reads it.
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.extend(event_schemas());
        schemas.extend(result_event_schemas());
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                shared_responses(operation);
            }
        }
    }
    doc["webhooks"] = webhooks();
    doc
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM_JSON: { "schema": schema_ref("Problem") } }
    })
}

/// Adds the responses every operation of its kind really gives, where its annotation
/// does not already describe them.
fn shared_responses(operation: &mut Map<String, Value>) {
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|requirements| {
            requirements
                .iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
    let body_types: Vec<String> = operation
        .get("requestBody")
        .and_then(|body| body.get("content"))
        .and_then(Value::as_object)
        .map(|content| content.keys().cloned().collect())
        .unwrap_or_default();
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let json_body = body_types.iter().any(|t| t == "application/json");
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, response: Value| {
        responses.entry(status).or_insert(response);
    };
    let challenge = json!({
        "WWW-Authenticate": {
            "description": "The Bearer challenge (RFC 6750 §3)",
            "required": true,
            "schema": { "type": "string" }
        }
    });
    if secured {
        let mut unauthorized =
            problem("Missing, malformed or expired access token, or a revoked client");
        unauthorized["headers"] = challenge.clone();
        add("401", unauthorized);
    }
    if json_body {
        add(
            "400",
            problem("Malformed JSON, with the line and column where the parser stopped"),
        );
        add(
            "415",
            problem("The body is not declared as application/json"),
        );
    }
    if !body_types.is_empty() {
        add(
            "413",
            problem("The body is larger than the server's http.bodyLimit"),
        );
    }
    if has_parameters {
        add(
            "400",
            problem("A path or query parameter that cannot be read"),
        );
    }
    add(
        "503",
        problem(
            "Starting, a store that does not answer, or a request past the server's timeout: \
             nothing was done; retry after the given seconds",
        ),
    );
    // Every 503 problem carries `Retry-After`; an annotation's own 503 (e.g. the token
    // endpoint's OAuth error) also answers with problem details on a timeout.
    if let Some(unavailable) = responses.get_mut("503").and_then(Value::as_object_mut) {
        let content = unavailable.entry("content").or_insert_with(|| json!({}));
        if let Some(content) = content.as_object_mut() {
            content
                .entry(PROBLEM_JSON)
                .or_insert_with(|| json!({ "schema": schema_ref("Problem") }));
        }
        // Problem details always carry it; the token endpoint's own OAuth answer does not.
        let always = unavailable
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|content| content.len() == 1);
        unavailable.entry("headers").or_insert_with(|| {
            json!({
                "Retry-After": {
                    "description": "Seconds to wait before retrying (problem-details answers)",
                    "required": always,
                    "schema": { "type": "integer", "minimum": 0 }
                }
            })
        });
    }
    // An operation that describes its own 401 (the operator API's) answers with the
    // challenge too.
    if secured {
        if let Some(own) = responses.get_mut("401").and_then(Value::as_object_mut) {
            own.entry("headers").or_insert(challenge);
        }
    }
}

/// A string the event contract accepts as an id: not blank, no control characters.
fn id_string(max: usize, description: &str) -> Value {
    json!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "maxLength": max,
        "pattern": r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    })
}

/// The inbound event envelope, one schema per action (the rules of
/// `boxtrace::Command::from_value`, which stays the authority: e.g. credentials in `data`
/// are refused by key name, which a schema does not say).
fn event_schemas() -> Map<String, Value> {
    let action_schema = |action: &str, payload: &str, description: &str| {
        json!({
            "description": description,
            "allOf": [
                schema_ref("EventCommon"),
                {
                    "type": "object",
                    "properties": {
                        "action": { "const": action },
                        "payload": schema_ref(payload)
                    }
                }
            ]
        })
    };
    let data_common = json!({
        "normalize": {
            "type": ["boolean", "null"],
            "description": "false: trace the id as given, without ISO 6346 validation (default true)"
        }
    });
    let payload = |required: Value, data: Value, description: &str| {
        json!({
            "type": "object",
            "description": description,
            "required": required,
            "properties": {
                "id": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The container number (ISO 6346, any case, spaces and dashes allowed), or any id up to 64 characters with data.normalize = false"
                },
                "providerId": id_string(200, "The provider, e.g. `sim` or `ictsi` (any case)"),
                "siteId": {
                    "type": ["string", "null"],
                    "description": "Not supported yet: an event with siteId and no providerId is refused"
                },
                "data": data
            }
        })
    };
    let mut schemas = Map::new();
    schemas.insert(
        "EventEnvelope".into(),
        json!({
            "description": "An inbound event: the action says which envelope",
            "oneOf": [
                schema_ref("ExportRequestedEvent"),
                schema_ref("EmptyRequestedEvent"),
                schema_ref("ExportCancelledEvent"),
                schema_ref("EmptyCancelledEvent")
            ],
            "discriminator": {
                "propertyName": "action",
                "mapping": {
                    "TRACE_EXPORT_REQUESTED": "#/components/schemas/ExportRequestedEvent",
                    "TRACE_EMPTY_REQUESTED": "#/components/schemas/EmptyRequestedEvent",
                    "TRACE_EXPORT_CANCELLED": "#/components/schemas/ExportCancelledEvent",
                    "TRACE_EMPTY_CANCELLED": "#/components/schemas/EmptyCancelledEvent"
                }
            }
        }),
    );
    schemas.insert(
        "EventCommon".into(),
        json!({
            "type": "object",
            "description": "What every inbound event carries",
            "required": ["orgId", "svcId", "type", "action", "payload"],
            "properties": {
                "orgId": id_string(200, "Organization id: the access token's"),
                "svcId": id_string(200, "Service id: the access token's"),
                "type": { "const": "CONTAINER" },
                "action": {
                    "type": "string",
                    "enum": [
                        "TRACE_EXPORT_REQUESTED", "TRACE_EMPTY_REQUESTED",
                        "TRACE_EXPORT_CANCELLED", "TRACE_EMPTY_CANCELLED"
                    ]
                },
                "origin": {
                    "type": ["string", "null"],
                    "maxLength": 200,
                    "description": "Which service sent it"
                },
                "payload": { "type": "object" }
            }
        }),
    );
    schemas.insert(
        "ExportRequestedEvent".into(),
        action_schema(
            "TRACE_EXPORT_REQUESTED",
            "ExportRequestPayload",
            "Start (or force) an export trace",
        ),
    );
    schemas.insert(
        "EmptyRequestedEvent".into(),
        action_schema(
            "TRACE_EMPTY_REQUESTED",
            "EmptyRequestPayload",
            "Start (or force) an empty trace",
        ),
    );
    schemas.insert(
        "ExportCancelledEvent".into(),
        action_schema(
            "TRACE_EXPORT_CANCELLED",
            "CancelPayload",
            "Stop an export trace",
        ),
    );
    schemas.insert(
        "EmptyCancelledEvent".into(),
        action_schema(
            "TRACE_EMPTY_CANCELLED",
            "CancelPayload",
            "Stop an empty trace",
        ),
    );
    let mut export_data = data_common.clone();
    export_data["bookingNumber"] = json!({
        "type": "string",
        "maxLength": 64,
        "pattern": r"\S",
        "description": "The booking of the export (trimmed)"
    });
    schemas.insert(
        "ExportRequestPayload".into(),
        payload(
            json!(["id", "providerId", "data"]),
            json!({
                "type": "object",
                "required": ["bookingNumber"],
                "description": "Provider-specific data; no credentials (refused by key name)",
                "properties": export_data
            }),
            "The box, its provider and the booking",
        ),
    );
    schemas.insert(
        "EmptyRequestPayload".into(),
        payload(
            json!(["id", "providerId"]),
            json!({
                "type": ["object", "null"],
                "description": "Provider-specific data; no credentials (refused by key name)",
                "properties": data_common
            }),
            "The box and its provider",
        ),
    );
    schemas.insert(
        "CancelPayload".into(),
        payload(
            json!(["id", "providerId"]),
            json!({ "type": ["object", "null"], "description": "Ignored" }),
            "The trace to stop",
        ),
    );
    schemas
}

/// `ResultEvent` narrowed per action, for the two web-hooks.
fn result_event_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        "TraceResultEvent".into(),
        json!({
            "description": "A new or changed result, a forced trace's result, the end of tracking, or a ping",
            "allOf": [
                schema_ref("ResultEvent"),
                {
                    "type": "object",
                    "properties": {
                        "action": { "const": "TRACE_RESULT" },
                        "payload": {
                            "type": "object",
                            "properties": {
                                "reason": {
                                    "enum": ["FIRST_RESULT", "CHANGED", "FORCED", "TRACKING_STOPPED", "RESUMED"]
                                }
                            }
                        }
                    }
                }
            ]
        }),
    );
    schemas.insert(
        "TraceErrorEvent".into(),
        json!({
            "description": "A trace that failed for good, or tracing suspended until the operator fixes the provider's credentials",
            "allOf": [
                schema_ref("ResultEvent"),
                {
                    "type": "object",
                    "properties": {
                        "action": { "const": "TRACE_ERROR" },
                        "payload": {
                            "type": "object",
                            "properties": {
                                "reason": { "enum": ["FAILED", "SUSPENDED"] }
                            }
                        }
                    }
                }
            ]
        }),
    );
    schemas
}

/// The result events a registered endpoint receives, as OpenAPI 3.1 `webhooks`.
fn webhooks() -> Value {
    let hook = |operation_id: &str, schema: &str, summary: &str| {
        json!({
            "post": {
                "operationId": operation_id,
                "tags": ["webhooks"],
                "summary": summary,
                "description": "POSTed to each endpoint registered for this trigger, signed per Standard Webhooks, at least once and in order per container. Verify the signature over `webhook-id.webhook-timestamp.body` with the endpoint's secret; deduplicate by `webhook-id`.",
                "parameters": [
                    {
                        "name": "webhook-id", "in": "header", "required": true,
                        "description": "The event id: the same on every attempt",
                        "schema": { "type": "string" }
                    },
                    {
                        "name": "webhook-timestamp", "in": "header", "required": true,
                        "description": "Unix seconds of this attempt",
                        "schema": { "type": "integer" }
                    },
                    {
                        "name": "webhook-signature", "in": "header", "required": true,
                        "description": "`v1,<base64 HMAC-SHA256>`",
                        "schema": { "type": "string" }
                    }
                ],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": schema_ref(schema) } }
                },
                "responses": {
                    "2XX": { "description": "Received: the delivery is done" },
                    "410": { "description": "Gone: the endpoint is disabled; nothing more is sent until a replay" },
                    "default": { "description": "Anything else, or no answer within the delivery timeout: retried on the retry schedule, then dead (replayable)" }
                }
            }
        })
    };
    json!({
        "TRACE_RESULT": hook("traceResult", "TraceResultEvent", "A trace result"),
        "TRACE_ERROR": hook("traceError", "TraceErrorEvent", "A trace failure"),
    })
}

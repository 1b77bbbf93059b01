//! Keeps the OpenAPI document honest: every answer the API tests receive through [`send`]
//! (and so through `Tms`) is checked against the document's operation for its method and
//! path: the status must be documented, required headers present, the media type one of
//! the documented ones, and a JSON body valid against that response's schema. Web-hook
//! deliveries are checked against the document's `webhooks`.
//!
//! The document checked is `boxtrace_http::openapi_document()`, the value `/openapi.json`
//! serves (`served_document_is_the_checked_one` proves it byte for byte).
//!
//! For a new route: annotate its handler with `#[utoipa::path(...)]` (an `operation_id`,
//! every status it answers with a body), list it in `ApiDoc`'s `paths(...)`, and send its
//! requests in tests through `Tms` or [`send`]: an undocumented status or a body that
//! breaks its schema then fails the test that received it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{HeaderMap, Method};
use serde_json::{json, Value};

/// Sends `request` and checks its answer against the OpenAPI document (panicking with
/// what does not conform). The returned response carries the same status, headers and
/// body, so a test reads it as usual.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = request.build_split();
    let request = request?;
    let method = request.method().clone();
    let url = request.url().clone();
    let response = client.execute(request).await?;
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    if let Err(e) = check_response(&method, url.path(), status.as_u16(), &headers, &body) {
        panic!(
            "{method} {url} answered {status} against the OpenAPI document: {e}\nbody: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let mut rebuilt = axum::http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok(reqwest::Response::from(rebuilt))
}

/// The document the server serves.
pub fn document() -> &'static Value {
    boxtrace_http::openapi_document()
}

/// Checks one answer against the operation of `method` and `path` (a request path such as
/// `/api/containers/export/sim/CSQU3054383`). Paths and methods the document does not
/// have (404 and 405 answers) are not operations and pass.
pub fn check_response(
    method: &Method,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let doc = document();
    let Some(template) = template_of(doc, path) else {
        return Ok(());
    };
    let method_name = method.as_str().to_ascii_lowercase();
    let Some(operation) = doc["paths"][template.as_str()].get(&method_name) else {
        return Ok(());
    };
    let responses = &operation["responses"];
    let range = format!("{}XX", status / 100);
    let (key, response) = [status.to_string(), range, "default".to_owned()]
        .into_iter()
        .find_map(|key| responses.get(&key).map(|r| (key, r)))
        .ok_or_else(|| {
            format!(
                "status {status} is not documented for {method_name} {template} (documented: {})",
                responses
                    .as_object()
                    .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            )
        })?;
    if let Some(documented) = response["headers"].as_object() {
        for (name, header) in documented {
            if header["required"] == true && !headers.contains_key(name.as_str()) {
                return Err(format!("required header {name} is missing"));
            }
        }
    }
    let pointer = format!(
        "/paths/{}/{method_name}/responses/{key}/content",
        escape(&template)
    );
    let content = doc.pointer(&pointer).and_then(Value::as_object);
    let media_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    // A stream of records (NDJSON) with no record in it is empty, and still the
    // documented body.
    let empty_stream = media_type == "application/x-ndjson"
        && content.is_some_and(|c| c.contains_key(&media_type));
    if body.is_empty() && !empty_stream {
        // A documented body that does not come would fail a generated client as surely
        // as a wrong one (HEAD answers carry none by definition).
        return match content {
            Some(content) if !content.is_empty() && method != Method::HEAD => Err(format!(
                "{status} of {method_name} {template} documents a body ({}), but none came",
                content.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
            _ => Ok(()),
        };
    }
    let Some(content) = content else {
        return Err(format!(
            "a body came, but {status} of {method_name} {template} documents none"
        ));
    };
    if !content.contains_key(&media_type) {
        return Err(format!(
            "media type '{media_type}' is not documented (documented: {})",
            content.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !is_json(&media_type) {
        return Ok(());
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    validate(&format!("{pointer}/{}/schema", escape(&media_type)), &value)
}

/// Checks a delivered web-hook body against the document's `webhooks` entry of its
/// action (`TRACE_RESULT` or `TRACE_ERROR`).
pub fn check_webhook(body: &[u8]) -> Result<(), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let action = value["action"]
        .as_str()
        .ok_or_else(|| "no action".to_owned())?;
    let pointer = format!(
        "/webhooks/{}/post/requestBody/content/application~1json/schema",
        escape(action)
    );
    if document().pointer(&pointer).is_none() {
        return Err(format!("no web-hook '{action}' in the document"));
    }
    validate(&pointer, &value)
}

/// Validates `value` against the schema at `pointer` in the document, its
/// `#/components/schemas/…` references resolved.
pub fn validate(pointer: &str, value: &Value) -> Result<(), String> {
    let validator = validator(pointer)?;
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at '{}'", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the body breaks the schema at {pointer}: {}",
            errors.join("; ")
        ))
    }
}

fn validator(pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap().get(pointer) {
        return Ok(found.clone());
    }
    let doc = document();
    let schema = doc
        .pointer(pointer)
        .ok_or_else(|| format!("no schema at {pointer}"))?;
    let compiled = Arc::new(compile(schema, &doc["components"]["schemas"])?);
    cache
        .lock()
        .unwrap()
        .insert(pointer.to_owned(), compiled.clone());
    Ok(compiled)
}

/// Compiles an OpenAPI 3.1 schema (JSON Schema 2020-12) with the document's component
/// schemas as `$defs`, formats checked.
pub fn compile(schema: &Value, components: &Value) -> Result<jsonschema::Validator, String> {
    let mut root = rebase(schema);
    if !root.is_object() {
        root = json!({ "allOf": [root] });
    }
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$defs"] = rebase(components);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("the schema does not compile: {e}"))
}

/// `#/components/schemas/X` references as `#/$defs/X`.
fn rebase(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value.as_str()) {
                        ("$ref", Some(target)) => {
                            Value::String(target.replace("#/components/schemas/", "#/$defs/"))
                        }
                        _ => rebase(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(rebase).collect()),
        other => other.clone(),
    }
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The document's path template that `path` matches: literal segments before
/// parameters, so `/api/webhooks/{id}/ping` is not taken for another template.
fn template_of(doc: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &String)> = None;
    for template in doc["paths"].as_object()?.keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let matches = parts.iter().zip(&segments).all(|(part, segment)| {
            if part.starts_with('{') && part.ends_with('}') {
                !segment.is_empty()
            } else {
                literals += 1;
                part == segment
            }
        });
        if matches && best.is_none_or(|(n, _)| literals > n) {
            best = Some((literals, template));
        }
    }
    best.map(|(_, template)| template.clone())
}

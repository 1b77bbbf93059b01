//! A fake ICTSI API on loopback: real HTTP, the reference's headers, filters and masking.
//!
//! It serves records loaded from `tests/fixtures/*.json` and behaves like the public
//! backend source where tests depend on it: every call needs the subscription headers
//! (401 without the key or id, 403 with another call's API or product id) and a JSON
//! body; container details filter by type, terminal and container number (and booking,
//! if asked), each a comma-separated list matched exactly as the backend's `IN (…)`
//! does, mask the sensitive fields of records under none of the `ms-booking` values,
//! order rows by container number then newest `time_in`, and answer the body's
//! `offset`/`limit` page (0 and 50 by default). Faults
//! (status, headers, body, delay) can be injected per call, and calls are counted per
//! path.

mod answers;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use self::answers::{answer, expected_ids};

/// The subscription key the fake accepts.
pub const KEY: &str = "k3y-0f-the-fake-ictsi-5ubscription";
/// The subscription id the fake accepts.
pub const SUBSCRIPTION_ID: &str = "sub-1d-7f3a9c";

/// The container details call's path name.
pub const DETAILS: &str = "getContainerDetails";
/// The container events call's path name.
pub const EVENTS: &str = "getContainerEvent";
/// The vessel visit call's path name.
pub const VESSEL: &str = "getVesselVisitDetails";

/// An injected answer.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    /// The status (200 when only a delay or a body is injected).
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// Real time to wait before answering.
    pub delay: Duration,
}

impl Fault {
    /// An answer with `status` and an empty JSON object body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: "{}".into(),
            ..Self::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A 200 with `body`.
    pub fn body(body: &str) -> Self {
        Self {
            status: 200,
            body: body.into(),
            ..Self::default()
        }
    }

    /// The normal answer, after `delay`.
    pub fn delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }
}

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path name, e.g. [`DETAILS`].
    pub call: String,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// The JSON query body.
    pub body: Value,
    /// Headers, lower-case names.
    pub headers: HashMap<String, String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct Data {
    containers: Vec<Value>,
    events: Vec<Value>,
    vessels: Vec<Value>,
    no_masking: bool,
    ignore_paging: bool,
    faults: HashMap<String, Fault>,
    requests: Vec<Request>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A running fake ICTSI server.
#[derive(Debug, Clone)]
pub struct FakeIctsi {
    base_url: String,
    data: Arc<Mutex<Data>>,
}

impl FakeIctsi {
    /// Starts a server on 127.0.0.1 with nothing to serve; it runs until the test's
    /// runtime ends.
    pub async fn start() -> Self {
        let data = Arc::new(Mutex::new(Data::default()));
        let app = Router::new()
            .route("/external/tnt/api/v2/{call}", post(handle))
            .with_state(data.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/external/tnt/"),
            data,
        }
    }

    /// The base URL to configure (`http://127.0.0.1:…/external/tnt/`).
    pub fn url(&self) -> &str {
        &self.base_url
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves the container records of fixture `name`.
    pub fn containers(&self, name: &str) -> &Self {
        self.set_containers(records(name))
    }

    /// Serves `records` as container records.
    pub fn set_containers(&self, records: Vec<Value>) -> &Self {
        self.data().containers = records;
        self
    }

    /// Serves the container events of fixture `name`.
    pub fn events(&self, name: &str) -> &Self {
        self.data().events = records(name);
        self
    }

    /// Serves the vessel visits of fixture `name`.
    pub fn vessels(&self, name: &str) -> &Self {
        self.data().vessels = records(name);
        self
    }

    /// Serves records as they are, masked or not, instead of masking like ICTSI.
    pub fn without_masking(&self) -> &Self {
        self.data().no_masking = true;
        self
    }

    /// Answers container details like a backend that ignores the body's `offset` and
    /// `limit`: always the first 50 rows.
    pub fn ignoring_paging(&self) -> &Self {
        self.data().ignore_paging = true;
        self
    }

    /// Answers every `call` with `fault` until [`FakeIctsi::heal`].
    pub fn fail(&self, call: &str, fault: Fault) -> &Self {
        self.data().faults.insert(call.into(), fault);
        self
    }

    /// Removes every fault.
    pub fn heal(&self) -> &Self {
        self.data().faults.clear();
        self
    }

    /// Calls received on `call`'s path, answered or refused.
    pub fn calls(&self, call: &str) -> usize {
        self.data()
            .requests
            .iter()
            .filter(|r| r.call == call)
            .count()
    }

    /// The most calls the fake was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.data().max_in_flight
    }

    /// Every call received, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.data().requests.clone()
    }
}

/// The `data` of fixture `name`.
pub fn records(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let envelope: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    envelope["data"].as_array().cloned().unwrap_or_default()
}

async fn handle(
    State(data): State<Arc<Mutex<Data>>>,
    Path(call): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (status, answer, fault) = {
        let mut data = data.lock().unwrap_or_else(|e| e.into_inner());
        data.in_flight += 1;
        data.max_in_flight = data.max_in_flight.max(data.in_flight);
        let (status, answer) = match expected_ids(&call) {
            None => (
                StatusCode::NOT_FOUND,
                json!({ "statusCode": 404, "message": "Resource not found" }),
            ),
            Some(_) if header("ocp-apim-subscription-key") != Some(KEY) => (
                StatusCode::UNAUTHORIZED,
                json!({ "statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription." }),
            ),
            Some(_) if header("x-subscription-id") != Some(SUBSCRIPTION_ID) => (
                StatusCode::UNAUTHORIZED,
                json!({ "statusCode": 401, "message": "Unknown subscription" }),
            ),
            Some((api, product))
                if header("x-api-id") != Some(api)
                    || header("x-request-product-id") != Some(product) =>
            {
                (
                    StatusCode::FORBIDDEN,
                    json!({ "statusCode": 403, "message": "Not accessible" }),
                )
            }
            Some(_) => match serde_json::from_slice::<Value>(&body) {
                Ok(body) if body.is_object() => answer(&data, &call, &query, &body),
                _ => (
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "Required request body is missing" }),
                ),
            },
        };
        let fault = data
            .faults
            .get(&call)
            .cloned()
            .filter(|_| status.is_success());
        (status, answer, fault)
    };
    let response = match &fault {
        Some(fault) if fault.status != 0 => {
            let mut response = (
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                fault.body.clone(),
            )
                .into_response();
            for (name, value) in &fault.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        _ => {
            let rows = answer["data"].as_array().map_or(0, Vec::len);
            let mut response = (status, axum::Json(answer)).into_response();
            response
                .headers_mut()
                .insert("row-count", HeaderValue::from(rows));
            response
        }
    };
    if let Some(delay) = fault.as_ref().map(|f| f.delay).filter(|d| !d.is_zero()) {
        tokio::time::sleep(delay).await;
    }
    let status = response.status().as_u16();
    let mut data = data.lock().unwrap_or_else(|e| e.into_inner());
    data.in_flight -= 1;
    data.requests.push(Request {
        call,
        query,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        status,
    });
    response
}

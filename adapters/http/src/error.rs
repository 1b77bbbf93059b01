//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boxtrace::{EventError, EventErrorKind};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details document (RFC 9457), with boxtrace's extension `field`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type, e.g. `urn:boxtrace:problem:invalid-container-number`.
    #[serde(rename = "type")]
    #[schema(format = "uri", pattern = "^urn:boxtrace:problem:[a-z0-9-]+$")]
    pub problem_type: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// The JSON path of the offending field, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For malformed JSON: where the parser stopped (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub line: Option<usize>,
    /// For malformed JSON: where the parser stopped (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub column: Option<usize>,
}

/// An error a handler returns; it renders as problem details.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    // Boxed: handlers return `Result<_, ApiError>` everywhere, and the document is large.
    problem: Box<Problem>,
    retry_after: Option<u64>,
    bearer_challenge: bool,
}

impl ApiError {
    /// A problem of type `code` with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            problem: Box::new(Problem {
                problem_type: format!("urn:boxtrace:problem:{code}"),
                title: title.to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                field: None,
                line: None,
                column: None,
            }),
            retry_after: None,
            bearer_challenge: false,
        }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if !field.is_empty() {
            self.problem.field = Some(field);
        }
        self
    }

    /// 400 for a body that is not what the endpoint takes.
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid access token",
            detail,
        );
        error.bearer_challenge = true;
        error
    }

    /// 403: authenticated, but not for this tenant.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 503 with `Retry-After`: the store is unavailable; nothing was stored.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            detail,
        );
        error.retry_after = Some(1);
        error
    }

    /// 503 with `Retry-After` while the server starts and its store is not open yet (the
    /// server's log says why); nothing was done.
    pub fn starting() -> Self {
        let mut error = Self::unavailable(
            "the server is starting and its store is not open yet; nothing was done; retry",
        );
        // Opening the store is retried with backoff up to 10 s: a client need not ask
        // every second.
        error.retry_after = Some(5);
        error
    }

    /// 500, without internals.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; the error is logged",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem document.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        let (status, title) = match e.kind {
            EventErrorKind::MalformedJson { .. } => (StatusCode::BAD_REQUEST, "Malformed JSON"),
            EventErrorKind::UnknownProvider => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Unknown provider")
            }
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid event"),
        };
        let mut error =
            Self::new(status, e.kind.code(), title, e.message.clone()).with_field(e.field);
        if let EventErrorKind::MalformedJson { line, column } = e.kind {
            error.problem.line = Some(line);
            error.problem.column = Some(column);
        }
        error
    }
}

impl From<boxtrace::Error> for ApiError {
    fn from(e: boxtrace::Error) -> Self {
        match e {
            boxtrace::Error::Rejected(e) => e.into(),
            boxtrace::Error::Store(boxtrace::StoreError::InvalidCursor(detail)) => {
                Self::bad_request("invalid-cursor", detail).with_field("after")
            }
            boxtrace::Error::Store(e) => {
                tracing::warn!(error = %e, "request failed on the store");
                Self::unavailable("the store is unavailable; nothing was stored; retry")
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Self::internal()
            }
        }
    }
}

impl From<boxtrace::StoreError> for ApiError {
    fn from(e: boxtrace::StoreError) -> Self {
        boxtrace::Error::Store(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.bearer_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"boxtrace\", error=\"invalid_token\""),
            );
        }
        response
    }
}

/// Maps axum's body rejections (too large, unreadable) to problem details.
pub fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "body-too-large",
            "Request body too large",
            "the request body is larger than this server accepts",
        )
    } else {
        ApiError::new(
            status,
            "unreadable-body",
            "Unreadable body",
            rejection.body_text(),
        )
    }
}

/// 415 for a body that is not declared `application/json`.
pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        "send the body as application/json",
    )
}

/// Whether the request's `Content-Type` is JSON, by axum's rule for `Json` bodies:
/// `application/json`, or `application/<anything>+json`, with any parameters.
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("application/") else {
        return false;
    };
    subtype == "json" || subtype.ends_with("+json")
}

/// Maps axum's JSON rejections to problem details, with line and column when the
/// body is not JSON.
pub fn json_rejection(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection;
    match rejection {
        JsonRejection::BytesRejection(b) => body_rejection(b),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed-json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => unsupported_media_type(),
        other => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "Invalid body",
            other.body_text(),
        ),
    }
}

/// Gives problem details to responses that left the handlers without a body: unknown
/// routes (404), wrong methods (405), timeouts (503), and rejections of extractors that
/// answer in plain text (bad query strings, oversized bodies).
pub async fn problem_fallback(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The console's pages answer errors as pages of their own.
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_json || is_html {
        return response;
    }
    let (code, title, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "Not found", "no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "Method not allowed",
            "this endpoint does not take this method",
        ),
        // The timeout layer's answer: the server (its store, mostly) did not finish in time,
        // which is the server's fault, not the client's, so 503 with `Retry-After` rather
        // than 408.
        StatusCode::SERVICE_UNAVAILABLE => {
            let mut error = ApiError::new(
                status,
                "timeout",
                "Timed out",
                "the server did not finish the request in time; nothing acknowledged was lost; \
                 retry it (publishing again is safe)",
            );
            error.retry_after = Some(1);
            return error.into_response();
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body-too-large",
            "Request body too large",
            "the request body is larger than this server accepts",
        ),
        StatusCode::BAD_REQUEST => (
            "bad-request",
            "Bad request",
            "the request line, query or headers are not what this endpoint takes",
        ),
        _ => ("error", "Error", "the request failed"),
    };
    let error = ApiError::new(status, code, title, detail);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(allow) = response.headers().get(header::ALLOW).cloned() {
            let mut response = error.into_response();
            response.headers_mut().insert(header::ALLOW, allow);
            return response;
        }
    }
    error.into_response()
}

//! Authentication: API clients, access tokens, the OAuth 2.0 token endpoint, and the
//! extractor that turns a bearer token into the caller's tenant.

mod clients;
mod operator;
mod status_cache;
mod token;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use boxtrace::Tenant;
use serde::Serialize;
use utoipa::ToSchema;

pub use clients::{client_tenant, ApiClient, Clients, InvalidTenant, NewClient};
pub use operator::{Operator, OperatorToken, MIN_OPERATOR_TOKEN_LEN};
pub use status_cache::{CLIENT_CACHE_CAPACITY, DEFAULT_CLIENT_CACHE_TTL};
pub use token::{Claims, TokenError, Tokens};

use crate::error::ApiError;
use crate::state::AppState;

/// The caller of an `/api` endpoint: a valid token of a client that is not revoked.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client id.
    pub client_id: String,
    /// The tenant it acts for.
    pub tenant: Tenant,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <access token>"))?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be a Bearer token")
            })?;
        let claims = state
            .tokens
            .verify(token.trim())
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        // Revocation takes effect before the token expires: at once through this
        // process, within `clientCacheTtl` through another (the status is cached).
        let tenant = state.clients.active_tenant(&claims.sub).await?;
        match tenant {
            Some(tenant) if tenant == claims.tenant() => Ok(Caller {
                tenant,
                client_id: claims.sub,
            }),
            _ => Err(ApiError::unauthorized(
                "the client of this token is revoked or unknown",
            )),
        }
    }
}

impl Caller {
    /// Refuses (403) an event or resource of another tenant.
    pub fn require(&self, tenant: &Tenant) -> Result<(), ApiError> {
        if &self.tenant == tenant {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "the access token's client is bound to another orgId/svcId",
            ))
        }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// A token error response (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`,
    /// `temporarily_unavailable` or `server_error`.
    #[schema(
        pattern = "^(invalid_request|invalid_client|unsupported_grant_type|temporarily_unavailable|server_error)$"
    )]
    pub error: &'static str,
    /// What was wrong.
    pub error_description: String,
}

struct OAuthRejection {
    status: StatusCode,
    body: OAuthError,
    basic_challenge: bool,
}

impl OAuthRejection {
    fn new(status: StatusCode, error: &'static str, description: &str) -> Self {
        Self {
            status,
            body: OAuthError {
                error,
                error_description: description.to_owned(),
            },
            basic_challenge: false,
        }
    }
}

impl IntoResponse for OAuthRejection {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"boxtrace\""),
            );
        }
        response
    }
}

/// `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4).
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "auth",
    operation_id = "issueToken",
    request_body(content = crate::routes::TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, and client_id/client_secret unless sent with HTTP Basic"),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
        (status = 500, description = "server_error: no token could be signed", body = OAuthError),
        (status = 503, description = "temporarily_unavailable: the store did not answer; retry", body = OAuthError),
    )
)]
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&state, &headers, &body).await {
        Ok(token) => {
            let mut response = Json(token).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(rejection) => rejection.into_response(),
    }
}

async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthRejection> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    // RFC 6749 §3.2: parameters must not be repeated.
    for name in ["grant_type", "client_id", "client_secret", "scope"] {
        if form.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(OAuthRejection::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("{name} is repeated"),
            ));
        }
    }
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match param("grant_type") {
        None => {
            return Err(OAuthRejection::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required (form-encoded body, grant_type=client_credentials)",
            ))
        }
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthRejection::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ))
        }
    }
    let basic = basic_credentials(headers);
    let in_body = match (param("client_id"), param("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        _ => None,
    };
    let used_basic = basic.is_some();
    let (client_id, secret) = match (basic, in_body) {
        (Some(_), Some(_)) => return Err(OAuthRejection::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "authenticate with HTTP Basic or with client_id/client_secret in the body, not both",
        )),
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => {
            let mut rejection = OAuthRejection::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required: HTTP Basic, or client_id and client_secret in the body",
            );
            rejection.basic_challenge = true;
            return Err(rejection);
        }
    };
    let client = state
        .clients
        .authenticate(&client_id, &secret)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "token request failed on the store");
            OAuthRejection::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "retry later",
            )
        })?
        .ok_or_else(|| {
            // The client id is not logged: a client that swapped its id and secret would
            // put the secret in the log.
            tracing::info!("token refused: unknown client, wrong secret or revoked");
            let mut rejection = OAuthRejection::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client, wrong secret, or revoked client",
            );
            rejection.basic_challenge = used_basic;
            rejection
        })?;
    // Tokens live in wall-clock time: their expiry is checked against it, whatever
    // clock the engine runs on.
    let now = chrono::Utc::now();
    let access_token = state
        .tokens
        .issue(&client.client_id, &client.tenant(), now)
        .map_err(|_| {
            OAuthRejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "could not sign a token",
            )
        })?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_secs(),
    })
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

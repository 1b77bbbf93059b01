//! Console sessions: signing in with the operator token, the session cookie, the CSRF
//! token of every form, and signing out.
//!
//! The cookie never holds the token. It holds `v1.<expiry>.<nonce>.<mac>`, where the MAC
//! (HMAC-SHA256) is keyed by a key derived from the operator token: a new token ends every
//! session, and a session value says nothing about the token. Sessions live 12 hours; a
//! sign-out records the nonce in the store until it would have expired, so a copied cookie
//! stops working too, after a restart and on every server sharing the store. Each form carries a CSRF token, an HMAC of the session value under a key
//! of its own, checked on every POST, on top of `SameSite=Strict` and a same-origin check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Deserialize;
use sha2::Sha256;

use super::{page, Console};
use crate::auth::OperatorToken;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "boxtrace_console";

/// How long a session lasts.
const LIFETIME: Duration = Duration::hours(12);

/// The store's record kind of signed-out sessions: nonce → expiry (Unix seconds).
const SIGNED_OUT_RECORD: &str = "console-signed-out";

/// Signed-out sessions remembered until they expire: here, for the sessions this server
/// ended, and in the store ([`SIGNED_OUT_RECORD`]) for every server and after restarts.
#[derive(Debug, Default)]
pub(super) struct SignedOut {
    nonces: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl SignedOut {
    fn nonces(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, nonce: &str, expires: DateTime<Utc>, now: DateTime<Utc>) {
        let mut nonces = self.nonces();
        nonces.retain(|_, until| *until > now);
        nonces.insert(nonce.to_owned(), expires);
    }

    fn contains(&self, nonce: &str) -> bool {
        self.nonces().contains_key(nonce)
    }

    /// Records a sign-out in the store too, and drops the records of sessions that have
    /// expired since (at most the sign-outs of the last 12 hours are kept).
    async fn record(
        &self,
        store: &dyn boxtrace::Store,
        session: &Verified,
        now: DateTime<Utc>,
    ) -> Result<(), boxtrace::StoreError> {
        self.add(&session.nonce, session.expires, now);
        store
            .put_record(
                SIGNED_OUT_RECORD,
                &session.nonce,
                &serde_json::json!(session.expires.timestamp()),
            )
            .await?;
        for (nonce, expires) in store.list_records(SIGNED_OUT_RECORD, "").await? {
            if expires.as_i64().is_none_or(|at| at <= now.timestamp()) {
                store.delete_record(SIGNED_OUT_RECORD, &nonce).await?;
            }
        }
        Ok(())
    }

    /// Whether `nonce` was signed out, here or by any server sharing the store.
    async fn ended(
        &self,
        store: &dyn boxtrace::Store,
        nonce: &str,
    ) -> Result<bool, boxtrace::StoreError> {
        if self.contains(nonce) {
            return Ok(true);
        }
        Ok(store.get_record(SIGNED_OUT_RECORD, nonce).await?.is_some())
    }
}

fn mac(key: &[u8; 32], parts: &[&str]) -> Option<Vec<u8>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part.as_bytes());
        mac.update(b"\0");
    }
    Some(mac.finalize().into_bytes().to_vec())
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new session value for `operator`, valid until `now` + 12 h.
pub(super) fn new_session(operator: &OperatorToken, now: DateTime<Utc>) -> Option<String> {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    let expiry = (now + LIFETIME).timestamp().to_string();
    let tag = mac(&operator.derive_key("console session"), &[&expiry, &nonce])?;
    Some(format!(
        "v1.{expiry}.{nonce}.{}",
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// A verified session.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    value: String,
    nonce: String,
    expires: DateTime<Utc>,
}

/// Checks a session value: well formed, signed with the current token's key, not
/// expired, not signed out.
pub(super) fn verify(
    operator: &OperatorToken,
    value: &str,
    now: DateTime<Utc>,
    signed_out: &SignedOut,
) -> Option<Verified> {
    let mut parts = value.split('.');
    let (Some("v1"), Some(expiry), Some(nonce), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expected = mac(&operator.derive_key("console session"), &[expiry, nonce])?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if !same(&expected, &tag) {
        return None;
    }
    let expires = DateTime::from_timestamp(expiry.parse().ok()?, 0)?;
    if expires <= now || signed_out.contains(nonce) {
        return None;
    }
    Some(Verified {
        value: value.to_owned(),
        nonce: nonce.to_owned(),
        expires,
    })
}

/// The CSRF token of a session's forms.
pub(super) fn csrf_token(operator: &OperatorToken, session: &Verified) -> String {
    mac(&operator.derive_key("console csrf"), &[&session.value])
        .map(|tag| URL_SAFE_NO_PAD.encode(tag))
        .unwrap_or_default()
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a POST comes from a page of this server: a browser names the page's origin in
/// `Origin` (or at least `Referer`); another site's form names its own.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match from {
        // Clients that are not browsers send neither; SameSite and the CSRF token still
        // hold for them.
        None => true,
        Some(origin) => url::Url::parse(origin).is_ok_and(|url| {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            url.host_str()
                .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(host))
        }),
    }
}

/// A signed-in operator. Pages ask for it first, so that nothing is read from the store
/// for anyone else. Its rejection is a redirect to the sign-in page (or a bare 401 for the
/// live data), with no content.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub(super) session: Verified,
    /// The CSRF token to put in this session's forms.
    pub csrf: String,
}

/// Why a request did not get a page.
#[derive(Debug)]
pub enum NoSession {
    /// Not signed in: go to the sign-in page.
    SignIn,
    /// Not signed in, for the live data (no redirect for scripts).
    Unauthorized,
    /// The console is off (no operator token configured).
    Off,
    /// The store did not say whether the session was signed out.
    Unavailable,
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/console/login").into_response(),
            Self::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
            Self::Off => (StatusCode::NOT_FOUND, page::off()).into_response(),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                page::message(
                    "Store unavailable",
                    "The store did not answer; the console works again once it does.",
                ),
            )
                .into_response(),
        }
    }
}

/// The refusal of a request without a session: a 401 for the live data, else the
/// sign-in page.
fn refused_again(live: bool) -> NoSession {
    if live {
        NoSession::Unauthorized
    } else {
        NoSession::SignIn
    }
}

impl FromRequestParts<AppState> for ConsoleSession {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NoSession> {
        let Some(operator) = &state.operator else {
            return Err(NoSession::Off);
        };
        let console = parts
            .extensions
            .get::<Arc<Console>>()
            .cloned()
            .ok_or(NoSession::Off)?;
        let live = parts.uri.path().ends_with(".json") || parts.uri.path().ends_with("/live");
        let refused = refused_again(live);
        let value = cookie_value(&parts.headers, COOKIE).ok_or(refused)?;
        // Sessions expire in wall-clock time, like tokens: the engine's clock may run fast.
        let session =
            verify(operator, value, Utc::now(), &console.signed_out).ok_or(refused_again(live))?;
        match console
            .signed_out
            .ended(state.store.as_ref(), &session.nonce)
            .await
        {
            Ok(false) => {}
            Ok(true) => return Err(refused_again(live)),
            Err(e) => {
                tracing::warn!(error = %e, "console: the store did not say whether a session was signed out");
                return Err(NoSession::Unavailable);
            }
        }
        let csrf = csrf_token(operator, &session);
        Ok(Self { session, csrf })
    }
}

/// A form's CSRF field, checked against the session's.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfForm {
    /// The token the form carried.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A POST that did not come from this session's own page.
#[derive(Debug)]
pub(super) struct Refused;

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            page::message(
                "Refused",
                "This form is out of date or came from another site. Reload the page and try again.",
            ),
        )
            .into_response()
    }
}

/// Refuses a POST that did not come from this session's own page.
pub(super) fn check_post(
    session: &ConsoleSession,
    headers: &HeaderMap,
    form_csrf: &str,
) -> Result<(), Refused> {
    if !same_origin(headers) || !same(session.csrf.as_bytes(), form_csrf.as_bytes()) {
        tracing::info!("console form refused: wrong CSRF token or another origin");
        return Err(Refused);
    }
    Ok(())
}

fn session_cookie(value: &str, max_age: i64) -> HeaderValue {
    // Secure always: browsers keep Secure cookies from http://localhost and 127.0.0.1
    // (potentially trustworthy origins), and anywhere else the console must be reached
    // over https.
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("boxtrace_console=; Path=/console; Max-Age=0"))
}

/// `GET /console/login`: the sign-in form.
pub async fn login_form(State(state): State<AppState>) -> Response {
    if state.operator.is_none() {
        return NoSession::Off.into_response();
    }
    page::login(None).into_response()
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/login`: checks the operator token and starts a session.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(operator) = &state.operator else {
        return NoSession::Off.into_response();
    };
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            page::login(Some("Sign in from this server's own page.")),
        )
            .into_response();
    }
    if !operator.matches(form.token.trim()) {
        tracing::info!("console sign-in refused: wrong operator token");
        return (
            StatusCode::UNAUTHORIZED,
            page::login(Some("That is not the operator token.")),
        )
            .into_response();
    }
    let Some(value) = new_session(operator, Utc::now()) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            page::login(Some("Could not start a session.")),
        )
            .into_response();
    };
    tracing::info!("console: operator signed in");
    let mut response = Redirect::to("/console").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&value, LIFETIME.num_seconds()),
    );
    response
}

/// `POST /console/logout`: ends the session, here and for any copy of its cookie.
pub async fn logout(
    session: ConsoleSession,
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = check_post(&session, &headers, &form.csrf) {
        return refused.into_response();
    }
    let recorded = console
        .signed_out
        .record(state.store.as_ref(), &session.session, Utc::now())
        .await;
    let mut response = match recorded {
        Ok(()) => Redirect::to("/console/login").into_response(),
        Err(e) => {
            // Ended here (kept in memory), but another server or a restart would not
            // know; the browser forgets the cookie all the same.
            tracing::warn!(error = %e, "console: the sign-out could not be recorded in the store");
            super::unavailable(e.into())
        }
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxtrace::Secret;

    fn operator(c: char) -> OperatorToken {
        OperatorToken::new(&Secret::new(c.to_string().repeat(40)))
    }

    #[test]
    fn a_session_is_signed_by_the_token_and_expires() {
        let now = Utc::now();
        let out = SignedOut::default();
        let value = new_session(&operator('a'), now).unwrap();
        assert!(
            !value.contains(&"a".repeat(40)),
            "the token is not in the cookie"
        );
        assert!(verify(&operator('a'), &value, now, &out).is_some());
        assert!(
            verify(&operator('b'), &value, now, &out).is_none(),
            "a new token ends every session"
        );
        assert!(verify(&operator('a'), &value, now + LIFETIME, &out).is_none());
        let mut forged = value.clone();
        forged.replace_range(3..4, "9");
        assert!(verify(&operator('a'), &forged, now, &out).is_none());
        for bad in ["", "v1", "v1.1.2.3.4", "v2.1.2.3"] {
            assert!(verify(&operator('a'), bad, now, &out).is_none());
        }
    }

    #[test]
    fn signing_out_ends_copies_and_csrf_follows_the_session() {
        let now = Utc::now();
        let out = SignedOut::default();
        let op = operator('a');
        let one = verify(&op, &new_session(&op, now).unwrap(), now, &out).unwrap();
        let two = verify(&op, &new_session(&op, now).unwrap(), now, &out).unwrap();
        assert_ne!(csrf_token(&op, &one), csrf_token(&op, &two));
        out.add(&one.nonce, one.expires, now);
        assert!(verify(&op, &one.value, now, &out).is_none());
        assert!(verify(&op, &two.value, now, &out).is_some());
    }

    #[test]
    fn origins_must_match_the_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin: not a browser form");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}

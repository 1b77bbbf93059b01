//! Rendering: the console's templates (embedded in the binary, HTML auto-escaped), its
//! stylesheet and script, the headers every console response carries, and formatting
//! helpers.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{context, Environment};
use serde::Serialize;

/// The templates, by name.
const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("message.html", include_str!("templates/message.html")),
    ("overview.html", include_str!("templates/overview.html")),
    (
        "overview_live.html",
        include_str!("templates/overview_live.html"),
    ),
    ("containers.html", include_str!("templates/containers.html")),
    ("container.html", include_str!("templates/container.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("efficiency.html", include_str!("templates/efficiency.html")),
];

/// The stylesheet.
pub const CSS: &str = include_str!("assets/console.css");
/// The script (live refresh of the overview).
pub const JS: &str = include_str!("assets/console.js");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A misspelt field is an error (the page answers 500 and tests see it), not an
        // empty cell; `{% if x %}` may still test for an absent value.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // A broken template is a build defect; the page that needs it answers 500,
                // and a unit test renders every template.
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        env
    })
}

/// Renders `name` with `ctx`; a template error is logged and answered 500, without detail.
pub fn render<S: Serialize>(name: &str, ctx: S) -> Response {
    let rendered = env()
        .get_template(name)
        .and_then(|template| template.render(ctx));
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the console page could not be rendered; the server log says why",
            )
                .into_response()
        }
    }
}

/// The sign-in page, with an error if the last attempt failed.
pub fn login(error: Option<&str>) -> Response {
    render("login.html", context! { error, title => "Sign in" })
}

/// A page with a title and one sentence (no navigation: it may be shown signed out).
pub fn message(title: &str, text: &str) -> Response {
    render("message.html", context! { title, text })
}

/// What `/console` answers when no operator token is configured.
pub fn off() -> Response {
    message(
        "Console off",
        "The console is off: start the server with BOXTRACE_OPERATOR_TOKEN (or operatorToken in the configuration file) set.",
    )
}

/// The headers every console response carries: no caching of operator data, no framing,
/// the referrer only to this server, and only this server's own styles and scripts.
pub async fn headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `GET /console/assets/console.css`.
pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// `GET /console/assets/console.js`.
pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
}

/// A time as the console shows it: `2026-12-07 14:03:12Z`.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// An optional time, `—` when absent.
pub fn when_opt(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), when)
}

/// A duration in the largest unit that keeps it readable: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
pub fn span(seconds: f64) -> String {
    let s = seconds.abs();
    let sign = if seconds < 0.0 { "-" } else { "" };
    if s < 90.0 {
        format!("{sign}{s:.0} s")
    } else if s < 90.0 * 60.0 {
        format!("{sign}{:.0} min", s / 60.0)
    } else if s < 36.0 * 3600.0 {
        format!("{sign}{:.1} h", s / 3600.0)
    } else {
        format!("{sign}{:.1} d", s / 86_400.0)
    }
}

/// How far `at` is from `now`, as people say it: `in 12 min`, `3.5 h ago`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_milliseconds() as f64 / 1000.0;
    if secs >= 0.0 {
        format!("in {}", span(secs))
    } else {
        format!("{} ago", span(-secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(span(45.0), "45 s");
        assert_eq!(span(720.0), "12 min");
        assert_eq!(span(3.5 * 3600.0), "3.5 h");
        assert_eq!(span(-2.0 * 86_400.0), "-2.0 d");
    }
}

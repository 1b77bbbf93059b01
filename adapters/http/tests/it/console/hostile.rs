//! Strings a tenant controls, through the real API: an organization id with markup,
//! quotes and spaces, a web-hook URL with markup and a secret in its query. The console
//! shows them as text, links to their pages by a path that leads back to them, and keeps
//! query secrets out of its pages. Search input the store cannot take is refused as bad
//! input, not answered 5xx.

use super::{browserless, get_with_cookie, operator_server, publish, sign_in, OPERATOR_TOKEN};
use crate::support::Receiver;

const BOX: &str = "MSCU1234566";
/// What validation admits for an organization id: no control characters, 200 at most.
const ORG: &str = "Acme & Co <img src=x onerror=alert(1)> \"quoted\" 'single' a+b";

async fn page(http: &reqwest::Client, url: &str, cookie: &str) -> (u16, String) {
    let response = get_with_cookie(http, url, cookie).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn tenant_strings_are_text_and_their_links_lead_back() {
    assert!(boxtrace_http::auth::client_tenant(ORG, "svc-1").is_ok());
    let server = operator_server().await;
    let tms = server.tms(ORG).await;
    publish(&tms, &[BOX]).await;
    let receiver = Receiver::start().await;
    tms.register(&format!(
        "{}/<script>alert(1)</script>?token=s3cret-in-query",
        receiver.url
    ))
    .await;
    let http = browserless();
    let base = &server.base;
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();

    let search = format!("{base}/console/containers?q={BOX}");
    for url in [
        format!("{base}/console"),
        search.clone(),
        format!("{base}/console/webhooks"),
    ] {
        let (status, body) = page(&http, &url, &cookie).await;
        assert_eq!(status, 200, "{url}");
        for raw in [
            "<img src=x",
            "<script>alert",
            "\"quoted\"",
            "s3cret-in-query",
        ] {
            assert!(!body.contains(raw), "{url} holds {raw:?} unescaped");
        }
    }
    let (_, body) = page(&http, &search, &cookie).await;
    assert!(body.contains("Acme &amp; Co &lt;img src=x"), "{body}");

    // The row's link opens the trace's own page, spaces and pluses in the id included.
    let link = body
        .split("<th scope=\"row\"><a href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let (status, trace) = page(&http, &format!("{base}{link}"), &cookie).await;
    assert_eq!(status, 200, "{link}");
    assert!(trace.contains("Acme &amp; Co &lt;img src=x"));
    assert!(!trace.contains("<img src=x"));
}

#[tokio::test]
async fn input_the_store_cannot_hold_is_refused_not_a_server_error() {
    let server = operator_server().await;
    let tms = server.tms("org-a").await;
    publish(&tms, &[BOX]).await;
    let http = browserless();
    let base = &server.base;
    let cookie = sign_in(&http, base, OPERATOR_TOKEN).await.unwrap();

    // A NUL byte reaches no store: PostgreSQL cannot hold it in text and would fail.
    let (status, _) = page(
        &http,
        &format!("{base}/console/containers?tenant=org-a%00/svc-1"),
        &cookie,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = page(
        &http,
        &format!("{base}/console/containers/org-a%00/svc-1/empty/sim/{BOX}"),
        &cookie,
    )
    .await;
    assert_eq!(status, 404);
    // A tenant filter that is not `org/svc` is said to be one, not read as "any tenant".
    let (status, body) = page(
        &http,
        &format!("{base}/console/containers?tenant=org-a"),
        &cookie,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Bad tenant filter"), "{body}");
    for query in [
        "after=%ff%fe",
        "after=0",
        "state=%00",
        "kind=%E2%80%AE",
        "q=%00%00",
        "provider=%00",
    ] {
        let (status, _) = page(
            &http,
            &format!("{base}/console/containers?{query}"),
            &cookie,
        )
        .await;
        assert!(status == 200 || status == 400, "{query}: {status}");
    }
}

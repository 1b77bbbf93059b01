//! The console in headless Chromium, against a real server with the sim provider: sign
//! in (wrong and tenant tokens refused), the overview with its live refresh, search, a
//! container's timeline, a dead event replayed and delivered, the efficiency page, phone
//! width, and sign-out. The run leaves a screenshot of the overview in
//! `target/console-overview.png`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::webdriver::Browser;
use super::{operator_server, publish, OPERATOR_TOKEN};
use crate::support::{Delivery, Receiver};

const ENTER: &str = "\u{E007}";

/// Focuses ELEMENT and returns the contrast ratio of its outline against the background
/// of AROUND (WCAG relative luminance).
const FOCUS_CONTRAST: &str = "
    const lum = (css) => {
        const [r, g, b] = css.match(/[0-9.]+/g).slice(0, 3).map(Number).map((v) => v / 255)
            .map((v) => (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4)));
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const element = document.querySelector('ELEMENT');
    element.focus();
    const a = lum(getComputedStyle(element).outlineColor);
    const b = lum(getComputedStyle(AROUND).backgroundColor);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_console_in_chromium() {
    let server = operator_server().await;
    let base = server.base.clone();
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    receiver.status.store(503, Ordering::SeqCst);
    let (hook, _) = tms.register(&receiver.url).await;
    let ours = ["MSCU1234566", "TGHU1234567", "CSQU3054383"];
    publish(&tms, &ours).await;
    let other = server.tms("org-b").await;
    publish(&other, &["MSKU7750846"]).await;
    // The receiver refuses every attempt: after the retry schedule the events are dead.
    tms.webhook_when(20, "the events never went dead", |h| h["dead"] == 3)
        .await;

    let browser = Browser::start(1280, 800).await;

    // Signed out: the sign-in form, and nothing of the store.
    browser.goto(&format!("{base}/console")).await;
    assert!(browser.url().await.ends_with("/console/login"));
    let refused = |html: &str| !ours.iter().any(|c| html.contains(c)) && !html.contains("org-b");
    assert!(refused(&browser.source().await));
    for token in ["not-the-token", tms.token.as_str()] {
        browser.find("#token").await.send_keys(token).await;
        browser.find("#token").await.send_keys(ENTER).await;
        browser.find("#login-error").await;
        assert!(
            refused(&browser.source().await),
            "a wrong or tenant token shows nothing"
        );
    }

    // Signed in (by keyboard: the token, then Enter).
    browser.find("#token").await.send_keys(OPERATOR_TOKEN).await;
    browser.find("#token").await.send_keys(ENTER).await;
    browser.find("#jobs-total").await;
    assert!(browser.url().await.ends_with("/console"));
    let overview = browser.source().await;
    assert!(!overview.contains(OPERATOR_TOKEN));
    // The session cookie: kept by Chromium on plain http://127.0.0.1 although Secure,
    // out of the page scripts' reach, and not the token.
    let cookies = browser.cookies().await;
    let cookie = &cookies[0];
    assert_eq!(cookie["name"], "boxtrace_console");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["secure"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    assert!(!cookie["value"].as_str().unwrap().contains(OPERATOR_TOKEN));
    assert_eq!(browser.run("return document.cookie;").await, "");
    for container in ours.iter().chain(&["MSKU7750846"]) {
        assert!(overview.contains(container), "{container} on the overview");
    }
    assert_eq!(browser.find("#jobs-total").await.text().await, "4");
    // The live part refreshes itself: the rates appear without a reload.
    browser
        .wait_for(
            20,
            false,
            "the overview never refreshed its rates",
            |html| html.contains("id=\"traces-per-minute\"") && !html.contains("measuring…"),
        )
        .await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"));
    std::fs::write(target_dir().join("console-overview.png"), png).unwrap();

    // Search across tenants, then a container's page.
    browser.goto(&format!("{base}/console/containers")).await;
    // The focus ring stands out from the page (3:1, WCAG 1.4.11), and from the header.
    for (element, around) in [
        ("#q", "document.body"),
        ("#sign-out", "document.querySelector('.top')"),
    ] {
        let ratio = browser
            .run(
                &FOCUS_CONTRAST
                    .replace("ELEMENT", element)
                    .replace("AROUND", around),
            )
            .await;
        assert!(
            ratio.as_f64().unwrap() >= 3.0,
            "focus ring of {element}: {ratio}:1"
        );
    }
    browser.find("#q").await.send_keys("tghu1234567").await;
    browser.find("#q").await.send_keys(ENTER).await;
    browser
        .wait_for(10, false, "the search never narrowed to one box", |html| {
            html.contains("data-container=\"TGHU1234567\"")
                && !html.contains("data-container=\"MSCU1234566\"")
        })
        .await;
    browser
        .find("tr[data-container=\"TGHU1234567\"] a")
        .await
        .click()
        .await;
    browser.find("#timeline").await;
    let trace_page = browser.url().await.replacen(&base, "", 1);
    let timeline = browser.find("#timeline tbody").await.text().await;
    assert!(timeline.contains("TraceResult"), "{timeline}");
    let why = browser.find("#next-why").await.text().await;
    assert!(why.len() > "Why: ".len() + 2, "{why}");
    let deliveries = browser.find("#deliveries").await.text().await;
    assert!(deliveries.contains("dead"), "{deliveries}");

    // The other tenant's box is found too.
    browser
        .goto(&format!("{base}/console/containers?q=MSKU7750846"))
        .await;
    browser.find("tr[data-container=\"MSKU7750846\"]").await;

    // Replay the dead events once the receiver is back.
    receiver.status.store(204, Ordering::SeqCst);
    browser.goto(&format!("{base}/console/webhooks")).await;
    let dead = browser
        .find(&format!("[data-dead=\"{hook}\"]"))
        .await
        .text()
        .await;
    assert_eq!(dead, "3");
    browser.find(&format!("#replay-{hook}")).await.click().await;
    browser.find("#confirm").await.click().await;
    let got = receiver.wait_for(3, 15).await;
    let mut delivered: Vec<String> = got.iter().map(Delivery::container_number).collect();
    delivered.sort();
    let mut expected: Vec<String> = ours.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(delivered, expected);
    assert!(browser.url().await.ends_with("/console/webhooks"));
    browser
        .wait_for(
            15,
            true,
            "the replayed events never left the queue",
            |html| {
                html.contains(&format!("data-dead=\"{hook}\">0<"))
                    && html.contains(&format!("data-pending=\"{hook}\">0<"))
            },
        )
        .await;

    // Efficiency: requests per container at the sim provider.
    browser.goto(&format!("{base}/console/efficiency")).await;
    let requests = browser.find("#requests tbody").await.text().await;
    assert!(requests.contains("sim"), "{requests}");

    // Phone width: nothing wider than the screen, on every page (wide tables scroll in
    // their card).
    browser.resize(390, 844).await;
    for (path, ready) in [
        ("/console".to_owned(), "#jobs-total"),
        ("/console/containers".to_owned(), "#results"),
        (trace_page.clone(), "#timeline"),
        ("/console/webhooks".to_owned(), "h1"),
        (format!("/console/webhooks/{hook}/disable"), "#confirm"),
        ("/console/efficiency".to_owned(), "#requests"),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        browser.find(ready).await;
        let fits = browser
            .run("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await;
        let wide = browser.run("const w = window.innerWidth; return [w, document.documentElement.scrollWidth, Array.from(document.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > w).map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 15)];").await;
        assert_eq!(fits, true, "{path} fits a phone's width: {wide}");
    }

    // Sign out: back to the form, and the console is closed again.
    browser.find("#sign-out").await.click().await;
    browser.find("#token").await;
    browser.goto(&format!("{base}/console/webhooks")).await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.quit().await;
}

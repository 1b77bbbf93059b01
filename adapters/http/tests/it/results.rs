//! The results feed end to end: events published and traced by the sim provider, read back
//! page by page and as an NDJSON export, compared with what the web-hooks carried.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::support::{send, server, Receiver, Tms};

const BOXES: [&str; 5] = [
    "MSCU1234566",
    "TGHU1234567",
    "MSKU7750846",
    "OOLU1234567",
    "HLXU1234561",
];

/// Every page from `after` (none: the start), `limit` at a time: the entries and the last
/// `next`.
async fn pages(tms: &Tms, after: Option<&str>, limit: usize) -> (Vec<Value>, String) {
    let mut after = after.map(str::to_owned);
    let mut entries = Vec::new();
    loop {
        let path = match &after {
            Some(cursor) => format!("/api/results?limit={limit}&after={cursor}"),
            None => format!("/api/results?limit={limit}"),
        };
        let response = tms.get(&path).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit, "a page holds at most its limit");
        let next = page["next"].as_str().expect("next is always present");
        if let Some(last) = items.last() {
            assert_eq!(
                last["cursor"].as_str(),
                Some(next),
                "next is the last cursor"
            );
        }
        entries.extend(items.iter().cloned());
        after = Some(next.to_owned());
        if page["more"] != true {
            return (entries, next.to_owned());
        }
    }
}

async fn export(tms: &Tms, after: Option<&str>) -> (reqwest::header::HeaderMap, Vec<Value>) {
    let url = match after {
        Some(cursor) => format!("{}/api/results?after={cursor}", tms.base),
        None => format!("{}/api/results", tms.base),
    };
    let response = send(
        tms.http
            .get(url)
            .bearer_auth(&tms.token)
            .header("accept", "application/x-ndjson"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    assert!(body.is_empty() || body.ends_with('\n'), "every line ends");
    let lines = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    (headers, lines)
}

#[tokio::test]
async fn the_results_feed_pages_and_exports_a_tenants_events_in_order() {
    let server = server(true).await;
    let a = server.tms("org-a").await;
    let b = server.tms("org-b").await;
    let receiver = Receiver::start().await;
    a.register(&receiver.url).await;

    for container in BOXES {
        let data = json!({ "bookingNumber": "TASF883714" });
        let publish = a.event("TRACE_EXPORT_REQUESTED", container, data);
        assert_eq!(a.post("/api/events", &publish).await.status(), 202);
    }
    let other = b.event("TRACE_EMPTY_REQUESTED", "CSQU3054383", json!({}));
    assert_eq!(b.post("/api/events", &other).await.status(), 202);
    receiver.wait_for(BOXES.len(), 30).await;
    for container in &BOXES[..2] {
        let cancel = a.event("TRACE_EXPORT_CANCELLED", container, json!({}));
        assert_eq!(a.post("/api/events", &cancel).await.status(), 202);
    }
    let delivered = receiver.wait_for(BOXES.len() + 2, 30).await;
    let hooks: HashMap<String, Value> =
        delivered.iter().map(|d| (d.id.clone(), d.json())).collect();

    // Paged two at a time: every delivered event once, as the web-hook carried it.
    let (entries, end) = pages(&a, None, 2).await;
    let events: Vec<&Value> = entries.iter().map(|e| &e["event"]).collect();
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<HashSet<_>>().len(),
        "no duplicates"
    );
    assert_eq!(
        ids.iter().copied().collect::<HashSet<_>>(),
        hooks.keys().map(String::as_str).collect::<HashSet<_>>(),
        "no gaps: the feed holds every event the web-hook got, and only those"
    );
    for event in &events {
        assert_eq!(
            &hooks[event["id"].as_str().unwrap()],
            *event,
            "the web-hook's payload"
        );
        assert_eq!(
            event["orgId"], "org-a",
            "another tenant's events are invisible"
        );
        assert!(
            event["payload"].get("test").is_none(),
            "a real event is no test"
        );
    }
    for container in &BOXES[..2] {
        let of_box: Vec<&str> = events
            .iter()
            .filter(|e| e["payload"]["containerNumber"] == *container)
            .map(|e| e["payload"]["trackingState"].as_str().unwrap())
            .collect();
        assert_eq!(of_box, ["ACTIVE", "CANCELLED"], "a box's events in order");
    }
    let cursors: Vec<&str> = entries
        .iter()
        .map(|e| e["cursor"].as_str().unwrap())
        .collect();
    let (again, _) = pages(&a, None, 1000).await;
    assert_eq!(again, entries, "the same order whatever the page size");

    // From the middle, and at the end: the cursor is stable and polling finds nothing new.
    let (rest, _) = pages(&a, Some(cursors[2]), 3).await;
    assert_eq!(rest, entries[3..].to_vec());
    let idle: Value = a
        .get(&format!("/api/results?after={end}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(idle["items"], json!([]));
    assert_eq!(
        idle["next"],
        end.as_str(),
        "polling at the end keeps the cursor"
    );
    assert_eq!(idle["more"], false);

    // The other tenant sees its own box only.
    let (theirs, _) = pages(&b, None, 100).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        theirs[0]["event"]["payload"]["containerNumber"],
        "CSQU3054383"
    );

    // The NDJSON export: the same entries, one per line, after a cursor too.
    let (headers, lines) = export(&a, None).await;
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(lines, entries);
    let (_, lines) = export(&a, Some(cursors[4])).await;
    assert_eq!(lines, entries[5..].to_vec());
    let (_, lines) = export(&a, Some(&end)).await;
    assert!(lines.is_empty());

    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_bad_cursor_is_a_problem_and_the_feed_needs_a_token() {
    let server = server(true).await;
    let a = server.tms("org-a").await;
    for bad in [
        "nope",
        "0000",
        "zz000000000000000000000000000000",
        &"0".repeat(33),
    ] {
        for accept in ["application/json", "application/x-ndjson"] {
            let response = send(
                a.http
                    .get(format!("{}/api/results?after={bad}", a.base))
                    .bearer_auth(&a.token)
                    .header("accept", accept),
            )
            .await
            .unwrap();
            assert_eq!(response.status(), 400, "{bad} ({accept})");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["status"], 400);
            assert!(
                problem["type"]
                    .as_str()
                    .unwrap()
                    .ends_with("invalid-cursor"),
                "{problem}"
            );
            assert_eq!(problem["field"], "after", "{problem}");
        }
    }
    let response = a.get("/api/results?limit=many").await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // Another backend's cursor is refused by sled.
    let foreign = format!("{:016x}{:016x}", 7, 1);
    assert_eq!(
        a.get(&format!("/api/results?after={foreign}"))
            .await
            .status(),
        400
    );

    let anonymous = send(a.http.get(format!("{}/api/results", a.base)))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_export_longer_than_a_page_streams_to_the_end() {
    let server = server(true).await;
    let a = server.tms("org-a").await;
    // Written straight to the store, more than one store page (1,000) of them: each box
    // published and cancelled at once (a provider that does not exist is never traced).
    let store = &server.app.store;
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..1_100 {
        let store = store.clone();
        let tenant = a.tenant.clone();
        writes.spawn(async move {
            let request = boxtrace::testing::request(
                &tenant,
                boxtrace::TraceKind::Empty,
                "elsewhere",
                &boxtrace::testing::container(n),
            );
            let key = request.key.clone();
            let now = chrono::Utc::now() + chrono::Duration::days(1);
            store.publish(request, false, now).await.unwrap();
            store.cancel(&key, now).await.unwrap().expect("active");
        });
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
    let (entries, _) = pages(&a, None, 1000).await;
    assert_eq!(entries.len(), 1_100);
    let (_, lines) = export(&a, None).await;
    assert_eq!(lines, entries, "every event, in the order of the pages");
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

//! The token check's cache of client statuses: a revocation through the operator API
//! refuses the very next request; one written to the store behind the server's back
//! (as another process would) takes effect within `clientCacheTtl`.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxtrace::Secret;
use boxtrace_http::auth::Clients;
use reqwest::StatusCode;

use crate::cluster::TestSchema;
use crate::support::{self, eventually};

const OPERATOR_TOKEN: &str = "operator-token-for-cache-tests-0123456789";

#[tokio::test]
async fn a_revocation_through_the_operator_api_refuses_the_very_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path(), false);
    config.operator_token = Some(Secret::new(OPERATOR_TOKEN));
    // Far longer than the test: only the invalidation can make the next request fail.
    config.client_cache_ttl = Duration::from_secs(3600);
    let server = support::server_with(config, dir).await;
    let tms = server.tms("org-a").await;
    for _ in 0..3 {
        assert_eq!(tms.get("/api/containers").await.status(), 200);
    }

    let revoked = crate::conformance::send(
        reqwest::Client::new()
            .delete(format!("{}/admin/clients/{}", server.base, tms.client_id))
            .bearer_auth(OPERATOR_TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(tms.get("/api/containers").await.status(), 401);
}

/// Long enough that a revocation and the request after it land within one ttl of the
/// read that filled the cache even on a loaded machine; the bounds below allow half a ttl
/// more for the requests themselves.
const TTL: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_revocation_written_by_another_process_takes_effect_within_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path(), false);
    config.client_cache_ttl = TTL;
    let server = support::server_with(config, dir).await;
    let tms = server.tms("org-a").await;
    assert_eq!(tms.get("/api/containers").await.status(), 200);
    let read = Instant::now();

    // Another process on the same store: its own `Clients`, so the server's cache is
    // not told (as with a second server, or the CLI, on PostgreSQL).
    let elsewhere = Clients::new(Arc::clone(&server.app.store));
    assert!(elsewhere
        .revoke(&tms.client_id, chrono::Utc::now())
        .await
        .unwrap());
    let tms = &tms;
    let (refused_at, from_memory) =
        until_refused(move || async move { tms.get("/api/containers").await.status() }).await;
    assert!(
        from_memory > 0,
        "the first request after the write is answered from memory"
    );
    assert_within_the_ttl(read, refused_at);
}

#[tokio::test]
async fn two_servers_on_postgresql_see_a_revocation_through_either_within_the_ttl() {
    let Some(schema) = TestSchema::new("two_servers_on_postgresql_see_a_revocation") else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = support::config(dir.path(), false);
        config.database_url = Some(Secret::new(schema.url.clone()));
        config.database_schema = schema.name.clone();
        config.operator_token = Some(Secret::new(OPERATOR_TOKEN));
        config.client_cache_ttl = TTL;
        servers.push(support::server_with(config, dir).await);
    }
    let (a, b) = (&servers[0], &servers[1]);
    let tms = a.tms("org-a").await;
    let on_b = |path: &str| {
        crate::conformance::send(
            reqwest::Client::new()
                .get(format!("{}{path}", b.base))
                .bearer_auth(&tms.token),
        )
    };
    assert_eq!(tms.get("/api/containers").await.status(), 200);
    assert_eq!(on_b("/api/containers").await.unwrap().status(), 200);
    let read = Instant::now();

    let revoked = crate::conformance::send(
        reqwest::Client::new()
            .delete(format!("{}/admin/clients/{}", a.base, tms.client_id))
            .bearer_auth(OPERATOR_TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(tms.get("/api/containers").await.status(), 401, "A at once");
    let on_b = &on_b;
    let (refused_at, _) =
        until_refused(move || async move { on_b("/api/containers").await.unwrap().status() }).await;
    assert_within_the_ttl(read, refused_at);
    for server in &servers {
        server.shutdown.cancel();
    }
    for server in servers {
        let _ = server.task.await;
    }
}

/// Sends `get` until it is refused (401; every earlier answer must be 200), for at most
/// three ttls; when the refusal arrived, and how many requests were accepted before it.
async fn until_refused<F, Fut>(mut get: F) -> (Instant, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StatusCode>,
{
    let accepted = &Cell::new(0);
    let refused_at = eventually(TTL * 3, "the revoked client refused", move || {
        let answer = get();
        async move {
            let status = answer.await;
            if status == StatusCode::UNAUTHORIZED {
                return Some(Instant::now());
            }
            assert_eq!(status, StatusCode::OK);
            accepted.set(accepted.get() + 1);
            None
        }
    })
    .await;
    (refused_at, accepted.get())
}

/// The cache entry that kept the revoked client in was filled by a store read before
/// `read`, and is trusted for the ttl after that read began: so the refusal came within a
/// ttl of `read`, and the slack for the requests themselves.
fn assert_within_the_ttl(read: Instant, refused_at: Instant) {
    assert!(
        refused_at - read <= TTL + TTL / 2,
        "refused {:?} after the last read before the revocation (ttl {TTL:?})",
        refused_at - read
    );
}

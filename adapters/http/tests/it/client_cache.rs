//! The token check's cache of client statuses: a revocation through the operator API
//! refuses the very next request; one written to the store behind the server's back
//! (as another process would) takes effect within `clientCacheTtl`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boxtrace::Secret;
use boxtrace_http::auth::Clients;

use crate::cluster::TestSchema;
use crate::support;

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

#[tokio::test]
async fn a_revocation_written_by_another_process_takes_effect_within_the_ttl() {
    let ttl = Duration::from_millis(800);
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path(), false);
    config.client_cache_ttl = ttl;
    let server = support::server_with(config, dir).await;
    let tms = server.tms("org-a").await;
    assert_eq!(tms.get("/api/containers").await.status(), 200);

    // Another process on the same store: its own `Clients`, so the server's cache is
    // not told (as with a second server, or the CLI, on PostgreSQL).
    let elsewhere = Clients::new(Arc::clone(&server.app.store));
    let written = Instant::now();
    assert!(elsewhere
        .revoke(&tms.client_id, chrono::Utc::now())
        .await
        .unwrap());
    let mut served_from_memory = 0;
    let refused_after = loop {
        let status = tms.get("/api/containers").await.status();
        let elapsed = written.elapsed();
        if status == 401 {
            break elapsed;
        }
        assert_eq!(status, 200);
        served_from_memory += 1;
        assert!(elapsed < ttl * 3, "still accepted {elapsed:?} after");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The entry was at most `ttl` old when the revocation was written.
    assert!(
        refused_after <= ttl + Duration::from_millis(400),
        "refused {refused_after:?} after the revocation was written (ttl {ttl:?})"
    );
    assert!(
        served_from_memory > 0,
        "the first request after the write is answered from memory"
    );
}

#[tokio::test]
async fn two_servers_on_postgresql_see_a_revocation_through_either_within_the_ttl() {
    let Some(schema) = TestSchema::new("two_servers_on_postgresql_see_a_revocation") else {
        return;
    };
    let ttl = Duration::from_millis(800);
    let mut servers = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = support::config(dir.path(), false);
        config.database_url = Some(Secret::new(schema.url.clone()));
        config.database_schema = schema.name.clone();
        config.operator_token = Some(Secret::new(OPERATOR_TOKEN));
        config.client_cache_ttl = ttl;
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

    let revoked = crate::conformance::send(
        reqwest::Client::new()
            .delete(format!("{}/admin/clients/{}", a.base, tms.client_id))
            .bearer_auth(OPERATOR_TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), 200);
    let written = Instant::now();
    assert_eq!(tms.get("/api/containers").await.status(), 401, "A at once");
    let refused_after = loop {
        let status = on_b("/api/containers").await.unwrap().status();
        let elapsed = written.elapsed();
        if status == 401 {
            break elapsed;
        }
        assert_eq!(status, 200);
        assert!(elapsed < ttl * 3, "B still accepts {elapsed:?} after");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        refused_after <= ttl + Duration::from_millis(400),
        "B refused {refused_after:?} after the revocation (ttl {ttl:?})"
    );
    for server in &servers {
        server.shutdown.cancel();
    }
    for server in servers {
        let _ = server.task.await;
    }
}

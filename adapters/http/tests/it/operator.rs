//! The operator API (`/admin/clients`) and `boxtrace clients` against a running sled
//! server: the CLI finds the server, a client it makes gets tokens at once, the store the
//! server holds is refused with directions, and only the operator token opens `/admin`.

use std::path::Path;
use std::process::Output;

use boxtrace::Secret;
use serde_json::{json, Value};
use tokio::process::Child;

use crate::process::{access_token, boxtrace, client_of, free_port, terminate, wait_ready};
use crate::support;

const OPERATOR_TOKEN: &str = "operator-token-for-tests-0123456789-abcdef";

async fn serve_with_operator(data: &Path, port: u16, log: &Path) -> Child {
    let child = boxtrace(data, port, log)
        .env("BOXTRACE_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .arg("serve")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(port).await;
    child
}

/// `boxtrace clients …` with the server's settings; `token` is the operator token the
/// CLI is given (none: unset).
async fn cli(data: &Path, port: u16, log: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = boxtrace(data, port, log);
    command.env_remove("BOXTRACE_OPERATOR_TOKEN");
    command.env_remove("BOXTRACE_SERVER_URL");
    if let Some(token) = token {
        command.env("BOXTRACE_OPERATOR_TOKEN", token);
    }
    // The CLI's own stderr, not the shared log: the tests read what it says.
    command.stderr(std::process::Stdio::piped());
    command.arg("clients").args(args).output().await.unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_cli_manages_clients_through_a_running_sled_servers_operator_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve_with_operator(&data, port, &log).await;
    let http = reqwest::Client::new();

    // Found on the configured listen address, since the operator token is set.
    let created = cli(
        &data,
        port,
        &log,
        Some(OPERATOR_TOKEN),
        &["create", "--org", "org-a", "--svc", "svc-1"],
    )
    .await;
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stderr(&created).contains("using its operator API") && stderr(&created).contains(&base),
        "the CLI says which server it used: {}",
        stderr(&created)
    );
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let client = client_of(&created);
    assert_eq!(created["org_id"], "org-a");

    // The new client gets a token that works, from the running server.
    let token = access_token(&http, &base, &client).await;
    let listed = http
        .get(format!("{base}/api/containers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    // Named explicitly: the list holds the client, without any secret.
    let listed = cli(
        &data,
        free_port(),
        &log,
        Some(OPERATOR_TOKEN),
        &["list", "--server", &base],
    )
    .await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stderr(&listed).contains("(--server, BOXTRACE_SERVER_URL)"));
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(text.contains(&client.0) && !text.contains(&client.1));
    assert!(!text.contains("secret"), "{text}");

    // The store itself is the server's: refused, with the way to the operator API.
    for (token, args) in [
        (Some(OPERATOR_TOKEN), &["list", "--local"][..]),
        (None, &["list"][..]),
    ] {
        let refused = cli(&data, port, &log, token, args).await;
        assert!(!refused.status.success());
        let says = stderr(&refused);
        assert!(
            says.contains("in use by another process")
                && says.contains("operator API")
                && says.contains("BOXTRACE_OPERATOR_TOKEN"),
            "{says}"
        );
        assert!(
            says.contains(&format!("using the sled store in {}", data.display())),
            "{says}"
        );
    }

    // A wrong operator token: the server's 401, said plainly.
    let wrong = cli(&data, port, &log, None, &["list", "--server", &base]).await;
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("BOXTRACE_OPERATOR_TOKEN"),
        "{}",
        stderr(&wrong)
    );
    let wrong = cli(
        &data,
        port,
        &log,
        Some("not-the-operator-token-0123456789-abcdef"),
        &["list", "--server", &base],
    )
    .await;
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("401"), "{}", stderr(&wrong));

    // Revoked through the server: its token stops working at once.
    let revoked = cli(
        &data,
        port,
        &log,
        Some(OPERATOR_TOKEN),
        &["revoke", &client.0],
    )
    .await;
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let refused = http
        .get(format!("{base}/api/containers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let unknown = cli(
        &data,
        port,
        &log,
        Some(OPERATOR_TOKEN),
        &["revoke", "btc_nobody"],
    )
    .await;
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("404"), "{}", stderr(&unknown));

    assert!(terminate(&mut server, 30).await.success());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.contains(OPERATOR_TOKEN),
        "the operator token reached the logs"
    );
    assert!(
        !logs.contains(&client.1),
        "a client secret reached the logs"
    );
}

#[tokio::test]
async fn the_cli_makes_no_store_unasked_and_says_which_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not-yet");
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    let refused = cli(&data, port, &log, None, &["list"]).await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--create-store"),
        "{}",
        stderr(&refused)
    );
    assert!(!data.exists(), "no data directory was made");

    let made = cli(&data, port, &log, None, &["list", "--create-store"]).await;
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(stderr(&made).contains(&format!("using the sled store in {}", data.display())));
    assert_eq!(
        serde_json::from_slice::<Value>(&made.stdout).unwrap(),
        json!([])
    );
    // A token set but no server on the listen address: the store, as before.
    let local = cli(
        &data,
        port,
        &log,
        Some(OPERATOR_TOKEN),
        &["create", "--org", "o", "--svc", " "],
    )
    .await;
    assert!(!local.status.success());
    assert!(
        stderr(&local).contains("svcId must not be empty"),
        "{}",
        stderr(&local)
    );
}

#[tokio::test]
async fn a_closed_stdout_is_an_error_not_a_panic_and_a_created_client_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    for args in [
        &["list", "--create-store"][..],
        &["create", "--org", "org-a", "--svc", "svc-1"],
    ] {
        // A pipe whose reader is gone, as `boxtrace clients list | head -0` leaves it.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut command = boxtrace(&data, port, &log);
        command.env_remove("BOXTRACE_OPERATOR_TOKEN");
        command.env_remove("BOXTRACE_SERVER_URL");
        // Spawned, not `output()`, which would replace stdout with a pipe of its own.
        let child = command
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .arg("clients")
            .args(args)
            .spawn()
            .unwrap();
        let output = child.wait_with_output().await.unwrap();
        let says = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {says}");
        assert!(!says.contains("panicked"), "{args:?}: {says}");
        assert!(says.contains("could not be written to stdout"), "{says}");
        if args[0] == "create" {
            assert!(
                says.contains("the client btc_") && says.contains("revoke it"),
                "{says}"
            );
        }
    }
}

#[tokio::test]
async fn an_unreachable_database_fails_the_cli_at_once_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("boxtrace.log");
    // Bound then released: nothing listens there, so the connection is refused.
    let db_port = free_port();
    let password = "db-password-never-shown";
    let mut command = boxtrace(&dir.path().join("data"), free_port(), &log);
    command
        .env_remove("BOXTRACE_OPERATOR_TOKEN")
        .env_remove("BOXTRACE_SERVER_URL")
        .env(
            "BOXTRACE_DATABASE_URL",
            format!("postgres://app:{password}@127.0.0.1:{db_port}/boxtrace"),
        )
        .stderr(std::process::Stdio::piped())
        .args(["clients", "list"]);
    // The server retries until its database is up; a command must not (it hung before).
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
        .await
        .expect("boxtrace clients gives up on an unreachable database")
        .unwrap();
    let says = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{says}");
    assert!(says.contains("BOXTRACE_DATABASE_URL"), "{says}");
    assert!(!says.contains(password), "the password was shown: {says}");
}

#[tokio::test]
async fn a_server_without_an_operator_token_answers_the_cli_403() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("boxtrace.log");
    let port = free_port();
    let mut server = crate::process::serve(&data, port, &log).await;
    let base = format!("http://127.0.0.1:{port}");
    let refused = cli(
        &data,
        port,
        &log,
        Some(OPERATOR_TOKEN),
        &["create", "--server", &base, "--org", "o", "--svc", "s"],
    )
    .await;
    assert!(!refused.status.success());
    let says = stderr(&refused);
    assert!(
        says.contains("403") && says.contains("the operator API is off"),
        "{says}"
    );
    assert!(terminate(&mut server, 30).await.success());
}

/// Sends `request`, checking the answer against the OpenAPI document.
async fn checked(request: reqwest::RequestBuilder) -> reqwest::Response {
    crate::conformance::send(request).await.unwrap()
}

async fn operator_server(token: Option<&str>) -> support::Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path(), false);
    config.operator_token = token.map(Secret::new);
    support::server_with(config, dir).await
}

#[tokio::test]
async fn only_the_operator_token_opens_admin() {
    let server = operator_server(Some(OPERATOR_TOKEN)).await;
    let tms = server.tms("org-a").await;
    let http = reqwest::Client::new();
    let clients = format!("{}/admin/clients", server.base);
    let problem = |r: &reqwest::Response| {
        r.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    for auth in [
        None,
        Some("Bearer not-the-operator-token-0123456789-abcdef".to_owned()),
        // A tenant's valid access token is not the operator's.
        Some(format!("Bearer {}", tms.token)),
        Some(format!("Basic {OPERATOR_TOKEN}")),
    ] {
        let mut request = http.get(&clients);
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let response = checked(request).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            problem(&response).as_deref(),
            Some("application/problem+json")
        );
        assert!(response.headers().contains_key("www-authenticate"));
    }

    // The operator: create (secret once), list (no secret), revoke (twice is fine).
    let created = checked(
        http.post(&clients)
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({ "orgId": " org-b ", "svcId": "svc-2" })),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (created["org_id"].as_str(), created["svc_id"].as_str()),
        (Some("org-b"), Some("svc-2"))
    );
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert!(created["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("bts_"));
    let listed: Value = checked(http.get(&clients).bearer_auth(OPERATOR_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "both tenants' clients: {listed:?}");
    assert!(listed.iter().all(|c| c.get("client_secret").is_none()));
    // Revoking a revoked client changes nothing and succeeds again.
    for revoke in [
        http.delete(format!("{clients}/{id}")),
        http.delete(format!("{clients}/{id}")),
    ] {
        let revoked = checked(revoke.bearer_auth(OPERATOR_TOKEN)).await;
        assert_eq!(revoked.status(), 200);
        let revoked: Value = revoked.json().await.unwrap();
        assert!(revoked["revoked_at"].is_string(), "{revoked}");
    }

    // Bad requests get problems that name the field.
    for (body, content_type, status, field) in [
        (
            r#"{"orgId": "o", "svcId": ""}"#,
            "application/json",
            422,
            Some("svcId"),
        ),
        (r#"{"orgId": "o"}"#, "application/json", 422, None),
        (
            r#"{"orgId": "o", "svcId": "s", "extra": 1}"#,
            "application/json",
            422,
            None,
        ),
        (r#"{"orgId": "#, "application/json", 400, None),
        (r#"{"orgId": "o", "svcId": "s"}"#, "text/plain", 415, None),
    ] {
        let response = checked(
            http.post(&clients)
                .bearer_auth(OPERATOR_TOKEN)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(
            problem(&response).as_deref(),
            Some("application/problem+json")
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"].as_str(), field, "{problem}");
    }
    let missing = checked(
        http.delete(format!("{clients}/btc_nobody"))
            .bearer_auth(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(missing.status(), 404);

    // Without an operator token configured the operator API is off: 403, even for a
    // request that sends one.
    let off = operator_server(None).await;
    let response = checked(
        http.get(format!("{}/admin/clients", off.base))
            .bearer_auth(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("BOXTRACE_OPERATOR_TOKEN"));
}

#[tokio::test]
async fn the_api_document_describes_the_operator_api_with_its_own_scheme() {
    let server = operator_server(None).await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scheme = &doc["components"]["securitySchemes"]["operator"];
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for (path, method) in [
        ("/admin/clients", "post"),
        ("/admin/clients", "get"),
        ("/admin/clients/{id}", "delete"),
    ] {
        let operation = &doc["paths"][path][method];
        assert_eq!(
            operation["security"],
            json!([{ "operator": [] }]),
            "{path} {method}"
        );
        for status in ["401", "403"] {
            assert!(
                operation["responses"][status].is_object(),
                "{path} {method} {status}"
            );
        }
    }
}

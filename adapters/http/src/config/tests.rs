//! Tests of the server configuration: file, environment, checks.

use super::*;

#[test]
fn file_then_environment() {
    let mut config: ServerConfig = toml::from_str(
        r#"
        listen = "127.0.0.1:9000"
        providers = ["sim"]
        [provider.ictsi.credentials]
        subscriptionKey = "from-file"
        [delivery]
        retrySchedule = ["1s", "1m"]
        [policy.export]
        onHold = "30m"
        "#,
    )
    .unwrap();
    assert_eq!(config.delivery.retry_schedule.len(), 2);
    let env = |name: &'static str| match name {
        "BOXTRACE_LISTEN" => Some("0.0.0.0:8088".to_owned()),
        "BOXTRACE_PROVIDERS" => Some("ictsi, SIM".to_owned()),
        "BOXTRACE_ALLOW_PRIVATE_WEBHOOKS" => Some("true".to_owned()),
        "BOXTRACE_ALLOW_INSECURE_WEBHOOKS" => Some("1".to_owned()),
        _ => None,
    };
    config.apply_env(env).unwrap();
    assert_eq!(config.listen.port(), 8088);
    assert_eq!(config.providers, vec!["ictsi", "sim"]);
    assert!(config.allow_private_webhooks);
    assert!(config.allow_insecure_webhooks);
    assert!(
        !ServerConfig::default().allow_insecure_webhooks,
        "https only by default"
    );
    assert!(config.checked_token_key().is_err(), "no key configured");
    let bad = |name: &'static str| (name == "BOXTRACE_LISTEN").then(|| "nope".to_owned());
    assert!(config.apply_env(bad).is_err());
}

#[test]
fn parse_errors_do_not_quote_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boxtrace.toml");
    std::fs::write(&path, "tokenKey = s3cr3t-never-shown\n").unwrap();
    let message = ServerConfig::from_file(&path).unwrap_err().to_string();
    assert!(message.contains("line 1"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
}

#[test]
fn database_settings_from_file_then_environment() {
    let defaults = ServerConfig::default();
    let store_defaults = PostgresConfig::default();
    assert_eq!(defaults.database_schema, store_defaults.schema);
    assert_eq!(defaults.database_pool_size, store_defaults.pool_size);
    assert_eq!(
        defaults.database_statement_timeout,
        store_defaults.statement_timeout
    );
    assert!(defaults.postgres().unwrap().is_none(), "no URL: sled");

    let mut config: ServerConfig = toml::from_str(
        r#"
        databaseUrl = "postgres://bt:hunter2@db:5432/boxtrace"
        databaseSchema = "from_file"
        databasePoolSize = 4
        databaseStatementTimeout = "2s"
        "#,
    )
    .unwrap();
    let pg = config.postgres().unwrap().unwrap();
    assert_eq!(
        (pg.schema.as_str(), pg.pool_size, pg.statement_timeout),
        ("from_file", 4, Duration::from_secs(2))
    );
    let env = |name: &'static str| match name {
        "BOXTRACE_DATABASE_SCHEMA" => Some(" tenant_b ".to_owned()),
        "BOXTRACE_DATABASE_POOL_SIZE" => Some("32".to_owned()),
        "BOXTRACE_DATABASE_STATEMENT_TIMEOUT" => Some("1500ms".to_owned()),
        _ => None,
    };
    config.apply_env(env).unwrap();
    let pg = config.postgres().unwrap().unwrap();
    assert_eq!(
        (pg.schema.as_str(), pg.pool_size, pg.statement_timeout),
        ("tenant_b", 32, Duration::from_millis(1500))
    );
    assert_eq!(pg.url, "postgres://bt:hunter2@db:5432/boxtrace");
}

#[test]
fn bad_database_settings_are_clear_errors_without_the_password() {
    for (name, value) in [
        ("BOXTRACE_DATABASE_POOL_SIZE", "0"),
        ("BOXTRACE_DATABASE_POOL_SIZE", "many"),
        ("BOXTRACE_DATABASE_STATEMENT_TIMEOUT", "soon"),
        ("BOXTRACE_DATABASE_STATEMENT_TIMEOUT", "5"),
    ] {
        let mut config = ServerConfig::default();
        let error = config
            .apply_env(|n| (n == name).then(|| value.to_owned()))
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::Env { name: n, .. } if n == name),
            "{name}={value}: {error}"
        );
    }

    let with_url = |schema: &str| ServerConfig {
        database_url: Some(Secret::new("postgres://bt:hunter2@db/x")),
        database_schema: schema.to_owned(),
        ..ServerConfig::default()
    };
    for schema in [
        "",
        "Boxtrace",
        "bt; DROP SCHEMA public CASCADE",
        "bt\"",
        "a-b",
    ] {
        let message = with_url(schema).postgres().unwrap_err().to_string();
        assert!(message.contains("schema"), "{message}");
        assert!(message.contains("BOXTRACE_DATABASE_SCHEMA"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
    // A bad schema without a database URL is not used, so not refused.
    assert!(ServerConfig {
        database_schema: "Not Used".into(),
        ..ServerConfig::default()
    }
    .postgres()
    .unwrap()
    .is_none());

    let zero_pool = ServerConfig {
        database_pool_size: 0,
        ..with_url("boxtrace")
    };
    assert!(zero_pool.postgres().is_err());
    let zero_timeout = ServerConfig {
        database_statement_timeout: Duration::ZERO,
        ..with_url("boxtrace")
    };
    let message = zero_timeout.postgres().unwrap_err().to_string();
    assert!(message.contains("databaseStatementTimeout"), "{message}");
    let bad_url = ServerConfig {
        database_url: Some(Secret::new("postgres://bt:hunter2@db:notaport/x")),
        ..ServerConfig::default()
    };
    let message = bad_url.postgres().unwrap_err().to_string();
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn unknown_keys_are_errors() {
    assert!(toml::from_str::<ServerConfig>("lisen = \"127.0.0.1:1\"").is_err());
}

/// Writes `text` as a configuration file and reads it; the error's message.
fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boxtrace.toml");
    std::fs::write(&path, text).unwrap();
    let message = ServerConfig::from_file(&path).unwrap_err().to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "names the file: {message}"
    );
    message
}

#[test]
fn unknown_keys_are_refused_in_every_section_with_file_line_and_accepted_keys() {
    let cases = [
        (
            "[policy]\nmaxTrackingAge = \"10d\"\nmaxAge = \"1d\"\n",
            3,
            "maxAge",
            "maxTrackingAge",
        ),
        (
            "[policy.export]\nonHold = \"30m\"\nonHlod = \"1h\"\n",
            3,
            "onHlod",
            "onHold",
        ),
        ("\n[policy.empty]\nbogus = 1\n", 3, "bogus", "`"),
        (
            "[policy.backoff]\ninitial = \"1m\"\n\nmultiplyer = 2\n",
            4,
            "multiplyer",
            "multiplier",
        ),
        ("[policy.cohort]\nnope = true\n", 2, "nope", "`"),
        ("[policy.appointment]\nnope = true\n", 2, "nope", "`"),
        (
            "[engine]\nclaimBatch = 10\nclaimBach = 5\n",
            3,
            "claimBach",
            "claimBatch",
        ),
        (
            "[provider.sim.limits]\nconcurrency = 2\nconcurency = 4\n",
            3,
            "concurency",
            "concurrency",
        ),
        (
            "[provider.sim.limits.breaker]\ncoolOf = \"1s\"\n",
            2,
            "coolOf",
            "coolOff",
        ),
    ];
    for (text, line, key, accepted) in cases {
        let message = refused(text);
        assert!(
            message.contains(&format!("line {line}")),
            "{text}: {message}"
        );
        assert!(
            message.contains(&format!("unknown field `{key}`")),
            "{text}: {message}"
        );
        assert!(
            message.contains("expected one of") || message.contains("expected"),
            "{message}"
        );
        assert!(
            message.contains(accepted),
            "lists the accepted keys: {message}"
        );
    }
}

#[tokio::test]
async fn an_unknown_key_in_a_provider_config_names_the_file_line_and_accepted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boxtrace.toml");
    let data = dir.path().join("data");
    for (text, line) in [
        ("[provider.sim.config]\nseed = 7\nsed = 8\n", 5),
        ("[provider.sim]\nconfig = { seed = 7, sed = 8 }\n", 4),
        (
            "[provider.sim.config.faults]\n\ntransient = 0.1\nsed = 8\n",
            6,
        ),
    ] {
        std::fs::write(
            &path,
            format!(
                "tokenKey = \"{}\"\ndataDir = {:?}\n{text}",
                "k".repeat(40),
                data.display().to_string()
            ),
        )
        .unwrap();
        let config = ServerConfig::from_file(&path).unwrap();
        let err = match crate::App::build(config, std::sync::Arc::new(boxtrace::SystemClock)).await
        {
            Ok(_) => panic!("{text}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains(&format!("line {line}: [provider.sim.config]")),
            "{text}: {err}"
        );
        assert!(err.contains("unknown field `sed`"), "{err}");
        assert!(
            err.contains("`seed`") || err.contains("`transient`"),
            "accepted keys: {err}"
        );
    }
}

#[test]
fn retention_from_file_then_environment() {
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(
        ServerConfig::default().engine.retention,
        Some(30 * day),
        "30 days by default, as the README says"
    );
    let mut config: ServerConfig = toml::from_str("[engine]\nretention = \"7days\"\n").unwrap();
    assert_eq!(config.engine.retention, Some(7 * day));
    let off: ServerConfig = toml::from_str("[engine]\nretention = \"off\"\n").unwrap();
    assert_eq!(off.engine.retention, None, "off keeps every job");
    let zero = toml::from_str::<ServerConfig>("[engine]\nretention = \"0s\"\n").unwrap_err();
    assert!(zero.to_string().contains("'off'"), "{zero}");

    let env = |value: &'static str| {
        move |name: &'static str| (name == "BOXTRACE_RETENTION").then(|| value.to_owned())
    };
    config.apply_env(env("90days")).unwrap();
    assert_eq!(config.engine.retention, Some(90 * day));
    config.apply_env(env("OFF")).unwrap();
    assert_eq!(config.engine.retention, None);
    let err = config.apply_env(env("0")).unwrap_err().to_string();
    assert!(
        err.contains("BOXTRACE_RETENTION") && err.contains("'off'"),
        "{err}"
    );
    let err = config.apply_env(env("a while")).unwrap_err().to_string();
    assert!(err.contains("not a duration"), "{err}");
}

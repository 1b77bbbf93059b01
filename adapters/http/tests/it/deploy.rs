//! The deployment files stay true: `boxtrace.example.toml` is the defaults and names every
//! key the configuration accepts, `boxtrace serve --help` lists every environment variable
//! the configuration reads, and the LICENSE file is the licence Cargo.toml names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use boxtrace_http::config::{DeliveryConfig, HttpLimits, ProviderSection};
use boxtrace_http::ServerConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::process::BIN;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example() -> PathBuf {
    root().join("boxtrace.example.toml")
}

#[test]
fn the_example_configuration_is_the_defaults() {
    let mut parsed = ServerConfig::from_file(&example()).unwrap();
    // Where it was read from is not a setting.
    assert_eq!(parsed.config_file.as_deref(), Some(example().as_path()));
    parsed.config_file = None;
    assert_eq!(
        format!("{parsed:#?}"),
        format!("{:#?}", ServerConfig::default()),
        "boxtrace.example.toml says these are the defaults"
    );
}

/// The keys `T` accepts, as serde names them when it refuses an unknown one.
fn accepted_keys<T: DeserializeOwned + std::fmt::Debug>() -> BTreeSet<String> {
    let error = toml::from_str::<T>("zzNotAKey = 0")
        .unwrap_err()
        .to_string();
    let listed = error
        .split_once("expected")
        .unwrap_or_else(|| panic!("not an unknown-field error: {error}"))
        .1;
    listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The leaf key paths of `value` under `prefix`; the tables at `opaque` paths count as
/// leaves (provider-specific `config`, named `credentials`).
fn leaves(
    value: &toml::Value,
    prefix: &str,
    opaque: &dyn Fn(&str) -> bool,
    out: &mut BTreeSet<String>,
) {
    match value {
        toml::Value::Table(table) if !opaque(prefix) => {
            for (key, value) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(value, &path, opaque, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The leaf key paths of `T`'s default value, serialized, under `prefix`.
fn serialized_keys<T: Serialize + Default>(prefix: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    leaves(
        &toml::Value::try_from(T::default()).unwrap(),
        prefix,
        &|_| false,
        &mut keys,
    );
    keys
}

#[test]
fn the_example_configuration_names_every_key_the_server_accepts() {
    let text = std::fs::read_to_string(example()).unwrap();
    // Settings without a default are commented out as `#key = …` or `#[table]` (no space
    // after `#`, unlike the descriptions): uncommented, they must parse as well.
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '[') => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: ServerConfig = toml::from_str(&uncommented)
        .unwrap_or_else(|e| panic!("the example with every setting uncommented: {e}"));
    assert!(parsed.token_key.is_some() && parsed.operator_token.is_some());
    let providers: Vec<String> = parsed.provider.keys().cloned().collect();
    assert_eq!(providers.len(), 1, "one provider section shows its keys");
    let provider = format!("provider.{}", providers[0]);

    let mut present = BTreeSet::new();
    let opaque = |path: &str| {
        path == format!("{provider}.config") || path == format!("{provider}.credentials")
    };
    leaves(
        &toml::from_str::<toml::Value>(&uncommented).unwrap(),
        "",
        &opaque,
        &mut present,
    );

    let mut accepted = BTreeSet::new();
    for key in accepted_keys::<ServerConfig>() {
        match key.as_str() {
            "policy" => accepted.extend(serialized_keys::<boxtrace::Policy>("policy")),
            "engine" => accepted.extend(serialized_keys::<boxtrace::EngineConfig>("engine")),
            "http" => accepted.extend(
                accepted_keys::<HttpLimits>()
                    .iter()
                    .map(|k| format!("http.{k}")),
            ),
            "delivery" => accepted.extend(
                accepted_keys::<DeliveryConfig>()
                    .iter()
                    .map(|k| format!("delivery.{k}")),
            ),
            "provider" => {
                for key in accepted_keys::<ProviderSection>() {
                    if key == "limits" {
                        accepted.extend(serialized_keys::<boxtrace::ProviderLimits>(&format!(
                            "{provider}.limits"
                        )));
                    } else {
                        accepted.insert(format!("{provider}.{key}"));
                    }
                }
            }
            _ => {
                accepted.insert(key);
            }
        }
    }
    let missing: Vec<_> = accepted.difference(&present).collect();
    let unknown: Vec<_> = present.difference(&accepted).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "boxtrace.example.toml lacks {missing:?} and has keys the server does not know: {unknown:?}"
    );
}

#[tokio::test]
async fn serve_help_lists_every_environment_variable_the_configuration_reads() {
    let output = tokio::process::Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let source = include_str!("../../src/config/mod.rs");
    let mut read: BTreeSet<&str> = source
        .split('"')
        .filter(|s| {
            s.starts_with("BOXTRACE_") && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .collect();
    assert!(read.len() >= 15, "the configuration's variables: {read:?}");
    read.extend(["BOXTRACE_CONFIG", "BOXTRACE_<PROVIDER>_<NAME>", "RUST_LOG"]);
    let unlisted: Vec<_> = read.iter().filter(|v| !help.contains(*v)).collect();
    assert!(
        unlisted.is_empty(),
        "serve --help does not list {unlisted:?}:\n{help}"
    );
}

#[test]
fn the_license_file_is_the_licence_cargo_toml_names() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let license = manifest["workspace"]["package"]["license"]
        .as_str()
        .unwrap();
    let text = std::fs::read_to_string(root().join("LICENSE")).unwrap();
    let heading: Vec<&str> = text.lines().take(2).map(str::trim).collect();
    let named = match heading.as_slice() {
        ["Apache License", "Version 2.0, January 2004"] => "Apache-2.0",
        other => panic!("LICENSE starts with {other:?}, which this test does not know"),
    };
    assert_eq!(license, named);
}

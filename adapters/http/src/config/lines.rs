//! Where a key of a provider's `config` is in the configuration file, so that an error the
//! provider reports at build time (it parses its own section) names the line.

use std::path::Path;

use super::{ConfigError, ServerConfig};

/// The line (from 1) that sets `key` inside `[provider.<id>.config]` (its sub-tables, or a
/// `config` inline table or dotted key in `[provider.<id>]`), if the text shows one.
pub(super) fn provider_config_key_line(text: &str, id: &str, key: &str) -> Option<usize> {
    let section = format!("provider.{id}.config");
    let parent = format!("provider.{id}");
    let sets_key = |line: &str| {
        [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
            .iter()
            .any(|spelled| {
                line.strip_prefix(spelled.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
            })
    };
    let mut table = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            table = header
                .trim_matches(['[', ']'])
                .split('#')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect::<String>()
                .trim_end_matches(']')
                .to_owned();
            continue;
        }
        let found = if table == section || table.starts_with(&format!("{section}.")) {
            sets_key(line)
        } else if table == parent {
            // `config.seed = 1` or `config = { seed = 1 }`.
            line.strip_prefix("config").is_some_and(|rest| {
                rest.split(['{', ',', '.'])
                    .any(|part| sets_key(part.trim_start()))
            })
        } else {
            false
        };
        if found {
            return Some(index + 1);
        }
    }
    None
}

impl ServerConfig {
    /// Turns a provider's refusal of its `config` into an error naming the file and, for an
    /// unknown key, its line. `None` when the error is not about a file's provider config.
    pub fn provider_config_error(&self, error: &boxtrace::Error) -> Option<ConfigError> {
        let boxtrace::Error::Provider(boxtrace::ProviderBuildError::Config(why)) = error else {
            return None;
        };
        let path = self.config_file.as_deref()?;
        let id = self
            .providers
            .iter()
            .find(|id| why.starts_with(&format!("provider '{id}': ")))?;
        let line = unknown_key(why).and_then(|key| {
            let text = std::fs::read_to_string(path).ok()?;
            provider_config_key_line(&text, id, key)
        });
        Some(located(
            path,
            line,
            &format!("[provider.{id}.config]: {why}"),
        ))
    }
}

/// The key of serde's "unknown field `key`, expected ..." message.
fn unknown_key(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("unknown field `")?;
    rest.split('`').next()
}

fn located(path: &Path, line: Option<usize>, message: &str) -> ConfigError {
    ConfigError::Parse {
        path: path.to_owned(),
        message: match line {
            Some(line) => format!("line {line}: {message}"),
            None => message.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_key_in_the_section_its_sub_tables_and_inline_forms() {
        let text = "\
providers = [\"sim\", \"ictsi\"]
[provider.sim]
config.sed = 1
[provider.sim.config]
seed = 7
sed = 8
[provider.sim.config.faults]
transiant = 0.1
[provider.ictsi]
config = { baseUrl = \"https://x\", vesselVisitTL = \"1h\" }
[provider.ictsi.limits]
sed = 2
";
        assert_eq!(provider_config_key_line(text, "sim", "sed"), Some(3));
        assert_eq!(provider_config_key_line(text, "sim", "transiant"), Some(8));
        assert_eq!(
            provider_config_key_line(text, "ictsi", "vesselVisitTL"),
            Some(10)
        );
        assert_eq!(
            provider_config_key_line(text, "ictsi", "sed"),
            None,
            "limits are not config"
        );
        assert_eq!(provider_config_key_line(text, "other", "sed"), None);
    }
}

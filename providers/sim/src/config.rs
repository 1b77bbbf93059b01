//! The simulated terminal's configuration: model, lifecycles, seed, epoch, latency, lag,
//! batch size, faults, workflow and limits.

use std::path::PathBuf;
use std::time::Duration;

use boxtrace::{ProviderBuildError, ProviderLimits, Workflow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which terminal the simulator plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimModel {
    /// `vessels` (default): boxes share vessel calls with their receiving window,
    /// cut-off, arrival, working window and departure; gate-ins in appointment slots;
    /// container lookups of many boxes per request and vessel-visit lookups.
    #[default]
    Vessels,
    /// `independent`: the lifecycles of 2026-11, every date of every box drawn on its
    /// own and one box per request; kept so that the figures measured on it reproduce.
    Independent,
}

/// How the simulated terminal behaves. Every field is optional in configuration:
///
/// ```json
/// { "model": "vessels", "seed": 7, "epoch": "2026-03-02T06:00:00Z", "latency": "20ms",
///   "lag": "2m", "batchSize": 20, "visitTtl": "1h",
///   "faults": { "transient": 0.05, "rateLimited": 0.01, "retryAfter": "30s" },
///   "workflow": "realTime", "limits": { "concurrency": 64, "ratePerSecond": 500 } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SimConfig {
    /// Which terminal to play. Default `vessels`.
    pub model: SimModel,
    /// A lifecycle file (JSON Lines, see the README) to replay instead of generated
    /// lives: the terminal knows exactly the boxes and visits it holds. Needs the
    /// `vessels` model; a relative path is resolved against the working directory.
    pub lifecycles: Option<PathBuf>,
    /// The terminal structure lives are drawn from (`vessels` model).
    pub vessels: crate::VesselModel,
    /// Time a change takes to reach the terminal's API. Default 2 min.
    #[serde(with = "humantime_serde")]
    pub lag: Duration,
    /// Containers one container lookup takes (1 allowed). Default 20.
    pub batch_size: usize,
    /// How long a vessel-visit answer is reused for the other boxes of the visit
    /// (engine clock; 0 asks every time). Default 1 h.
    #[serde(with = "humantime_serde")]
    pub visit_ttl: Duration,
    /// The terminal of a box whose `data.locationCode` names none. Default `SIM`.
    pub default_terminal: String,
    /// Seeds every lifecycle and every fault draw: the same seed gives the same terminal.
    /// Default 42.
    pub seed: u64,
    /// The anchor of all lifecycles: bookings open, boxes gate in and vessels leave at
    /// seeded offsets from it. Default: the clock's time when the tracer is built.
    pub epoch: Option<DateTime<Utc>>,
    /// Real time each trace takes before it answers (not clock time). Default 0.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Fault rates. Default: no faults.
    pub faults: FaultConfig,
    /// The workflow the tracer reports. Default real-time.
    pub workflow: Workflow,
    /// The limits the tracer reports. Default: concurrency 1,024, no rate limit, burst 1,
    /// trace timeout 10 s.
    pub limits: Option<ProviderLimits>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            model: SimModel::Vessels,
            lifecycles: None,
            vessels: crate::VesselModel::default(),
            lag: Duration::from_secs(120),
            batch_size: 20,
            visit_ttl: Duration::from_secs(60 * 60),
            default_terminal: "SIM".to_owned(),
            seed: 42,
            epoch: None,
            latency: Duration::ZERO,
            faults: FaultConfig::default(),
            workflow: Workflow::RealTime,
            limits: None,
        }
    }
}

impl SimConfig {
    /// The limits the tracer reports: the configured ones, or generous ones that never
    /// slow a demo or a benchmark down; batches of `batchSize` containers of one terminal
    /// (one at a time for the `independent` model), taking jobs due within 15 min.
    pub fn effective_limits(&self) -> ProviderLimits {
        self.limits.clone().unwrap_or_else(|| {
            let batch = match self.model {
                SimModel::Vessels => self.batch_size.max(1),
                SimModel::Independent => 1,
            };
            ProviderLimits::default()
                .with_concurrency(1024)
                .with_rate(None, 1)
                .with_trace_timeout(Duration::from_secs(10))
                .with_batch(batch, Duration::from_secs(15 * 60))
        })
    }

    /// Refuses fault rates that are not probabilities and a model that makes no
    /// schedule, naming the field.
    pub(crate) fn check(&self) -> Result<(), ProviderBuildError> {
        if self.batch_size == 0 {
            return Err(ProviderBuildError::Config(
                "batchSize: must be at least 1 (1 looks up one container per request)".into(),
            ));
        }
        self.vessels.check().map_err(ProviderBuildError::Config)?;
        if self.lifecycles.is_some() && self.model == SimModel::Independent {
            // The `independent` model draws every box on its own and never reads the
            // file: refusing is better than silently tracing lives nobody recorded.
            return Err(ProviderBuildError::Config(
                "lifecycles: a lifecycle file is replayed by the `vessels` model; remove `model = \"independent\"` or the file".into(),
            ));
        }
        let f = &self.faults;
        for (name, rate) in [
            ("faults.transient", f.transient),
            ("faults.timeout", f.timeout),
            ("faults.rateLimited", f.rate_limited),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ProviderBuildError::Config(format!(
                    "{name}: must be a probability between 0 and 1, got {rate}"
                )));
            }
        }
        let total = f.transient + f.timeout + f.rate_limited;
        if total > 1.0 {
            return Err(ProviderBuildError::Config(format!(
                "faults: transient + timeout + rateLimited must not exceed 1, got {total}"
            )));
        }
        Ok(())
    }
}

/// Fault rates: the probability that one trace fails in each way. Each trace draws once,
/// deterministically from the seed, the container, the trace kind and the clock's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    /// A transient error (like a 5xx). Default 0.
    pub transient: f64,
    /// No answer at all: the trace hangs until the engine's trace timeout fires. Default 0.
    pub timeout: f64,
    /// A rate-limit answer (like a 429) with `retryAfter`. Default 0.
    pub rate_limited: f64,
    /// The retry hint a rate-limited answer carries. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            transient: 0.0,
            timeout: 0.0,
            rate_limited: 0.0,
            retry_after: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_config_gives_the_defaults() {
        let config: SimConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(config, SimConfig::default());
        assert_eq!(config.seed, 42);
        let limits = config.effective_limits();
        assert_eq!(limits.concurrency, 1024);
        assert_eq!(limits.rate_per_second, None);
        assert_eq!(limits.trace_timeout, Duration::from_secs(10));
    }

    #[test]
    fn fields_are_camel_case_with_human_durations() {
        let config: SimConfig = serde_json::from_value(json!({
            "seed": 7,
            "epoch": "2026-03-02T06:00:00Z",
            "latency": "20ms",
            "faults": { "transient": 0.1, "rateLimited": 0.2, "retryAfter": "2m" },
            "workflow": "providerDriven",
            "limits": { "concurrency": 3 }
        }))
        .unwrap();
        assert_eq!(config.seed, 7);
        assert_eq!(config.latency, Duration::from_millis(20));
        assert_eq!(config.faults.rate_limited, 0.2);
        assert_eq!(config.faults.retry_after, Duration::from_secs(120));
        assert_eq!(config.faults.timeout, 0.0);
        assert_eq!(config.workflow, Workflow::ProviderDriven);
        assert_eq!(config.effective_limits().concurrency, 3);
        assert!(config.epoch.is_some());
    }

    #[test]
    fn a_lifecycle_file_needs_the_vessels_model() {
        let config: SimConfig = serde_json::from_value(json!({
            "model": "independent", "lifecycles": "history.jsonl"
        }))
        .unwrap();
        let err = config.check().unwrap_err().to_string();
        assert!(
            err.contains("lifecycles") && err.contains("vessels"),
            "{err}"
        );
        let vessels = SimConfig {
            model: SimModel::Vessels,
            ..config
        };
        assert!(vessels.check().is_ok());
    }

    #[test]
    fn rates_must_be_probabilities() {
        let mut config = SimConfig::default();
        config.faults.timeout = 1.5;
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("faults.timeout"), "{err}");
        config.faults = FaultConfig {
            transient: 0.6,
            rate_limited: 0.6,
            ..FaultConfig::default()
        };
        assert!(config.check().is_err());
        config.faults.rate_limited = 0.4;
        assert!(config.check().is_ok());
    }
}

//! Retention: the sweep that removes finished jobs older than the retention period
//! ([`EngineConfig::retention`](super::EngineConfig::retention)), run by the engine beside
//! its dispatcher, and the configuration value's text form.

use std::sync::Arc;
use std::time::Duration;

use super::Inner;
use crate::clock::{after_std, before_std};
use crate::store::StoreResult;

/// The default retention: long enough for a client to read a finished job's last results
/// and events at leisure (a monthly reconciliation included), short enough that the store
/// holds about a month of finished jobs, not all of them ever.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Clock time between two sweeps.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// Jobs removed per store call: one call is one writer batch (sled) or one transaction
/// (PostgreSQL), small enough that publishes and commits queued behind it wait
/// milliseconds, not seconds.
pub(crate) const SWEEP_BATCH: usize = 1_000;

/// Removes every job that finished more than `retention` before now, in batches;
/// returns how many went. Logs the count when it is not zero.
pub(super) async fn sweep(inner: &Inner, retention: Duration) -> StoreResult<usize> {
    let cutoff = before_std(inner.clock.now(), retention);
    let mut removed = 0;
    loop {
        let batch = inner.jobs.purge_finished(cutoff, SWEEP_BATCH).await?;
        removed += batch;
        if batch < SWEEP_BATCH || inner.shutdown.is_cancelled() {
            break;
        }
        // Let the callers queued behind this batch go first.
        tokio::task::yield_now().await;
    }
    if removed > 0 {
        tracing::info!(
            removed,
            finished_before = %cutoff,
            retention = %humantime::format_duration(retention),
            "removed {removed} finished jobs older than the retention period"
        );
    }
    Ok(removed)
}

/// Sweeps at once and then every [`SWEEP_EVERY`] of clock time, until shutdown. A failed
/// sweep is logged and tried again at the next one: the jobs wait, nothing is lost.
pub(super) async fn run(inner: Arc<Inner>, retention: Duration) {
    loop {
        if let Err(e) = sweep(&inner, retention).await {
            tracing::warn!(error = %e, "removing finished jobs past their retention failed; trying again at the next sweep");
        }
        let next = after_std(inner.clock.now(), SWEEP_EVERY);
        tokio::select! {
            _ = inner.clock.sleep_until(next) => {}
            _ = inner.shutdown.cancelled() => return,
        }
    }
}

/// `retention` in configuration files: a duration in humantime form (`30days`, `12h`), or
/// `off` to keep every finished job. Zero is refused: it would remove a job the moment it
/// finished, before its client could read the result.
pub(crate) mod serde_retention {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// The text of a retention value.
    pub(crate) fn parse(text: &str) -> Result<Option<Duration>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => Err(format!(
                "retention '{text}' would remove every job as soon as it finished; write \
                 'off' to keep every job, or a duration such as '30days'"
            )),
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(format!(
                "retention '{text}' is not a duration ({e}); write e.g. '30days', '12h', or \
                 'off' to keep every job"
            )),
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_str(&humantime::format_duration(*d).to_string()),
            None => serializer.serialize_str("off"),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::serde_retention::parse;
    use super::*;

    #[test]
    fn retention_text_is_a_duration_or_off_never_zero() {
        assert_eq!(parse("30days"), Ok(Some(DEFAULT_RETENTION)));
        assert_eq!(parse(" OFF "), Ok(None));
        assert!(parse("0s").unwrap_err().contains("'off'"));
        assert!(parse("soon").unwrap_err().contains("not a duration"));
    }
}

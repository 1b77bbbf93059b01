//! What every scenario is told: quick or full, where to put its data, what to run against.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds instead of minutes: small sizes and short windows, to keep the harness
    /// from rotting (CI runs it); the figures mean little.
    pub quick: bool,
    /// Where scenarios create their data directories (each removes its own).
    pub work_dir: PathBuf,
    /// The `boxtrace` server binary, for scenarios that run the real server.
    pub server_bin: Option<PathBuf>,
    /// PostgreSQL, for the PostgreSQL scenarios (skipped without it).
    pub database_url: Option<String>,
    /// Job counts for the dispatch scenarios; the scenario's default when empty.
    pub jobs: Vec<u64>,
    /// How long each measured window lasts; the scenario's default when `None`.
    pub window: Option<Duration>,
    /// sled's page cache for the dispatch scenario, in MiB; the store's default when
    /// `None`.
    pub cache_mib: Option<u64>,
    /// The efficiency scenario replays this lifecycle file instead of a generated fleet.
    pub lifecycles: Option<PathBuf>,
    /// The efficiency scenario's terminal model: `vessels` (default) or `independent`.
    pub model: Option<String>,
    /// Seeds the efficiency scenario's fleet and jitter.
    pub seed: Option<u64>,
    /// Boxes in the efficiency scenario's fleet.
    pub boxes: Option<usize>,
    /// HTTP clients of the ingest scenario's load generator, one measurement per count;
    /// the scenario's default (64, 8 in quick mode) when empty.
    pub connections: Vec<usize>,
}

impl Options {
    /// Quick settings in a fresh temporary work directory under `dir`.
    pub fn quick(dir: &Path) -> Self {
        Self {
            quick: true,
            work_dir: dir.to_owned(),
            server_bin: None,
            database_url: std::env::var("BOXTRACE_TEST_DATABASE_URL").ok(),
            jobs: Vec::new(),
            window: None,
            cache_mib: None,
            lifecycles: None,
            model: None,
            seed: None,
            boxes: None,
            connections: Vec::new(),
        }
    }

    /// The measured window: the option, else `quick` in quick mode and `full` otherwise.
    pub fn window_or(&self, quick: Duration, full: Duration) -> Duration {
        self.window.unwrap_or(if self.quick { quick } else { full })
    }

    /// The job counts: the option, else `quick` in quick mode and `full` otherwise.
    pub fn jobs_or(&self, quick: &[u64], full: &[u64]) -> Vec<u64> {
        if !self.jobs.is_empty() {
            self.jobs.clone()
        } else if self.quick {
            quick.to_vec()
        } else {
            full.to_vec()
        }
    }

    /// The `boxtrace` binary: the option, else beside this executable (or one directory
    /// up, where test executables live), as `cargo build [--release] -p boxtrace-http`
    /// leaves it.
    pub fn server_bin(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.server_bin {
            return Ok(path.clone());
        }
        let exe = std::env::current_exe()?;
        let name = format!("boxtrace{}", std::env::consts::EXE_SUFFIX);
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        anyhow::bail!(
            "the boxtrace binary was not found beside {}: run `cargo build --release -p boxtrace-http` first, or pass --server-bin",
            exe.display()
        )
    }

    /// A fresh, empty directory for one scenario's data.
    pub fn scratch(&self, name: &str) -> anyhow::Result<tempfile::TempDir> {
        std::fs::create_dir_all(&self.work_dir)?;
        Ok(tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir_in(&self.work_dir)?)
    }
}

/// A job count as people write it: 10k, 1M.
pub fn count_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// The `boxtrace-bench` binary, for scenarios that run parts of themselves as child
/// processes: this executable, or the one beside it (or one directory up) when this is a
/// test executable.
pub fn harness_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if exe.file_stem().is_some_and(|s| s == "boxtrace-bench") {
        return Ok(exe);
    }
    let name = format!("boxtrace-bench{}", std::env::consts::EXE_SUFFIX);
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(&name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "the boxtrace-bench binary was not found beside {}: build it with `cargo build -p boxtrace-benches`",
        exe.display()
    )
}

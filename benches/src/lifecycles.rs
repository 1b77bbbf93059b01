//! `boxtrace-bench lifecycles`: a generated fleet written as a lifecycle file, to read,
//! edit, or replay in `boxtrace demo`, `boxtrace serve` or the efficiency scenario.
//!
//! The defaults are the efficiency scenario's own fleet (1,500 boxes over 14 days from
//! 2026-03-02T06:00Z at MICT and SBITC, seed 2026), so that the file replays the same
//! lives the scenario generates.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use boxtrace_sim::{Fleet, Lifecycles, VesselModel};
use chrono::{DateTime, Utc};

/// Options of `boxtrace-bench lifecycles`.
#[derive(Debug, Clone, clap::Args)]
pub struct LifecycleArgs {
    /// Boxes in the fleet (two exports for every empty).
    #[arg(long, default_value_t = 1_500)]
    pub boxes: usize,
    /// Seeds the fleet and its terminals' calls.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Days over which the boxes are published.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// The first publish: an RFC 3339 time, or `now` (for `boxtrace serve`, whose clock
    /// is the wall clock). Default 2026-03-02T06:00:00Z.
    #[arg(long, value_parser = parse_start)]
    pub start: Option<DateTime<Utc>>,
    /// Terminal codes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "MICT,SBITC")]
    pub terminals: Vec<String>,
    /// The terminal structure as JSON (the sim's `vessels` keys, e.g. `{"slot": "3h"}`);
    /// keys left out keep their defaults.
    #[arg(long)]
    pub vessels: Option<String>,
    /// Where to write the file (JSON Lines).
    #[arg(long)]
    pub out: PathBuf,
}

/// `now`, or an RFC 3339 time.
fn parse_start(text: &str) -> Result<DateTime<Utc>, String> {
    if text.eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{text}' is not `now` or an RFC 3339 time such as 2026-03-02T06:00:00Z: {e}")
        })
}

/// The efficiency scenario's first publish.
pub fn default_start() -> DateTime<Utc> {
    boxtrace::testing::t0()
}

impl LifecycleArgs {
    /// The fleet these options describe.
    pub fn fleet(&self) -> Fleet {
        Fleet {
            boxes: self.boxes,
            days: self.days,
            start: self.start.unwrap_or_else(default_start),
            seed: self.seed,
            terminals: self.terminals.clone(),
            owner: "SIMU".into(),
        }
    }

    /// The terminal structure: the defaults, with the keys of `--vessels` over them.
    pub fn model(&self) -> anyhow::Result<VesselModel> {
        let Some(json) = &self.vessels else {
            return Ok(VesselModel::default());
        };
        let model: VesselModel =
            serde_json::from_str(json).context("--vessels: not the sim's `vessels` keys")?;
        model
            .check()
            .map_err(|e| anyhow::anyhow!("--vessels: {e}"))?;
        Ok(model)
    }

    /// Generates the fleet and writes it to `out`; returns it.
    pub fn run(&self) -> anyhow::Result<Lifecycles> {
        let lifecycles = self.fleet().lifecycles(&self.model()?);
        write(&lifecycles, &self.out)?;
        Ok(lifecycles)
    }
}

/// Writes `lifecycles` to `path` as a lifecycle file.
pub fn write(lifecycles: &Lifecycles, path: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    lifecycles
        .write(&mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

//! Efficiency: what a re-trace policy costs the provider and what it buys the client.
//!
//! The reference's goal is to notice changes soon while calling providers little. This
//! scenario traces one fleet of boxes through the engine once per policy, on a
//! [`ManualClock`](boxtrace::ManualClock), against the `sim` provider replaying the
//! fleet's lifecycles: the default adaptive [`Policy`], fixed polling every 5, 15, 30, 60,
//! 120 and 240 minutes with the same batching, and a naive baseline (one box per request,
//! hourly). For each it counts every provider request (container lookups and vessel-visit
//! lookups) per container, and for each kind of change at the terminal
//! ([`ChangeKind`](boxtrace::ChangeKind)) the count, the changes missed, and the p50 and
//! p95 delay from the change to the first result event that shows it.
//!
//! The fleet: the `sim`'s `vessels` model (default), a recorded lifecycle file
//! (`--lifecycles FILE`), or the `independent` lifecycles of 2026-11 (`--model
//! independent`). Time moves by jumps: to the next due time in the store or the next
//! publish, whichever comes first; then [`Engine::run_due`](boxtrace::Engine::run_due)
//! traces what is due, filling requests as the dispatcher does. Traces run exactly at
//! their due times, and an event's time is the clock's time of the trace that found the
//! change. The engine draws each job's jitter from its own seeded stream, so a run is
//! reproducible.

mod score;
mod simulate;
mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxtrace::{ChangeKind, Policy};
use serde_json::{json, Value};

use self::score::minutes;
use self::simulate::{simulate, Outcome, Variant};
use self::world::World;
use crate::options::Options;
use crate::report::{number, Figure, Report};

/// Seeds the fleet and the engine's jitter unless `--seed` says otherwise.
const SEED: u64 = 2026;

/// The sim's batch size and window: every policy but the naive one gets them.
fn batching(model_batches: bool) -> (usize, Duration) {
    if model_batches {
        (20, Duration::from_secs(15 * 60))
    } else {
        (1, Duration::ZERO)
    }
}

fn variants(model_batches: bool) -> Vec<Variant> {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let mut out = vec![Variant {
        name: "adaptive".into(),
        label: "adaptive policy (default)".into(),
        policy: Policy::default(),
        batch: batching(model_batches),
    }];
    for m in [5, 15, 30, 60, 120, 240] {
        out.push(Variant {
            name: format!("fixed-{m}m"),
            label: format!("fixed {m} min polling"),
            policy: Policy::fixed(minutes(m)),
            batch: batching(model_batches),
        });
    }
    out.push(Variant {
        name: "naive-60m".into(),
        label: "naive: one box per request, hourly".into(),
        policy: Policy::fixed(minutes(60)),
        batch: (1, Duration::ZERO),
    });
    out
}

/// Runs the scenario.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or(SEED);
    let (boxes, days) = if options.quick { (45, 3) } else { (1_500, 14) };
    let boxes = options.boxes.unwrap_or(boxes);
    let independent = options.model.as_deref() == Some("independent");
    let world = match (&options.lifecycles, independent) {
        (Some(path), _) => World::file(path)?,
        (None, true) => World::independent(boxes, days, seed)?,
        (None, false) => World::vessels(boxes, days, seed),
    };
    let world = Arc::new(world);
    let mut variants = variants(!independent);
    if let Ok(only) = std::env::var("BT_ONLY") {
        variants.retain(|v| v.name == only);
    }

    // The policies run side by side, each with its own store, clock and terminal.
    let mut dirs = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, variant) in variants.iter().enumerate() {
        let dir = options.scratch(&format!("efficiency-{}", variant.name))?;
        let path = dir.path().to_owned();
        dirs.push(dir);
        let (world, variant) = (world.clone(), variant.clone());
        tasks.spawn(async move { (i, simulate(world, variant, seed, &path).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = variants.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, outcome) = done?;
        outcomes[i] = Some(outcome?);
    }
    drop(dirs);
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    anyhow::ensure!(outcomes.len() == variants.len(), "a policy did not report");
    Ok(report(
        &world,
        &variants,
        &outcomes,
        started.elapsed(),
        independent,
    ))
}

fn per_box(outcome: &Outcome, boxes: usize) -> f64 {
    outcome.requests as f64 / boxes.max(1) as f64
}

fn quantile_min(samples: &crate::stats::Samples, q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    minutes(samples.clone().quantile(q))
}

fn report(
    world: &World,
    variants: &[Variant],
    outcomes: &[Outcome],
    wall: Duration,
    independent: bool,
) -> Report {
    let boxes = world.cases.len();
    let find = |name: &str| {
        variants
            .iter()
            .position(|v| v.name == name)
            .and_then(|i| outcomes.get(i))
    };
    let hourly = find("fixed-60m").map(|o| per_box(o, boxes));
    let naive = find("naive-60m").map(|o| per_box(o, boxes));
    let mut report = Report::default();
    let prefix = if independent {
        "efficiency-independent"
    } else {
        "efficiency"
    };
    for (variant, outcome) in variants.iter().zip(outcomes) {
        let adaptive = variant.name == "adaptive";
        let mut requests = Figure::new(
            format!("{prefix}/{}/requests_per_container", variant.name),
            format!("{}: provider requests per container", variant.label),
            per_box(outcome, boxes),
            "requests",
        );
        if let (true, Some(hourly)) = (adaptive, hourly) {
            requests = requests
                .baseline("fixed 60 min polling, same batching", hourly)
                .target("ratio ≤ 0.33");
        }
        report.push(requests);
        if let (true, Some(naive)) = (adaptive, naive) {
            report.push(
                Figure::new(
                    format!("{prefix}/{}/requests_vs_naive", variant.name),
                    format!(
                        "{}: provider requests per container against one box per request, hourly",
                        variant.label
                    ),
                    per_box(outcome, boxes),
                    "requests",
                )
                .baseline("naive hourly, one box per request", naive),
            );
        }
        let pooled = outcome.score.actionable();
        for (q, name, target) in [(0.5, "p50", "≤ 10 min"), (0.95, "p95", "≤ 30 min")] {
            let mut figure = Figure::new(
                format!("{prefix}/{}/actionable_{name}_min", variant.name),
                format!(
                    "{}: delay of the changes a TMS acts on (gated in, hold placed and released, loaded, returned), {name}",
                    variant.label
                ),
                quantile_min(&pooled, q),
                "min",
            );
            if adaptive {
                figure = figure.target(target);
            }
            report.push(figure);
        }
        report.push(Figure::new(
            format!("{prefix}/{}/missed_changes", variant.name),
            format!(
                "{}: changes while tracked that no result event showed",
                variant.label
            ),
            outcome.score.missed() as f64,
            "changes",
        ));
    }
    report.note(format!(
        "{prefix}: {}. The same boxes and lifecycles for every policy; engine seed as the fleet's; sled store; \
         the clock jumps to each due time, so traces run exactly when due. Requests are every request the terminal \
         answered: container lookups (up to 20 boxes each, except naive) and vessel-visit lookups.",
        world.description
    ));
    report.note(kind_table(variants, outcomes, boxes));
    report.note(format!(
        "{prefix}: wall time {:.1} s for {} policies side by side ({})",
        wall.as_secs_f64(),
        variants.len(),
        variants
            .iter()
            .zip(outcomes)
            .map(|(v, o)| format!(
                "{} {:.1} s, {} traces, {} visit lookups, {} jobs active at the end, {} changes after completion, {} after expiry, {} unobserved",
                v.name,
                o.wall.as_secs_f64(),
                o.traces,
                o.visit_lookups,
                o.active_at_end,
                o.score.after_completion,
                o.score.after_expiry,
                o.score.unobserved
            ))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    report.policies = variants
        .iter()
        .zip(outcomes)
        .map(|(v, o)| policy_json(v, o, boxes))
        .collect();
    report
}

/// Every policy's delays by kind of change, as a Markdown table.
fn kind_table(variants: &[Variant], outcomes: &[Outcome], boxes: usize) -> String {
    let kinds: Vec<ChangeKind> = ChangeKind::ALL
        .into_iter()
        .filter(|k| outcomes.iter().any(|o| o.score.kinds.contains_key(k)))
        .collect();
    let mut out = String::from(
        "delay by kind of change, p50 / p95 min (count, missed):\n\n| policy | requests/box |",
    );
    for k in &kinds {
        let _ = write!(out, " {} |", k.as_str());
    }
    out.push_str(" actionable p50 / p95 |\n|---|---:|");
    for _ in &kinds {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for (v, o) in variants.iter().zip(outcomes) {
        let _ = write!(out, "| {} | {} |", v.name, number(per_box(o, boxes)));
        for k in &kinds {
            match o.score.kinds.get(k) {
                Some(s) => {
                    let _ = write!(
                        out,
                        " {} / {} ({}, {}) |",
                        number(quantile_min(&s.delays, 0.5)),
                        number(quantile_min(&s.delays, 0.95)),
                        s.count,
                        s.missed
                    );
                }
                None => out.push_str(" – |"),
            }
        }
        let pooled = o.score.actionable();
        let _ = writeln!(
            out,
            " {} / {} |",
            number(quantile_min(&pooled, 0.5)),
            number(quantile_min(&pooled, 0.95))
        );
    }
    out
}

/// One policy in the JSON the issue asks for.
fn policy_json(variant: &Variant, outcome: &Outcome, boxes: usize) -> Value {
    let mut changes = BTreeMap::new();
    for (kind, s) in &outcome.score.kinds {
        changes.insert(
            kind.as_str().to_owned(),
            json!({
                "count": s.count,
                "missed": s.missed,
                "p50Min": finite(quantile_min(&s.delays, 0.5)),
                "p95Min": finite(quantile_min(&s.delays, 0.95)),
            }),
        );
    }
    let pooled = outcome.score.actionable();
    json!({
        "name": variant.name,
        "requestsPerContainer": per_box(outcome, boxes),
        "changes": changes,
        "valueChanges": {
            "p50Min": finite(quantile_min(&pooled, 0.5)),
            "p95Min": finite(quantile_min(&pooled, 0.95)),
        },
    })
}

/// JSON has no NaN: a figure without samples is `null`.
fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quick_run_measures_every_policy() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let report = run(&Options::quick(dir.path())).await?;
        let value = |id: &str| {
            report
                .figures
                .iter()
                .find(|f| f.id == id)
                .map(|f| f.value)
                .ok_or_else(|| anyhow::anyhow!("no figure {id}"))
        };
        for v in variants(true) {
            assert!(value(&format!("efficiency/{}/requests_per_container", v.name))?.is_finite());
        }
        let requests = |id: &str| value(&format!("efficiency/{id}/requests_per_container"));
        assert!(requests("fixed-5m")? > requests("fixed-60m")?);
        assert!(requests("fixed-60m")? > requests("fixed-240m")?);
        assert!(
            requests("naive-60m")? > requests("fixed-60m")?,
            "batching saves requests"
        );
        assert!(value("efficiency/fixed-15m/actionable_p95_min")? <= 15.0 + 2.0 + 1.0);
        assert_eq!(report.policies.len(), variants(true).len());
        assert!(
            report.policies[0]["changes"]["GATED_IN"]["count"]
                .as_u64()
                .unwrap_or(0)
                > 0
        );
        Ok(())
    }
}

//! Figures a scenario measures, and the table they are printed as: each figure beside
//! the baseline of the same run, as a ratio, and the median over repeated runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::median;

/// One measured figure, with the baseline measured in the same run where there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable identifier, e.g. `dispatch/1M/traces_per_s`; runs are grouped by it.
    pub id: String,
    /// What was measured, for people.
    pub label: String,
    /// The value.
    pub value: f64,
    /// Its unit, e.g. `traces/s`, `ms`, `MiB`.
    pub unit: String,
    /// The baseline's name and value, measured in the same run.
    pub baseline: Option<(String, f64)>,
    /// The target the issue names, as text (`≥ 50000`, `< 10`).
    pub target: Option<String>,
}

impl Figure {
    /// A figure without baseline or target.
    pub fn new(id: impl Into<String>, label: impl Into<String>, value: f64, unit: &str) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            target: None,
        }
    }

    /// With the baseline of the same run.
    pub fn baseline(mut self, name: impl Into<String>, value: f64) -> Self {
        self.baseline = Some((name.into(), value));
        self
    }

    /// With the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// `value / baseline`, when there is a baseline.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .map(|(_, b)| self.value / *b)
            .filter(|r| r.is_finite())
    }
}

/// Figures of one or more runs of the same scenarios.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    /// Every figure of every run, in the order measured.
    pub figures: Vec<Figure>,
    /// Observations worth printing with the table (skips, outcome mixes).
    pub notes: Vec<String>,
    /// The efficiency scenario's policies: requests per container and delays by kind of
    /// change, in the shape `--json` promises (`{"policies": [...]}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<serde_json::Value>,
}

impl Report {
    /// Adds a figure.
    pub fn push(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Takes every figure and note of `other`.
    pub fn extend(&mut self, other: Report) {
        self.figures.extend(other.figures);
        self.notes.extend(other.notes);
        self.policies.extend(other.policies);
    }

    /// One figure per id: the median value and median baseline over the runs, and how
    /// many runs each had.
    pub fn medians(&self) -> Vec<(Figure, usize)> {
        let mut order: Vec<&str> = Vec::new();
        let mut runs: BTreeMap<&str, Vec<&Figure>> = BTreeMap::new();
        for f in &self.figures {
            let entry = runs.entry(&f.id).or_default();
            if entry.is_empty() {
                order.push(&f.id);
            }
            entry.push(f);
        }
        order
            .into_iter()
            .map(|id| {
                let all = &runs[id];
                let first = all[0];
                let values: Vec<f64> = all.iter().map(|f| f.value).collect();
                let baselines: Vec<f64> = all
                    .iter()
                    .filter_map(|f| f.baseline.as_ref().map(|(_, v)| *v))
                    .collect();
                let mut figure = first.clone();
                figure.value = median(&values);
                if let Some((name, _)) = &first.baseline {
                    figure.baseline = Some((name.clone(), median(&baselines)));
                }
                (figure, all.len())
            })
            .collect()
    }

    /// The medians as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| figure | value | baseline (same run) | ratio | target | runs |\n|---|---:|---|---:|---|---:|\n",
        );
        for (f, n) in self.medians() {
            let baseline = f
                .baseline
                .as_ref()
                .map(|(name, v)| format!("{name}: {} {}", number(*v), f.unit))
                .unwrap_or_else(|| "–".into());
            let ratio = f
                .ratio()
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} | {} |",
                f.label,
                number(f.value),
                f.unit,
                baseline,
                ratio,
                f.target.as_deref().unwrap_or("–"),
                n
            );
        }
        // Repeated runs repeat their notes: print each once.
        let mut seen = std::collections::HashSet::new();
        for note in self.notes.iter().filter(|n| seen.insert(n.as_str())) {
            let _ = writeln!(out, "\n- {note}");
        }
        out
    }
}

/// A figure with as many digits as it deserves.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let whole = v.round() as i64;
        let s = whole.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if whole < 0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_group_runs_and_keep_the_baseline() {
        let mut r = Report::default();
        for (v, b) in [(10.0, 20.0), (30.0, 40.0), (20.0, 30.0)] {
            r.push(Figure::new("x", "x", v, "req/s").baseline("bare", b));
        }
        r.push(Figure::new("y", "y", 1.0, "ms"));
        let m = r.medians();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0.value, 20.0);
        assert_eq!(m[0].0.ratio(), Some(20.0 / 30.0));
        assert_eq!(m[0].1, 3);
        assert!(r
            .markdown()
            .contains("| x | 20.0 req/s | bare: 30.0 req/s | 0.67 |"));
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.1234), "0.12");
    }
}

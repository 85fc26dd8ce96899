//! Reporting for the workspace's benchmarks: each target of the
//! performance issue that a benchmark measures is printed as one
//! machine-readable line, which `scripts/bench.sh` gathers into the
//! markdown table of the README.
//!
//! ```text
//! TARGET|<key>|<what>|<engine>|<ours>|<baseline in the same run>|<ratio>|<goal>|met
//! ```
//!
//! # Examples
//!
//! ```
//! use posttroll_testkit::bench::Target;
//!
//! let met = Target::new("e2e", "pub->sub, nothing lost", "purerust")
//!     .ours(format!("{:.0} msg/s", 950_000.0))
//!     .baseline(format!("{:.0} msg/s (raw libzmq)", 900_000.0))
//!     .ratio(950_000.0 / 900_000.0)
//!     .goal(">= 1.0x raw")
//!     .print(950_000.0 / 900_000.0 >= 1.0);
//! assert!(met);
//! ```

/// `met` or `MISSED`, as the benchmarks print verdicts.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Prints whether every target of a benchmark was met (its last line).
pub fn print_summary(met: bool) {
    println!(
        "\nall targets {}",
        if met {
            "met"
        } else {
            "NOT all met (see MISSED above)"
        }
    );
}

/// One measured target: what was measured, on which engine, our figure,
/// the baseline measured in the same run, their ratio and the goal.
#[derive(Debug, Clone, Default)]
#[must_use = "a target is reported by `print`"]
pub struct Target {
    key: String,
    what: String,
    engine: String,
    ours: String,
    baseline: String,
    ratio: Option<f64>,
    goal: String,
}

impl Target {
    /// A target named `key` (stable, for scripts: `e2e`, `latency_p50`,
    /// ...), described by `what`, measured on `engine` (`purerust`,
    /// `libzmq`, or `-`).
    pub fn new(key: &str, what: &str, engine: &str) -> Target {
        Target {
            key: key.to_owned(),
            what: what.to_owned(),
            engine: engine.to_owned(),
            ..Target::default()
        }
    }

    /// Our figure, with its unit.
    pub fn ours(mut self, ours: impl Into<String>) -> Target {
        self.ours = ours.into();
        self
    }

    /// The baseline measured in the same run, with its unit and name.
    pub fn baseline(mut self, baseline: impl Into<String>) -> Target {
        self.baseline = baseline.into();
        self
    }

    /// Ours relative to the baseline.
    pub fn ratio(mut self, ratio: f64) -> Target {
        self.ratio = Some(ratio);
        self
    }

    /// The goal, as the issue states it (`>= 0.8x raw`, `<= 2 ms`).
    pub fn goal(mut self, goal: impl Into<String>) -> Target {
        self.goal = goal.into();
        self
    }

    /// Prints the `TARGET|...` line and a readable one; returns `met`.
    pub fn print(self, met: bool) -> bool {
        let clean = |s: &str| s.replace('|', "/");
        let ratio = self
            .ratio
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        println!(
            "   target {}: {} ({}) vs {}: ratio {ratio}, goal {} ({})",
            self.what,
            self.ours,
            self.engine,
            if self.baseline.is_empty() {
                "-"
            } else {
                &self.baseline
            },
            self.goal,
            verdict(met)
        );
        println!(
            "TARGET|{}|{}|{}|{}|{}|{ratio}|{}|{}",
            clean(&self.key),
            clean(&self.what),
            clean(&self.engine),
            clean(&self.ours),
            clean(if self.baseline.is_empty() {
                "-"
            } else {
                &self.baseline
            }),
            clean(&self.goal),
            verdict(met)
        );
        met
    }
}

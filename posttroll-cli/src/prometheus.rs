//! A small recorder for the [`metrics`] facade that renders Prometheus'
//! text exposition format (version 0.0.4): what the nameserver's
//! `/metrics` serves.
//!
//! It keeps counters and gauges (each an atomic, found by its key on
//! registration) and their help texts; histograms, which posttroll does
//! not emit, are dropped. At most [`MAX_SERIES`] series are kept: past
//! that a new one is not recorded (posttroll's own labels take a few fixed
//! values, so it never gets there).
//!
//! # Examples
//!
//! ```
//! use posttroll_cli::prometheus::PrometheusRecorder;
//!
//! let recorder = PrometheusRecorder::new();
//! let handle = recorder.handle();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("jobs_total", "Jobs done.");
//!     metrics::counter!("jobs_total", "kind" => "a").increment(2);
//!     metrics::gauge!("queue").set(1.5);
//! });
//! let text = handle.render();
//! let lines: Vec<&str> = text.lines().collect();
//! assert_eq!(lines, [
//!     "# HELP jobs_total Jobs done.",
//!     "# TYPE jobs_total counter",
//!     "jobs_total{kind=\"a\"} 2",
//!     "# TYPE queue gauge",
//!     "queue 1.5",
//! ]);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SetRecorderError, SharedString,
    Unit,
};

/// The most series (name and label values) a recorder keeps.
pub const MAX_SERIES: usize = 10_000;

/// The counters, gauges and help texts, shared by the recorder and its
/// handles.
#[derive(Debug, Default)]
struct Registry {
    counters: HashMap<Key, Arc<AtomicU64>>,
    /// A gauge's value is an `f64`, kept as its bits.
    gauges: HashMap<Key, Arc<AtomicU64>>,
    help: HashMap<String, String>,
}

type Shared = Arc<Mutex<Registry>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Registry> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The recorder: install it ([`PrometheusRecorder::install`]) and render
/// what it holds with its [`PrometheusHandle`].
#[derive(Debug, Default)]
pub struct PrometheusRecorder {
    shared: Shared,
}

/// Renders what a [`PrometheusRecorder`] holds; cheap to clone.
#[derive(Debug, Clone)]
pub struct PrometheusHandle {
    shared: Shared,
}

impl PrometheusRecorder {
    /// An empty recorder.
    pub fn new() -> PrometheusRecorder {
        PrometheusRecorder::default()
    }

    /// A handle that renders this recorder's metrics.
    pub fn handle(&self) -> PrometheusHandle {
        PrometheusHandle {
            shared: self.shared.clone(),
        }
    }

    /// Makes this the process's recorder (the `metrics` facade's global
    /// one), returning its handle.
    ///
    /// # Errors
    ///
    /// Another recorder is installed already.
    pub fn install(self) -> Result<PrometheusHandle, SetRecorderError<PrometheusRecorder>> {
        let handle = self.handle();
        metrics::set_global_recorder(self)?;
        Ok(handle)
    }

    /// The atomic of `key` (a gauge's or a counter's), made when new (while fewer than
    /// [`MAX_SERIES`] series exist).
    fn slot(&self, key: &Key, gauge: bool) -> Option<Arc<AtomicU64>> {
        let mut registry = lock(&self.shared);
        let known = if gauge {
            registry.gauges.get(key)
        } else {
            registry.counters.get(key)
        };
        if let Some(slot) = known {
            return Some(slot.clone());
        }
        if registry.counters.len() + registry.gauges.len() >= MAX_SERIES {
            return None;
        }
        let slot = Arc::new(AtomicU64::new(if gauge { 0f64.to_bits() } else { 0 }));
        let map = if gauge {
            &mut registry.gauges
        } else {
            &mut registry.counters
        };
        map.insert(key.clone(), slot.clone());
        Some(slot)
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        lock(&self.shared)
            .help
            .insert(sanitize_name(key.as_str()), description.into_owned());
    }
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_histogram(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        self.slot(key, false)
            .map_or_else(Counter::noop, Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        self.slot(key, true)
            .map_or_else(Gauge::noop, Gauge::from_arc)
    }

    fn register_histogram(&self, _key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// One metric family: its type and its series (labels rendered, value).
struct Family {
    kind: &'static str,
    series: Vec<(String, String)>,
}

impl PrometheusHandle {
    /// The metrics in the text exposition format: families sorted by name,
    /// each with its `# HELP` (when
    /// described) and `# TYPE`, series sorted by labels.
    pub fn render(&self) -> String {
        let mut families: BTreeMap<(String, &'static str), Family> = BTreeMap::new();
        let help = {
            let registry = lock(&self.shared);
            let mut add = |key: &Key, kind: &'static str, value: String| {
                let name = sanitize_name(key.name());
                families
                    .entry((name, kind))
                    .or_insert_with(|| Family {
                        kind,
                        series: Vec::new(),
                    })
                    .series
                    .push((render_labels(key), value));
            };
            for (key, value) in &registry.counters {
                add(key, "counter", value.load(Ordering::Relaxed).to_string());
            }
            for (key, value) in &registry.gauges {
                let value = f64::from_bits(value.load(Ordering::Relaxed));
                add(key, "gauge", render_float(value));
            }
            registry.help.clone()
        };
        let mut out = String::new();
        for ((name, _), mut family) in families {
            if let Some(text) = help.get(&name) {
                let _ = writeln!(out, "# HELP {name} {}", escape_help(text));
            }
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            family.series.sort();
            for (labels, value) in family.series {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

/// `{a="1",b="2"}`, or nothing without labels.
fn render_labels(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|label| {
            format!(
                "{}=\"{}\"",
                sanitize_label_name(label.key()),
                escape_label_value(label.value())
            )
        })
        .collect();
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", labels.join(","))
    }
}

/// A metric name as Prometheus takes it: `[a-zA-Z_:][a-zA-Z0-9_:]*`, any
/// other character made `_`.
fn sanitize_name(name: &str) -> String {
    sanitize(name, true)
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn sanitize_label_name(name: &str) -> String {
    sanitize(name, false)
}

fn sanitize(name: &str, colons: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label value with `\`, `"` and line feeds escaped.
fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A help text with `\` and line feeds escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A float as Prometheus writes one (`NaN`, `+Inf`, `-Inf`).
fn render_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_and_values_are_escaped() {
        let recorder = PrometheusRecorder::new();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("a.b-c", "Line one\nline \\two");
            metrics::counter!("a.b-c", "x y" => "q\"u\\o\nte").increment(1);
            metrics::counter!("a.b-c", "x y" => "plain").increment(3);
            metrics::gauge!("9lives").set(f64::NAN);
            metrics::gauge!("inf").set(f64::INFINITY);
            metrics::gauge!("whole").set(3.0);
            metrics::histogram!("ignored").record(1.0);
        });
        let text = handle.render();
        assert_eq!(
            text,
            "# TYPE _9lives gauge\n_9lives NaN\n\
             # HELP a_b_c Line one\\nline \\\\two\n# TYPE a_b_c counter\n\
             a_b_c{x_y=\"plain\"} 3\n\
             a_b_c{x_y=\"q\\\"u\\\\o\\nte\"} 1\n\
             # TYPE inf gauge\ninf +Inf\n\
             # TYPE whole gauge\nwhole 3\n"
        );
    }

    #[test]
    fn series_are_bounded() {
        let recorder = PrometheusRecorder::new();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            for n in 0..MAX_SERIES + 10 {
                metrics::counter!("many_total", "n" => n.to_string()).increment(1);
            }
            // A known series still counts.
            metrics::counter!("many_total", "n" => "0").increment(1);
        });
        let text = handle.render();
        assert_eq!(text.lines().count(), MAX_SERIES + 1);
        assert!(text.contains("many_total{n=\"0\"} 2\n"));
    }
}

//! [`Metrics`]: a Prometheus registry holding every metric of the table, and its text
//! exposition.
//!
//! Values live in the `prometheus` crate's counters, gauges and histograms, registered in a
//! [`Registry`] (so `gather()` and any encoder work). Scrapes do not go through `gather()`,
//! though: with 50 models x 20 tasks that builds and sorts over 100,000 label sets per scrape.
//! Instead each series keeps its label text, rendered and escaped once when the series is
//! created, in a map sorted the way `gather()` sorts, and [`Metrics::render`] writes the
//! lines straight from the live values. The output is byte for byte what `gather()` and
//! the crate's `TextEncoder` produce (a test checks it), several times faster.
//!
//! # Restored histograms
//!
//! The crate's histograms can only be fed one observation at a time, but `llmbench serve`
//! rebuilds its metrics from per-run aggregates (bucket counts, count and sum per run), not
//! from every stored sample. [`Metrics::restore_histogram`] keeps such counts as a series'
//! *restored base*, which [`Metrics::render`], [`Metrics::value`] and [`Metrics::sum`] add
//! to the live values: bucket counts and `_count` exactly, `_sum` as the base's sum plus the
//! live sum. `gather()` (the crate's own encoders) sees the live values only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus::core::{Collector, Metric as _};
use prometheus::{
    Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, Opts, Registry,
};

use crate::table::{METRICS, MetricDef, MetricId, MetricKind};

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug)]
enum Vecs {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
}

#[derive(Debug, Clone)]
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Series {
    /// `a="x",b="y"`: the labels sorted by name, values escaped.
    text: String,
    handle: Handle,
    /// A histogram's restored observations ([`Metrics::restore_histogram`]).
    base: Option<Box<Base>>,
}

/// Observations of a histogram series counted elsewhere and added at exposition time.
#[derive(Debug, Clone, PartialEq)]
struct Base {
    /// Per bucket, not cumulative: one count per bound, then `+Inf`.
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

#[derive(Debug)]
struct Family {
    def: &'static MetricDef,
    vec: Vecs,
    /// For each label in name order, its position in `def.labels`.
    by_name: Vec<usize>,
    /// Keyed by the label values in label-name order: `gather()`'s sort order.
    series: Mutex<BTreeMap<Vec<String>, Series>>,
    /// `_bucket{` lines' `le` values, `+Inf` last.
    bounds: Vec<String>,
}

/// Every metric of [`METRICS`], registered and ready to update. Cheap to share behind an
/// `Arc`; every method takes `&self`.
///
/// Label values are given in the order of the metric's [`MetricDef::labels`]. Using a
/// metric as the wrong kind, or with the wrong number of label values, is a bug and panics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    families: Vec<Family>,
    /// Indices into `families`, by name (the exposition order).
    sorted: Vec<usize>,
    /// The length of the last exposition, to allocate the next one at once.
    last_len: AtomicUsize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric of the table. No series exists until a value is recorded.
    pub fn new() -> Self {
        let registry = Registry::new();
        let families: Vec<Family> = METRICS.iter().map(family).collect();
        for f in &families {
            let collector: Box<dyn Collector> = match &f.vec {
                Vecs::Counter(c) => Box::new(c.clone()),
                Vecs::Gauge(g) => Box::new(g.clone()),
                Vecs::Histogram(h) => Box::new(h.clone()),
            };
            if let Err(e) = registry.register(collector) {
                panic!("{}: cannot register: {e}", f.def.name);
            }
        }
        let mut sorted: Vec<usize> = (0..families.len()).collect();
        sorted.sort_by_key(|&i| families[i].def.name);
        Self {
            registry,
            families,
            sorted,
            last_len: AtomicUsize::new(0),
        }
    }

    /// The underlying registry (for `gather()` and the crate's encoders).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The series of `id` with these label values, created at zero if new.
    fn handle(&self, id: MetricId, labels: &[&str]) -> Handle {
        self.with_series(id, labels, |s| s.handle.clone())
    }

    /// Calls `f` with the series of `id` with these label values, created at zero if new.
    fn with_series<T>(
        &self,
        id: MetricId,
        labels: &[&str],
        run: impl FnOnce(&mut Series) -> T,
    ) -> T {
        let f = &self.families[id as usize];
        assert_eq!(
            labels.len(),
            f.def.labels.len(),
            "{}: expected labels {:?}, got {labels:?}",
            f.def.name,
            f.def.labels
        );
        let key: Vec<String> = f.by_name.iter().map(|&i| labels[i].to_owned()).collect();
        let mut series = f.series.lock().expect("metrics lock");
        if let Some(s) = series.get_mut(&key) {
            return run(s);
        }
        let handle = match &f.vec {
            Vecs::Counter(c) => Handle::Counter(c.with_label_values(labels)),
            Vecs::Gauge(g) => Handle::Gauge(g.with_label_values(labels)),
            Vecs::Histogram(h) => Handle::Histogram(h.with_label_values(labels)),
        };
        let mut text = String::new();
        for (n, &i) in f.by_name.iter().enumerate() {
            if n > 0 {
                text.push(',');
            }
            text.push_str(f.def.labels[i]);
            text.push_str("=\"");
            escape_into(&mut text, labels[i]);
            text.push('"');
        }
        let s = series.entry(key).or_insert(Series {
            text,
            handle,
            base: None,
        });
        run(s)
    }

    /// Adds `value` to a counter. Negative or non-finite values are ignored.
    pub fn add(&self, id: MetricId, labels: &[&str], value: f64) {
        if !(value.is_finite() && value >= 0.0) {
            tracing::warn!(
                metric = id.def().name,
                value,
                "ignored a bad counter increment"
            );
            return;
        }
        match self.handle(id, labels) {
            Handle::Counter(c) => c.inc_by(value),
            _ => panic!("{} is not a counter", id.def().name),
        }
    }

    /// Creates a counter or gauge series at 0 if it does not exist yet, so that queries see
    /// it before anything happens.
    pub fn touch(&self, id: MetricId, labels: &[&str]) {
        if let Handle::Histogram(_) = self.handle(id, labels) {
            panic!("{} is a histogram", id.def().name);
        }
    }

    /// Sets a gauge.
    pub fn set(&self, id: MetricId, labels: &[&str], value: f64) {
        match self.handle(id, labels) {
            Handle::Gauge(g) => g.set(value),
            _ => panic!("{} is not a gauge", id.def().name),
        }
    }

    /// Records one observation in a histogram. Non-finite values are ignored.
    pub fn observe(&self, id: MetricId, labels: &[&str], value: f64) {
        if !value.is_finite() {
            tracing::warn!(
                metric = id.def().name,
                value,
                "ignored a non-finite observation"
            );
            return;
        }
        match self.handle(id, labels) {
            Handle::Histogram(h) => h.observe(value),
            _ => panic!("{} is not a histogram", id.def().name),
        }
    }

    /// Adds observations counted elsewhere to a histogram series, created if new: `buckets`
    /// holds per-bucket (not cumulative) counts, one per upper bound of the metric's
    /// [`MetricDef::buckets`] then one for `+Inf`; `count` and `sum` are the observations'
    /// number and sum. What `llmbench serve` rebuilds from stored run aggregates. Counts
    /// that do not fit the metric's buckets (another length, or a total other than `count`)
    /// are refused with `false`, changing nothing.
    pub fn restore_histogram(
        &self,
        id: MetricId,
        labels: &[&str],
        buckets: &[u64],
        count: u64,
        sum: f64,
    ) -> bool {
        let def = id.def();
        assert_eq!(
            def.kind,
            MetricKind::Histogram,
            "{} is not a histogram",
            def.name
        );
        if buckets.len() != def.buckets.len() + 1
            || buckets.iter().sum::<u64>() != count
            || !sum.is_finite()
        {
            tracing::warn!(
                metric = def.name,
                buckets = buckets.len(),
                count,
                "refused restored observations that do not fit the metric's buckets"
            );
            return false;
        }
        if count == 0 {
            return true;
        }
        self.with_series(id, labels, |s| match &mut s.base {
            Some(base) => {
                for (b, n) in base.buckets.iter_mut().zip(buckets) {
                    *b += n;
                }
                base.count += count;
                base.sum += sum;
            }
            None => {
                s.base = Some(Box::new(Base {
                    buckets: buckets.to_vec(),
                    count,
                    sum,
                }));
            }
        });
        true
    }

    /// The value of a counter or gauge series, or a histogram's observation count (restored
    /// ones included); 0 when the series does not exist.
    pub fn value(&self, id: MetricId, labels: &[&str]) -> f64 {
        let f = &self.families[id as usize];
        let key: Vec<String> = f.by_name.iter().map(|&i| labels[i].to_owned()).collect();
        let series = f.series.lock().expect("metrics lock");
        series.get(&key).map_or(0.0, value_of)
    }

    /// The sum of every series of a counter or gauge (or of a histogram's counts).
    pub fn sum(&self, id: MetricId) -> f64 {
        let f = &self.families[id as usize];
        let series = f.series.lock().expect("metrics lock");
        series.values().map(value_of).sum()
    }

    /// Removes every series of `id` whose label `label` has the value `value`.
    pub fn remove_where(&self, id: MetricId, label: &str, value: &str) {
        let f = &self.families[id as usize];
        let Some(position) = f.def.labels.iter().position(|l| *l == label) else {
            panic!("{} has no label {label}", f.def.name);
        };
        let key_position = f
            .by_name
            .iter()
            .position(|&i| i == position)
            .expect("every label has a key position");
        let mut series = f.series.lock().expect("metrics lock");
        series.retain(|key, _| {
            if key[key_position] != value {
                return true;
            }
            let mut values = vec![""; key.len()];
            for (k, &i) in f.by_name.iter().enumerate() {
                values[i] = &key[k];
            }
            let removed = match &f.vec {
                Vecs::Counter(c) => c.remove_label_values(&values),
                Vecs::Gauge(g) => g.remove_label_values(&values),
                Vecs::Histogram(h) => h.remove_label_values(&values),
            };
            if let Err(e) = removed {
                tracing::warn!(metric = f.def.name, error = %e, "cannot remove a series");
            }
            false
        });
    }

    /// Every series in the Prometheus text format (version 0.0.4), without timestamps:
    /// families by name, series by label values, each histogram with its `+Inf` bucket
    /// equal to its `_count`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.last_len.load(Ordering::Relaxed) + 4096);
        for &i in &self.sorted {
            let f = &self.families[i];
            let series = f.series.lock().expect("metrics lock");
            if series.is_empty() {
                continue;
            }
            let name = f.def.name;
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_help_into(&mut out, f.def.help);
            out.push_str("\n# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(f.def.kind.as_str());
            out.push('\n');
            for s in series.values() {
                match &s.handle {
                    Handle::Counter(c) => line(&mut out, name, "", &s.text, None, c.get()),
                    Handle::Gauge(g) => line(&mut out, name, "", &s.text, None, g.get()),
                    Handle::Histogram(h) => {
                        // One snapshot, so that the buckets, the sum and the count agree.
                        let m = h.metric();
                        let h = m.get_histogram();
                        let base = s.base.as_deref();
                        let mut restored = 0;
                        for (i, (b, bound)) in h.get_bucket().iter().zip(&f.bounds).enumerate() {
                            restored += base.map_or(0, |base| base.buckets[i]);
                            let count = (b.cumulative_count() + restored) as f64;
                            line(&mut out, name, "_bucket", &s.text, Some(bound), count);
                        }
                        let count = (h.get_sample_count() + base.map_or(0, |b| b.count)) as f64;
                        let sum = match base {
                            // No live observation: the restored sum as it is (not + 0.0,
                            // which would turn -0.0 into 0.0).
                            Some(base) if h.get_sample_count() == 0 => base.sum,
                            Some(base) => base.sum + h.get_sample_sum(),
                            None => h.get_sample_sum(),
                        };
                        let inf = f.bounds.last().expect("+Inf");
                        line(&mut out, name, "_bucket", &s.text, Some(inf), count);
                        line(&mut out, name, "_sum", &s.text, None, sum);
                        line(&mut out, name, "_count", &s.text, None, count);
                    }
                }
            }
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        out
    }
}

fn value_of(series: &Series) -> f64 {
    match &series.handle {
        Handle::Counter(c) => c.get(),
        Handle::Gauge(g) => g.get(),
        Handle::Histogram(h) => {
            (h.get_sample_count() + series.base.as_ref().map_or(0, |b| b.count)) as f64
        }
    }
}

/// `name{labels,le="bound"} value\n`
fn line(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<&str>, v: f64) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some(le) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    // `Display` of f64, as the crate's encoder writes it; whole numbers (every count) take
    // the faster integer path, which prints them the same way.
    if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
    out.push('\n');
}

/// A label value: `\`, newline and `"` escaped.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A help text: `\` and newline escaped.
fn escape_help_into(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn family(def: &'static MetricDef) -> Family {
    let opts = Opts::new(def.name, def.help);
    let vec = match def.kind {
        MetricKind::Counter => CounterVec::new(opts, def.labels).map(Vecs::Counter),
        MetricKind::Gauge => GaugeVec::new(opts, def.labels).map(Vecs::Gauge),
        MetricKind::Histogram => HistogramVec::new(
            HistogramOpts::from(opts).buckets(def.buckets.to_vec()),
            def.labels,
        )
        .map(Vecs::Histogram),
    }
    .unwrap_or_else(|e| panic!("{}: invalid definition: {e}", def.name));
    let mut by_name: Vec<usize> = (0..def.labels.len()).collect();
    by_name.sort_by_key(|&i| def.labels[i]);
    let bounds = def
        .buckets
        .iter()
        .map(|b| b.to_string())
        .chain((def.kind == MetricKind::Histogram).then(|| "+Inf".to_owned()))
        .collect();
    Family {
        def,
        vec,
        by_name,
        series: Mutex::new(BTreeMap::new()),
        bounds,
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Encoder as _;

    use super::*;

    #[test]
    fn every_metric_registers_and_renders() {
        let m = Metrics::new();
        for def in &METRICS {
            let labels: Vec<&str> = def.labels.iter().map(|_| "x").collect();
            match def.kind {
                MetricKind::Counter => m.add(def.id, &labels, 1.5),
                MetricKind::Gauge => m.set(def.id, &labels, 2.0),
                MetricKind::Histogram => m.observe(def.id, &labels, 0.3),
            }
        }
        let text = m.render();
        for def in &METRICS {
            assert!(
                text.contains(&format!("# TYPE {} {}\n", def.name, def.kind.as_str())),
                "{}",
                def.name
            );
            assert!(
                text.contains(&format!("# HELP {} {}\n", def.name, def.help)),
                "{}",
                def.name
            );
        }
        assert!(text.ends_with('\n'));
    }

    /// The fast exposition is exactly the crate's `gather()` + `TextEncoder`.
    #[test]
    fn renders_what_the_crate_encoder_renders() {
        let m = Metrics::new();
        for (i, value) in ["b", "a\"q", "c\\d\ne", "a", ""].iter().enumerate() {
            let v = i as f64;
            m.add(MetricId::Cost, &["p", "e", value, "t"], 0.1 + v);
            m.add(MetricId::Samples, &["p", value, "m", "t", "pass"], v);
            m.set(
                MetricId::SweepPassRatio,
                &["s", value, "e", "m", "z"],
                1e-7 * v,
            );
            m.set(MetricId::LastSuccess, &[value], 1.7e9 + v);
            for x in [0.004, 0.5, 3.0, 1000.0, v] {
                m.observe(
                    MetricId::RequestDuration,
                    &["p", "e", "m", value, "error"],
                    x,
                );
                m.observe(
                    MetricId::GradeScore,
                    &["p", "e", "m", "t", value],
                    x / 1000.0,
                );
            }
        }
        m.touch(MetricId::SweepsSkipped, &["s"]);
        for (i, v) in [-0.0, 1e15, 1e16 + 2.0, 123456789.0, 0.5, 1e300, -3.0]
            .into_iter()
            .enumerate()
        {
            m.set(MetricId::SweepDuration, &[&i.to_string()], v);
        }
        let mut expected = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&m.registry().gather(), &mut expected)
            .unwrap();
        assert_eq!(m.render(), String::from_utf8(expected).unwrap());
    }

    #[test]
    fn values_sums_and_removal() {
        let m = Metrics::new();
        m.add(MetricId::SweepsSkipped, &["a"], 2.0);
        m.add(MetricId::SweepsSkipped, &["b"], 3.0);
        m.add(MetricId::SweepsSkipped, &["b"], -1.0);
        assert_eq!(m.value(MetricId::SweepsSkipped, &["b"]), 3.0);
        assert_eq!(m.sum(MetricId::SweepsSkipped), 5.0);
        m.remove_where(MetricId::SweepsSkipped, "sweep", "a");
        assert_eq!(m.sum(MetricId::SweepsSkipped), 3.0);
        assert!(!m.render().contains("sweep=\"a\""));
        assert_eq!(m.registry().gather()[0].get_metric().len(), 1);
        m.observe(MetricId::GradeScore, &["p", "e", "m", "t", "g"], 0.5);
        m.observe(MetricId::GradeScore, &["p", "e", "m", "t", "g"], f64::NAN);
        assert_eq!(
            m.value(MetricId::GradeScore, &["p", "e", "m", "t", "g"]),
            1.0
        );
    }

    /// Restored observations render exactly as the same observations made live, and live
    /// ones add to them.
    #[test]
    fn restored_histograms_render_as_live_ones() {
        let values = [0.004, 0.5, 0.75, 3.0, 1000.0, 0.25, 0.125];
        let labels = ["f", "p", "m", "t", "success"];
        let live = Metrics::new();
        for v in values {
            live.observe(MetricId::RequestDuration, &labels, v);
        }
        let restored = Metrics::new();
        let bounds = MetricId::RequestDuration.def().buckets;
        // In two parts (two runs), then one more observation live.
        for part in [&values[..3], &values[3..6]] {
            let mut buckets = vec![0; bounds.len() + 1];
            for &v in part {
                buckets[bounds.iter().position(|&b| v <= b).unwrap_or(bounds.len())] += 1;
            }
            let sum = part.iter().fold(0.0, |s, v| s + v);
            assert!(restored.restore_histogram(
                MetricId::RequestDuration,
                &labels,
                &buckets,
                part.len() as u64,
                sum
            ));
        }
        restored.observe(MetricId::RequestDuration, &labels, values[6]);
        assert_eq!(restored.render(), live.render());
        assert_eq!(restored.value(MetricId::RequestDuration, &labels), 7.0);
        assert_eq!(restored.sum(MetricId::RequestDuration), 7.0);
        // Counts that do not fit the buckets are refused.
        assert!(!restored.restore_histogram(MetricId::RequestDuration, &labels, &[1, 2], 3, 1.0));
        assert!(!restored.restore_histogram(
            MetricId::RequestDuration,
            &labels,
            &vec![1; bounds.len() + 1],
            1,
            1.0
        ));
        assert_eq!(restored.render(), live.render());
    }

    #[test]
    #[should_panic(expected = "is not a gauge")]
    fn wrong_kind_is_a_bug() {
        Metrics::new().set(MetricId::Tokens, &["a", "b", "c", "d", "e", "f"], 1.0);
    }
}

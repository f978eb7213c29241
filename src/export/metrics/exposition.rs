//! How families become text: the one walk's vocabulary ([`Exposition`]: a
//! family starts, a sample follows) and its two writers, the Prometheus
//! text format 0.0.4 ([`TextFormat`]) and OpenMetrics 1.0
//! ([`OpenMetricsFormat`]). [`super::Metrics::expose`] walks every family, the
//! registry's protobuf messages ([`expose_gathered`]) and the labelled
//! store's maps alike, through these calls; `/metrics` (in either format,
//! as the scrape's `Accept` asks) and `scan --format prometheus` are
//! callers of that walk.
//!
//! # OpenMetrics
//!
//! What differs is all in the writer: `# TYPE` and `# HELP` name a counter
//! family without its `_total` while its samples keep it (a counter whose
//! name lacks it gets it on its samples, as the official clients do);
//! `untyped` is `unknown`; `# HELP` escapes quotes too; floats spell
//! infinities and NaN `+Inf`, `-Inf`, `NaN`; and [`Exposition::finish`]
//! appends `# EOF`. `# UNIT` lines are optional and not written. The family
//! order, label order and values come from the walk, so both formats cannot
//! disagree about which series exist. An exemplar would be one more
//! argument of [`Exposition::sample`] that [`TextFormat`] ignores. The
//! same writer streams `scan --format openmetrics`'s backfill, with a
//! timestamp on each sample.
//!
//! Deliberately not here: which families exist, their order (the walk's),
//! and timestamps on samples (errtally sets none; a registry message that
//! carried one would be written without it).

use std::io::Write as _;

use prometheus::proto::{Metric, MetricFamily, MetricType};

/// A family's type, as both formats name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only ever goes up (restarts aside).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, a sum and a count.
    Histogram,
    /// Quantiles, a sum and a count.
    Summary,
    /// A value of no declared type.
    Untyped,
}

impl Kind {
    /// The name OpenMetrics' `# TYPE` gives it.
    fn open_metrics_name(self) -> &'static str {
        match self {
            Kind::Untyped => "unknown",
            other => other.name(),
        }
    }

    /// The name `# TYPE` gives it.
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
        }
    }
}

/// A sample's value: errtally's own counts stay exact integers (an `f64`
/// would round them past 2^53), the registry's values are floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// A count, written as an integer.
    Count(u64),
    /// A float, written as Rust's shortest round-trip form (as the
    /// `prometheus` crate's encoder writes it).
    Real(f64),
}

/// A counter series' exemplar: the latest record it counted that had a
/// request ID, and that record's time (its own, or when it was read).
/// OpenMetrics writes it after the sample (`# {request_id="…"} 1 TIME`);
/// the text format has no place for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exemplar {
    /// The record's request ID.
    pub request_id: crate::scan::latest::RequestId,
    /// The record's time.
    pub time: crate::time::Stamp,
}

/// One output of the walk over the families. The walk calls
/// [`Exposition::family`] once per family that has samples, then
/// [`Exposition::sample`] for each of them, families in exposition order;
/// [`Exposition::finish`] gives the bytes.
pub(crate) trait Exposition {
    /// Starts family `name`; the samples until the next call are its.
    fn family(&mut self, name: &str, help: &str, kind: Kind);

    /// One sample of the current family: its name is the family's with
    /// `suffix` appended (`_bucket`, `_sum`, `_count`, or nothing), its
    /// labels in the order given (the walk sorts them by name).
    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: Value);

    /// [`Exposition::sample`] of a counter series that may carry an
    /// exemplar; a format without exemplars writes the sample alone.
    fn sample_with_exemplar(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: Value,
        exemplar: Option<&Exemplar>,
    ) {
        let _ = exemplar;
        self.sample(suffix, labels, value);
    }

    /// The exposition, complete.
    fn finish(self) -> Vec<u8>;
}

/// The Prometheus text format 0.0.4, byte for byte what the `prometheus`
/// crate's `TextEncoder` writes for the same families (the golden scrape
/// holds it to that).
pub(crate) struct TextFormat {
    out: Vec<u8>,
    /// The current family's name, which every sample line starts with.
    family: String,
}

impl TextFormat {
    /// An empty exposition with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            family: String::new(),
        }
    }
}

impl Exposition for TextFormat {
    fn family(&mut self, name: &str, help: &str, kind: Kind) {
        self.family.clear();
        self.family.push_str(name);
        if !help.is_empty() {
            self.out.extend_from_slice(b"# HELP ");
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(b' ');
            escape(&mut self.out, help, false);
            self.out.push(b'\n');
        }
        self.out.extend_from_slice(b"# TYPE ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(kind.name().as_bytes());
        self.out.push(b'\n');
    }

    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: Value) {
        let out = &mut self.out;
        out.extend_from_slice(self.family.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        for (index, (name, text)) in labels.iter().enumerate() {
            out.push(if index == 0 { b'{' } else { b',' });
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            escape(out, text, true);
            out.push(b'"');
        }
        if !labels.is_empty() {
            out.push(b'}');
        }
        // Writing to a Vec cannot fail.
        let _ = match value {
            Value::Count(count) => writeln!(out, " {count}"),
            Value::Real(real) => writeln!(out, " {real}"),
        };
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// OpenMetrics' `Content-Type`.
pub(crate) const OPEN_METRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// OpenMetrics 1.0 text, written as it goes to `W` (a `Vec<u8>` for a
/// scrape; stdout for `scan --format openmetrics`, whose backfill is too
/// large to hold). A counter family is named without `_total` in `# TYPE`
/// and `# HELP`, its samples keep it; [`OpenMetricsFormat::sample_at`]
/// adds a timestamp in seconds (what `promtool tsdb
/// create-blocks-from openmetrics` reads); [`OpenMetricsFormat::end`]
/// writes `# EOF`. The first write error is kept and returned by `end`.
pub(crate) struct OpenMetricsFormat<W: std::io::Write> {
    out: W,
    /// The current family's sample name (with `_total` for a counter).
    family: String,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> OpenMetricsFormat<W> {
    /// A writer into `out`.
    pub(crate) fn new(out: W) -> Self {
        Self {
            out,
            family: String::new(),
            error: None,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_none()
            && let Err(error) = self.out.write_all(bytes)
        {
            self.error = Some(error);
        }
    }

    /// Starts family `name` (a counter's with its `_total`).
    pub(crate) fn start_family(&mut self, name: &str, help: &str, kind: Kind) {
        let bare = match kind {
            Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        // A counter's samples end in `_total`, even where its name does
        // not, as the official clients write them.
        self.family.clear();
        self.family.push_str(bare);
        if kind == Kind::Counter {
            self.family.push_str("_total");
        }
        let mut line = Vec::with_capacity(64 + help.len());
        line.extend_from_slice(b"# TYPE ");
        line.extend_from_slice(bare.as_bytes());
        line.push(b' ');
        line.extend_from_slice(kind.open_metrics_name().as_bytes());
        line.push(b'\n');
        if !help.is_empty() {
            line.extend_from_slice(b"# HELP ");
            line.extend_from_slice(bare.as_bytes());
            line.push(b' ');
            escape(&mut line, help, true);
            line.push(b'\n');
        }
        self.write(&line);
    }

    /// One sample of the current family, at `timestamp` seconds if given.
    pub(crate) fn sample_at(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: Value,
        timestamp: Option<i64>,
    ) {
        let mut line = self.series(suffix, labels);
        write_value(&mut line, value);
        if let Some(timestamp) = timestamp {
            let _ = write!(line, " {timestamp}");
        }
        line.push(b'\n');
        self.write(&line);
    }

    /// One sample of the current family with its exemplar, if any.
    fn sample_exemplified(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: Value,
        exemplar: Option<&Exemplar>,
    ) {
        let Some(exemplar) = exemplar else {
            self.sample_at(suffix, labels, value, None);
            return;
        };
        let mut line = self.series(suffix, labels);
        // Floored to the millisecond; sign and magnitude apart, since a
        // time before 1970 is `-1.500`, not whole seconds floored (`-2`)
        // and a positive fraction.
        let millis = exemplar.time.nanos().div_euclid(1_000_000);
        let sign = if millis < 0 { "-" } else { "" };
        let millis = millis.unsigned_abs();
        write_value(&mut line, value);
        // Writing to a Vec cannot fail; the ID is [A-Za-z0-9._:-] only, so
        // it needs no escaping.
        let _ = writeln!(
            line,
            " # {{request_id=\"{}\"}} 1 {sign}{}.{:03}",
            exemplar.request_id.as_str(),
            millis / 1000,
            millis % 1000
        );
        self.write(&line);
    }

    /// A series' name and labels as its samples start (`name{…}`), for
    /// [`OpenMetricsFormat::sample_of`]: a backfill writes thousands of
    /// samples per series, and escaping its labels once saves most of it.
    pub(crate) fn series(&self, suffix: &str, labels: &[(&str, &str)]) -> Vec<u8> {
        let mut line = Vec::with_capacity(128);
        line.extend_from_slice(self.family.as_bytes());
        line.extend_from_slice(suffix.as_bytes());
        for (index, (name, text)) in labels.iter().enumerate() {
            line.push(if index == 0 { b'{' } else { b',' });
            line.extend_from_slice(name.as_bytes());
            line.extend_from_slice(b"=\"");
            escape(&mut line, text, true);
            line.push(b'"');
        }
        if !labels.is_empty() {
            line.push(b'}');
        }
        line
    }

    /// One sample of the series that `series` starts: `count` at
    /// `timestamp` seconds.
    pub(crate) fn sample_of(&mut self, series: &[u8], count: u64, timestamp: i64) {
        // " <u64> -<i64>\n" fits in 44 bytes.
        let mut tail = [0u8; 48];
        let mut len = 0;
        tail[len] = b' ';
        len += 1;
        len += write_decimal(&mut tail[len..], count, false);
        tail[len] = b' ';
        len += 1;
        len += write_decimal(&mut tail[len..], timestamp.unsigned_abs(), timestamp < 0);
        tail[len] = b'\n';
        len += 1;
        self.write(series);
        self.write(&tail[..len]);
    }

    /// Writes `# EOF` and flushes; the first error on the way, if any.
    pub(crate) fn end(mut self) -> std::io::Result<W> {
        self.write(b"# EOF\n");
        if let Some(error) = self.error {
            return Err(error);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl Exposition for OpenMetricsFormat<Vec<u8>> {
    fn family(&mut self, name: &str, help: &str, kind: Kind) {
        self.start_family(name, help, kind);
    }

    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: Value) {
        self.sample_at(suffix, labels, value, None);
    }

    fn sample_with_exemplar(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: Value,
        exemplar: Option<&Exemplar>,
    ) {
        self.sample_exemplified(suffix, labels, value, exemplar);
    }

    fn finish(self) -> Vec<u8> {
        // A Vec takes every write.
        self.end().unwrap_or_default()
    }
}

/// Appends ` VALUE` as OpenMetrics spells it (`+Inf`, `-Inf`, `NaN`).
fn write_value(line: &mut Vec<u8>, value: Value) {
    // Writing to a Vec cannot fail.
    let _ = match value {
        Value::Count(count) => write!(line, " {count}"),
        Value::Real(real) if real.is_nan() => write!(line, " NaN"),
        Value::Real(real) if real == f64::INFINITY => write!(line, " +Inf"),
        Value::Real(real) if real == f64::NEG_INFINITY => write!(line, " -Inf"),
        Value::Real(real) => write!(line, " {real}"),
    };
}

/// Writes `value` in decimal (with a `-` when `negative`) at the start of
/// `out` (at least 21 bytes); returns how many bytes it took.
fn write_decimal(out: &mut [u8], mut value: u64, negative: bool) -> usize {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    let mut len = 0;
    if negative {
        out[0] = b'-';
        len = 1;
    }
    let digits = &digits[start..];
    out[len..len + digits.len()].copy_from_slice(digits);
    len + digits.len()
}

/// Appends `text` with `\` and newlines escaped, and `"` too in a label
/// value (`quotes`): what the text format asks of label values and help.
fn escape(out: &mut Vec<u8>, text: &str, quotes: bool) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quotes => out.extend_from_slice(b"\\\""),
            other => out.push(other),
        }
    }
}

/// Walks families the registry gathered (as protobuf messages) into `out`,
/// in their order, each sample's labels as the message holds them (sorted
/// by name, as the crate's vectors make them).
pub(crate) fn expose_gathered(families: &[MetricFamily], out: &mut impl Exposition) {
    for family in families {
        if family.get_metric().is_empty() {
            continue;
        }
        let kind = match family.get_field_type() {
            MetricType::COUNTER => Kind::Counter,
            MetricType::GAUGE => Kind::Gauge,
            MetricType::HISTOGRAM => Kind::Histogram,
            MetricType::SUMMARY => Kind::Summary,
            MetricType::UNTYPED => Kind::Untyped,
        };
        out.family(family.name(), family.help(), kind);
        for metric in family.get_metric() {
            expose_metric(metric, kind, out);
        }
    }
}

/// One message's samples: one for a counter, gauge or untyped value; the
/// buckets (with `+Inf` if the message lacks it), quantiles, sum and count
/// of a histogram or summary.
fn expose_metric(metric: &Metric, kind: Kind, out: &mut impl Exposition) {
    let labels: Vec<(&str, &str)> = metric
        .get_label()
        .iter()
        .map(|pair| (pair.name(), pair.value()))
        .collect();
    match kind {
        Kind::Counter => {
            let value = metric.counter.get_or_default().value();
            out.sample("", &labels, Value::Real(value));
        }
        Kind::Gauge => {
            let value = metric.gauge.get_or_default().value();
            out.sample("", &labels, Value::Real(value));
        }
        Kind::Untyped => {
            let value = metric.untyped.get_or_default().value();
            out.sample("", &labels, Value::Real(value));
        }
        Kind::Histogram => {
            let histogram = metric.get_histogram();
            let mut infinite = false;
            for bucket in histogram.get_bucket() {
                let bound = bucket.upper_bound();
                infinite |= bound == f64::INFINITY;
                let bound = if bound == f64::INFINITY {
                    "+Inf".to_owned()
                } else {
                    bound.to_string()
                };
                let count = Value::Real(bucket.cumulative_count() as f64);
                out.sample("_bucket", &extended(&labels, ("le", &bound)), count);
            }
            let count = histogram.get_sample_count() as f64;
            if !infinite {
                let labels = extended(&labels, ("le", "+Inf"));
                out.sample("_bucket", &labels, Value::Real(count));
            }
            out.sample("_sum", &labels, Value::Real(histogram.get_sample_sum()));
            out.sample("_count", &labels, Value::Real(count));
        }
        Kind::Summary => {
            let summary = metric.get_summary();
            for quantile in summary.get_quantile() {
                let at = quantile.quantile().to_string();
                let labels = extended(&labels, ("quantile", &at));
                out.sample("", &labels, Value::Real(quantile.value()));
            }
            out.sample("_sum", &labels, Value::Real(summary.sample_sum()));
            let count = summary.sample_count() as f64;
            out.sample("_count", &labels, Value::Real(count));
        }
    }
}

/// `labels` with `extra` after them (`le`, `quantile`), as the crate's
/// encoder places it.
fn extended<'a>(
    labels: &[(&'a str, &'a str)],
    extra: (&'a str, &'a str),
) -> Vec<(&'a str, &'a str)> {
    let mut all = labels.to_vec();
    all.push(extra);
    all
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prometheus::core::Collector;
    use prometheus::{
        Encoder, Gauge, Histogram, HistogramOpts, IntCounterVec, Opts, Registry, TextEncoder,
    };

    use super::*;

    /// What [`expose_gathered`] writes through [`TextFormat`].
    fn ours(families: &[MetricFamily]) -> String {
        let mut text = TextFormat::with_capacity(0);
        expose_gathered(families, &mut text);
        String::from_utf8(text.finish()).unwrap()
    }

    #[test]
    fn the_text_is_what_the_crates_encoder_writes() {
        let registry = Registry::new();
        let counters = IntCounterVec::new(
            Opts::new("t_total", "Help with \\ and\nnewline \"quoted\"."),
            &["b", "a"],
        )
        .unwrap();
        counters.with_label_values(&["x\"y\\z\nw", "päd"]).inc_by(7);
        counters.with_label_values(&["", "1"]).inc();
        registry.register(Box::new(counters.clone())).unwrap();
        let gauge = Gauge::new("t_gauge", "A float.").unwrap();
        gauge.set(1795981323.2252607);
        registry.register(Box::new(gauge.clone())).unwrap();
        let histogram = Histogram::with_opts(
            HistogramOpts::new("t_seconds", "Durations.").buckets(vec![0.5, 1.0]),
        )
        .unwrap();
        histogram.observe(0.7);
        histogram.observe(3.0);
        registry.register(Box::new(histogram.clone())).unwrap();
        let families = registry.gather();

        let mut theirs = Vec::new();
        TextEncoder::new().encode(&families, &mut theirs).unwrap();
        let ours = ours(&families);
        assert_eq!(ours, String::from_utf8(theirs).unwrap());
        for line in [
            r#"t_total{a="päd",b="x\"y\\z\nw"} 7"#,
            "t_gauge 1795981323.2252607",
            r#"t_seconds_bucket{le="+Inf"} 2"#,
        ] {
            assert!(ours.lines().any(|l| l == line), "no {line} in\n{ours}");
        }
        assert_eq!(counters.collect().len(), 1);
    }

    #[test]
    fn a_family_without_samples_is_not_written() {
        let mut empty = MetricFamily::new();
        empty.set_name("t_empty".to_owned());
        empty.set_help("Nothing.".to_owned());
        assert_eq!(ours(&[empty]), "");
    }

    #[test]
    fn open_metrics_names_counter_families_without_total_and_ends_with_eof() {
        let mut om = OpenMetricsFormat::new(Vec::new());
        om.family("t_errors_total", "Errors, \"quoted\".", Kind::Counter);
        om.sample("", &[("source", "a\"b\\c\nd")], Value::Count(7));
        om.family("t_requests", "", Kind::Counter);
        om.sample("", &[], Value::Real(2.0));
        om.family("t_level", "Level.", Kind::Gauge);
        om.sample("", &[], Value::Real(f64::INFINITY));
        om.sample("", &[("x", "1")], Value::Real(f64::NAN));
        om.sample("", &[("x", "2")], Value::Real(-0.5));
        om.family("t_thing", "", Kind::Untyped);
        om.sample("", &[], Value::Real(f64::NEG_INFINITY));
        assert_eq!(
            String::from_utf8(om.finish()).unwrap(),
            "# TYPE t_errors counter\n\
             # HELP t_errors Errors, \\\"quoted\\\".\n\
             t_errors_total{source=\"a\\\"b\\\\c\\nd\"} 7\n\
             # TYPE t_requests counter\n\
             t_requests_total 2\n\
             # TYPE t_level gauge\n\
             # HELP t_level Level.\n\
             t_level +Inf\n\
             t_level{x=\"1\"} NaN\n\
             t_level{x=\"2\"} -0.5\n\
             # TYPE t_thing unknown\n\
             t_thing -Inf\n\
             # EOF\n"
        );
    }

    #[test]
    fn open_metrics_histograms_keep_their_suffixes() {
        let registry = Registry::new();
        let histogram =
            Histogram::with_opts(HistogramOpts::new("t_seconds", "Durations.").buckets(vec![0.5]))
                .unwrap();
        histogram.observe(0.7);
        registry.register(Box::new(histogram)).unwrap();
        let mut om = OpenMetricsFormat::new(Vec::new());
        expose_gathered(&registry.gather(), &mut om);
        assert_eq!(
            String::from_utf8(om.finish()).unwrap(),
            "# TYPE t_seconds histogram\n\
             # HELP t_seconds Durations.\n\
             t_seconds_bucket{le=\"0.5\"} 0\n\
             t_seconds_bucket{le=\"+Inf\"} 1\n\
             t_seconds_sum 0.7\n\
             t_seconds_count 1\n\
             # EOF\n"
        );
    }

    #[test]
    fn an_exemplar_follows_its_sample_in_open_metrics_only() {
        use crate::scan::latest::Latest;
        use crate::time::{Stamp, TimeReader, Zone};
        let mut latest = Latest::new(TimeReader::new(Zone::utc()));
        latest.note(br#"{"request_id":"req-9"}"#, None, 0);
        let (_, of_type) = latest.seen().next().unwrap();
        let exemplar = Exemplar {
            request_id: of_type.example.unwrap().1,
            time: Stamp::from_nanos(1_796_464_801_250_999_999),
        };
        let mut om = OpenMetricsFormat::new(Vec::new());
        om.family("t_total", "", Kind::Counter);
        om.sample_with_exemplar("", &[("a", "b")], Value::Count(3), Some(&exemplar));
        om.sample_with_exemplar("", &[("a", "c")], Value::Count(0), None);
        assert_eq!(
            String::from_utf8(om.finish()).unwrap(),
            "# TYPE t counter\n\
             t_total{a=\"b\"} 3 # {request_id=\"req-9\"} 1 1796464801.250\n\
             t_total{a=\"c\"} 0\n\
             # EOF\n"
        );
        let mut text = TextFormat::with_capacity(0);
        text.family("t_total", "", Kind::Counter);
        text.sample_with_exemplar("", &[], Value::Count(3), Some(&exemplar));
        assert_eq!(
            String::from_utf8(text.finish()).unwrap(),
            "# TYPE t_total counter\nt_total 3\n"
        );
    }

    #[test]
    fn an_exemplar_before_1970_keeps_its_sign_on_the_whole_time() {
        use crate::scan::latest::RequestId;
        use crate::time::Stamp;
        let request_id = RequestId::new(b"old").unwrap();
        let at = |nanos: i64| {
            let mut om = OpenMetricsFormat::new(Vec::new());
            om.family("t_total", "", Kind::Counter);
            let exemplar = Exemplar {
                request_id,
                time: Stamp::from_nanos(nanos),
            };
            om.sample_with_exemplar("", &[], Value::Count(1), Some(&exemplar));
            let text = String::from_utf8(om.finish()).unwrap();
            text.lines()
                .nth(1)
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        // 1969-12-31T23:59:58.5Z is 1.5 s before the epoch.
        assert_eq!(at(-1_500_000_000), "-1.500");
        assert_eq!(at(-500_000_000), "-0.500");
        assert_eq!(at(-2_000_000_000), "-2.000");
        // Milliseconds are floored on both sides of the epoch.
        assert_eq!(at(-1_000_001), "-0.002");
        assert_eq!(at(1_999_999), "0.001");
        assert_eq!(at(0), "0.000");
    }

    #[test]
    fn counts_are_exact_past_the_floats_integers() {
        let mut text = TextFormat::with_capacity(0);
        text.family("t_total", "", Kind::Counter);
        text.sample("", &[], Value::Count(u64::MAX));
        assert_eq!(
            String::from_utf8(text.finish()).unwrap(),
            "# TYPE t_total counter\nt_total 18446744073709551615\n"
        );
    }

    #[test]
    fn openmetrics_names_counters_without_total_and_ends_with_eof() {
        let mut out = OpenMetricsFormat::new(Vec::new());
        out.family(
            "t_total",
            "Help with \"quotes\"\nand a newline.",
            Kind::Counter,
        );
        out.sample("", &[("a", "x\"y")], Value::Count(7));
        let series = out.series("", &[("a", "b")]);
        out.sample_of(&series, 18_446_744_073_709_551_615, -5);
        out.family("g", "", Kind::Gauge);
        out.sample("", &[], Value::Real(0.5));
        let text = String::from_utf8(out.finish()).unwrap();
        assert_eq!(
            text,
            "# TYPE t counter\n\
             # HELP t Help with \\\"quotes\\\"\\nand a newline.\n\
             t_total{a=\"x\\\"y\"} 7\n\
             t_total{a=\"b\"} 18446744073709551615 -5\n\
             # TYPE g gauge\n\
             g 0.5\n\
             # EOF\n"
        );
    }
}

//! The three families path labels apply to (`errtally_errors_total`,
//! `errtally_uncatalogued_errors_total` and `errtally_lines_total`): their
//! series, and their exposition.
//!
//! They are kept here rather than in the `prometheus` crate's vectors for
//! two reasons. Its vectors fix one list of label names per family, while an
//! input without `path_labels` must keep exactly its series beside one that
//! has them (the exposition format and Prometheus accept series of one
//! family with different label names). And a vector's child costs about
//! 1.4 KiB (it carries its own copy of the family's descriptor), plus about
//! 1 KiB more while a scrape builds its protobuf message: with the default
//! `max_label_sets` of 1,000 and 46 types per set, that was 77 MiB at rest
//! and 130 MiB at a scrape, over the DaemonSet's memory limit. Here a series
//! is a map entry and a shared atomic (under 100 bytes) and `/metrics` is
//! written straight from the maps: 16 MiB at rest and 23 MiB after scrapes
//! for the same 1,000 sets (10 MiB without path labels).
//!
//! The store is registered in the daemon's one registry as a collector
//! that gives no protobuf messages: it only claims the three names, so no
//! other part can register a family of the same name. Their series reach
//! an exposition through [`SeriesStore::expose`], the store's part of the
//! one walk ([`super::Metrics::expose`]); the status page sums them with
//! [`SeriesStore::totals_by_source`].
//!
//! Inputs hold the atomics ([`Count`]) and add to them without a lock; the
//! one lock here is taken when series are made or removed (when a file of a
//! new label set opens, when an input starts, at a reload) and by a scrape.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::exposition::{Exemplar, Exposition, Kind, Value};
use super::names;
use crate::scan::status_label;

/// A counter: added to by an input, read by the exposition.
pub(super) type Count = Arc<AtomicU64>;

/// A catalogued type as its series know it: `status_code` and `error_type`.
pub(super) type TypeKey = (u16, Arc<str>);

/// A counter series' exemplar, set by the input that counts into it (once
/// per publish that carries a newer one) and read by a scrape.
pub(super) type ExemplarSlot = Arc<Mutex<Option<Exemplar>>>;

/// A source's `errtally_error_last_seen_timestamp_seconds` of one type:
/// nanoseconds since the epoch, only ever raised.
pub(super) type LastSeen = Arc<AtomicI64>;

/// Which counter series of a label set an exemplar belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Counted {
    /// `errtally_errors_total` of a catalogued type.
    Type(TypeKey),
    /// `errtally_uncatalogued_errors_total` of a status slot.
    Status(usize),
}

/// The series of one label set (or of an input without path labels).
#[derive(Default)]
struct SetSeries {
    errors: BTreeMap<TypeKey, Count>,
    /// By status slot (see [`status_label`]); made on the first count.
    uncatalogued: BTreeMap<usize, Count>,
    lines: Count,
    /// Made on the first exemplar of a series.
    exemplars: BTreeMap<Counted, ExemplarSlot>,
}

/// One source's series.
#[derive(Default)]
struct SourceSeries {
    /// Its path label names; empty without path labels.
    names: Vec<String>,
    /// The `path_labels` expression its sets were made with.
    pattern: Option<String>,
    /// By path label values, in the order of `names`.
    sets: BTreeMap<Vec<String>, SetSeries>,
    /// When each catalogued type was last seen in any of its sets; made
    /// when the type is first seen (no path labels: at 1,000 sets they
    /// would be 46,000 series more).
    last_seen: BTreeMap<TypeKey, LastSeen>,
}

/// The handles of one label set that an input counts into.
pub(super) struct SetHandles {
    /// By the index of the input's types.
    pub errors: Vec<Count>,
    /// `errtally_lines_total`.
    pub lines: Count,
}

/// What [`SeriesStore::totals`] sums.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Catalogued errors by `error_type` (types never seen left out).
    pub errors: BTreeMap<String, u64>,
    /// Uncatalogued errors.
    pub uncatalogued: u64,
    /// Lines read.
    pub lines: u64,
}

/// The series of the labelled families, by source.
#[derive(Clone)]
pub(super) struct SeriesStore {
    sources: Arc<RwLock<BTreeMap<String, SourceSeries>>>,
    /// What the registry is told the families are (without path labels).
    descs: Arc<[Desc; 4]>,
}

/// The three families in exposition order: name, help, errtally's own
/// labels.
const FAMILIES: [(&str, &str, &[&str]); 3] = [
    (
        names::ERRORS,
        names::ERRORS_HELP,
        &["source", "status_code", "error_type"],
    ),
    (names::LINES, names::LINES_HELP, &["source"]),
    (
        names::UNCATALOGUED,
        names::UNCATALOGUED_HELP,
        &["source", "status_code"],
    ),
];

/// `errtally_error_last_seen_timestamp_seconds`: name, help, labels.
const LAST_SEEN_FAMILY: (&str, &str, &[&str]) = (
    names::LAST_SEEN,
    names::LAST_SEEN_HELP,
    &["source", "status_code", "error_type"],
);

impl SeriesStore {
    /// No series yet.
    pub(super) fn new() -> Result<Self, prometheus::Error> {
        let desc = |(name, help, labels): (&str, &str, &[&str])| {
            Desc::new(
                name.to_owned(),
                help.to_owned(),
                labels.iter().map(|label| (*label).to_owned()).collect(),
                std::collections::HashMap::new(),
            )
        };
        let [errors, lines, uncatalogued] = FAMILIES;
        Ok(Self {
            sources: Arc::default(),
            descs: Arc::new([
                desc(errors)?,
                desc(lines)?,
                desc(uncatalogued)?,
                desc(LAST_SEEN_FAMILY)?,
            ]),
        })
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, SourceSeries>> {
        self.sources.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, SourceSeries>> {
        self.sources.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `source`'s sets carry the path labels `names` of the expression
    /// `pattern`. If they were made with another expression (or with none,
    /// or without one now), they are dropped first; returns whether they
    /// were.
    pub(super) fn bind(&self, source: &str, names: &[String], pattern: Option<&str>) -> bool {
        let mut sources = self.write();
        let entry = sources.entry(source.to_owned()).or_default();
        let changed = entry.pattern.as_deref() != pattern || entry.names != names;
        if changed {
            *entry = SourceSeries {
                names: names.to_vec(),
                pattern: pattern.map(str::to_owned),
                sets: BTreeMap::new(),
                last_seen: std::mem::take(&mut entry.last_seen),
            };
        }
        changed
    }

    /// The handles of `source`'s set `values`, for `types`; every type's
    /// series is made at 0 if it is not there yet.
    pub(super) fn resolve(&self, source: &str, values: &[String], types: &[TypeKey]) -> SetHandles {
        let mut sources = self.write();
        let set = set_of(&mut sources, source, values);
        SetHandles {
            errors: types
                .iter()
                .map(|key| Arc::clone(set.errors.entry(key.clone()).or_default()))
                .collect(),
            lines: Arc::clone(&set.lines),
        }
    }

    /// The counter of status `slot`'s uncatalogued errors of `source`'s set
    /// `values`, made at 0 if it is not there yet.
    pub(super) fn uncatalogued(&self, source: &str, values: &[String], slot: usize) -> Count {
        let mut sources = self.write();
        let set = set_of(&mut sources, source, values);
        Arc::clone(set.uncatalogued.entry(slot).or_default())
    }

    /// The exemplar of `source`'s set `values`' series `counted`, made
    /// empty if it is not there yet.
    pub(super) fn exemplar(
        &self,
        source: &str,
        values: &[String],
        counted: &Counted,
    ) -> ExemplarSlot {
        let mut sources = self.write();
        let set = set_of(&mut sources, source, values);
        Arc::clone(set.exemplars.entry(counted.clone()).or_default())
    }

    /// `source`'s last-seen time of type `key`, made at `nanos` if it is
    /// not there yet.
    pub(super) fn last_seen(&self, source: &str, key: &TypeKey, nanos: i64) -> LastSeen {
        let mut sources = self.write();
        let series = sources.entry(source.to_owned()).or_default();
        Arc::clone(
            series
                .last_seen
                .entry(key.clone())
                .or_insert_with(|| Arc::new(AtomicI64::new(nanos))),
        )
    }

    /// The path label values of `source`'s sets.
    pub(super) fn sets(&self, source: &str) -> Vec<Vec<String>> {
        self.read()
            .get(source)
            .map(|series| series.sets.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes `source`'s set `values` and its series.
    pub(super) fn remove_set(&self, source: &str, values: &[String]) {
        if let Some(series) = self.write().get_mut(source) {
            series.sets.remove(values);
        }
    }

    /// Removes every series of `source`.
    pub(super) fn remove_source(&self, source: &str) {
        self.write().remove(source);
    }

    /// Removes, from every set of `source`, the series of the types `keep`
    /// does not keep.
    pub(super) fn retain_types(&self, source: &str, keep: impl Fn(&TypeKey) -> bool) {
        if let Some(series) = self.write().get_mut(source) {
            for set in series.sets.values_mut() {
                set.errors.retain(|key, _| keep(key));
                set.exemplars.retain(|counted, _| match counted {
                    Counted::Type(key) => keep(key),
                    Counted::Status(_) => true,
                });
            }
            series.last_seen.retain(|key, _| keep(key));
        }
    }

    /// Sums over every source and label set: catalogued errors by
    /// `error_type`, uncatalogued errors, lines. Without the protobuf
    /// messages `gather` builds, so cheap at thousands of sets.
    pub(super) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for (_, source) in self.totals_by_source() {
            for (error_type, count) in source.errors {
                *totals.errors.entry(error_type).or_default() += count;
            }
            totals.uncatalogued += source.uncatalogued;
            totals.lines += source.lines;
        }
        totals
    }

    /// Like [`SeriesStore::totals`], per source: what the status page's
    /// history samples, without gathering every label set's series.
    pub(super) fn totals_by_source(&self) -> BTreeMap<String, Totals> {
        let mut by_source = BTreeMap::new();
        for (name, series) in self.read().iter() {
            let totals: &mut Totals = by_source.entry(name.clone()).or_default();
            for set in series.sets.values() {
                for ((_, error_type), count) in &set.errors {
                    *totals.errors.entry(error_type.to_string()).or_default() +=
                        count.load(Ordering::Relaxed);
                }
                totals.uncatalogued += set
                    .uncatalogued
                    .values()
                    .map(|count| count.load(Ordering::Relaxed))
                    .sum::<u64>();
                totals.lines += set.lines.load(Ordering::Relaxed);
            }
        }
        by_source
    }

    /// Walks the three families (those `keep` keeps by name) into `out`,
    /// in [`FAMILIES`] order; each family's series by source, then label
    /// set, then type or status, labels sorted by name (as the `prometheus`
    /// crate sorts them). A family without series is left out.
    pub(super) fn expose(&self, keep: &impl Fn(&str) -> bool, out: &mut impl Exposition) {
        let sources = self.read();
        for (family, (name, help, _)) in FAMILIES.iter().enumerate() {
            if !keep(name) {
                continue;
            }
            let mut started = false;
            for (source, series) in sources.iter() {
                for (values, set) in &series.sets {
                    let path_labels = series
                        .names
                        .iter()
                        .map(String::as_str)
                        .zip(values.iter().map(String::as_str));
                    let exemplar_of = |counted: Counted| {
                        set.exemplars
                            .get(&counted)
                            .and_then(|slot| *slot.lock().unwrap_or_else(PoisonError::into_inner))
                    };
                    let mut emit =
                        |own: &[(&str, &str)], count: &Count, exemplar: Option<Exemplar>| {
                            if !started {
                                started = true;
                                out.family(name, help, Kind::Counter);
                            }
                            let mut labels: Vec<(&str, &str)> =
                                own.iter().copied().chain(path_labels.clone()).collect();
                            labels.push(("source", source));
                            labels.sort_unstable_by_key(|(label, _)| *label);
                            let value = Value::Count(count.load(Ordering::Relaxed));
                            out.sample_with_exemplar("", &labels, value, exemplar.as_ref());
                        };
                    match family {
                        0 => {
                            for (key, count) in &set.errors {
                                let (code, error_type) = (key.0.to_string(), &key.1);
                                let exemplar = exemplar_of(Counted::Type(key.clone()));
                                emit(
                                    &[("status_code", &code), ("error_type", error_type)],
                                    count,
                                    exemplar,
                                );
                            }
                        }
                        1 => emit(&[], &set.lines, None),
                        _ => {
                            for (slot, count) in &set.uncatalogued {
                                let status = status_label(*slot);
                                let exemplar = exemplar_of(Counted::Status(*slot));
                                emit(&[("status_code", &status)], count, exemplar);
                            }
                        }
                    }
                }
            }
        }
        let (name, help, _) = LAST_SEEN_FAMILY;
        if !keep(name) {
            return;
        }
        let mut started = false;
        for (source, series) in sources.iter() {
            for ((code, error_type), nanos) in &series.last_seen {
                if !started {
                    started = true;
                    out.family(name, help, Kind::Gauge);
                }
                let code = code.to_string();
                let labels = [
                    ("error_type", &**error_type),
                    ("source", source.as_str()),
                    ("status_code", code.as_str()),
                ];
                let seconds =
                    crate::time::Stamp::from_nanos(nanos.load(Ordering::Relaxed)).as_seconds_f64();
                out.sample("", &labels, Value::Real(seconds));
            }
        }
    }
}

/// `source`'s set `values`, made empty if it is not there yet.
fn set_of<'a>(
    sources: &'a mut BTreeMap<String, SourceSeries>,
    source: &str,
    values: &[String],
) -> &'a mut SetSeries {
    sources
        .entry(source.to_owned())
        .or_default()
        .sets
        .entry(values.to_vec())
        .or_default()
}

/// Claims the four names in the registry (its descriptors) and gives no
/// messages: a protobuf message per series is what this store exists to
/// avoid, and the one walk reads the maps instead.
impl Collector for SeriesStore {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Vec::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::export::metrics::exposition::TextFormat;
    use crate::scan::status_slot;

    /// The store's part of the walk, as text.
    fn exposed(store: &SeriesStore, keep: impl Fn(&str) -> bool) -> String {
        let mut text = TextFormat::with_capacity(0);
        store.expose(&keep, &mut text);
        String::from_utf8(text.finish()).unwrap()
    }

    fn types() -> Vec<TypeKey> {
        vec![
            (404, Arc::from("email_not_found")),
            (404, Arc::from("session_not_found")),
        ]
    }

    #[test]
    fn the_walk_writes_every_series_sorted_and_escaped() {
        let store = a_plain_source_and_a_set_with_hostile_path_values();
        let ours = exposed(&store, |_| true);
        the_walk_is_sorted_and_escaped(&ours);
        // Only the families kept are walked.
        assert_eq!(
            exposed(&store, |name| name == names::LINES)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .count(),
            2
        );
        the_values_are_where_they_belong(&ours);
        assert_eq!(
            store.totals(),
            Totals {
                errors: [
                    ("email_not_found".to_owned(), 2),
                    ("session_not_found".to_owned(), 3)
                ]
                .into(),
                uncatalogued: 6,
                lines: 9,
            }
        );
    }

    /// Source `api` without path labels (3 session_not_found, 9 lines),
    /// and source `pods` with one label set whose values hold what a file
    /// name can (2 email_not_found, one uncatalogued 404 and 5 of unknown
    /// status).
    fn a_plain_source_and_a_set_with_hostile_path_values() -> SeriesStore {
        let store = SeriesStore::new().unwrap();
        store.bind("api", &[], None);
        let plain = store.resolve("api", &[], &types());
        plain.errors[1].fetch_add(3, Ordering::Relaxed);
        plain.lines.fetch_add(9, Ordering::Relaxed);
        let names = ["namespace".to_owned(), "pod".to_owned(), "zone".to_owned()];
        store.bind("pods", &names, Some("(?P<namespace>x)"));
        let hostile = [
            "a\"quoted\" \\ back\nslash".to_owned(),
            "päd-1".to_owned(),
            String::new(),
        ];
        let set = store.resolve("pods", &hostile, &types());
        set.errors[0].fetch_add(2, Ordering::Relaxed);
        store
            .uncatalogued("pods", &hostile, status_slot(Some(404)))
            .fetch_add(1, Ordering::Relaxed);
        store
            .uncatalogued("pods", &hostile, status_slot(None))
            .fetch_add(5, Ordering::Relaxed);
        store
    }

    /// Labels sorted by name and escaped, families in FAMILIES order,
    /// series by source, then label set, then type or status.
    fn the_walk_is_sorted_and_escaped(ours: &str) {
        let pod = r#"namespace="a\"quoted\" \\ back\nslash",pod="päd-1",source="pods""#;
        let expected = format!(
            "# HELP errtally_errors_total {errors_help}\n\
             # TYPE errtally_errors_total counter\n\
             errtally_errors_total{{error_type=\"email_not_found\",source=\"api\",status_code=\"404\"}} 0\n\
             errtally_errors_total{{error_type=\"session_not_found\",source=\"api\",status_code=\"404\"}} 3\n\
             errtally_errors_total{{error_type=\"email_not_found\",{pod},status_code=\"404\",zone=\"\"}} 2\n\
             errtally_errors_total{{error_type=\"session_not_found\",{pod},status_code=\"404\",zone=\"\"}} 0\n\
             # HELP errtally_lines_total {lines_help}\n\
             # TYPE errtally_lines_total counter\n\
             errtally_lines_total{{source=\"api\"}} 9\n\
             errtally_lines_total{{{pod},zone=\"\"}} 0\n\
             # HELP errtally_uncatalogued_errors_total {uncatalogued_help}\n\
             # TYPE errtally_uncatalogued_errors_total counter\n\
             errtally_uncatalogued_errors_total{{{pod},status_code=\"404\",zone=\"\"}} 1\n\
             errtally_uncatalogued_errors_total{{{pod},status_code=\"unknown\",zone=\"\"}} 5\n",
            errors_help = names::ERRORS_HELP,
            lines_help = names::LINES_HELP,
            uncatalogued_help = names::UNCATALOGUED_HELP,
        );
        assert_eq!(ours, expected);
    }

    fn the_values_are_where_they_belong(ours: &str) {
        for line in [
            r#"errtally_errors_total{error_type="session_not_found",source="api",status_code="404"} 3"#,
            r#"errtally_lines_total{source="api"} 9"#,
            r#"errtally_errors_total{error_type="email_not_found",namespace="a\"quoted\" \\ back\nslash",pod="päd-1",source="pods",status_code="404",zone=""} 2"#,
            r#"errtally_uncatalogued_errors_total{namespace="a\"quoted\" \\ back\nslash",pod="päd-1",source="pods",status_code="unknown",zone=""} 5"#,
        ] {
            assert!(ours.lines().any(|l| l == line), "no {line} in\n{ours}");
        }
        assert_eq!(ours.lines().filter(|l| !l.starts_with('#')).count(), 8);
    }

    #[test]
    fn nothing_is_written_without_series() {
        let store = SeriesStore::new().unwrap();
        store.bind("api", &[], None);
        assert_eq!(exposed(&store, |_| true), "");
    }

    #[test]
    fn binding_other_path_labels_drops_the_sources_sets() {
        let store = SeriesStore::new().unwrap();
        let names = ["service".to_owned()];
        assert!(store.bind("logs", &names, Some("(?P<service>a)")));
        store.resolve("logs", &["billing".to_owned()], &types());
        assert!(!store.bind("logs", &names, Some("(?P<service>a)")));
        assert_eq!(store.sets("logs"), [["billing".to_owned()]]);
        assert!(store.bind("logs", &names, Some("(?P<service>b)")));
        assert_eq!(store.sets("logs"), Vec::<Vec<String>>::new());
    }
}

//! What one status page costs to render at 2,000 files: with every
//! catalogued type of every input busy for a whole hour (every sparkline
//! drawn at full detail, and five examples of each with its line: the
//! largest page the history can make), and with
//! five busy types, a more usual day.
//!
//! `cargo bench --bench status_page`; the state (metrics, 361 samples of
//! history, the files) is built outside the timed part, and each case's page
//! size is printed once.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use errtally::catalog::Catalog;
use errtally::export::metrics::Metrics;
use errtally::export::status::{DaemonStatus, FileStatus, InputStatus, TypeExamples};
use errtally::export::status_page::history::{Counter, Counts, SAMPLE_INTERVAL, SLOTS, SeriesKey};
use errtally::export::status_page::{self};
use errtally::scan::Tally;
use errtally::scan::latest::RequestId;
use errtally::scan::recent::{Example, KEPT, Line};
use errtally::time::Stamp;
use tokio::time::Instant;

/// A daemon's shared state after an hour: `inputs` inputs sharing `files`
/// files, the first `busy_types` types of every input growing by a varying
/// amount each sample. Returns the state and the instant to render at.
fn busy_hour(inputs: usize, files: usize, busy_types: usize) -> (Metrics, DaemonStatus, Instant) {
    let catalog = Arc::new(Catalog::builtin().unwrap_or_else(|e| panic!("catalogue: {e}")));
    let metrics = Metrics::new().unwrap_or_else(|e| panic!("metrics: {e}"));
    metrics.set_catalog(&catalog);
    let status = DaemonStatus::new(Arc::clone(&catalog));
    let sources: Vec<String> = (0..inputs).map(|i| format!("input-{i}")).collect();
    let types = catalog.error_types();

    // Deterministic, uneven growth (a small LCG), so no sparkline collapses
    // into a few long runs.
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 50
    };
    let mut totals = vec![vec![0u64; types.len() + 2]; inputs];
    let start = Instant::now();
    for sample in 0..=SLOTS {
        let mut counts = Counts::default();
        for (source, totals) in sources.iter().zip(&mut totals) {
            for (slot, total) in totals.iter_mut().enumerate() {
                let busy = slot < busy_types || slot >= types.len();
                if sample > 0 && busy {
                    *total += next() + 1;
                }
                let counter = match slot {
                    s if s < types.len() => Counter::Errors(types[s].clone()),
                    s if s == types.len() => Counter::Uncatalogued,
                    _ => Counter::Lines,
                };
                counts.add(SeriesKey::new(source, counter), *total);
            }
        }
        let taken = start + SAMPLE_INTERVAL * sample as u32;
        status.history().record(taken, &counts);
    }
    // The registry holds what the last sample saw.
    for (source, totals) in sources.iter().zip(&totals) {
        let mut input = metrics.input(source, &catalog);
        let mut tally = Tally::new(catalog.len());
        tally.errors.copy_from_slice(&totals[..types.len()]);
        tally.uncatalogued[0] = totals[types.len()];
        tally.lines = totals[types.len() + 1];
        input.publish(&mut tally);
    }
    for (i, source) in sources.iter().enumerate() {
        let files = (i * files / inputs..(i + 1) * files / inputs)
            .map(|f| FileStatus {
                path: PathBuf::from(format!(
                    "/var/log/pods/namespace-{f}_pod-{f:05}_0a1b2c3d/app/0.log"
                )),
                offset: 1 << 20,
                size: (1 << 20) + (f as u64 * 7919) % 65536,
            })
            .collect();
        status.set_input(
            source,
            InputStatus {
                patterns: vec!["/var/log/pods/*/*/*.log".to_string()],
                files,
                finished: false,
                examples: Arc::new(examples(&types, busy_types, i)),
            },
        );
    }
    let now = start + SAMPLE_INTERVAL * SLOTS as u32 + Duration::from_secs(5);
    (metrics, status, now)
}

/// The page's worst case of examples: five of each busy type, with IDs,
/// long pod paths and their lines.
fn examples(types: &[String], busy_types: usize, input: usize) -> Vec<TypeExamples> {
    types
        .iter()
        .take(busy_types)
        .map(|error_type| TypeExamples {
            error_type: error_type.clone(),
            examples: (0..KEPT as u64)
                .map(|n| Example {
                    time: Stamp::from_seconds(1_796_464_800 - n as i64)
                        .unwrap_or(Stamp::from_nanos(0)),
                    timed: true,
                    request_id: RequestId::new(
                        format!("request-id-live-{input:04}-{n:020}").as_bytes(),
                    ),
                    path: Arc::from(Path::new(&format!(
                        "/var/log/pods/namespace-{n}_pod-{input:05}_0a1b2c3d/app/0.log"
                    ))),
                    offset: n * 7919,
                    line: Some(Line {
                        text: format!(
                            "{{\"error_type\":\"{error_type}\",\"pad\":\"{}\"}}",
                            "x".repeat(240)
                        )
                        .into(),
                        cut: true,
                    }),
                })
                .collect(),
        })
        .collect()
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("status_page");
    for (name, inputs, busy_types) in [
        ("2000_files_1_input_46_types", 1, 46),
        ("2000_files_10_inputs_46_types", 10, 46),
        ("2000_files_1_input_5_types", 1, 5),
    ] {
        let (metrics, status, now) = busy_hour(inputs, 2000, busy_types);
        let page = status_page::render(&metrics, &status, SystemTime::now(), now);
        eprintln!("{name}: {} bytes", page.len());
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(status_page::render(
                    &metrics,
                    &status,
                    SystemTime::now(),
                    now,
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);

//! Scanner throughput on in-memory data, next to a bare `memmem` pass over
//! the same bytes (the ceiling: what finding the key alone costs).
//!
//! `cargo bench --bench scan`; input is the deterministic corpus, built
//! outside the timed part.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use errtally::catalog::Catalog;
use errtally::cmd::corpus::{self, CorpusConfig};
use errtally::read::LineReader;
use errtally::read::frame::DEFAULT_MAX_LINE_BYTES;
use errtally::scan::{Scanner, Tally};

const CORPUS_BYTES: u64 = 64 << 20;

fn corpus(hostile: bool, error_percent: u32) -> (Vec<u8>, Vec<String>) {
    let catalog = Catalog::builtin().unwrap_or_else(|e| panic!("built-in catalogue: {e}"));
    let types = catalog.error_types();
    let config = CorpusConfig {
        seed: 7,
        target_bytes: CORPUS_BYTES,
        max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        error_percent,
        hostile,
        times: None,
        span_seconds: None,
    };
    let mut bytes = Vec::with_capacity(CORPUS_BYTES as usize + (1 << 20));
    corpus::generate(&config, &types, &mut bytes).unwrap_or_else(|e| panic!("corpus: {e}"));
    (bytes, types)
}

/// Counts `data` in 2 MiB buffers through the read loop's counting step,
/// as `errtally scan` does with its pool buffers.
fn scan_all(scanner: &mut Scanner, data: &[u8], tally: &mut Tally) {
    let mut lines = LineReader::new(DEFAULT_MAX_LINE_BYTES);
    for buf in data.chunks(2 << 20) {
        lines.count(buf, scanner, tally);
    }
    lines.finish(scanner, tally);
}

/// Request logs where every line says `type` twice (a `type` key and a
/// `content_type`), one in ten with a Stytch error: the worst realistic case
/// for the scanner's `ype` anchor, which stops at each of them.
fn typeful_corpus() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(CORPUS_BYTES as usize + 4096);
    let mut i = 0u64;
    while (bytes.len() as u64) < CORPUS_BYTES {
        let line = if i.is_multiple_of(10) {
            format!(
                r#"{{"ts":"2026-11-29T01:02:03.{i:06}Z","level":"warn","type":"stytch","content_type":"application/json","status_code":404,"error_type":"session_not_found","msg":"stytch call failed"}}"#
            )
        } else {
            format!(
                r#"{{"ts":"2026-11-29T01:02:03.{i:06}Z","level":"info","type":"request","content_type":"application/json","msg":"served GET /api/v1/items/{i} in 3ms"}}"#
            )
        };
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        i += 1;
    }
    bytes
}

fn bench_scan(c: &mut Criterion) {
    let catalog = Arc::new(Catalog::builtin().unwrap_or_else(|e| panic!("catalogue: {e}")));
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    for (name, hostile, error_percent) in [
        ("clean_10pct", false, 10),
        ("hostile_10pct", true, 10),
        ("clean_50pct", false, 50),
        ("typeful_10pct", false, 10),
    ] {
        let data = if name.starts_with("typeful") {
            typeful_corpus()
        } else {
            corpus(hostile, error_percent).0
        };
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("memmem_only/{name}"), |b| {
            let finder = memchr::memmem::Finder::new(b"\"error_type\"");
            b.iter(|| black_box(finder.find_iter(black_box(&data)).count()))
        });
        group.bench_function(format!("scan_lines/{name}"), |b| {
            let mut scanner = Scanner::new(Arc::clone(&catalog));
            let mut tally = Tally::new(catalog.len());
            b.iter(|| {
                tally.clear();
                scanner.scan_lines(black_box(&data), &mut tally);
                black_box(tally.lines)
            })
        });
        group.bench_function(format!("framed/{name}"), |b| {
            let mut scanner = Scanner::new(Arc::clone(&catalog));
            let mut tally = Tally::new(catalog.len());
            b.iter(|| {
                tally.clear();
                scan_all(&mut scanner, black_box(&data), &mut tally);
                black_box(tally.lines)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);

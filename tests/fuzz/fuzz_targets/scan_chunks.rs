//! The scanner on arbitrary bytes, three ways that must agree: framed in
//! arbitrary buffers and counted a chunk at a time (`scan_chunk`, how
//! `scan` and the daemon's plain reads count), the same chunks counted by
//! `find_errors` with lines counted apart (the daemon's read-ahead path),
//! and each record on its own (`scan_record`, no neighbouring lines in
//! view). Also: never a panic, whatever the bytes.

#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use errtally::catalog::Catalog;
use errtally::frame::{Chunk, LineFramer};
use errtally::scan::{Scanner, Tally};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    max_line: u16,
    sizes: Vec<u16>,
    data: Vec<u8>,
}

fn catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    Arc::clone(CATALOG.get_or_init(|| Arc::new(Catalog::builtin().unwrap())))
}

fuzz_target!(|input: Input| {
    let catalog = catalog();
    let max_line = usize::from(input.max_line % 512) + 1;
    let sizes: Vec<usize> = if input.sizes.iter().all(|&s| s == 0) {
        vec![input.data.len().max(1)]
    } else {
        input.sizes.iter().map(|&s| usize::from(s)).collect()
    };
    let mut scanner = Scanner::new(Arc::clone(&catalog));
    let mut chunked = Tally::new(catalog.len());
    let mut found = Tally::new(catalog.len());
    let mut records = Tally::new(catalog.len());
    let mut per_record = Scanner::new(Arc::clone(&catalog));
    let mut framer = LineFramer::new(max_line);
    let mut rest = &input.data[..];
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).min(rest.len());
        framer.frame(&rest[..n], |chunk| {
            match chunk {
                Chunk::Lines(lines) => {
                    found.lines += lines.iter().filter(|&&b| b == b'\n').count() as u64;
                    for line in lines[..lines.len() - 1].split(|&b| b == b'\n') {
                        per_record.scan_record(line, &mut records);
                    }
                }
                Chunk::Truncated(head) => {
                    found.lines += 1;
                    records.truncated_lines += 1;
                    per_record.scan_record(head, &mut records);
                }
            }
            let copy = match &chunk {
                Chunk::Lines(lines) => Chunk::Lines(lines),
                Chunk::Truncated(head) => Chunk::Truncated(head),
            };
            scanner.find_errors(copy, &mut found);
            scanner.scan_chunk(chunk, &mut chunked);
        });
        rest = &rest[n..];
    }
    if let Some(last) = framer.finish() {
        scanner.scan_record(last, &mut chunked);
        scanner.scan_record(last, &mut found);
        per_record.scan_record(last, &mut records);
    }
    assert_eq!(chunked, records, "chunk scan vs one record at a time");
    assert_eq!(found, chunked, "find_errors vs scan_chunk");
});

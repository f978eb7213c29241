//! The read loop's counting on arbitrary bytes, framed in arbitrary
//! buffers ([`LineReader::count`], how `scan`, stdin and the daemon count),
//! against each record scanned on its own (`scan_record`, no neighbouring
//! lines in view), with lines over the maximum cut to their head. Also:
//! never a panic, whatever the bytes.

#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use errtally::catalog::Catalog;
use errtally::read::LineReader;
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
    let mut counted = Tally::new(catalog.len());
    let mut reader = LineReader::new(max_line);
    let mut rest = &input.data[..];
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        reader.count(&rest[..n], &mut scanner, &mut counted);
        rest = &rest[n..];
    }
    reader.finish(&mut scanner, &mut counted);

    let mut per_record = Scanner::new(Arc::clone(&catalog));
    let mut records = Tally::new(catalog.len());
    records.bytes = input.data.len() as u64;
    let data = input.data.strip_suffix(b"\n").unwrap_or(&input.data);
    if !input.data.is_empty() {
        for line in data.split(|&b| b == b'\n') {
            let record = if line.len() > max_line {
                records.truncated_lines += 1;
                &line[..max_line]
            } else {
                line
            };
            per_record.scan_record(record, &mut records);
        }
    }
    assert_eq!(counted, records, "framed counting vs one record at a time");
});

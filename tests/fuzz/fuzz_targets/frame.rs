//! The line framer against the framing rules written out plainly: whatever
//! the buffer sizes and `max_line_bytes`, `LineFramer` hands out the same
//! records as splitting the input at each `\n` and cutting every line to
//! the maximum (the reference of `src/frame.rs`'s unit tests), keeps its
//! carry bounded, and accounts for every byte (offset + pending = framed).

#![no_main]

use arbitrary::Arbitrary;
use errtally::read::frame::{Chunk, LineFramer};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    max_line: u8,
    sizes: Vec<u8>,
    data: Vec<u8>,
}

/// Lines (without `\n`) cut to `max_line`, with whether each was cut; a
/// last line without `\n` is a record too.
fn reference(input: &[u8], max_line: usize) -> Vec<(Vec<u8>, bool)> {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| {
            if line.len() > max_line {
                (line[..max_line].to_vec(), true)
            } else {
                (line.to_vec(), false)
            }
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let max_line = usize::from(input.max_line % 64) + 1;
    let sizes: Vec<usize> = if input.sizes.iter().all(|&s| s == 0) {
        vec![1]
    } else {
        input.sizes.iter().map(|&s| usize::from(s)).collect()
    };
    let mut framer = LineFramer::new(max_line);
    let mut got = Vec::new();
    let mut rest = &input.data[..];
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).min(rest.len());
        framer.frame(&rest[..n], |chunk| match chunk {
            Chunk::Lines(lines) => {
                assert_eq!(lines.last(), Some(&b'\n'));
                for line in lines[..lines.len() - 1].split(|&b| b == b'\n') {
                    assert!(line.len() <= max_line);
                    got.push((line.to_vec(), false));
                }
            }
            Chunk::Truncated(head) => {
                assert_eq!(head.len(), max_line);
                got.push((head.to_vec(), true));
            }
            Chunk::TruncatedEnd { .. } => {}
        });
        rest = &rest[n..];
        assert!(framer.pending_bytes() <= max_line);
        assert_eq!(
            framer.offset() + framer.pending_bytes() as u64,
            (input.data.len() - rest.len()) as u64
        );
    }
    if let Some(last) = framer.finish() {
        got.push((last.to_vec(), false));
    }
    assert_eq!(framer.finish(), None);
    assert_eq!(framer.offset(), input.data.len() as u64);
    assert_eq!(got, reference(&input.data, max_line));
});

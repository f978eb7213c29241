//! errtally counts the catalogued Stytch B2B 404 errors found in service
//! logs (the API's JSON, and the forms the official SDKs print) and exports
//! them as Prometheus metrics.
//!
//! # Data flow
//!
//! file or stdin -> [`read`] (large chunks, framed into complete lines in
//! bounded memory) -> [`scan`] (each record's error type, no allocation on
//! lines without one) -> [`scan::Tally`] (per-type counts, local to one
//! reader) -> [`export::metrics`] (added to the shared counters once per
//! chunk) -> `/metrics`. Offsets follow the counts: an input publishes them
//! after each poll, and the [`checkpoint`] writer persists them.
//!
//! # Layout, by stage
//!
//! - [`catalog`]: the 46 catalogued error types, their hints, the dense index.
//! - [`read`]: the one read loop (read, frame, scan, tally) that `scan`,
//!   stdin and the file tailer share, and its sources (plain reads, a
//!   read-ahead thread, file ranges, decompression); [`read::frame`] and
//!   [`scan`] are the pure, synchronous core (no I/O).
//! - [`time`]: a counted record's time (where it is, how it reads, the zone
//!   of zone-less times), pure like [`read::frame`]; [`scan::timeline`]
//!   counts by it for `scan --since/--until/--by` and the OpenMetrics
//!   backfill ([`cmd::history`], [`cmd::backfill`]).
//! - [`tail`]: the daemon's inputs (files: discovery, watches, rotation,
//!   truncation; stdin; the supervised pipeline of inputs);
//!   [`checkpoint`]: the state file, the offset board inputs publish to,
//!   and its one writer.
//! - [`export`]: what people and Prometheus read: the metric families (the
//!   one exposition path, for `/metrics` and `scan --format prometheus`),
//!   the HTTP endpoints and their protection, the status page.
//! - [`daemon`]: `errtally run`, the orchestration of start, reload and
//!   shutdown ([`daemon::run`] takes its shutdown trigger as a parameter, so
//!   tests and `main` can fire it); [`config`] its TOML file;
//!   [`lifecycle`] the one cancellation tree, from `main`'s signals to
//!   every task, thread and blocking loop, and the order they stop in.
//! - [`cmd`]: the one-shot commands (`scan`, `catalog`, `gen`, `demo`,
//!   `completions`, `man`) and the deterministic synthetic corpus with a
//!   known tally.
//! - [`cli`], [`logging`]: the edges the binary uses.
//! - [`walk`]: bounded directory walks (each directory once by device and
//!   inode, a depth limit), for the daemon's globs and `scan DIR`; it uses
//!   nothing else of the crate, so both layers above can share it.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use errtally::catalog::Catalog;
//! use errtally::scan::{Scanner, Tally};
//!
//! let catalog = Arc::new(Catalog::builtin()?);
//! let mut scanner = Scanner::new(Arc::clone(&catalog));
//! let mut tally = Tally::new(catalog.len());
//! let log = b"{\"level\":\"warn\",\"status_code\":404,\"error_type\":\"oauth_token_not_found\"}\n\
//!             {\"log\":\"{\\\"error_type\\\":\\\"session_not_found\\\"}\\n\"}\n\
//!             {\"level\":\"info\",\"msg\":\"ok\"}\n";
//! scanner.scan_lines(log, &mut tally);
//! let oauth = catalog.index_of(b"oauth_token_not_found").unwrap_or(usize::MAX);
//! let session = catalog.index_of(b"session_not_found").unwrap_or(usize::MAX);
//! assert_eq!(tally.lines, 3);
//! assert_eq!((tally.errors[oauth], tally.errors[session]), (1, 1));
//! # Ok::<(), errtally::catalog::CatalogError>(())
//! ```

// The docs are for contributors, who read them with
// `cargo doc --document-private-items`: links from public items to
// crate-private ones are intended, not a leak.
#![allow(rustdoc::private_intra_doc_links)]

pub mod catalog;
pub(crate) mod checkpoint;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod export;
pub mod lifecycle;
pub mod logging;
pub mod position;
pub mod read;
pub mod scan;
pub(crate) mod tail;
pub mod time;
pub(crate) mod walk;

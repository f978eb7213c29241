//! errtally counts the catalogued Stytch B2B 404 errors found in service
//! logs (the API's JSON, and the forms the official SDKs print) and exports
//! them as Prometheus metrics.
//!
//! # Data flow
//!
//! file or stdin -> [`read`] (large chunks, framed into complete lines in
//! bounded memory) -> [`scan`] (each record's error type, no allocation on lines
//! without one) -> [`scan::Tally`] (per-type counts, local to one reader) ->
//! [`metrics`] (added to the shared counters once per chunk) -> `/metrics`.
//! Offsets follow the counts: an input publishes them after each poll, and
//! the [`checkpoint`] store persists them.
//!
//! # Layout
//!
//! - [`catalog`]: the 46 catalogued error types, their hints, the dense index.
//! - [`read`]: the one read loop (read, frame, scan, tally) that `scan`,
//!   stdin and the file tailer share; [`read::frame`] and [`scan`] are the
//!   pure, synchronous core (no I/O).
//! - [`batch`], [`report`]: `errtally scan`, `catalog` and `gen`; [`corpus`]
//!   is the deterministic synthetic log generator with a known tally.
//! - [`daemon`]: `errtally run` ([`daemon::run`] takes its shutdown trigger as
//!   a parameter, so tests and `main` can fire it); [`config`] its TOML file;
//!   [`tail`] one task per input (files: discovery, rotation, truncation;
//!   stdin; the supervised pipeline of inputs); [`checkpoint`] the state
//!   file, the offset board inputs publish to and its one writer; [`http`] the
//!   endpoints, and serving them (TLS, basic auth and headers from
//!   `--web.config.file`); [`status_page`] the page at `/` (rates,
//!   sparklines from its sampled last hour, the catalogue's causes and
//!   steps); [`status`] the inputs, files and readiness it shows.
//! - [`cli`], [`logging`], [`demo`]: the edges the binary uses.

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

pub mod batch;
pub mod catalog;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod daemon;
pub mod demo;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod read;
pub mod report;
pub mod scan;
pub mod status;
pub mod status_page;
pub mod tail;

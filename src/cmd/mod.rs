//! The one-shot commands: `scan` (read inputs to their end and report, in
//! parallel), `catalog` (list the catalogue), `gen` (write a synthetic
//! corpus), `demo` (the daemon on synthetic logs), `completions` and `man`.
//!
//! - [`batch`]: the commands themselves; [`report`]: their output formats;
//! - [`docs`]: the shell completions and the manual page;
//! - [`corpus`]: the deterministic synthetic Stytch log generator with a
//!   known tally, which `gen`, `demo`, the tests and the benches use;
//! - [`demo`]: `errtally demo`.

pub mod backfill;
pub mod batch;
// Not part of the library's API: public only because the criterion bench
// (a crate of its own) generates its input with it.
#[doc(hidden)]
pub mod corpus;
pub mod demo;
pub mod docs;
pub mod history;
pub(crate) mod report;

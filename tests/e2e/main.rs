//! End-to-end tests: the real `errtally` binary on real files, compared with
//! the corpus generator's expected tally.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scan;
mod support;

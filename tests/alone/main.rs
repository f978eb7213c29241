//! End-to-end tests with wall-clock bounds, which need the machine to
//! themselves: a binary of their own, since `cargo test` runs its test
//! binaries one after another but the tests of one binary in parallel (in
//! `e2e`, a storm or a catch-up beside a `kill -9` delays the checkpoint
//! writer it times). A margin wide enough for any neighbour would no
//! longer check the bound; running alone keeps the bound as the README
//! states it. Add a test here only if it asserts a time, and let it take
//! [`alone`] so that tests of this binary never overlap either.
//!
//! The helpers are `e2e`'s own files, compiled in again; what this binary
//! does not call of them is dead code here only.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../e2e/daemon_support.rs"]
mod daemon_support;
mod faults;
#[path = "../e2e/faults_support.rs"]
mod faults_support;
#[path = "../e2e/support.rs"]
mod support;

/// Held for the whole of each test of this binary, so that none runs
/// beside another whatever `--test-threads` says.
pub fn alone() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed while holding it poisoned it; the next may run.
    MACHINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

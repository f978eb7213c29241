//! The descriptor budget: how many log files the daemon's inputs may hold
//! open at once, so that following files never takes the descriptors that
//! serving `/metrics`, saving the checkpoint, listing directories and
//! reloading need.
//!
//! The budget is the process's open-file limit less a reserve taken first:
//! the HTTP server's connections (`min(--web.max-connections, nofile / 4)`),
//! plus a fixed margin for the listener, inotify, the checkpoint's temp file
//! and directory, directory listings (one descriptor per level of a `**`
//! walk) and a reload's overlap, plus whatever was open when it was
//! computed. Inputs take a slot before opening a file and give it back when
//! the file is closed or parked ([`super::input`] parks the least recently
//! written files that are read to their end when the budget runs out).
//!
//! It counts; it does not open anything. A slot is an atomic increment, not
//! a lock, and it is taken once per open, never per read.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Descriptors kept aside for everything but log files and connections:
/// the listener, inotify, stdio, the checkpoint's temp file and directory,
/// a `**` walk's open directories, a certificate reload.
const FIXED_RESERVE: usize = 64;

/// Fewest slots for log files, however low the limit: with fewer, errtally
/// cannot do its job, and the operator is told.
const MIN_SLOTS: usize = 8;

/// Log-file descriptors shared by every file input of the daemon.
#[derive(Debug)]
pub struct DescriptorBudget {
    limit: usize,
    used: AtomicUsize,
    /// Whether running out was logged (once per process).
    warned: AtomicBool,
}

impl DescriptorBudget {
    /// A budget of `limit` slots.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// A budget that never runs out (library use and tests that do not
    /// exercise it).
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// The budget of this process: its soft open-file limit, less the
    /// descriptors open now, the serving reserve for `max_connections` and
    /// a fixed margin.
    pub fn for_process(max_connections: usize) -> Self {
        let Some(nofile) = soft_nofile_limit() else {
            return Self::unlimited();
        };
        let open_now = open_descriptors().unwrap_or(16);
        let serving = max_connections.min(nofile / 4);
        let limit = nofile
            .saturating_sub(open_now + serving + FIXED_RESERVE)
            .max(MIN_SLOTS);
        tracing::info!(nofile, serving, log_files = limit, "descriptor budget");
        Self::new(limit)
    }

    /// How many log files may be open at once.
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes a slot for one file; false when none is left (the caller parks
    /// a file first, or waits).
    pub fn try_acquire(&self) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok();
        if !taken && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                limit = self.limit,
                "more log files than descriptors allow; the least recently written are closed and reopened when they change (raise LimitNOFILE to keep them open)"
            );
        }
        taken
    }

    /// Gives back `count` slots (files closed or parked).
    pub fn release(&self, count: usize) {
        if count > 0 {
            let _ = self
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    Some(used.saturating_sub(count))
                });
        }
    }

    /// Slots in use.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The soft `RLIMIT_NOFILE`, if it is finite and fits a `usize`.
fn soft_nofile_limit() -> Option<usize> {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    if soft == rlimit::INFINITY {
        return None;
    }
    usize::try_from(soft).ok()
}

/// How many descriptors the process has open now.
fn open_descriptors() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_at_the_limit_and_come_back_when_released() {
        let budget = DescriptorBudget::new(2);
        assert!(budget.try_acquire());
        assert!(budget.try_acquire());
        assert!(!budget.try_acquire());
        budget.release(1);
        assert!(budget.try_acquire());
        assert_eq!(budget.used(), 2);
        budget.release(5);
        assert_eq!(budget.used(), 0, "never below zero");
    }

    #[test]
    fn the_process_budget_leaves_the_serving_reserve_and_margin() {
        let nofile = soft_nofile_limit().unwrap_or(usize::MAX);
        let budget = DescriptorBudget::for_process(1000);
        if nofile < usize::MAX / 2 {
            let serving = 1000.min(nofile / 4);
            assert!(
                budget.limit() <= nofile - serving - FIXED_RESERVE || budget.limit() == MIN_SLOTS
            );
        }
    }
}

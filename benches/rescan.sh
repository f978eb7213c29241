#!/usr/bin/env bash
# The glob rescan's cost (listing + reconcile with the open files), the
# periodic safety net every input pays: FileInput::poll(Sweep::Rescan) on a
# directory of N empty files, first scan (opens them all) and the median of
# 5 rescans after it. Release build. Every file stays open, so the soft
# descriptor limit is raised to the hard one; a size that does not fit under
# it has its listing alone (walk, stat, cap) timed, and says so.
#
#   benches/rescan.sh [N,N,...]     (default 10000,100000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-10000,100000}"
ulimit -n "$(ulimit -Hn)"
ERRTALLY_RESCAN_FILES="$sizes" cargo test --release --lib -- --ignored --exact \
  tail::input::tests::rescan_time --nocapture 2>&1 | grep -E '^rescan |test result'

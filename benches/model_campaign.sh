#!/usr/bin/env bash
# Long campaign of the model-based tailing test (tests/e2e/model.rs): runs it
# seed after seed, CASES random cases per seed, until the time is up; keeps
# the log of every failing seed (with proptest's shrunk case) and prints the
# totals: cases, failures, lines replayed after crashes, lines lost to racing
# copytruncates, followed files a crash left out of the checkpoint, cases
# under descriptor pressure and with unlistable-directory windows.
#
#   benches/model_campaign.sh [--minutes N] [--cases N] [--seed FIRST]
#                             [--shrink-iters N] [--out DIR]
#
# A failing case is shrunk for at most --shrink-iters steps (default 50):
# a step that fails on a lost line waits out the 15 s deadline.
#
# A failing seed is replayed with
#   PROPTEST_RNG_SEED=SEED ERRTALLY_MODEL_CASES=CASES cargo test --test e2e model_random
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=30
cases=50
seed=1
shrink_iters=50
out=target/model-campaign
while (($#)); do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --shrink-iters) shrink_iters=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cargo test --test e2e --no-run -q
mkdir -p "$out"
summary="$out/cases.txt"
: >"$summary"
stalls="$out/stalls.txt"
: >"$stalls"
end=$((SECONDS + minutes * 60))
seeds=0
failed=()
while ((SECONDS < end)); do
  log="$out/seed-$seed.log"
  if ERRTALLY_MODEL_CASES=$cases ERRTALLY_MODEL_VERBOSE=1 PROPTEST_RNG_SEED=$seed \
    ERRTALLY_MODEL_SHRINK_ITERS=$shrink_iters \
    cargo test -q --test e2e model::model_random -- --nocapture >"$log" 2>&1; then
    grep '^model case' "$log" >>"$summary" || true
    grep '^model stall' "$log" | sed "s/^/seed $seed: /" >>"$stalls" || true
    rm -f "$log"
  else
    grep '^model case' "$log" >>"$summary" || true
    grep '^model stall' "$log" | sed "s/^/seed $seed: /" >>"$stalls" || true
    failed+=("$seed")
    echo "seed $seed FAILED; log: $log" >&2
  fi
  seeds=$((seeds + 1))
  seed=$((seed + 1))
done

# One line per passing case: "model case: N actions, start_at_end=B,
# pressure=P, as_nobody=Q, Stats { replayed: R, lost_to_copytruncate: L,
# unsaved_after_crash: U, restarts: S, unlisted_windows: W, most_parked: K,
# slowest_settle_ms: T }". Settles over 2 s print their last steps
# ("model stall: ..."), kept in stalls.txt with their seed.
awk -v seeds="$seeds" -v failures="${#failed[@]}" -v stalls_file="$stalls" '
  /^model case/ {
    cases++
    for (i = 1; i <= NF; i++) {
      if ($i == "replayed:") replayed += $(i + 1)
      if ($i == "lost_to_copytruncate:") lost += $(i + 1)
      if ($i == "unsaved_after_crash:") unsaved += $(i + 1)
      if ($i == "restarts:") restarts += $(i + 1)
      if ($i == "unlisted_windows:") windows += $(i + 1)
      if ($i == "most_parked:" && $(i + 1) + 0 > 0) parking++
      if ($i == "pressure=true,") pressed++
      if ($i == "as_nobody=true,") nobody++
      if ($i == "slowest_settle_ms:" && $(i + 1) + 0 > 2000) stalled++
    }
  }
  END {
    printf "seeds %d, passing cases %d, failing seeds %d\n", seeds, cases, failures
    printf "restarts %d, lines replayed after crashes %d, lines lost to racing copytruncates %d, followed files a crash left out of the checkpoint %d\n", restarts, replayed, lost, unsaved
    printf "cases under descriptor pressure %d (files parked in %d), cases as nobody %d with %d unlistable windows\n", pressed, parking, nobody, windows
    printf "settles slower than 2 s (counted late, not lost): %d, in %s\n", stalled, stalls_file
  }' "$summary"
if ((${#failed[@]})); then
  echo "failing seeds: ${failed[*]} (logs in $out)"
  exit 1
fi

#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (cargo-fuzz) for a fixed time
# each and prints, per target, the runs, execs/s and any crash:
#   frame        the line framer vs the plain split-and-cut reference
#   scan_chunks  arbitrary bytes: chunk scanning vs one record at a time
#                vs the read-ahead path (find_errors)
#   scan_tree    generated JSON records vs the tree reference (rules 2-5)
#
#   benches/fuzz.sh [--seconds N] [TARGET...]      (default 300 s, all three)
#
# cargo-fuzz needs nightly rustc (-Zsanitizer); with only a stable
# toolchain, RUSTC_BOOTSTRAP=1 lets stable take the nightly flags. Install
# it with `cargo install cargo-fuzz`. Corpora grow in tests/fuzz/corpus
# (seeded with the SDK fixtures), crashes land in tests/fuzz/artifacts; a
# crash is replayed with `cargo +nightly fuzz run --fuzz-dir tests/fuzz
# TARGET ARTIFACT` and belongs in a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(frame scan_chunks scan_tree)

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
"${fuzz[@]}" build --fuzz-dir tests/fuzz

# The SDK fixtures are real error records: a head start for the corpora.
for target in scan_chunks frame; do
  mkdir -p "tests/fuzz/corpus/$target"
  find tests/fixtures/sdk -type f ! -name '*.sh' -size -64k -exec cp -n {} "tests/fuzz/corpus/$target/" \;
done

status=0
for target in "${targets[@]}"; do
  log="tests/fuzz/target/fuzz-$target.log"
  mkdir -p tests/fuzz/target
  if "${fuzz[@]}" run --fuzz-dir tests/fuzz "$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH ($(grep -o 'artifacts/[^ ]*' "$log" | head -1))"
    status=1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
  cover=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  printf '%-12s %6ss  %12s runs  %8s execs/s  %-10s  %s\n' \
    "$target" "$seconds" "${runs:-?}" "${rate:-?}" "${cover:-}" "$result"
done
exit "$status"

#!/usr/bin/env bash
# A week of history backfilled: `gen --times --span 7d` of about 1 GiB a
# day, cut into 7 daily files at line boundaries (`split -C 1G`) and
# gzipped as logrotate leaves them, then `scan --format openmetrics --step
# 1m` of all of them and `promtool tsdb create-blocks-from openmetrics
# --max-block-duration=24h`. Prints each step's wall time and peak RSS (GNU
# time) and the sizes. Release build; needs gzip, promtool (Debian package
# prometheus) and GNU time.
#
#   benches/week.sh [GiB per day]      (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
per_day="${1:-1}"
bin="$PWD/target/release/errtally"
work="$(mktemp -d "${TMPDIR:-/tmp}/week.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
measure() { /usr/bin/time -f "$1: %e s, peak RSS %M KiB" "${@:2}"; }
measure "gen $((7 * per_day)) GiB" sh -c "'$bin' gen --times --timezone Europe/Berlin --span 7d --clean \
  --bytes $((7 * per_day << 30)) --out - | split -C ${per_day}G -d - app.log."
ls app.log.* | xargs -P 2 -n 1 gzip -1
echo "inputs: $(du -ch app.log.*.gz | tail -1)"
measure "scan --format openmetrics" sh -c "'$bin' scan --format openmetrics --timezone Europe/Berlin \
  --label job=errtally --label instance=web-1:9184 app.log.*.gz > backfill.om"
echo "output: $(du -h backfill.om | cut -f1), $(wc -l < backfill.om) lines"
measure "promtool create-blocks-from openmetrics" \
  promtool tsdb create-blocks-from openmetrics --max-block-duration=24h backfill.om data > /dev/null
echo "blocks: $(ls data | wc -l), $(du -sh data | cut -f1)"

#!/usr/bin/env bash
# Regenerates dashboards/status-page.png, the README's picture of the status
# page: runs `errtally demo` on a free loopback port, lets it count for a
# while with two bursts on top of its steady traffic (so the sparklines and
# the sort by current rate have something to show), then screenshots `/`
# with headless Chromium.
#
#   bash benches/screenshot.sh [SECONDS]     # default 600: 10 minutes of history
#
# Needs chromium (`apt-get install -y chromium`). ERRTALLY_BIN picks a
# binary; otherwise a release build is made. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
(( seconds >= 300 )) || { echo "SECONDS must be at least 300 (the bursts need room)" >&2; exit 2; }
out=dashboards/status-page.png
bin=${ERRTALLY_BIN:-}
if [[ -z $bin ]]; then
    cargo build --release --quiet
    bin=target/release/errtally
fi
command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium" >&2; exit 1; }

work=$(mktemp -d)
"$bin" demo --web.listen-address 127.0.0.1:0 --rate 200 2>"$work/demo.log" &
demo=$!
cleanup() {
    kill "$demo" 2>/dev/null || true
    wait "$demo" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The bound address and the demo's log file, from what it prints.
address=
for _ in $(seq 100); do
    address=$(sed -n 's/.*msg="\{0,1\}listening"\{0,1\} .*address=\([0-9.:]*\).*/\1/p' "$work/demo.log" | head -1)
    [[ -n $address ]] && break
    sleep 0.1
done
logfile=$(sed -n 's/^errtally demo: writing .* lines\/s to //p' "$work/demo.log")
if [[ -z $address || -z $logfile ]]; then
    echo "the demo did not start:" >&2
    cat "$work/demo.log" >&2
    exit 1
fi
echo "demo on http://$address/ writing $logfile; screenshot in $seconds s" >&2

error_line() {
    printf '{"ts":"2026-11-29T01:02:03Z","level":"warn","msg":"stytch request failed","status_code":404,"error_type":"%s"}\n' "$1"
}

# A third of the way: 400 session_not_found at once (a deploy that dropped
# sessions). Two thirds: otp_code_not_found at 5/s for a minute. The last
# 45 s: session_not_found again at 12/s, above the demo's busiest type
# (about 5/s), so it leads the 1-minute sort with its causes and steps open.
sleep $((seconds / 3))
for _ in $(seq 400); do error_line session_not_found; done >>"$logfile"
sleep $((seconds / 3 - 60))
for _ in $(seq 60); do
    for _ in 1 2 3 4 5; do error_line otp_code_not_found; done >>"$logfile"
    sleep 1
done
sleep $((seconds - 2 * (seconds / 3) - 45))
for _ in $(seq 45); do
    for _ in $(seq 12); do error_line session_not_found; done >>"$logfile"
    sleep 1
done

chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$work/profile" --hide-scrollbars \
    --screenshot="$PWD/$out" --window-size=1280,1600 "http://$address/" 2>"$work/chromium.log" \
    || { cat "$work/chromium.log" >&2; exit 1; }
echo "wrote $out" >&2

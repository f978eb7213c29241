#!/bin/bash
# Instructions the daemon spends reading and counting a backlog, per binary,
# side by side: callgrind, counting only inside FileInput::poll (so startup,
# the HTTP server and the scrapes of this script are left out), on one 40 MB
# log at 10% errors, each error with a time and a request ID (the worst case
# for the last-seen, exemplar and example bookkeeping).
#
#   bash benches/ingest_instructions.sh OLD_BINARY NEW_BINARY ...
#
# Instruction counts do not depend on the machine's load, unlike CPU time
# (benches/daemon.py), which on a shared machine is too noisy for a few per
# cent. Needs valgrind, curl, python3.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/app.log" <<'PY'
import sys
lines = []
for i in range(345):
    ts = f"2026-01-01T00:{i//60%60:02}:{i%60:02}.{i%1000:03}Z"
    if i % 10 == 9:
        lines.append(f'{{"ts":"{ts}","level":"error","msg":"stytch request failed","method":"POST","path":"/v1/b2b/sessions/authenticate","status_code":404,"error_type":"session_not_found","error_message":"Session could not be found.","request_id":"req-{i:08}"}}\n')
    else:
        lines.append(f'{{"ts":"{ts}","level":"info","msg":"request ok","method":"GET","path":"/v1/b2b/organizations/me","status":200,"latency_ms":{i%97}}}\n')
with open(sys.argv[1], "w") as out:
    out.write("".join(lines) * 640)
PY
total=$(wc -l < "$dir/app.log")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for bin in "$@"; do
    valgrind --tool=callgrind '--toggle-collect=*FileInput*poll*' \
        --callgrind-out-file="$dir/cg.out" \
        "$bin" run --web.listen-address "127.0.0.1:$port" --start-at beginning "$dir/*.log" \
        2>/dev/null &
    pid=$!
    for _ in $(seq 1 600); do
        counted=$(curl -s "127.0.0.1:$port/metrics" | awk '/^errtally_lines_total\{source="default"\}/ {print $2}' || true)
        [ "$counted" = "$total" ] && break
        sleep 0.5
    done
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$bin: $(awk '/^summary:/ {print $2}' "$dir/cg.out") instructions"
done

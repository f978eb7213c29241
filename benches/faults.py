#!/usr/bin/env python3
"""Runs the fault scenarios of tests/e2e/faults.rs (issue 7, item 6) at their
full size on a release build and prints one markdown table row per scenario
with its result, its numbers and the command that reproduces it.

    python3 benches/faults.py [--ci] [--only NAME,...] [--debug]

The scenarios are the e2e tests themselves (one code path; CI runs them
small): this script sets the FAULTS_* sizes and runs
`cargo test --release --test e2e --test alone faults:: -- --include-ignored
--nocapture --test-threads 1` (`alone` holds the `kill -9` test, whose
wall-clock bound needs the machine to itself), so the tests marked `#[ignore = "finding: ..."]` run too
(and are expected to fail until their finding is fixed), as does the
measurement of a copytruncate that does not wait for errtally's read. Each
test prints one `faults: ...` line of numbers on stderr.

Full sizes (--ci keeps the CI sizes):
- rename storm: 100 rotations, one every 100 ms, 1 MiB corpus passes;
- copytruncate storm: 200 cycles; without waiting: 100 truncations, one
  every 100 ms, under a writer at full speed;
- 2,000 files under one glob;
- kill -9: 10 kills of a daemon following a writer at 50,000 lines/s;
- concurrent scrapes: 200 clients for 10 s during a 1 GiB catch-up (the
  test checks that none fails; benches/catch_up_scrapes.py measures their
  latency and the catch-up's slowdown).

--only picks tests by substring of their names (e.g. rename,scrapes).
--debug uses the debug build (what CI runs). Python 3 standard library only.
"""
import argparse
import os
import re
import subprocess
import sys
import time

FULL = {
    "FAULTS_ROTATIONS": "100",
    "FAULTS_ROTATION_PERIOD_MS": "100",
    "FAULTS_PASS_BYTES": str(1 << 20),
    "FAULTS_CT_CYCLES": "200",
    "FAULTS_CT_PERIOD_MS": "100",
    "FAULTS_FILES": "2000",
    "FAULTS_KILLS": "10",
    "FAULTS_KILL_LINES_PER_S": "50000",
    "FAULTS_SCRAPE_MIB": "1024",
    "FAULTS_SCRAPE_CLIENTS": "200",
    "FAULTS_SCRAPE_SECONDS": "10",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ci", action="store_true", help="the CI sizes")
    parser.add_argument("--only", default="", help="test name substrings, comma-separated")
    parser.add_argument("--debug", action="store_true", help="the debug build")
    args = parser.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

    env = dict(os.environ)
    if not args.ci:
        env.update(FULL)
    profile = [] if args.debug else ["--release"]
    only = [o for o in args.only.split(",") if o]
    # libtest takes several filters (any matches); faults' lines only are read.
    filters = only or ["faults::"]
    command = ["cargo", "test", *profile, "--test", "e2e", "--test", "alone", "--", *filters,
               "--include-ignored", "--nocapture", "--test-threads", "1"]
    sizes = " ".join(f"{k}={v}" for k, v in FULL.items()) if not args.ci else ""
    print(f"running: {sizes} {' '.join(command)}", file=sys.stderr)
    started = time.monotonic()
    run = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, errors="replace")
    took = time.monotonic() - started
    with open("target/faults-bench.log", "w") as log:
        log.write(run.stdout)

    # `test faults::NAME ... ` then the test's own `faults: ...` line and its
    # result, interleaved with the daemon logs of failures.
    results = {}
    numbers = {}
    current = None
    for line in run.stdout.splitlines():
        started_test = re.match(r"test (\S+) \.\.\. ?(.*)$", line)
        if started_test:
            name = started_test.group(1)
            current = name[len("faults::"):] if name.startswith("faults::") else None
            line = started_test.group(2)
        if current is None:
            continue
        found = re.search(r"faults: (.*)$", line)
        if found:
            numbers[current] = found.group(1)
        verdict = re.search(r"\b(ok|FAILED|ignored)$", line)
        if verdict:
            results[current] = verdict.group(1)
        if "panicked at" in line or "still short" in line or "counted more" in line:
            numbers.setdefault(current + "#failure", line.strip()[:400])

    print("| scenario | result | numbers |")
    print("|---|---|---|")
    for name, result in results.items():
        detail = numbers.get(name, numbers.get(name + "#failure", ""))
        print(f"| `{name}` | {result} | {detail} |")
    print()
    print(f"command: {sizes} {' '.join(command)}  ({took:.0f} s; log in target/faults-bench.log)")


if __name__ == "__main__":
    main()

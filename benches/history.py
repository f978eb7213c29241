#!/usr/bin/env python3
"""What counting by time costs: `scan --since/--until`, `--by 1h` and
`--format openmetrics --step 1m` side by side with a plain `scan`, on one
`gen --times` corpus (10% error lines, a time on every line, spread over a
day, zone-less styles in Europe/Berlin).

    cargo build --release && python3 benches/history.py [--size-mib 1024] [--runs 5]

Each round runs every variant once, in turn (reversed every other round), so
page cache and noise are shared; the table gives the median wall time, its
ratio to the plain scan, and peak RSS (GNU time). The issue's targets:
window <= 1.10x, by 1h <= 1.10x, openmetrics <= 1.15x, and (issue 18)
`--examples 5` <= 1.05x. The ratios are near
the machine's noise, so the script also counts instructions with
`valgrind --tool=callgrind` (one thread, on a `--callgrind-mib` corpus of
the same kind and the same records per second), which do not depend on the
load.

Needs: GNU time (Debian package time), valgrind for the instruction counts.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "errtally")
ZONE = "Europe/Berlin"
# Where `gen` starts its clock: 2026-11-29T01:02:03Z.
START = 1_795_914_123
# The full-size corpus spans a day: about 1 GiB of logs a day.
DAY = 86_400


def rfc3339(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def variants(path, span):
    """(name, argv) of every variant; the window holds the middle 80% of
    the corpus' `span` seconds."""
    base = [BIN, "scan", "--timezone", ZONE]
    since, until = rfc3339(START + span // 10), rfc3339(START + span * 9 // 10)
    return [
        ("plain scan", base + ["--format", "json", path]),
        (
            "--since/--until",
            base
            + [
                "--format",
                "json",
                "--since",
                since,
                "--until",
                until,
                path,
            ],
        ),
        ("--by 1h", base + ["--format", "json", "--by", "1h", path]),
        ("openmetrics 1m", base + ["--format", "openmetrics", "--step", "1m", path]),
        ("--examples 5", base + ["--format", "json", "--examples", "5", path]),
    ]


def timed(argv):
    """Wall seconds and peak RSS (KiB); stdout read and discarded."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.PIPE, stderr=stderr
        )
        while process.stdout.read(1 << 20):
            pass
        process.wait()
        wall = time.perf_counter() - start
        stderr.seek(0)
        lines = stderr.read().decode().strip().splitlines()
    if process.returncode != 0:
        sys.exit(f"{argv} failed: {lines}")
    return wall, int(lines[-1])


def instructions(argv):
    """Instructions callgrind counts for one run."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=True,
    )
    match = re.search(rb"Collected : (\d+)", result.stderr)
    if not match:
        sys.exit(f"no callgrind total: {result.stderr[-500:]!r}")
    return int(match.group(1))


def generate(path, mib, span):
    subprocess.run(
        [
            BIN,
            "gen",
            "--times",
            "--timezone",
            ZONE,
            "--span",
            f"{span}s",
            "--clean",
            "--error-percent",
            "10",
            "--bytes",
            str(mib << 20),
            "--out",
            path,
        ],
        check=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--callgrind-mib", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as work:
        path = os.path.join(work, "timed.log")
        span = DAY * args.size_mib // 1024
        generate(path, args.size_mib, span)
        runs = {name: [] for name, _ in variants(path, span)}
        rss = {name: 0 for name, _ in variants(path, span)}
        for round_ in range(args.runs):
            order = variants(path, span)
            if round_ % 2:
                order.reverse()
            for name, argv in order:
                wall, peak = timed(argv)
                runs[name].append(wall)
                rss[name] = max(rss[name], peak)
        plain = statistics.median(runs["plain scan"])
        print(f"{args.size_mib} MiB, {args.runs} rounds, medians:")
        print(f"{'variant':<18} {'wall s':>8} {'ratio':>7} {'peak RSS MiB':>13}")
        for name, _ in variants(path, span):
            median = statistics.median(runs[name])
            print(f"{name:<18} {median:8.3f} {median / plain:7.3f} {rss[name] / 1024:13.1f}")
        if shutil.which("valgrind"):
            # The same density of records in time as the large corpus.
            small = os.path.join(work, "small.log")
            small_span = DAY * args.callgrind_mib // 1024
            generate(small, args.callgrind_mib, small_span)
            counts = {
                name: instructions(argv[:2] + ["--threads", "1"] + argv[2:])
                for name, argv in variants(small, small_span)
            }
            base = counts["plain scan"]
            print(f"\ncallgrind, {args.callgrind_mib} MiB, --threads 1:")
            for name, count in counts.items():
                print(f"{name:<18} {count:>15,} {count / base:7.3f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times two errtally builds on the same files, alternated run by run, and
prints each one's median wall time and their ratio: how a change's cost is
measured on this shared, noisy machine.

    python3 benches/ab.py --old /path/to/old/errtally [--new target/release/errtally] [--runs 20] FILE...

Build the old one from an earlier commit in a `git worktree` with its own
`CARGO_TARGET_DIR`. Files should be in page cache (run once first).
"""
import argparse
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", default=os.path.join(ROOT, "target", "release", "errtally"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    print("| file | old median s | new median s | new / old |")
    print("|---|---:|---:|---:|")
    for path in args.files:
        builds = [("old", args.old), ("new", args.new)]
        walls = {name: [] for name, _ in builds}
        for run in range(args.runs):
            for name, binary in builds if run % 2 == 0 else reversed(builds):
                start = time.perf_counter()
                subprocess.run([binary, "scan", "--format", "json", path],
                               stdout=subprocess.DEVNULL, check=True)
                walls[name].append(time.perf_counter() - start)
        old, new = statistics.median(walls["old"]), statistics.median(walls["new"])
        print(f"| {os.path.basename(path)} | {old:.3f} | {new:.3f} | {new / old:.3f} |")


if __name__ == "__main__":
    main()

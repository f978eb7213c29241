#!/usr/bin/env python3
"""Times `errtally scan` against the tools a user would otherwise reach for,
on the same generated file, side by side in one go (the machine is shared and
noisy, so only ratios within one run mean much).

    cargo build --release && python3 benches/compare.py [--size-mib 1024] [--runs 5]

`--baseline BIN` also times another errtally build (say, one built from an
earlier commit with `git worktree` and its own target dir) in the same rounds,
so a change's cost is a ratio measured side by side.

Each round runs every tool once, in turn (reversed every other round), so
page cache and noise are shared;
the table reports the median wall time, throughput, the ratio to `rg -c`,
and peak RSS (from GNU time, `/usr/bin/time`). The corpus is written once by `errtally gen`.
Needs: rg, grep, mtail, jq, GNU time (Debian packages ripgrep, mtail, jq, time).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "errtally")


def timed(argv, stdin_path=None, shell=False):
    """Wall seconds and peak RSS (KiB) of one run; output read and discarded.

    Stdout is a pipe drained here, not /dev/null: GNU grep notices /dev/null
    and stops at the first match, which would time nothing.
    """
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    sink = bytearray(1 << 16)
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        # GNU time reports the command's own peak RSS; wait4 on a child of
        # this Python process would include Python's pages from before exec.
        rss_file = tempfile.NamedTemporaryFile(mode="r")
        if not shell:
            argv = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + list(argv)
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                shell=shell, bufsize=0)
        while proc.stdout.readinto(sink):
            pass
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.stdout.close()
        if stdin_path:
            stdin.close()
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # grep and rg exit 1 on no match
            stderr.seek(0)
            sys.exit(f"{argv} failed with {code}: {stderr.read().decode(errors='replace')}")
    rss_text = rss_file.read().strip().splitlines()
    rss_file.close()
    rss = int(rss_text[-1]) if rss_text and rss_text[-1].isdigit() else 0
    return wall, rss


def mtail_program(path):
    with open(os.path.join(ROOT, "config", "catalog", "stytch-b2b-404.json")) as f:
        types = [e["error_type"] for e in json.load(f)["errors"]]
    # mtail caps a regular expression at 1024 bytes: one rule per group of types.
    groups, group = [], []
    for name in types:
        if len("|".join(group + [name])) > 800:
            groups.append(group)
            group = []
        group.append(name)
    groups.append(group)
    with open(path, "w") as f:
        f.write("counter errtally_errors_total by error_type\n")
        for group in groups:
            f.write('/"error_type"\\s*:\\s*"(?P<type>' + "|".join(group) + ')"/ {\n')
            f.write("  errtally_errors_total[$type]++\n}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slow-tools", action=argparse.BooleanOptionalAction, default=True,
                        help="also time mtail and jq (tens of MB/s: minutes per run)")
    parser.add_argument("--dir", default=None, help="where to write the corpus (default: a temp dir)")
    parser.add_argument("--baseline", default=None,
                        help="another errtally binary to time beside this build (e.g. the previous commit's)")
    parser.add_argument("--clean", action="store_true",
                        help="a corpus without garbage and over-long lines (mtail loses most lines of the hostile one)")
    args = parser.parse_args()

    work = args.dir or tempfile.mkdtemp(prefix="errtally-bench-")
    kind = "clean" if args.clean else "corpus"
    corpus = os.path.join(work, f"{kind}-{args.size_mib}m.log")
    expected = os.path.join(work, f"{kind}-{args.size_mib}m.expected.json")
    if not os.path.exists(corpus) or os.path.getsize(corpus) < args.size_mib << 20:
        subprocess.run([BIN, "gen", "--seed", "1", "--bytes", str(args.size_mib << 20),
                        "--out", corpus, "--expected", expected] + (["--clean"] if args.clean else []),
                       check=True)
    size = os.path.getsize(corpus)
    prog_dir = os.path.join(work, "mtail")
    os.makedirs(prog_dir, exist_ok=True)
    mtail_program(os.path.join(prog_dir, "stytch.mtail"))

    tools = {
        "errtally scan": ([BIN, "scan", "--format", "json", corpus], None, False),
        **({"baseline errtally scan": ([args.baseline, "scan", "--format", "json", corpus], None, False)}
           if args.baseline else {}),
        "errtally scan (stdin pipe)": (f"cat {corpus} | {BIN} scan --format json", None, True),
        "rg -c": (["rg", "-c", '"error_type"', corpus], None, False),
        "grep -cF": (["grep", "-cF", '"error_type"', corpus], None, False),
        "cat (to a pipe)": (["cat", corpus], None, False),
    }
    if args.slow_tools and shutil.which("mtail"):
        tools["mtail --one_shot"] = (["mtail", "--one_shot", "--progs", prog_dir, "--logs", corpus,
                                      "--one_shot_format", "json"], None, False)
    if args.slow_tools and shutil.which("jq"):
        tools["jq"] = (["jq", "-nR", "reduce (inputs | fromjson? | .error_type? | strings) as $t ({}; .[$t] += 1)",
                        corpus], None, False)

    subprocess.run(["cat", corpus], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    walls = {name: [] for name in tools}
    rss = {name: 0 for name in tools}
    for run in range(args.runs):
        # Reverse the order every other round, so that no tool always runs
        # right after the same neighbour (cache and frequency effects).
        order = list(tools.items())
        if run % 2:
            order.reverse()
        for name, (argv, stdin, shell) in order:
            wall, peak = timed(argv, stdin, shell)
            walls[name].append(wall)
            rss[name] = max(rss[name], peak)
        print(f"round {run + 1}/{args.runs} done", file=sys.stderr)

    if "mtail --one_shot" in tools:
        # mtail exits 0 even when it counted nothing: show what it counted.
        out = subprocess.run(["mtail", "--one_shot", "--progs", prog_dir, "--logs", corpus,
                              "--one_shot_format", "prometheus"], capture_output=True, text=True).stdout
        counted = sum(int(float(line.rsplit(" ", 1)[1])) for line in out.splitlines()
                      if line.startswith("errtally_errors_total{"))
        with open(expected) as f:
            truth = sum(json.load(f)["errors"].values())
        print(f"mtail counted {counted} catalogued errors; the generator's tally is {truth} "
              f"(mtail's regex sees plain-JSON keys only)")
    rg = statistics.median(walls["rg -c"])
    print(f"corpus: {os.path.basename(corpus)}, {size / 2**20:.0f} MiB, {args.runs} alternated runs, median wall time; cores: {os.cpu_count()}")
    print()
    print("| tool | median s | GB/s | x rg -c | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name in tools:
        median = statistics.median(walls[name])
        rss_note = "" if "pipe" in name else f"{rss[name] / 1024:.1f}"
        print(f"| {name} | {median:.3f} | {size / median / 1e9:.2f} | {median / rg:.2f} | {rss_note} |")


if __name__ == "__main__":
    main()

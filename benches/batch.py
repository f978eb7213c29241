#!/usr/bin/env python3
"""Times `errtally scan` at batch work side by side with what a user would
otherwise run: one large file (against `rg -c`), many rotated files, and
gzip and zstd archives (against `zcat`/`zstd -dc` alone and piped into
`rg -c`). The machine is shared and noisy, so each round runs every command
once, in turn, reversed every other round, and only the ratios of medians
within one run mean much.

    cargo build --release && python3 benches/batch.py [--size-mib 1024] [--runs 5] [--dir DIR] [--only plain,files,compressed]

The corpora (`errtally gen`, hostile and clean, and their archives) are
written once into --dir and reused. Also checked: the counts of every
archive and of the split files equal the plain file's, and the speed-up of
`taskset -c 0,1` over `taskset -c 0` on the large file.
Needs: rg, gzip, zstd, GNU time, taskset (Debian: ripgrep, gzip, zstd, time, util-linux).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BIN  # noqa: E402


def timed(argv, shell):
    """Wall seconds, CPU seconds (user + system, all threads and children)
    and peak RSS (KiB, 0 for a pipeline) of one run, stdout drained here."""
    with tempfile.NamedTemporaryFile(mode="r") as stats:
        wrapped = ["/usr/bin/time", "-f", "%U %S %M", "-o", stats.name]
        argv = wrapped + (["sh", "-c", argv] if shell else list(argv))
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        sink = bytearray(1 << 16)
        while proc.stdout.readinto(sink):
            pass
        code = proc.wait()
        wall = time.perf_counter() - start
        proc.stdout.close()
        if code not in (0, 1):  # rg exits 1 on no match
            sys.exit(f"{argv} failed with {code}")
        user, system, rss = stats.read().split()[-3:]
    return wall, float(user) + float(system), 0 if shell else int(rss)


def rounds(tools, runs):
    """Median wall and CPU time and peak RSS of each tool, alternated."""
    walls = {name: [] for name in tools}
    cpus = {name: [] for name in tools}
    rss = {name: 0 for name in tools}
    for run in range(runs):
        order = list(tools.items())
        if run % 2:
            order.reverse()
        for name, (argv, shell) in order:
            wall, cpu, peak = timed(argv, shell)
            walls[name].append(wall)
            cpus[name].append(cpu)
            rss[name] = max(rss[name], peak)
        print(f"  round {run + 1}/{runs} done", file=sys.stderr)
    medians = {name: statistics.median(w) for name, w in walls.items()}
    return medians, {name: statistics.median(c) for name, c in cpus.items()}, rss


def table(title, medians, cpus, rss, size, reference):
    print(f"\n{title}\n")
    print(f"| command | median wall s | GB/s | x {reference} | median CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, median in medians.items():
        peak = f"{rss[name] / 1024:.1f}" if rss[name] else ""
        print(f"| `{name}` | {median:.3f} | {size / median / 1e9:.2f} | "
              f"{median / medians[reference]:.2f} | {cpus[name]:.3f} | {peak} |")


def scan_json(argv):
    out = subprocess.run([BIN, "scan", "--format", "json"] + argv, check=True,
                         capture_output=True).stdout
    return json.loads(out)


def make(path, command):
    if not os.path.exists(path):
        print(f"writing {path}", file=sys.stderr)
        subprocess.run(command, shell=True, check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=8, help="rotated files the corpus is split into")
    parser.add_argument("--dir", default="/tmp/errtally-batch-bench")
    parser.add_argument("--only", default="plain,files,compressed")
    args = parser.parse_args()
    only = set(args.only.split(","))
    os.makedirs(args.dir, exist_ok=True)
    d = args.dir
    corpora = {}
    for kind in ("corpus", "clean"):
        path = os.path.join(d, f"{kind}-{args.size_mib}m.log")
        make(path, f"{BIN} gen --seed 1 --bytes {args.size_mib << 20} --out {path}"
                   + (" --clean" if kind == "clean" else ""))
        corpora[kind] = path
    hostile = corpora["corpus"]
    size = os.path.getsize(hostile)
    print(f"cores: {os.cpu_count()}; {args.runs} alternated runs, median wall time; "
          f"files in page cache; errtally: {BIN}")

    if "plain" in only:
        for kind, path in corpora.items():
            subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
            tools = {
                "errtally scan": ([BIN, "scan", "--format", "json", path], False),
                "errtally scan --threads 1": ([BIN, "scan", "--format", "json", "--threads", "1", path], False),
                "taskset -c 0 errtally scan": (["taskset", "-c", "0", BIN, "scan", "--format", "json", path], False),
                "taskset -c 0,1 errtally scan": (["taskset", "-c", "0,1", BIN, "scan", "--format", "json", path], False),
                "rg -c": (["rg", "-c", '"error_type"', path], False),
            }
            medians, cpus, rss = rounds(tools, args.runs)
            table(f"**one {size >> 20} MiB file, {kind} corpus**", medians, cpus, rss, size, "rg -c")
            speedup = medians["taskset -c 0 errtally scan"] / medians["taskset -c 0,1 errtally scan"]
            print(f"\nspeed-up of 2 cores over 1 (taskset -c 0,1 against -c 0): {speedup:.2f}x")

    pieces = [os.path.join(d, f"rotated.log.{i}") for i in range(args.files)]
    make(pieces[-1], f"split -n l/{args.files} -a 1 -d {hostile} {d}/piece. && "
                     + " && ".join(f"mv {d}/piece.{i} {p}" for i, p in enumerate(pieces)))
    if "files" in only:
        subprocess.run(["cat"] + pieces, stdout=subprocess.DEVNULL, check=True)
        assert scan_json(pieces) == scan_json([hostile]), "split files count differently"
        tools = {
            f"errtally scan rotated.log.*": ([BIN, "scan", "--format", "json"] + pieces, False),
            f"errtally scan --by-file rotated.log.*": ([BIN, "scan", "--format", "json", "--by-file"] + pieces, False),
            "rg -c rotated.log.*": (["rg", "-c", '"error_type"'] + pieces, False),
        }
        medians, cpus, rss = rounds(tools, args.runs)
        table(f"**{args.files} rotated files of {size // args.files >> 20} MiB (hostile corpus)**",
              medians, cpus, rss, size, "rg -c rotated.log.*")

    if "compressed" in only:
        gz, zst = hostile + ".gz", hostile + ".zst"
        make(gz, f"gzip -c {hostile} > {gz}")
        make(zst, f"zstd -q -T0 -c {hostile} > {zst}")
        gz_pieces = [p + ".gz" for p in pieces]
        for piece, archive in zip(pieces, gz_pieces):
            make(archive, f"gzip -c {piece} > {archive}")
        plain = scan_json([hostile])
        for archive in (gz, zst):
            assert scan_json([archive]) == plain, f"{archive} counts differently"
        assert scan_json(gz_pieces) == plain, "the .gz pieces count differently"
        print(f"\ncounts of {os.path.basename(gz)}, {os.path.basename(zst)} and the "
              f"{args.files} .gz pieces: identical to the plain file's")
        for archive in [gz, zst] + gz_pieces:
            subprocess.run(["cat", archive], stdout=subprocess.DEVNULL, check=True)
        tools = {
            "errtally scan FILE.gz": ([BIN, "scan", "--format", "json", gz], False),
            "zcat FILE.gz > /dev/null": (f"zcat {gz} > /dev/null", True),
            "zcat FILE.gz | rg -c": (f"zcat {gz} | rg -c '\"error_type\"'", True),
            "errtally scan FILE.zst": ([BIN, "scan", "--format", "json", zst], False),
            "zstd -dc FILE.zst > /dev/null": (f"zstd -q -dc {zst} > /dev/null", True),
            "zstdcat FILE.zst | rg -c": (f"zstdcat -q {zst} | rg -c '\"error_type\"'", True),
            f"errtally scan rotated.log.*.gz": ([BIN, "scan", "--format", "json"] + gz_pieces, False),
            f"zcat rotated.log.*.gz > /dev/null": (f"zcat {' '.join(gz_pieces)} > /dev/null", True),
        }
        medians, cpus, rss = rounds(tools, args.runs)
        print(f"\n**compressed, {size >> 20} MiB uncompressed (hostile corpus): "
              f"gzip -6 {os.path.getsize(gz) >> 20} MiB, zstd -3 {os.path.getsize(zst) >> 20} MiB; "
              f"{args.files} .gz pieces**\n")
        print("| command | median wall s | uncompressed GB/s | x its decompressor | median CPU s | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|")
        reference = {
            "errtally scan FILE.gz": "zcat FILE.gz > /dev/null",
            "zcat FILE.gz | rg -c": "zcat FILE.gz > /dev/null",
            "errtally scan FILE.zst": "zstd -dc FILE.zst > /dev/null",
            "zstdcat FILE.zst | rg -c": "zstd -dc FILE.zst > /dev/null",
            "errtally scan rotated.log.*.gz": "zcat rotated.log.*.gz > /dev/null",
        }
        for name, median in medians.items():
            ratio = f"{median / medians[reference[name]]:.2f}" if name in reference else "1.00"
            peak = f"{rss[name] / 1024:.1f}" if rss[name] else ""
            print(f"| `{name}` | {median:.3f} | {size / median / 1e9:.2f} | {ratio} | {cpus[name]:.3f} | {peak} |")


if __name__ == "__main__":
    main()

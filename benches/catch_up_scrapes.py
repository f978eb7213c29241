#!/usr/bin/env python3
"""Measures what a crowd of scrapers costs during a catch-up, and what the
catch-up costs them: scrape latency p50/p99/max while errtally reads a large
file from the beginning, and how much longer the catch-up takes than
without the crowd (issue 7, item 6; issue 20, item 8 moved the timing here
from tests/e2e/faults.rs, whose test keeps asserting that no scrape fails).

    cargo build --release && python3 benches/catch_up_scrapes.py
        [--bin target/release/errtally] [--mib 1024] [--clients 200] [--seconds 10]

Setup: `errtally gen --seed 5 --clean` writes --mib MiB to logs/big.log,
one input reads logs/*.log from the beginning. Run 1, alone: the daemon
starts and /metrics is read every 20 ms until errtally_bytes_total equals
the file's size. Run 2, with a fresh state_dir: the same, while --clients
clients GET /metrics back to back (one connection per request, as
Prometheus scrapes) for --seconds from the daemon's start. Reported: the
scrapes, the failed ones, scrape latency p50/p99/max, each run's catch-up
time and their ratio (the slowdown).

The clients are threads spread over a few processes (Python 3 standard
library only), so a latency includes the client's own scheduling: compare
like with like, run twice, and use --bin for a before/after comparison.
"""
import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# The scrape client and the daemon launcher are scrapes.py's (same folder,
# which Python puts on the path for a script).
from scrapes import get, percentile, start


def bytes_read(text):
    for line in text.splitlines():
        if line.startswith('errtally_bytes_total{source="f"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def caught_up_after(address, size, started, limit=600):
    """Seconds from `started` until the daemon has read `size` bytes,
    asked every 20 ms."""
    while True:
        try:
            _, status, body = get(address, "/metrics")
            if status == 200 and bytes_read(body.decode()) == size:
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > limit:
            sys.exit(f"no catch-up within {limit} s")
        time.sleep(0.02)


def clients(address, threads, until, results):
    """`threads` clients in this process scraping back to back until
    `until` (a time.time()); sends (latencies, failures)."""
    latencies, failures = [], []
    lock = threading.Lock()

    def client():
        mine, failed = [], []
        while time.time() < until:
            try:
                took, status, body = get(address, "/metrics")
            except OSError as error:
                failed.append(str(error))
                continue
            mine.append(took)
            if status != 200 or b"errtally_lines_total{" not in body:
                failed.append(f"status {status}, {len(body)} bytes")
        with lock:
            latencies.extend(mine)
            failures.extend(failed)

    running = [threading.Thread(target=client) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    results.put((latencies, failures))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="target/release/errtally")
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=8,
                        help="processes the clients are spread over")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)

    with tempfile.TemporaryDirectory() as root:
        logs = os.path.join(root, "logs")
        state = os.path.join(root, "state")
        os.makedirs(logs)
        big = os.path.join(logs, "big.log")
        subprocess.run([binary, "gen", "--seed", "5", "--bytes", str(args.mib << 20),
                        "--out", big, "--clean"], check=True, stdout=subprocess.DEVNULL)
        size = os.path.getsize(big)
        config = os.path.join(root, "errtally.toml")
        with open(config, "w") as out:
            out.write(f'state_dir = "{state}"\n\n[[input]]\nname = "f"\n'
                      f'paths = ["{logs}/*.log"]\nstart_at = "beginning"\n')

        started = time.monotonic()
        daemon, address = start(binary, config)
        try:
            alone = caught_up_after(address, size, started)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
        shutil.rmtree(state, ignore_errors=True)

        started = time.monotonic()
        daemon, address = start(binary, config)
        try:
            until = time.time() + args.seconds
            processes = max(1, min(args.processes, args.clients))
            results = multiprocessing.Queue()
            crowd = [multiprocessing.Process(
                target=clients,
                args=(address, args.clients // processes + (i < args.clients % processes),
                      until, results))
                for i in range(processes)]
            for process in crowd:
                process.start()
            crowded = caught_up_after(address, size, started)
            latencies, failures = [], []
            for _ in crowd:
                got, failed = results.get()
                latencies += got
                failures += failed
            for process in crowd:
                process.join()
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)

    ms = lambda seconds: f"{seconds * 1000:.1f}"
    print(f"binary: {binary}")
    print(f"{args.mib} MiB catch-up, {args.clients} clients scraping back to back for "
          f"{args.seconds:.0f} s from the daemon's start")
    print("| scrapes | failed | p50 ms | p99 ms | max ms | catch-up alone s | "
          "catch-up scraped s | slowdown |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(latencies)} | {len(failures)} | {ms(percentile(latencies, 0.5))} | "
          f"{ms(percentile(latencies, 0.99))} | {ms(max(latencies, default=float('nan')))} | "
          f"{alone:.2f} | {crowded:.2f} | {crowded / alone:.2f} |")
    if failures:
        print(f"first failure: {failures[0]}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Measures whether `/-/healthy` stays quick while `/metrics` is scraped back
to back at many label sets (issue 20, item 2), and what a scrape costs.

    cargo build --release && python3 benches/scrapes.py [--bin target/release/errtally]
        [--sets 1000] [--scrapers 2] [--seconds 20] [--probe-ms 10]

--bin measures another build (e.g. a copy of an older binary) with the same
script, for a before/after comparison.

Setup: --sets pod directories laid out as the kubelet does
(DIR/pods/<namespace>_<pod>/<container>/0.log), one catalogued error line
each, one input with `path_labels` capturing namespace, pod and container
and `max_label_sets` = --sets, so every file is a label set of its own
(46 catalogued types + lines + uncatalogued: about 46,000 series at 1,000
sets). The daemon is started and left until it has read every file.

Then, for --seconds: --scrapers processes each GET /metrics again as soon
as the previous answer is read (back to back, one connection per request,
as Prometheus scrapes), while this process GETs /-/healthy every --probe-ms
milliseconds (from 0.5 s after the scrapers start to 0.5 s before they
stop). Reported: /-/healthy latency p50/p99/max and its count, and
scrape time p50/p99/max with the number of scrapes and the body size.
Target: /-/healthy max <= 50 ms at 1,000 sets.

Then, one client alone, --rounds GETs of /metrics in each format,
alternating (text, then OpenMetrics with Prometheus' Accept header), so
both meet the same machine noise: median time and size of each, and the
ratio OpenMetrics / text. Target: <= 1.2 at 1,000 sets (issue 18).

Python 3 standard library only; the numbers are wall-clock on a shared
machine, so run it twice and compare like with like.
"""
import argparse
import http.client
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ERROR_LINE = ('{"level":"error","status_code":404,'
              '"error_type":"email_not_found","msg":"not found"}\n')


PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
                     "application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def get(address, path, timeout=30.0, accept=None):
    """One GET on a fresh connection: (seconds, status, body bytes)."""
    host, port = address.rsplit(":", 1)
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Connection": "close"}
    if accept:
        headers["Accept"] = accept
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return time.monotonic() - started, response.status, body
    finally:
        connection.close()


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start(binary, config):
    """The daemon on 127.0.0.1:0, and its bound address from its log."""
    daemon = subprocess.Popen(
        [binary, "run", "--config", config, "--web.listen-address", "127.0.0.1:0",
         "--log.level", "info"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, errors="replace")
    found = {}

    def read_log():
        for line in daemon.stderr:
            match = re.search(r"msg=\"?listening\"? .*address=(\S+)", line)
            if match and "address" not in found:
                found["address"] = match.group(1)

    threading.Thread(target=read_log, daemon=True).start()
    deadline = time.monotonic() + 30
    while "address" not in found:
        if time.monotonic() > deadline or daemon.poll() is not None:
            daemon.kill()
            sys.exit("errtally did not start")
        time.sleep(0.05)
    return daemon, found["address"]


def lines_read(text):
    """errtally_lines_total summed over every series."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("errtally_lines_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="target/release/errtally")
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--scrapers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--probe-ms", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)

    with tempfile.TemporaryDirectory() as root:
        pods = os.path.join(root, "pods")
        for index in range(args.sets):
            directory = os.path.join(pods, f"shop_pod-{index:05}", "app")
            os.makedirs(directory)
            with open(os.path.join(directory, "0.log"), "w") as log:
                log.write(ERROR_LINE)
        config = os.path.join(root, "errtally.toml")
        with open(config, "w") as out:
            out.write(
                f'state_dir = "{root}/state"\n\n'
                f'[[input]]\nname = "pods"\npaths = ["{pods}/*/*/*.log"]\n'
                'start_at = "beginning"\n'
                f"path_labels = '^{re.escape(pods)}/(?P<namespace>[^_/]+)_"
                "(?P<pod>[^_/]+)/(?P<container>[^/]+)/'\n"
                f"max_label_sets = {args.sets}\n")
        os.makedirs(os.path.join(root, "state"))
        daemon, address = start(binary, config)
        try:
            deadline = time.monotonic() + 120
            while True:
                _, status, body = get(address, "/metrics")
                if status == 200 and lines_read(body.decode()) >= args.sets:
                    break
                if time.monotonic() > deadline:
                    sys.exit("errtally did not read every file within 120 s")
                time.sleep(0.2)
            series = sum(1 for line in body.decode().splitlines()
                         if line and not line.startswith("#"))
            measure(address, args, series)
            compare_formats(address, args.rounds)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def scraper(address, seconds, results):
    """GETs /metrics back to back for `seconds`; sends (times, sizes,
    failures). A process of its own, so reading 6.7 MB bodies never holds
    the probe's interpreter lock."""
    times, sizes, failures = [], [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            took, status, body = get(address, "/metrics")
        except OSError as error:
            failures.append(f"/metrics: {error}")
            continue
        if status != 200:
            failures.append(f"/metrics: {status}")
        times.append(took)
        sizes.append(len(body))
    results.put((times, sizes, failures))


def measure(address, args, series):
    results = multiprocessing.Queue()
    scrapers = [multiprocessing.Process(target=scraper, args=(address, args.seconds, results))
                for _ in range(args.scrapers)]
    for process in scrapers:
        process.start()
    healthy, failures = [], []
    # The scrapers' first requests are under way before probing starts.
    time.sleep(0.5)
    end = time.monotonic() + args.seconds - 1
    while time.monotonic() < end:
        try:
            took, status, _ = get(address, "/-/healthy")
        except OSError as error:
            failures.append(f"/-/healthy: {error}")
            continue
        if status != 200:
            failures.append(f"/-/healthy: {status}")
        healthy.append(took)
        time.sleep(args.probe_ms / 1000)
    scrapes, sizes = [], []
    for _ in scrapers:
        times, lengths, failed = results.get()
        scrapes += times
        sizes += lengths
        failures += failed
    for process in scrapers:
        process.join()

    ms = lambda seconds: f"{seconds * 1000:.1f}"
    print(f"binary: {os.path.abspath(args.bin)}")
    print(f"{args.sets} label sets, {series} series, {args.scrapers} scrapers back to back "
          f"for {args.seconds:.0f} s, /-/healthy every {args.probe_ms:.0f} ms")
    print("| | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(f"| /-/healthy | {len(healthy)} | {ms(percentile(healthy, 0.5))} | "
          f"{ms(percentile(healthy, 0.99))} | {ms(max(healthy, default=float('nan')))} |")
    print(f"| /metrics ({(sum(sizes) / max(len(sizes), 1)) / 1e6:.1f} MB) | {len(scrapes)} | "
          f"{ms(percentile(scrapes, 0.5))} | {ms(percentile(scrapes, 0.99))} | "
          f"{ms(max(scrapes, default=float('nan')))} |")
    if failures:
        print(f"failures: {len(failures)}, first: {failures[0]}")


def compare_formats(address, rounds):
    """Text and OpenMetrics scrapes, alternating, one client alone."""
    took = {"text": [], "openmetrics": []}
    size = {}
    for _ in range(rounds):
        for name, accept in (("text", None), ("openmetrics", PROMETHEUS_ACCEPT)):
            seconds, status, body = get(address, "/metrics", accept=accept)
            if status != 200:
                sys.exit(f"/metrics ({name}): {status}")
            took[name].append(seconds)
            size[name] = len(body)
    text = percentile(took["text"], 0.5)
    open_metrics = percentile(took["openmetrics"], 0.5)
    print(f"\n{rounds} scrapes of each format, alternating, one client")
    print("| format | median ms | MB |")
    print("|---|---|---|")
    for name, median in (("text 0.0.4", text), ("OpenMetrics 1.0", open_metrics)):
        key = "text" if name.startswith("text") else "openmetrics"
        print(f"| {name} | {median * 1000:.1f} | {size[key] / 1e6:.2f} |")
    print(f"OpenMetrics / text: {open_metrics / text:.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Measures the daemon, `errtally run`, against the issue's targets and prints
one markdown table row per target with the exact command or config used.

    cargo build --release && python3 benches/daemon.py [--size-mib 1024] [--appends 1000]
        [--idle-seconds 30] [--only ingest,latency,idle]

1. ingest:  `errtally run --start-at beginning` on one generated file, timed
            from process start until errtally_lines_total reaches the
            corpus's expected line count, against `errtally scan --format
            json` on the same file; alternated, median of 3 each. The final
            per-type counts are checked against the generator's tally.
            Target: run >= 80% of scan's throughput.
2. latency: daemon following an empty file; N times append one line and
            poll /metrics until the error counter shows it. p50/p90/p99/max.
            Target: p99 <= 250 ms.
3. idle:    100 quiet files, default poll_interval; CPU (utime+stime from
            /proc/PID/stat) over --idle-seconds. Target: about 0.
4. rss:     VmHWM/VmRSS after 3, and after appending 1,000 lines to each of
            the 100 files. Target: <= 32 MiB. (Runs with `idle`.)

The machine is shared: before each measurement the script waits (at most 2
minutes) until `pgrep -f "compare.py|errtally scan"` finds nothing, and
flags a measurement during which such a process was seen. Only loopback is
used, every wait has a deadline, and every daemon is killed at the end.
Python 3 standard library only.
"""
import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "errtally")
BENCH_DIR = "/tmp/bench"
CONTENDERS = "compare.py|errtally scan"
LINE = b'{"status_code":404,"error_type":"email_not_found"}\n'
EMAIL_SERIES = ('errtally_errors_total', {"error_type": "email_not_found", "source": "default",
                                          "status_code": "404"})
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERIES_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the machine

def contenders():
    """Command lines of other benchmark processes running now."""
    out = subprocess.run(["pgrep", "-af", CONTENDERS], capture_output=True, text=True)
    found = []
    for line in out.stdout.splitlines():
        pid = line.split()[0]
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone already
        if int(pid) != os.getpid() and ppid != os.getpid():  # not our own scans
            found.append(line)
    return found


NOTES = []


def wait_quiet(phase, limit=120.0, quiet_for=1.5):
    """Waits until no contender is seen for `quiet_for` seconds, at most `limit`
    seconds. Returns True if quiet was reached."""
    deadline = time.monotonic() + limit
    quiet_since = None
    seen = False
    while time.monotonic() < deadline:
        if contenders():
            seen = True
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_for:
            if seen:
                log(f"{phase}: machine quiet again")
            return True
        time.sleep(0.25)
    NOTES.append(f"{phase}: other benchmarks still running after {limit:.0f} s of waiting; measured anyway")
    log(NOTES[-1])
    return False


class ContenderWatch:
    """Samples pgrep in the background during a measurement."""

    def __init__(self):
        self.seen = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.5):
            found = contenders()
            if found:
                self.seen.extend(found)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------- metrics

def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES_RE.match(line)
        if not m:
            continue
        labels = dict(LABEL_RE.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def series_value(samples, name, labels):
    for n, l, v in samples:
        if n == name and l == labels:
            return v
    return None


def scrape(address, timeout=2.0):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as resp:
        return resp.read().decode("utf-8", errors="replace")


def scrape_samples(address):
    return parse_metrics(scrape(address))


def default_value(samples, name):
    return series_value(samples, name, {"source": "default"})


# ---------------------------------------------------------------- the daemon

class Daemon:
    """One `errtally run`, its stderr collected, its address parsed."""

    def __init__(self, args):
        self.argv = [BIN, "run", "--web.listen-address", "127.0.0.1:0"] + list(args)
        self.stderr = []
        self.address = None
        self._listening = threading.Event()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.stderr.append(line)
            if self.address is None and "msg=listening" in line:
                m = re.search(r"address=(127\.0\.0\.1:\d+)", line)
                if m:
                    self.address = m.group(1)
                    self._listening.set()
        self._listening.set()

    @property
    def pid(self):
        return self.proc.pid

    def wait_listening(self, timeout=10.0):
        self._listening.wait(timeout)
        if self.address is None:
            raise RuntimeError(f"{' '.join(self.argv)}: no 'msg=listening' line within {timeout} s; "
                               f"exit={self.proc.poll()} stderr={self.stderr[-5:]}")
        return self.address

    def alive(self):
        return self.proc.poll() is None

    def wait_for(self, what, predicate, timeout, interval=0.02):
        """Polls /metrics until predicate(samples) is truthy; returns
        (seconds since process start, samples). Raises on timeout or exit."""
        deadline = time.monotonic() + timeout
        samples = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"daemon exited ({self.proc.returncode}) while waiting for {what}; "
                                   f"stderr tail: {self.stderr[-5:]}")
            try:
                samples = scrape_samples(self.address)
            except OSError:
                samples = None
            if samples is not None and predicate(samples):
                return time.perf_counter() - self.started, samples
            time.sleep(interval)
        raise TimeoutError(f"{what} not reached within {timeout:.0f} s")

    def proc_status(self):
        fields = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return fields

    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        rest = stat[stat.rindex(")") + 2:].split()
        return int(rest[11]) + int(rest[12])  # fields 14 and 15: utime, stime

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                NOTES.append(f"daemon pid {self.pid} ignored SIGTERM for 10 s; killed")
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return self.proc.returncode


def fmt_list(values):
    return ", ".join(f"{v:.3f}" for v in values)


def kib_to_mib(text):
    return int(text.split()[0]) / 1024


# ---------------------------------------------------------------- 1. ingest

def ensure_corpus(size_mib):
    os.makedirs(BENCH_DIR, exist_ok=True)
    name = "corpus.log" if size_mib == 1024 else f"corpus-{size_mib}m.log"
    corpus = os.path.join(BENCH_DIR, name)
    expected = os.path.join(BENCH_DIR, "expected.json" if size_mib == 1024 else f"expected-{size_mib}m.json")
    try:
        with open(expected) as f:
            reusable = os.path.getsize(corpus) == json.load(f)["bytes"]
    except (OSError, ValueError, KeyError):
        reusable = False
    gen = [BIN, "gen", "--seed", "1", "--bytes", str(size_mib << 20), "--out", corpus, "--expected", expected]
    if not reusable:
        log("writing the corpus: " + " ".join(gen))
        subprocess.run(gen, check=True, timeout=1800)
    with open(expected) as f:
        return corpus, json.load(f), gen


def time_scan(corpus):
    argv = [BIN, "scan", "--format", "json", corpus]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, timeout=600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    return wall, json.loads(proc.stdout)


def errors_by_type(samples):
    out = {}
    for name, labels, value in samples:
        if name == "errtally_errors_total" and labels.get("source") == "default" and value:
            out[labels["error_type"]] = out.get(labels["error_type"], 0) + int(value)
    return out


def complete_lines(corpus, expected):
    """Lines `run` counts: a final line without its newline is held (it may
    still be growing), while `scan` counts it at end of input."""
    with open(corpus, "rb") as f:
        f.seek(-1, os.SEEK_END)
        ends_with_newline = f.read(1) == b"\n"
    return expected["lines"] - (0 if ends_with_newline else 1)


def time_run(corpus, expected, deadline_s):
    """Seconds from start until lines_total == expected lines, plus diagnostics.
    If the counter stops short (stalled for 3 s with no input lag), returns
    what it saw instead of waiting for the deadline."""
    want = complete_lines(corpus, expected)
    d = Daemon(["--start-at", "beginning", corpus])
    result = {"reached": False, "argv": d.argv}
    try:
        d.wait_listening()
        deadline = time.monotonic() + deadline_s
        last_lines, last_change = None, None
        while time.monotonic() < deadline:
            if not d.alive():
                raise RuntimeError(f"daemon exited ({d.proc.returncode}); stderr tail: {d.stderr[-5:]}")
            try:
                samples = scrape_samples(d.address)
            except OSError:
                time.sleep(0.02)
                continue
            now = time.perf_counter() - d.started
            lines = int(default_value(samples, "errtally_lines_total") or 0)
            if lines == want:
                result.update(reached=True, seconds=now)
                break
            if lines != last_lines:
                last_lines, last_change = lines, now
            lag = default_value(samples, "errtally_input_lag_bytes")
            if lines and lag == 0 and now - last_change >= 3.0:
                result.update(stalled=True, seconds_to_last_change=last_change)
                break
            time.sleep(0.02)
        else:
            result["timeout"] = deadline_s
        time.sleep(0.1)
        samples = scrape_samples(d.address)
        result["lines"] = int(default_value(samples, "errtally_lines_total") or 0)
        result["bytes"] = int(default_value(samples, "errtally_bytes_total") or 0)
        result["truncated"] = int(default_value(samples, "errtally_lines_truncated_total") or 0)
        result["errors"] = errors_by_type(samples)
        st = d.proc_status()
        result["hwm_mib"] = kib_to_mib(st["VmHWM"])
    finally:
        result["exit"] = d.stop()
    return result


def bench_ingest(args, rows):
    corpus, expected, gen = ensure_corpus(args.size_mib)
    size = os.path.getsize(corpus)
    log(f"ingest: corpus {corpus}, {size} bytes, {expected['lines']} lines")
    wait_quiet("ingest (page-cache warm-up)")
    with open(corpus, "rb") as f:  # page cache warm-up, not timed
        while f.read(8 << 20):
            pass
    scans, runs, problems = [], [], []
    disturbed = []
    for i in range(3):
        wait_quiet(f"ingest round {i + 1} scan")
        with ContenderWatch() as w:
            wall, report = time_scan(corpus)
        if w.seen:
            disturbed.append(f"scan {i + 1}")
        scans.append(wall)
        if report != expected:
            problems.append(f"scan round {i + 1}: JSON report differs from expected.json")
        log(f"ingest round {i + 1}: scan {wall:.3f} s ({size / wall / 2**20:.0f} MiB/s)")

        wait_quiet(f"ingest round {i + 1} run")
        with ContenderWatch() as w:
            r = time_run(corpus, expected, deadline_s=max(120.0, 30 * wall))
        if w.seen:
            disturbed.append(f"run {i + 1}")
        runs.append(r)
        if r["reached"]:
            log(f"ingest round {i + 1}: run {r['seconds']:.3f} s ({size / r['seconds'] / 2**20:.0f} MiB/s)")
        else:
            log(f"ingest round {i + 1}: run did NOT reach {expected['lines']} lines: {r['lines']} lines, "
                f"{r['bytes']} bytes, stalled={r.get('stalled', False)}, "
                f"last change at {r.get('seconds_to_last_change', float('nan')):.3f} s")
        if r["errors"] != expected["errors"]:
            diff = {k: (r["errors"].get(k, 0), expected["errors"].get(k, 0))
                    for k in set(r["errors"]) | set(expected["errors"])
                    if r["errors"].get(k, 0) != expected["errors"].get(k, 0)}
            problems.append(f"run round {i + 1}: errors_total differs from expected.json (got, want): {diff}")
        if r["truncated"] != expected["truncated_lines"]:
            problems.append(f"run round {i + 1}: lines_truncated_total {r['truncated']} "
                            f"!= expected {expected['truncated_lines']}")
        if r["exit"] not in (0, None):
            problems.append(f"run round {i + 1}: exit code {r['exit']} after SIGTERM")

    scan_med = statistics.median(scans)
    scan_cmd = f"`{os.path.relpath(BIN, ROOT)} scan --format json {corpus}`"
    run_cmd = (f"`{os.path.relpath(BIN, ROOT)} run --web.listen-address 127.0.0.1:0 --start-at beginning {corpus}`"
               f", timed from spawn to `errtally_lines_total{{source=\"default\"}} == {complete_lines(corpus, expected)}` (the corpus's last line has no newline: run holds it) "
               f"(/metrics polled every 20 ms)")
    corpus_note = f"corpus `{' '.join(os.path.relpath(a, ROOT) if a == BIN else a for a in gen)}` ({size} bytes, {expected['lines']} lines)"
    reached = [r for r in runs if r["reached"]]
    hwm = max(r["hwm_mib"] for r in runs)
    counts_ok = all(r["errors"] == expected["errors"] for r in runs)
    if len(reached) == len(runs):
        run_med = statistics.median(r["seconds"] for r in runs)
        ratio = scan_med / run_med
        result = (f"run median {run_med:.3f} s ({size / run_med / 2**20:.0f} MiB/s) "
                  f"[{fmt_list(r['seconds'] for r in runs)}]; "
                  f"scan median {scan_med:.3f} s ({size / scan_med / 2**20:.0f} MiB/s) "
                  f"[{fmt_list(scans)}]; **run/scan throughput = {ratio:.0%}**; "
                  f"per-type counts {'match' if counts_ok else 'DIFFER from'} expected.json; run VmHWM {hwm:.1f} MiB")
        met = "yes" if ratio >= 0.8 else "**NO**"
    else:
        stalled = [r for r in runs if r.get("stalled")]
        result = (f"**run never reached the expected {expected['lines']} lines** in {len(runs) - len(reached)}/{len(runs)} runs: "
                  + "; ".join(f"stopped at {r['lines']} lines / {r['bytes']} bytes"
                              + (f" (unchanged for 3 s with input lag 0)" if r.get("stalled") else f" (timeout {r.get('timeout', 0):.0f} s)")
                              for r in runs if not r["reached"]))
        if stalled:
            t = statistics.median(r["seconds_to_last_change"] for r in stalled)
            ratio = scan_med / t
            result += (f". Informational, to the last counted line: run median {t:.3f} s "
                       f"({size / t / 2**20:.0f} MiB/s) [{fmt_list(r['seconds_to_last_change'] for r in stalled)}] "
                       f"vs scan median {scan_med:.3f} s ({size / scan_med / 2**20:.0f} MiB/s) "
                       f"[{fmt_list(scans)}] = {ratio:.0%}")
        result += (f"; per-type counts {'match' if counts_ok else 'DIFFER from'} expected.json; run VmHWM {hwm:.1f} MiB")
        met = "**NO** (expected count not reached)"
    if disturbed:
        result += f"; other benchmarks seen during: {', '.join(disturbed)}"
    rows.append(("1. Ingest throughput, run vs scan", f"{run_cmd}; vs {scan_cmd}; alternated, median of 3; {corpus_note}",
                 result, "run >= 80% of scan", met))
    NOTES.extend(problems)


# ---------------------------------------------------------------- 2. latency

def fast_count(address, needle):
    """The value of the series whose line starts with `needle`, or None."""
    body = scrape(address).encode()
    i = body.find(needle)
    if i < 0:
        return None
    end = body.find(b"\n", i)
    return float(body[i + len(needle):end].split()[0])


def bench_latency(args, rows):
    tmp = tempfile.mkdtemp(prefix="errtally-lat-")
    path = os.path.join(tmp, "app.log")
    open(path, "wb").close()
    wait_quiet("latency")
    d = Daemon([os.path.join(tmp, "*.log")])
    latencies, misses = [], 0
    try:
        d.wait_listening()
        d.wait_for("files_watched 1", lambda s: default_value(s, "errtally_files_watched") == 1, 15)
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(EMAIL_SERIES[1].items()))
        needle = f"{EMAIL_SERIES[0]}{{{labels}}} ".encode()
        base = fast_count(d.address, needle) or 0
        with ContenderWatch() as w:
            for n in range(1, args.appends + 1):
                t0 = time.perf_counter()
                with open(path, "ab") as f:
                    f.write(LINE)
                deadline = t0 + 5.0
                while True:
                    value = fast_count(d.address, needle)
                    now = time.perf_counter()
                    if value is not None and value >= base + n:
                        latencies.append(now - t0)
                        break
                    if now > deadline:
                        misses += 1
                        latencies.append(float("inf"))
                        break
                if misses >= 10:
                    NOTES.append(f"latency: stopped after {misses} appends not visible within 5 s")
                    break
        final = fast_count(d.address, needle)
        if final != base + len(latencies):
            NOTES.append(f"latency: final email_not_found count {final}, expected {base + len(latencies)}")
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ms = sorted(x * 1000 for x in latencies)

    def pct(p):
        return ms[min(len(ms) - 1, max(0, math.ceil(p / 100 * len(ms)) - 1))]  # nearest rank

    p99 = pct(99)
    result = (f"n={len(ms)}: p50 {pct(50):.2f} ms, p90 {pct(90):.2f} ms, **p99 {p99:.2f} ms**, max {ms[-1]:.2f} ms"
              + (f"; {misses} not visible within 5 s" if misses else ""))
    if w.seen:
        result += "; other benchmarks were running during it"
    cmd = (f"`{os.path.relpath(BIN, ROOT)} run --web.listen-address 127.0.0.1:0 TMPDIR/*.log` on an empty app.log; "
           f"{len(ms)}x open(append)/write `{LINE.decode().strip()}\\n`/close, then /metrics polled back-to-back "
           f"until `errtally_errors_total{{{labels}}}` shows it")
    rows.append(("2. Append-to-visible latency", cmd, result, "p99 <= 250 ms", "yes" if p99 <= 250 else "**NO**"))


# ---------------------------------------------------------------- 3./4. idle and RSS

def bench_idle(args, rows):
    tmp = tempfile.mkdtemp(prefix="errtally-idle-")
    nfiles, initial, appended = 100, 5, 1000
    for i in range(nfiles):
        with open(os.path.join(tmp, f"app-{i:03}.log"), "wb") as f:
            f.write(LINE * initial)
    wait_quiet("idle")
    d = Daemon([os.path.join(tmp, "*.log")])
    try:
        d.wait_listening()
        d.wait_for(f"files_watched {nfiles}", lambda s: default_value(s, "errtally_files_watched") == nfiles, 30)
        time.sleep(3.0)  # settle: a few poll intervals
        wait_quiet("idle (after settling)")
        with ContenderWatch() as w:
            t0, c0 = time.perf_counter(), d.cpu_ticks()
            time.sleep(args.idle_seconds)
            t1, c1 = time.perf_counter(), d.cpu_ticks()
        cpu_s = (c1 - c0) / CLK_TCK
        cpu_pct = cpu_s / (t1 - t0) * 100
        st = d.proc_status()
        hwm1, rss1 = kib_to_mib(st["VmHWM"]), kib_to_mib(st["VmRSS"])
        samples = scrape_samples(d.address)
        base = int(default_value(samples, "errtally_lines_total") or 0)
        result = (f"{cpu_s:.2f} CPU-s in {t1 - t0:.1f} s = **{cpu_pct:.2f}% of one core** "
                  f"(utime+stime ticks {c0}->{c1}, CLK_TCK {CLK_TCK})")
        if w.seen:
            result += "; other benchmarks were running during it"
        cmd = (f"`{os.path.relpath(BIN, ROOT)} run --web.listen-address 127.0.0.1:0 TMPDIR/*.log`, "
               f"{nfiles} files of {initial} lines each, default poll_interval (1s); "
               f"measured {args.idle_seconds} s from 3 s after files_watched=={nfiles}, no scrapes meanwhile")
        rows.append(("3. Idle CPU, 100 quiet files", cmd, result, "about 0", "yes" if cpu_pct < 0.5 else "**NO**"))

        wait_quiet("rss")
        block = LINE * appended
        for i in range(nfiles):
            with open(os.path.join(tmp, f"app-{i:03}.log"), "ab") as f:
                f.write(block)
        want = base + nfiles * appended
        seconds, samples = d.wait_for(f"lines_total {want}",
                                      lambda s: (default_value(s, "errtally_lines_total") or 0) >= want, 60)
        got = int(default_value(samples, "errtally_lines_total"))
        if got != want:
            NOTES.append(f"rss: lines_total {got} after the appends, expected {want}")
        st = d.proc_status()
        hwm2, rss2 = kib_to_mib(st["VmHWM"]), kib_to_mib(st["VmRSS"])
        worst = max(hwm1, hwm2)
        result = (f"after idle: VmHWM {hwm1:.1f} MiB, VmRSS {rss1:.1f} MiB; after +{appended} lines x {nfiles} files "
                  f"(lines_total {base} -> {got}): **VmHWM {hwm2:.1f} MiB**, VmRSS {rss2:.1f} MiB")
        cmd = (f"same daemon as 3; /proc/PID/status after 3, then after one {len(block)}-byte append of "
               f"{appended} lines to each of the {nfiles} files and lines_total reaching {want}")
        rows.append(("4. RSS tailing 100 files", cmd, result, "<= 32 MiB", "yes" if worst <= 32 else "**NO**"))
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="ingest corpus size")
    parser.add_argument("--appends", type=int, default=1000, help="latency samples")
    parser.add_argument("--idle-seconds", type=float, default=30, help="idle CPU window")
    parser.add_argument("--only", default="ingest,latency,idle",
                        help="comma-separated subset of ingest,latency,idle (idle includes RSS)")
    args = parser.parse_args()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - {"ingest", "latency", "idle"}
    if unknown:
        parser.error(f"unknown --only item(s): {', '.join(sorted(unknown))}")
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} not found: run `cargo build --release` first")

    rows = []
    failures = []
    for name, fn in (("ingest", bench_ingest), ("latency", bench_latency), ("idle", bench_idle)):
        if name in only:
            try:
                fn(args, rows)
            except Exception as error:  # report and go on with the other targets
                failures.append(f"{name}: {type(error).__name__}: {error}")
                log(failures[-1])

    version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Environment: nproc {os.cpu_count()} (`nproc`: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}), "
          f"kernel {platform.release()}, {version}, Python {platform.python_version()}, "
          f"load average at end {os.getloadavg()[0]:.2f}, binary `{os.path.relpath(BIN, ROOT)}`")
    print()
    print("| Target | Command / config | Result | Goal | Met |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    for f in failures:
        print(f"| {f.split(':')[0]} | | **FAILED**: {f.replace('|', chr(92) + '|')} | | **NO** |")
    if NOTES:
        print()
        for note in NOTES:
            print(f"- {note}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

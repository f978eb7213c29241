#!/usr/bin/env python3
"""Measures the daemon, `errtally run`, against the issue's targets and prints
one markdown table row per target with the exact command or config used.

    cargo build --release && python3 benches/daemon.py [--size-mib 1024] [--appends 1000]
        [--idle-seconds 30] [--idle-files 100,2000] [--idle-layouts flat,pods]
        [--live-files 1,100,1000] [--live-mib 400]
        [--live-rate-mbs 20] [--bin target/release/errtally]
        [--only ingest,latency,idle,live]

--bin measures another build (e.g. a copy of an older binary) with the same
script; every daemon and scan below uses it.

1. ingest:  `errtally run --start-at beginning` on one generated file, timed
            from process start until errtally_lines_total reaches the
            corpus's expected line count, against `errtally scan --format
            json` on the same file; alternated, median of 3 each. The final
            per-type counts are checked against the generator's tally.
            Target: run >= 80% of scan's throughput.
2. latency: daemon following an empty file; N times append one line and
            poll /metrics until the error counter shows it. p50/p90/p99/max.
            Target: p99 <= 250 ms.
3. idle:    for each N of --idle-files and each layout (flat: DIR/*.log;
            pods: Kubernetes' DIR/<ns>_<pod>_<uid>/<container>/0.log under
            DIR/*/*/*.log), N quiet files, default poll_interval; CPU
            (utime+stime from /proc/PID/stat) over --idle-seconds.
            Target: <= 0.5% of one core, VmHWM <= 32 MiB.
4. rss:     VmHWM/VmRSS after 3, and after appending 1,000 lines to each of
            the 100 flat files. Target: <= 32 MiB. (Runs with `idle`.)
5. live:    CPU cost of following live files. For each N of --live-files:
            N empty files, the daemon on DIR/*.log (default poll_interval),
            after files_watched == N and 2 s, --live-mib MiB appended as
            64 KiB os.write()s of one block of whole JSON lines (a tenth
            of them session_not_found 404s) round-robin over the N files
            (kept open O_APPEND), paced at --live-rate-mbs MB/s on an
            absolute schedule. Daemon CPU (utime+stime) from before the
            first write until errtally_lines_total reaches the expected
            total (/metrics polled every 50 ms after the last write); the
            final session_not_found count is checked exactly. Reported as
            CPU-s per GB appended and as a share of one core at that rate,
            beside `errtally scan --format json` child CPU (getrusage,
            median of 3 after a warm-up) on one file of the same bytes.
            Targets: <= 1.5 CPU-s/GB for each N, and CPU-s/GB growing at
            most 1.5x from the smallest to the largest N. Then Debian's
            mtail (when installed; --no-mtail skips it) on the same files
            and writes, with a program counting lines and error types,
            timed the same way. The script raises its RLIMIT_NOFILE soft limit to
            the hard limit, as it holds N files open.

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
import socket
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


def bin_label():
    """BIN as the tables show it: relative to the repository when inside it."""
    rel = os.path.relpath(BIN, ROOT)
    return BIN if rel.startswith("..") else rel


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

    def lines(self, samples):
        return default_value(samples, "errtally_lines_total")

    def errors(self, samples):
        return series_value(samples, *LIVE_SERIES)

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


MTAIL_PROGRAM = r"""# errtally's live workload, counted the way an mtail user would.
counter bench_lines_total
counter bench_errors_total by error_type

/"error_type":"(?P<error_type>[a-z_]+)"/ {
  bench_errors_total[$error_type]++
}
/$/ {
  bench_lines_total++
}
"""
MTAIL_PROG = "bench.mtail"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mtail(Daemon):
    """Debian's mtail on the same files, with a program that counts lines
    and error types; same interface as Daemon."""

    def __init__(self, pattern, progs_dir):
        with open(os.path.join(progs_dir, MTAIL_PROG), "w") as f:
            f.write(MTAIL_PROGRAM)
        self.address = f"127.0.0.1:{free_port()}"
        self.argv = ["mtail", "--progs", progs_dir, "--logs", pattern, "--address", "127.0.0.1",
                     "--port", self.address.rsplit(":", 1)[1], "--logtostderr"]
        self.stderr = []
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def wait_listening(self, timeout=10.0):
        self.wait_for("mtail's /metrics", lambda s: self.lines(s) is not None, timeout, interval=0.1)
        return self.address

    def lines(self, samples):
        return series_value(samples, "bench_lines_total", {"prog": MTAIL_PROG})

    def errors(self, samples):
        return series_value(samples, "bench_errors_total", {"error_type": "session_not_found", "prog": MTAIL_PROG})


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
    scan_cmd = f"`{bin_label()} scan --format json {corpus}`"
    run_cmd = (f"`{bin_label()} run --web.listen-address 127.0.0.1:0 --start-at beginning {corpus}`"
               f", timed from spawn to `errtally_lines_total{{source=\"default\"}} == {complete_lines(corpus, expected)}` (the corpus's last line has no newline: run holds it) "
               f"(/metrics polled every 20 ms)")
    corpus_note = f"corpus `{' '.join(bin_label() if a == BIN else a for a in gen)}` ({size} bytes, {expected['lines']} lines)"
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
    cmd = (f"`{bin_label()} run --web.listen-address 127.0.0.1:0 TMPDIR/*.log` on an empty app.log; "
           f"{len(ms)}x open(append)/write `{LINE.decode().strip()}\\n`/close, then /metrics polled back-to-back "
           f"until `errtally_errors_total{{{labels}}}` shows it")
    rows.append(("2. Append-to-visible latency", cmd, result, "p99 <= 250 ms", "yes" if p99 <= 250 else "**NO**"))


# ---------------------------------------------------------------- 3./4. idle and RSS

def bench_idle(args, rows):
    for nfiles in [int(n) for n in args.idle_files.split(",")]:
        for layout in args.idle_layouts.split(","):
            idle_one(args, rows, nfiles, layout, rss=(nfiles == 100 and layout == "flat"))


def idle_paths(tmp, nfiles, layout):
    """(files, glob): `flat` puts every file in one directory; `pods` lays
    them out as Kubernetes does, /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log,
    ten containers per pod directory."""
    if layout == "flat":
        return [os.path.join(tmp, f"app-{i:04}.log") for i in range(nfiles)], os.path.join(tmp, "*.log")
    files = []
    for i in range(nfiles):
        d = os.path.join(tmp, f"ns_pod-{i // 10:03}_uid", f"c{i % 10}")
        os.makedirs(d, exist_ok=True)
        files.append(os.path.join(d, "0.log"))
    return files, os.path.join(tmp, "*", "*", "*.log")


def idle_one(args, rows, nfiles, layout, rss):
    tmp = tempfile.mkdtemp(prefix="errtally-idle-")
    initial, appended = 5, 1000
    files, pattern = idle_paths(tmp, nfiles, layout)
    for path in files:
        with open(path, "wb") as f:
            f.write(LINE * initial)
    wait_quiet("idle")
    raise_nofile()
    d = Daemon([pattern])
    try:
        d.wait_listening()
        d.wait_for(f"files_watched {nfiles}", lambda s: default_value(s, "errtally_files_watched") == nfiles, 60)
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
                  f"(utime+stime ticks {c0}->{c1}, CLK_TCK {CLK_TCK}); VmHWM {hwm1:.1f} MiB")
        if w.seen:
            result += "; other benchmarks were running during it"
        glob_shown = "TMPDIR/*.log" if layout == "flat" else "TMPDIR/*/*/*.log"
        cmd = (f"`{bin_label()} run --web.listen-address 127.0.0.1:0 {glob_shown}`, "
               f"{nfiles} files of {initial} lines each ({layout} layout), default poll_interval (1s); "
               f"measured {args.idle_seconds} s from 3 s after files_watched=={nfiles}, no scrapes meanwhile")
        target = "<= 0.5%, RSS <= 32 MiB"
        met = cpu_pct <= 0.5 and hwm1 <= 32
        rows.append((f"3. Idle CPU, {nfiles} quiet files ({layout})", cmd, result, target,
                     "yes" if met else "**NO**"))
        if not rss:
            return

        wait_quiet("rss")
        block = LINE * appended
        for path in files:
            with open(path, "ab") as f:
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
        rows.append((f"4. RSS tailing {nfiles} files", cmd, result, "<= 32 MiB", "yes" if worst <= 32 else "**NO**"))
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- 5. live cost

LIVE_SERIES = ('errtally_errors_total', {"error_type": "session_not_found", "source": "default",
                                         "status_code": "404"})
LIVE_BLOCK_TARGET = 64 << 10


def live_block():
    """(bytes, lines, errors): whole JSON log lines, at most 64 KiB, every
    tenth one a session_not_found 404, the others plain info lines."""
    out, lines, errors = [], 0, 0
    size = 0
    while True:
        i = lines
        ts = f"2026-01-01T00:{i // 60 % 60:02}:{i % 60:02}.{i % 1000:03}Z"
        if i % 10 == 9:
            line = (f'{{"ts":"{ts}","level":"error","msg":"stytch request failed",'
                    f'"method":"POST","path":"/v1/b2b/sessions/authenticate","status_code":404,'
                    f'"error_type":"session_not_found","error_message":"Session could not be found.",'
                    f'"request_id":"req-{i:08}"}}\n').encode()
        else:
            line = (f'{{"ts":"{ts}","level":"info","msg":"request handled",'
                    f'"method":"GET","path":"/api/v2/orders/{i:06}","status_code":200,'
                    f'"duration_ms":{i % 97 + 3},"request_id":"req-{i:08}"}}\n').encode()
        if size + len(line) > LIVE_BLOCK_TARGET:
            break
        out.append(line)
        size += len(line)
        lines += 1
        errors += i % 10 == 9
    return b"".join(out), lines, errors


def raise_nofile():
    """Raises this process's soft RLIMIT_NOFILE to the hard limit (the
    daemons started afterwards inherit it); returns the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def children_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def live_scan(block, writes, lines, errors):
    """Median child CPU seconds of 3 `scan --format json` runs (after one
    warm-up run) on one file holding the block `writes` times."""
    tmp = tempfile.mkdtemp(prefix="errtally-live-scan-")
    path = os.path.join(tmp, "all.log")
    try:
        with open(path, "wb") as f:
            for _ in range(writes):
                f.write(block)
        argv = [BIN, "scan", "--format", "json", path]
        cpus, disturbed = [], False
        for i in range(4):  # the first only warms the page cache
            if i:
                wait_quiet(f"live scan {i}")
            with ContenderWatch() as w:
                c0 = children_cpu()
                proc = subprocess.run(argv, capture_output=True, timeout=600)
                c1 = children_cpu()
            if proc.returncode != 0:
                raise RuntimeError(f"{argv} exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
            report = json.loads(proc.stdout)
            got = (report.get("lines"), report.get("errors", {}).get("session_not_found"))
            if got != (lines, errors):
                NOTES.append(f"live scan run {i}: lines/session_not_found {got}, expected {(lines, errors)}")
            if i:
                cpus.append(c1 - c0)
                disturbed |= bool(w.seen)
        log(f"live scan: child CPU {fmt_list(cpus)} s over {os.path.getsize(path)} bytes")
        return statistics.median(cpus), cpus, disturbed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def live_one(nfiles, block, writes, rate, settle=2.0, peer="errtally"):
    """Follows nfiles empty files with errtally (or mtail: `peer`), appends
    block `writes` times round-robin at `rate` bytes/s, returns the
    follower's CPU and timings."""
    tmp = tempfile.mkdtemp(prefix=f"errtally-live-{nfiles}-")
    fds = []
    d = None
    try:
        paths = [os.path.join(tmp, f"app-{i:05}.log") for i in range(nfiles)]
        for p in paths:
            open(p, "wb").close()
        fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
        wait_quiet(f"live N={nfiles}")
        if peer == "mtail":
            progs = os.path.join(tmp, "progs")
            os.mkdir(progs)
            d = Mtail(os.path.join(tmp, "*.log"), progs)
            d.wait_listening()
        else:
            d = Daemon([os.path.join(tmp, "*.log")])
            d.wait_listening()
            d.wait_for(f"files_watched {nfiles}",
                       lambda s: default_value(s, "errtally_files_watched") == nfiles, 60, interval=0.1)
        time.sleep(settle)
        samples = scrape_samples(d.address)
        base_lines = int(d.lines(samples) or 0)
        base_errors = int(d.errors(samples) or 0)
        want_lines = base_lines + writes * block[1]
        want_errors = base_errors + writes * block[2]
        data, step = block[0], len(block[0]) / rate
        late = 0.0
        with ContenderWatch() as w:
            c0 = d.cpu_ticks()
            t0 = time.perf_counter()
            deadline = t0
            for i in range(writes):
                now = time.perf_counter()
                if deadline > now:
                    time.sleep(deadline - now)
                else:
                    late = max(late, now - deadline)
                written = os.write(fds[i % nfiles], data)
                if written != len(data):
                    raise RuntimeError(f"short write: {written} of {len(data)} bytes")
                deadline += step
            t1 = time.perf_counter()
            caught_up = t1 + 120.0
            while True:
                if not d.alive():
                    raise RuntimeError(f"daemon exited ({d.proc.returncode}); stderr tail: {d.stderr[-5:]}")
                try:
                    samples = scrape_samples(d.address)
                    lines = int(d.lines(samples) or 0)
                except OSError:
                    samples, lines = None, None
                if lines is not None and lines >= want_lines:
                    c1 = d.cpu_ticks()
                    t2 = time.perf_counter()
                    break
                if time.perf_counter() > caught_up:
                    raise TimeoutError(f"lines_total {lines}, expected {want_lines}, "
                                       f"still short 120 s after the last write")
                time.sleep(0.05)
        errors = int(d.errors(samples) or 0)
        if lines != want_lines:
            NOTES.append(f"live N={nfiles}: lines_total {lines}, expected {want_lines}")
        if errors != want_errors:
            NOTES.append(f"live N={nfiles}: {LIVE_SERIES[0]}{{error_type=\"session_not_found\"}} "
                         f"{errors}, expected {want_errors}")
        return {"cpu_s": (c1 - c0) / CLK_TCK, "ticks": (c0, c1), "append_s": t1 - t0, "catch_up_s": t2 - t1,
                "late_max_s": late, "lines": lines - base_lines, "errors": errors - base_errors,
                "counts_ok": lines == want_lines and errors == want_errors, "disturbed": bool(w.seen),
                "argv": d.argv}
    finally:
        for fd in fds:
            os.close(fd)
        if d is not None:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_live(args, rows):
    counts = sorted({int(x) for x in args.live_files.split(",") if x.strip()})
    if not counts or counts[0] < 1:
        raise ValueError(f"--live-files {args.live_files!r}: need positive file counts")
    limit = raise_nofile()
    if limit < counts[-1] + 64:
        NOTES.append(f"live: RLIMIT_NOFILE is {limit}, below {counts[-1]} files plus a margin")
    block = live_block()
    data, block_lines, block_errors = block
    writes = math.ceil((args.live_mib << 20) / len(data))
    total = writes * len(data)
    rate = args.live_rate_mbs * 1e6
    log(f"live: block {len(data)} bytes, {block_lines} lines, {block_errors} errors; "
        f"{writes} writes = {total} bytes at {args.live_rate_mbs:g} MB/s")

    scan_med, scan_cpus, scan_disturbed = live_scan(data, writes, writes * block_lines, writes * block_errors)
    scan_per_gb = scan_med / (total / 1e9)

    per_gb = {}
    for n in counts:
        label = f"5. Live cost, {n} file{'s' if n != 1 else ''}"
        try:
            r = live_one(n, block, writes, rate)
        except Exception as error:
            log(f"live N={n}: {type(error).__name__}: {error}")
            rows.append((label, "", f"**FAILED**: {type(error).__name__}: {error}", "<= 1.5 CPU-s/GB", "**NO**"))
            continue
        cpu_gb = r["cpu_s"] / (total / 1e9)
        share = r["cpu_s"] / r["append_s"]
        per_gb[n] = cpu_gb
        log(f"live N={n}: {r['cpu_s']:.2f} CPU-s (ticks {r['ticks'][0]}->{r['ticks'][1]}), appending "
            f"{r['append_s']:.2f} s, caught up {r['catch_up_s']:.3f} s later: {cpu_gb:.2f} CPU-s/GB, "
            f"{share:.1%} of one core; scan {scan_per_gb:.2f} CPU-s/GB")
        cmd = (f"`{bin_label()} run --web.listen-address 127.0.0.1:0 TMPDIR/*.log`, default poll_interval, "
               f"{n} empty file{'s' if n != 1 else ''} app-NNNNN.log kept open O_APPEND; after files_watched=={n} and 2 s, "
               f"{writes} os.write()s of one {len(data)}-byte block ({block_lines} JSON lines, {block_errors} "
               f"session_not_found 404s) round-robin = {total} bytes, paced at {args.live_rate_mbs:g} MB/s "
               f"(absolute schedule); utime+stime from /proc/PID/stat from before the first write until "
               f"lines_total == {r['lines']} (/metrics polled every 50 ms after the last write); "
               f"vs `{bin_label()} scan --format json` on one {total}-byte file of the same block, "
               f"child CPU (getrusage), median of 3 after a warm-up")
        result = (f"**{cpu_gb:.2f} CPU-s/GB** ({share:.1%} of one core at {args.live_rate_mbs:g} MB/s; "
                  f"{r['cpu_s']:.2f} CPU-s over {r['append_s']:.2f} s of appending, caught up "
                  f"{r['catch_up_s']:.2f} s after the last write"
                  + (f", writer up to {r['late_max_s'] * 1000:.0f} ms behind schedule" if r["late_max_s"] > 0.1 else "")
                  + f"); scan: {scan_per_gb:.2f} CPU-s/GB [{fmt_list(scan_cpus)} CPU-s]; "
                  f"counts {'match' if r['counts_ok'] else 'DIFFER'} ({r['lines']} lines, {r['errors']} session_not_found)")
        if r["disturbed"] or scan_disturbed:
            result += "; other benchmarks were running during " + (
                "it" if r["disturbed"] and scan_disturbed else "the run" if r["disturbed"] else "the scans")
        met = "yes" if cpu_gb <= 1.5 and r["counts_ok"] else "**NO**" + ("" if r["counts_ok"] else " (counts differ)")
        rows.append((label, cmd, result, "<= 1.5 CPU-s/GB", met))

    lo, hi = counts[0], counts[-1]
    if lo != hi:
        label = f"5. Live cost growth, {lo} -> {hi} files"
        if lo in per_gb and hi in per_gb and per_gb[lo] > 0:
            growth = per_gb[hi] / per_gb[lo]
            rows.append((label, f"CPU-s/GB at {hi} files / at {lo} file{'s' if lo != 1 else ''}, rows above",
                         f"**{growth:.2f}x** ({per_gb[lo]:.2f} -> {per_gb[hi]:.2f} CPU-s/GB)", "<= 1.5x",
                         "yes" if growth <= 1.5 else "**NO**"))
        else:
            rows.append((label, "", "not measured (a run above failed or used no CPU)", "<= 1.5x", "**NO**"))


# ---------------------------------------------------------------- main

    if not args.mtail:
        return
    if shutil.which("mtail") is None:
        NOTES.append("live: mtail not installed (apt-get install mtail); not measured")
        return
    for n in counts:
        label = f"5. Live cost, {n} file{'s' if n != 1 else ''}: mtail side by side"
        try:
            r = live_one(n, block, writes, rate, peer="mtail")
        except Exception as error:
            log(f"live mtail N={n}: {type(error).__name__}: {error}")
            rows.append((label, "", f"**FAILED**: {type(error).__name__}: {error}", "(peer)", "-"))
            continue
        cpu_gb = r["cpu_s"] / (total / 1e9)
        ratio = f"; errtally {per_gb[n]:.2f} CPU-s/GB = {cpu_gb / per_gb[n]:.0f}x less" if per_gb.get(n) else ""
        log(f"live mtail N={n}: {r['cpu_s']:.2f} CPU-s, caught up {r['catch_up_s']:.2f} s after the last write")
        cmd = (f"`{' '.join(r['argv'][:1])} --progs DIR --logs 'TMPDIR/*.log'` (Debian's mtail; a program counting "
               f"lines and error types by regex, benches/daemon.py MTAIL_PROGRAM), same files, writes and pacing as the row above")
        result = (f"**{cpu_gb:.2f} CPU-s/GB** ({r['cpu_s']:.2f} CPU-s, caught up {r['catch_up_s']:.2f} s after the last write; "
                  f"counts {'match' if r['counts_ok'] else 'DIFFER'}){ratio}")
        rows.append((label, cmd, result, "(peer)", "-"))


def main():
    global BIN
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="ingest corpus size")
    parser.add_argument("--appends", type=int, default=1000, help="latency samples")
    parser.add_argument("--idle-seconds", type=float, default=30, help="idle CPU window")
    parser.add_argument("--idle-files", default="100,2000", help="idle: comma-separated file counts")
    parser.add_argument("--idle-layouts", default="flat,pods",
                        help="idle: flat (one directory) and/or pods (Kubernetes' nested layout)")
    parser.add_argument("--live-files", default="1,100,1000",
                        help="live: comma-separated numbers of files to follow")
    parser.add_argument("--live-mib", type=int, default=400, help="live: MiB appended per file count")
    parser.add_argument("--live-rate-mbs", type=float, default=20, help="live: append rate, MB/s (10^6 bytes)")
    parser.add_argument("--no-mtail", dest="mtail", action="store_false",
                        help="live: skip the side-by-side mtail runs")
    parser.add_argument("--bin", default=BIN, metavar="PATH",
                        help="the errtally binary to measure (default target/release/errtally)")
    parser.add_argument("--only", default="ingest,latency,idle,live",
                        help="comma-separated subset of ingest,latency,idle,live (idle includes RSS)")
    args = parser.parse_args()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - {"ingest", "latency", "idle", "live"}
    if unknown:
        parser.error(f"unknown --only item(s): {', '.join(sorted(unknown))}")
    if args.live_rate_mbs <= 0 or args.live_mib <= 0:
        parser.error("--live-mib and --live-rate-mbs must be positive")
    BIN = os.path.abspath(args.bin)
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} not found: run `cargo build --release` first (or pass --bin PATH)")

    rows = []
    failures = []
    for name, fn in (("ingest", bench_ingest), ("latency", bench_latency), ("idle", bench_idle),
                     ("live", bench_live)):
        if name in only:
            try:
                fn(args, rows)
            except Exception as error:  # report and go on with the other targets
                failures.append(f"{name}: {type(error).__name__}: {error}")
                log(failures[-1])

    version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Environment: nproc {os.cpu_count()} (`nproc`: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}), "
          f"kernel {platform.release()}, {version}, Python {platform.python_version()}, "
          f"load average at end {os.getloadavg()[0]:.2f}, binary `{bin_label()}`")
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

#!/usr/bin/env python3
"""Measures `errtally run` with more matching files than descriptors (issue
19, item 2): N one-line files under one glob, the daemon under
`prlimit --nofile=L:L` with a state directory and `start_at = "beginning"`.

    cargo build --release && python3 benches/descriptors.py [--files 100000]
        [--nofile 4096] [--appends 1000] [--idle-seconds 10] [--bin PATH]

Prints one markdown table of:
- counted_s: from process start until errtally_lines_total equals the lines
  written (checked exactly; the per-type count of session_not_found too);
- slowest scrape while counting (every scrape has a 10 s timeout), files
  open and parked once settled, and VmHWM / VmRSS of the daemon;
- the checkpoint's size once settled;
- appended_s: one line appended to each of --appends files spread over the
  set (most of them parked), until all are counted;
- restart_s: SIGTERM, restart under the same limit, then one more line in
  each of those files: until counted, exactly (nothing read twice);
- idle CPU over --idle-seconds once settled (utime+stime, share of a core).

Loopback only; every wait has a deadline; the daemon is killed at the end.
Python 3 standard library only.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "errtally")
ERROR = '{"status_code":404,"error_type":"session_not_found","n":%d}\n'
PLAIN = '{"level":"info","msg":"ok","n":%d}\n'
CLK_TCK = os.sysconf("SC_CLK_TCK")


def line(n):
    return ERROR % n if n % 4 == 0 else PLAIN % n


def scrape(address, timeout=10.0):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as response:
        return response.read().decode()


def value(text, prefix):
    for row in text.splitlines():
        if row.startswith(prefix):
            return float(row.rsplit(" ", 1)[1])
    return None


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as status:
        for row in status:
            if row.startswith(key + ":"):
                return int(row.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Daemon:
    def __init__(self, args, config):
        self.process = subprocess.Popen(
            ["prlimit", f"--nofile={args.nofile}:{args.nofile}", "--", args.bin, "run",
             "--config", config, "--web.listen-address", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.address = None
        self.log = []
        deadline = time.time() + 30
        while self.address is None:
            row = self.process.stderr.readline()
            if not row or time.time() > deadline:
                sys.exit("daemon did not start:\n" + "".join(self.log))
            self.log.append(row)
            found = re.search(r"address=(\S+)", row)
            if "listening" in row and found:
                self.address = found.group(1)
        # prlimit execs the binary: same pid.
        self.pid = self.process.pid

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_counted(daemon, lines, errors, deadline_s):
    """Polls /metrics until lines and session_not_found errors are exact;
    returns (seconds, slowest scrape). Fails on a count above the truth."""
    started = time.time()
    slowest = 0.0
    while True:
        asked = time.time()
        text = scrape(daemon.address)
        slowest = max(slowest, time.time() - asked)
        got = value(text, 'errtally_lines_total{source="bench"}') or 0
        got_errors = value(text, 'errtally_errors_total{error_type="session_not_found",'
                                 'source="bench",status_code="404"}') or 0
        if got > lines or got_errors > errors:
            sys.exit(f"counted more than written: lines {got} > {lines} or errors {got_errors} > {errors}")
        if got == lines and got_errors == errors:
            return time.time() - started, slowest, text
        if time.time() - started > deadline_s:
            sys.exit(f"still short after {deadline_s} s: lines {got} of {lines}")
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--nofile", type=int, default=4096)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--bin", default=BIN)
    args = parser.parse_args()

    top = tempfile.mkdtemp(prefix="errtally-descriptors-")
    logs = os.path.join(top, "logs")
    os.makedirs(logs)
    lines = errors = 0
    for f in range(args.files):
        with open(os.path.join(logs, f"f{f:06}.log"), "w") as out:
            out.write(line(f))
        lines += 1
        errors += f % 4 == 0
    config = os.path.join(top, "errtally.toml")
    with open(config, "w") as out:
        out.write(f'state_dir = "{top}/state"\n[[input]]\nname = "bench"\n'
                  f'paths = ["{logs}/*.log"]\nstart_at = "beginning"\n')
    rows = []
    daemon = None
    try:
        started = time.time()
        daemon = Daemon(args, config)
        _, slowest, text = wait_counted(daemon, lines, errors, 600)
        took = time.time() - started
        open_files = value(text, 'errtally_files_watched{source="bench"}')
        parked = value(text, 'errtally_files_parked{source="bench"}')
        rows.append(("counted from start", f"{took:.2f} s", f"{args.files} files, nofile {args.nofile}"))
        rows.append(("slowest scrape meanwhile", f"{slowest * 1000:.0f} ms", ""))
        rows.append(("open / parked", f"{open_files:.0f} / {parked:.0f}", ""))
        rows.append(("VmHWM / VmRSS", f"{status_kib(daemon.pid, 'VmHWM') / 1024:.1f} / "
                     f"{status_kib(daemon.pid, 'VmRSS') / 1024:.1f} MiB", ""))
        time.sleep(2)  # one checkpoint interval and a margin
        checkpoint = os.path.join(top, "state", "checkpoint.json")
        rows.append(("checkpoint size", f"{os.path.getsize(checkpoint) / 1e6:.1f} MB", ""))

        cpu_before = cpu_seconds(daemon.pid)
        time.sleep(args.idle_seconds)
        idle = (cpu_seconds(daemon.pid) - cpu_before) / args.idle_seconds
        rows.append(("idle CPU, settled", f"{idle * 100:.2f}% of a core", f"over {args.idle_seconds:.0f} s"))

        step = max(1, args.files // args.appends)
        chosen = list(range(0, args.files, step))[: args.appends]
        n = args.files
        for f in chosen:
            with open(os.path.join(logs, f"f{f:06}.log"), "a") as out:
                out.write(line(n))
            lines += 1
            errors += n % 4 == 0
            n += 1
        took, slowest, _ = wait_counted(daemon, lines, errors, 600)
        rows.append(("appends to parked files counted", f"{took:.2f} s",
                     f"{len(chosen)} files; slowest scrape {slowest * 1000:.0f} ms"))

        daemon.stop()
        started = time.time()
        daemon = Daemon(args, config)
        restart_lines = restart_errors = 0
        for f in chosen:
            with open(os.path.join(logs, f"f{f:06}.log"), "a") as out:
                out.write(line(n))
            restart_lines += 1
            restart_errors += n % 4 == 0
            n += 1
        took, slowest, _ = wait_counted(daemon, restart_lines, restart_errors, 600)
        rows.append(("restart, then appends counted (none twice)", f"{time.time() - started:.2f} s",
                     f"slowest scrape {slowest * 1000:.0f} ms"))
    finally:
        if daemon is not None:
            daemon.kill()
        shutil.rmtree(top, ignore_errors=True)
    print(f"| measurement | value | note |\n|---|---|---|")
    for name, measured, note in rows:
        print(f"| {name} | {measured} | {note} |")


if __name__ == "__main__":
    main()

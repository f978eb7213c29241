#!/usr/bin/env python3
"""Measures a first basic-auth login during a wrong-password flood (issue
20, item 3): `errtally run` with one `basic_auth_users` file, --clients
threads on 127.0.0.1 each sending a new wrong password as soon as the last
one was refused, and meanwhile, from 127.0.0.2, --rounds valid logins, each
for a user never seen before (so never cached), one after the other.

    cargo build --release && python3 benches/login_flood.py
        [--bin NAME=PATH ...] [--clients 40] [--rounds 10]

Without --bin it measures target/release/errtally. To compare with the
build before a change, build that commit into a copy and pass both:

    git worktree add /tmp/before HEAD~1 && (cd /tmp/before && cargo build --release)
    python3 benches/login_flood.py --bin before=/tmp/before/target/release/errtally \\
        --bin after=target/release/errtally

Prints one markdown table: per binary, the valid login's time to its 200
(median and slowest of the rounds, from connect to the end of the
response), and how many flood requests were refused a second (the flood's
share of bcrypt) and how many got anything but 401 (must be none). Every hash is bcrypt cost 10, as `htpasswd -nBC 10` makes them.
Loopback only; every wait has a deadline; the daemon is killed at the end.
Python 3 standard library only.
"""
import argparse
import base64
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `htpasswd -nbBC 10 alice 'correct horse'`; every user shares it, and each
# user name makes a distinct cache key.
HASH = "$2y$10$V5Hj1mie8SbPmX0q.c207Oc/wmJdkiAlLrAGvxW6THTKIg49ROMWC"
PASSWORD = "correct horse"


def get(host, port, credentials, source=None, timeout=60.0):
    """Status of GET /metrics as `credentials`, from `source` if given."""
    token = base64.b64encode(credentials.encode()).decode()
    connection = http.client.HTTPConnection(
        host, port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        connection.request("GET", "/metrics", headers={"Authorization": f"Basic {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def start(binary, directory, users):
    web = os.path.join(directory, "web.yml")
    with open(web, "w") as file:
        file.write("basic_auth_users:\n")
        for user in users:
            file.write(f"  {user}: {HASH}\n")
    log = os.path.join(directory, "app.log")
    open(log, "a").close()
    daemon = subprocess.Popen(
        [binary, "run", "--web.listen-address", "127.0.0.1:0", "--web.config.file", web, log],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 15
    for row in daemon.stderr:
        found = re.search(r"msg=listening address=(\S+)", row)
        if found:
            host, port = found.group(1).rsplit(":", 1)
            # Keep draining stderr so the daemon never blocks on it.
            threading.Thread(target=lambda: [None for _ in daemon.stderr], daemon=True).start()
            return daemon, host, int(port)
        if time.monotonic() > deadline:
            break
    daemon.kill()
    sys.exit(f"{binary} did not start")


def measure(binary, clients, rounds):
    users = [f"user{i}" for i in range(rounds)]
    with tempfile.TemporaryDirectory() as directory:
        daemon, host, port = start(binary, directory, ["flooded"] + users)
        try:
            stop = threading.Event()
            answered = {"401": 0, "other": 0}
            lock = threading.Lock()

            def flood(client):
                attempt = 0
                while not stop.is_set():
                    attempt += 1
                    try:
                        status = get(host, port, f"flooded:guess {client} {attempt}")
                    except OSError:
                        status = 0
                    with lock:
                        answered["401" if status == 401 else "other"] += 1

            threads = [threading.Thread(target=flood, args=(c,)) for c in range(clients)]
            flood_started = time.monotonic()
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 60
            while answered["401"] < clients:
                if time.monotonic() > deadline:
                    sys.exit("the flood was never answered")
                time.sleep(0.05)
            took = []
            for user in users:
                started = time.monotonic()
                status = get(host, port, f"{user}:{PASSWORD}", source="127.0.0.2")
                took.append(time.monotonic() - started)
                if status != 200:
                    sys.exit(f"{binary}: the valid login got {status}")
            stop.set()
            for thread in threads:
                thread.join()
            answered["per_s"] = answered["401"] / (time.monotonic() - flood_started)
            return took, answered
        finally:
            daemon.kill()
            daemon.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    binaries = [b.split("=", 1) for b in args.bin] or [
        ["release", os.path.join(ROOT, "target", "release", "errtally")]
    ]
    print(f"{args.clients} flooding clients on 127.0.0.1, {args.rounds} first logins from 127.0.0.2, "
          f"bcrypt cost 10, {os.cpu_count()} cores\n")
    print("| binary | login p50 | login max | flood refused (401) per s | flood not 401 |")
    print("|---|---|---|---|---|")
    for name, path in binaries:
        took, answered = measure(path, args.clients, args.rounds)
        print(f"| {name} | {statistics.median(took):.3f} s | {max(took):.3f} s "
              f"| {answered['per_s']:.1f} | {answered['other']} |")


if __name__ == "__main__":
    main()

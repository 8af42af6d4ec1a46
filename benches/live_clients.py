"""The live view's cost to a run: CUBA with 50 polling page clients and one that never reads.

What it measures: the simulation loop's wall time (`snn.wall_s` in results.json) of
`axon run scenarios/cuba.toml` in three modes, interleaved, `--repeats` times each, best of the
repeats:

  - no live:      no `--live` at all;
  - live, idle:   `--live --linger 0`, nobody connects;
  - live, 50+1:   `--live --linger 0` with, from the moment the URL appears on stderr,
                  50 threads each polling `GET /api/state?token=...` like the page does (one
                  keep-alive connection each; the next request 0.4 s after a response) and one
                  raw socket with a tiny receive buffer that sends a long pipelined stream of
                  `GET /api/state` and `GET /` requests and never reads a byte, kept open
                  until the process exits. While it runs, a checker also asks for
                  `/api/state` and `/` without the token and `/api/state` with a wrong one and
                  counts the 401 answers. The page clients stop at axon's summary line.

It prints the table, the ratios (live idle vs no live; 50+1 clients vs live idle, the bar; 50+1
vs no live), the CPU model, the CPU seconds axon and the clients (this Python process) used,
what the clients saw (requests, errors, latency, the last and the number of distinct
`progress.ticks` seen, so the figures did move during the run), and how long axon took to exit
after its summary line: a client that never reads must not hold the process up, so when axon
still runs `--exit-grace` s after its summary line the script closes that client's socket,
says so, and exits 1 (also when a 401 is missing). `--clients N` and `--no-stuck` tell the two
kinds of client apart. Every child process and thread is ended before the script exits (axon
is killed if it still runs after `--timeout`).

Runs of a few tenths of a second are noisy on a small shared machine: for a figure to set
against a 5 % bar use more repeats and a longer run, e.g. `--repeats 7 --duration-ms 100000`.

The issue's bar (issue 29, "Must show"): 50 concurrent page clients plus one client that never
reads change the run's wall time by <= 5 %; 401 without the token. The clients run on the same
machine as axon, so on a small machine they compete with the run for the cores: the CPU columns
say how much they took.

    cargo build --release
    python3 benches/live_clients.py [--repeats 3] [--duration-ms 20000] [--clients 50]
"""

import argparse
import http.client
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from machine import cpu_line

URL_RE = re.compile(r"live view: (http://\S+)")
TICKS_RE = re.compile(rb'"ticks":(\d+)')
TOTAL_RE = re.compile(rb'"total_ticks":(\d+)')
DROPPED_RE = re.compile(rb'"dropped":(\d+)')


class Clients:
    """The page clients, the client that never reads and the 401 checker; they wait for the
    URL, then run until `stop` is set."""

    def __init__(self, n, period, stuck_requests, rcvbuf, stuck=True):
        self.n, self.period = n, period
        self.stuck_requests, self.rcvbuf = stuck_requests, rcvbuf
        self.url_ready = threading.Event()
        self.stop = threading.Event()
        self.run_over = threading.Event()  # the summary line is out: page clients stop
        self.url = None
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = 0
        self.bytes = 0
        self.latencies = []
        self.max_ticks = 0
        self.tick_values = set()
        self.total_ticks = 0
        self.dropped = 0
        self.status_seen = set()
        self.stuck_sent = 0
        self.stuck_error = None
        self.stuck_let_go = False
        self.no_token = [0, 0]  # [401 answers, asked]
        self.threads = [threading.Thread(target=self.poll, args=(i,), daemon=True) for i in range(n)]
        if stuck:
            self.threads.append(threading.Thread(target=self.never_reads, daemon=True))
        self.threads.append(threading.Thread(target=self.check_401, daemon=True))
        self.stuck_sock = None

    def start(self):
        for t in self.threads:
            t.start()

    def set_url(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.token = urllib.parse.parse_qs(u.query)["token"][0]
        self.url = url
        self.url_ready.set()

    def _wait_url(self):
        while not self.url_ready.wait(0.05):
            if self.stop.is_set():
                return False
        return True

    def poll(self, i):
        """Like the page: GET /api/state, read it, wait `period`, again (keep-alive)."""
        if not self._wait_url():
            return
        # Page clients opened at random moments: spread their phases over one period.
        if self.stop.wait(self.period * i / max(self.n, 1)):
            return
        path = f"/api/state?token={urllib.parse.quote(self.token)}"
        conn = None
        while not (self.stop.is_set() or self.run_over.is_set()):
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", path, headers={"Cache-Control": "no-store"})
                r = conn.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                ticks = None
                if r.status == 200:
                    # The figures the page shows move: progress.ticks (a regex, not a JSON
                    # parse, to keep the clients' own CPU low).
                    found = [rx.search(body) for rx in (TICKS_RE, TOTAL_RE, DROPPED_RE)]
                    ticks, total, dropped = (int(m.group(1)) if m else 0 for m in found)
                with self.lock:
                    self.status_seen.add(r.status)
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.errors += 1
                    self.bytes += len(body)
                    self.latencies.append(dt)
                    if ticks is not None:
                        self.max_ticks = max(self.max_ticks, ticks)
                        self.tick_values.add(ticks)
                        self.total_ticks = max(self.total_ticks, total)
                        self.dropped = max(self.dropped, dropped)
            except (OSError, http.client.HTTPException, ValueError):
                with self.lock:
                    # A request cut by the run's end is not an error of the live view.
                    self.errors += not self.run_over.is_set()
                if conn is not None:
                    conn.close()
                conn = None
            self.run_over.wait(self.period)
        if conn is not None:
            conn.close()

    def never_reads(self):
        """A client that pipelines many requests and never reads an answer."""
        if not self._wait_url():
            return
        tok = urllib.parse.quote(self.token)
        host = f"{self.host}:{self.port}"
        pair = (f"GET /api/state?token={tok} HTTP/1.1\r\nHost: {host}\r\n\r\n"
                f"GET /?token={tok} HTTP/1.1\r\nHost: {host}\r\n\r\n").encode()
        block = pair * 64
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.stuck_sock = s
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            s.connect((self.host, self.port))
            s.settimeout(0.05)
            budget = self.stuck_requests * len(pair) // 2
            while not self.stop.is_set() and self.stuck_sent < budget:
                try:
                    self.stuck_sent += s.send(block)
                except socket.timeout:
                    # Both sides' buffers are full: the server has stopped reading from us.
                    self.stop.wait(0.05)
            # Keep the socket open, unread, until the run ends.
            self.stop.wait()
        except OSError as e:
            if not self.stuck_let_go:
                self.stuck_error = repr(e)

    def check_401(self):
        """Asks without the token and with a wrong one; every answer must be 401."""
        if not self._wait_url():
            return
        for path in ("/api/state", "/api/state?token=" + "0" * len(self.token), "/"):
            if self.stop.is_set():
                break
            try:
                c = http.client.HTTPConnection(self.host, self.port, timeout=5)
                c.request("GET", path)
                status = c.getresponse().status
                c.close()
            except (OSError, http.client.HTTPException):
                status = None
            with self.lock:
                self.no_token[1] += 1
                self.no_token[0] += status == 401

    def let_go_stuck(self):
        """Closes the never-reading client's socket."""
        self.stuck_let_go = True
        if self.stuck_sock is not None:
            self.stuck_sock.close()

    def close(self):
        self.stop.set()
        self.url_ready.set()
        for t in self.threads:
            t.join(timeout=10)
        if self.stuck_sock is not None:
            self.stuck_sock.close()
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            print(f"warning: client threads still alive: {alive}", file=sys.stderr)


def run_once(args, out, mode):
    """One run of `mode`; returns a dict of what was measured."""
    cmd = [args.binary, "run", args.scenario, "--out", out, "-q",
           "--set", f"cuba.duration_ms={args.duration_ms}"]
    if mode != "none":
        cmd += ["--live", "--linger", "0"]
    clients = None
    if mode == "clients":
        clients = Clients(args.clients, args.period, args.stuck_requests, args.rcvbuf,
                          not args.no_stuck)
        clients.start()
    stderr_lines, stdout_lines = [], []
    summary_at = [None]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    rc0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t_start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read_err():
        for line in proc.stderr:
            stderr_lines.append(line)
            m = URL_RE.search(line)
            if m and clients is not None and clients.url is None:
                clients.set_url(m.group(1))

    def read_out():
        for line in proc.stdout:
            stdout_lines.append(line)
            if summary_at[0] is None and " wall " in line:
                summary_at[0] = time.perf_counter()
                if clients is not None:
                    clients.run_over.set()

    readers = [threading.Thread(target=read_err, daemon=True),
               threading.Thread(target=read_out, daemon=True)]
    for t in readers:
        t.start()
    hung = None  # when the process still ran exit_grace s after its summary line
    try:
        deadline = time.perf_counter() + args.timeout
        while proc.poll() is None:
            now = time.perf_counter()
            if summary_at[0] is not None and now - summary_at[0] > args.exit_grace and not hung:
                # The run is over but the process lingers: let the never-reading client go.
                hung = now
                if clients is not None:
                    clients.let_go_stuck()
            if now > deadline:
                break
            time.sleep(0.01)
        exited = time.perf_counter()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            print(f"warning: killed axon ({mode}) after {args.timeout} s", file=sys.stderr)
        if clients is not None:
            clients.close()
        for t in readers:
            t.join(timeout=5)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    rc1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{''.join(stderr_lines)}")
    with open(os.path.join(out, "results.json")) as f:
        snn = json.load(f)["snn"]
    r = {
        "wall_s": snn["wall_s"],
        "spikes": snn["spikes"],
        "process_s": exited - t_start,
        "exit_after_summary_s": exited - summary_at[0] if summary_at[0] else float("nan"),
        "hung": hung is not None,
        "exit_after_let_go_s": exited - hung if hung else None,
        "axon_cpu_s": (rc1.ru_utime - rc0.ru_utime) + (rc1.ru_stime - rc0.ru_stime),
        "clients_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
    }
    if clients is not None:
        lat = sorted(clients.latencies)
        r.update({
            "requests_ok": clients.ok,
            "errors": clients.errors,
            "statuses": sorted(clients.status_seen),
            "bytes": clients.bytes,
            "lat_median_ms": 1e3 * statistics.median(lat) if lat else float("nan"),
            "lat_max_ms": 1e3 * lat[-1] if lat else float("nan"),
            "ticks_seen": clients.max_ticks,
            "tick_values": len(clients.tick_values),
            "total_ticks": clients.total_ticks,
            "dropped": clients.dropped,
            "stuck_sent": clients.stuck_sent,
            "stuck_error": clients.stuck_error,
            "no_token": list(clients.no_token),
        })
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/release/axon")
    ap.add_argument("--scenario", default="scenarios/cuba.toml")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each mode (best is kept)")
    ap.add_argument("--duration-ms", type=float, default=20000.0,
                    help="simulated ms (cuba.duration_ms); the scenario's own is 1000")
    ap.add_argument("--clients", type=int, default=50, help="page clients polling /api/state")
    ap.add_argument("--period", type=float, default=0.4, help="seconds between a page's polls")
    ap.add_argument("--stuck-requests", type=int, default=200_000,
                    help="requests the never-reading client tries to pipeline")
    ap.add_argument("--rcvbuf", type=int, default=1024, help="its SO_RCVBUF in bytes")
    ap.add_argument("--no-stuck", action="store_true",
                    help="leave out the never-reading client (to tell the costs apart)")
    ap.add_argument("--timeout", type=float, default=300.0, help="kill axon after this many s")
    ap.add_argument("--exit-grace", type=float, default=10.0,
                    help="s after the summary line before the stuck client is let go")
    args = ap.parse_args()

    modes = ["none", "idle", "clients"]
    label = {"none": "no live", "idle": "live, idle",
             "clients": f"live, {args.clients}+{0 if args.no_stuck else 1}"}
    print(cpu_line())
    print(f"{args.scenario}, {args.duration_ms:g} ms simulated, best of {args.repeats}, "
          f"modes interleaved; {args.clients} page clients every {args.period} s"
          f"{'' if args.no_stuck else ' + 1 never reading'}")
    runs = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="axon-live-clients-") as tmp:
        for i in range(args.repeats):
            for j, m in enumerate(modes):
                runs[m].append(run_once(args, os.path.join(tmp, f"r{i}-{j}"), m))

    print(f"\n{'mode':<12} {'best wall_s':>11} {'median':>8} {'spikes':>8} {'axon cpu_s':>10} "
          f"{'clients cpu_s':>13} {'exit after summary_s':>20}")
    best = {}
    for m in modes:
        rs = runs[m]
        walls = [r["wall_s"] for r in rs]
        best[m] = min(walls)
        spikes = ",".join(str(s) for s in sorted({r["spikes"] for r in rs}))
        print(f"{label[m]:<12} {best[m]:>11.4f} {statistics.median(walls):>8.4f} {spikes:>8} "
              f"{statistics.median(r['axon_cpu_s'] for r in rs):>10.3f} "
              f"{statistics.median(r['clients_cpu_s'] for r in rs):>13.3f} "
              f"{max(r['exit_after_summary_s'] for r in rs):>20.3f}")
    print("all walls:", {label[m]: [round(r["wall_s"], 4) for r in runs[m]] for m in modes})

    idle_vs_none = (best["idle"] / best["none"] - 1) * 100
    clients_vs_idle = (best["clients"] / best["idle"] - 1) * 100
    clients_vs_none = (best["clients"] / best["none"] - 1) * 100
    c = label["clients"].split(", ")[1]
    print(f"\nlive idle vs no live:      {idle_vs_none:+6.1f} %")
    print(f"{c} clients vs live idle: {clients_vs_idle:+6.1f} %   "
          f"(bar <= 5 %: {'holds' if clients_vs_idle <= 5 else 'FAILS'})")
    print(f"{c} clients vs no live:   {clients_vs_none:+6.1f} %")

    print("\nclients, per run:")
    ok_401 = True
    for r in runs["clients"]:
        ok_401 &= r["no_token"][0] == r["no_token"][1] > 0
        print(f"  wall {r['wall_s']:.4f} s: {r['requests_ok']} ok, {r['errors']} errors, "
              f"statuses {r['statuses']}, {r['bytes'] / 1e3:.0f} kB, latency median "
              f"{r['lat_median_ms']:.1f} ms max {r['lat_max_ms']:.1f} ms; ticks seen "
              f"{r['ticks_seen']}/{r['total_ticks']} ({r['tick_values']} distinct), dropped {r['dropped']}; never-reading "
              f"client pipelined {r['stuck_sent'] / 1e3:.0f} kB"
              f"{' (' + r['stuck_error'] + ')' if r['stuck_error'] else ''}; "
              f"401 without/with a wrong token: {r['no_token'][0]} of {r['no_token'][1]}"
              + (f"; EXIT HELD UP until the never-reading client was let go "
                 f"(exit {r['exit_after_let_go_s']:.3f} s after)" if r["hung"] else ""))
    print(f"401 without the token: {'yes' if ok_401 else 'NO'}")
    hung = any(r["hung"] for m in modes for r in runs[m])
    sys.exit(0 if ok_401 and not hung else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Propagation latency between two replicas (scripts/load-cluster.sh).

A change is committed through replica A while a poller asks replica B, one
request after another on a kept-alive connection, for the decision the
change must alter; the latency of one change is from just before A was
sent the change to the first reply from B that reflects it. The commit
happens after that start, so each figure is an upper bound on commit to
first decision.

  stop:   POST A /api/emergency-stop, then B's POST /api/authorize of a
          whitelisted command must answer `denied`; then
          POST A /api/emergency-stop/resume, and it must answer
          `autonomous` again: CHANGES stops and CHANGES resumes.
  plugin: POST A /api/plugins/swap-item/activate alternating 2.0.0 and
          1.0.0 (both stored beforehand; 1.0.0 with ?force=true, a downgrade), and B's
          POST /api/plugins/swap-item/evaluate must answer the new version.

Usage: propagation.py stop|plugin A_PORT B_PORT TOKEN CHANGES
Prints one line per kind: `<label> n=<n> p50_ms=... p99_ms=... max_ms=...`,
and writes each sample to target/load/propagation-<label>.txt.
"""

import http.client
import json
import math
import os
import sys
import threading
import time

HOST = "127.0.0.1"
# Two changes first, not counted: B compiles each swap-item version once,
# the first time it activates it.
WARMUP = 2
# A change not seen on B within this is a failure, not a slow sample.
GIVE_UP_S = 10.0


class Client:
    def __init__(self, port, token):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def post(self, path, body):
        self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None)


def percentile(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    # Nearest rank: the smallest sample with at least p% at or below it.
    index = max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)
    return sorted_ms[index]


def measure(a, b_port, token, change, observe, expected):
    """Sends `change` through A; returns the seconds until a reply from B,
    by `observe`, equals `expected`."""
    seen = {}
    started = threading.Event()

    def poll():
        b = Client(b_port, token)
        started.set()
        deadline = time.perf_counter() + GIVE_UP_S + 5
        while time.perf_counter() < deadline:
            value = observe(b)
            now = time.perf_counter()
            if value == expected and "t0" in seen:
                seen["t"] = now
                return
        seen["error"] = f"B never answered {expected!r}"

    poller = threading.Thread(target=poll)
    poller.start()
    started.wait()
    seen["t0"] = time.perf_counter()
    status, body = change(a)
    if status != 200:
        raise SystemExit(f"the change through A answered {status}: {body}")
    poller.join(GIVE_UP_S + 10)
    if "t" not in seen:
        raise SystemExit(seen.get("error", "no answer from B"))
    return seen["t"] - seen["t0"]


def main():
    kind, a_port, b_port, token, changes = sys.argv[1:6]
    a_port, b_port, changes = int(a_port), int(b_port), int(changes)
    a = Client(a_port, token)
    samples = {}

    if kind == "stop":
        def decision(b):
            status, body = b.post("/api/authorize", {"commandType": "SET_POWER"})
            return body.get("decision") if status == 200 else f"status {status}"

        def stop(c):
            return c.post("/api/emergency-stop", {"reason": "propagation probe"})

        def resume(c):
            return c.post("/api/emergency-stop/resume", {"reason": "propagation probe"})

        # CHANGES stops and CHANGES resumes, each measured on its own.
        for i in range(changes + WARMUP // 2):
            s = measure(a, b_port, token, stop, decision, "denied")
            r = measure(a, b_port, token, resume, decision, "autonomous")
            if i >= WARMUP // 2:
                samples.setdefault("stop", []).append(s * 1000)
                samples.setdefault("resume", []).append(r * 1000)
    elif kind == "plugin":
        context = {"now": "2026-11-01T00:00:00Z", "metrics": {"successRate": 0.9}}

        def version(b):
            status, body = b.post("/api/plugins/swap-item/evaluate", context)
            return body.get("version") if status == 200 else f"status {status}"

        def activate(v):
            # Back to 1.0.0 is a downgrade once 2.0.0 has been active,
            # which Regent refuses without `force` (and audits as one).
            path = "/api/plugins/swap-item/activate" + ("?force=true" if v == "1.0.0" else "")
            return lambda c: c.post(path, {"version": v})

        for i in range(changes + WARMUP):
            target = "2.0.0" if i % 2 == 0 else "1.0.0"
            t = measure(a, b_port, token, activate(target), version, target)
            if i >= WARMUP:
                samples.setdefault("activation", []).append(t * 1000)
    else:
        raise SystemExit(f"unknown kind {kind!r}: stop or plugin")

    os.makedirs("target/load", exist_ok=True)
    for label, values in samples.items():
        with open(f"target/load/propagation-{label}.txt", "w") as out:
            out.write("\n".join(f"{v:.3f}" for v in values) + "\n")
        values = sorted(values)
        print(
            f"{label} n={len(values)} p50_ms={percentile(values, 50):.1f} "
            f"p99_ms={percentile(values, 99):.1f} max_ms={values[-1]:.1f}"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Posts N batches of command records to POST /api/commands from C threads
and reports records/s. Every record has a new id, so every one is a real
insert; createdAt is spread over the last 7 days, so the same run seeds the
store for the readiness and metrics benchmarks."""
import argparse, http.client, json, random, threading, time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

p = argparse.ArgumentParser()
p.add_argument("--base", default="http://127.0.0.1:4007")
p.add_argument("--token", required=True)
p.add_argument("--batches", type=int, default=100)
p.add_argument("--batch-size", type=int, default=10_000)
p.add_argument("--concurrency", type=int, default=2)
p.add_argument("--prefix", default="bench")
a = p.parse_args()

now = datetime.now(timezone.utc)
statuses = ["succeeded"] * 97 + ["failed", "rejected", "rolled_back"]
types = ["SET_POWER", "SET_FAN", "SET_DRUM", "SET_AIRFLOW", "PREHEAT"]
rng = random.Random(7)

def body(b):
    records = []
    for i in range(a.batch_size):
        # Older than an hour: the breakers' windows stay calm.
        at = now - timedelta(seconds=3600 + rng.random() * 6.9 * 86400)
        records.append({
            "id": f"{a.prefix}-{b}-{i}",
            "commandType": types[i % len(types)],
            "status": statuses[rng.randrange(len(statuses))],
            "requiredApproval": i % 7 == 0,
            "autonomous": True,
            "createdAt": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "durationMs": rng.randrange(5, 500),
        })
    return json.dumps(records).encode()

print(f"generating {a.batches} batches of {a.batch_size} ...", flush=True)
bodies = [body(b) for b in range(a.batches)]
url = urlparse(a.base)
accepted = 0
latencies = []
lock = threading.Lock()
next_batch = iter(range(a.batches))

def worker():
    global accepted
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    while True:
        with lock:
            b = next(next_batch, None)
        if b is None:
            return
        t0 = time.perf_counter()
        conn.request("POST", "/api/commands", bodies[b],
                     {"Authorization": f"Bearer {a.token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        dt = time.perf_counter() - t0
        if resp.status != 200:
            raise SystemExit(f"batch {b}: HTTP {resp.status}: {data[:300]!r}")
        with lock:
            accepted += json.loads(data)["accepted"]
            latencies.append(dt)

t0 = time.perf_counter()
threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - t0
latencies.sort()
p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
print(json.dumps({"records": accepted, "seconds": round(elapsed, 2),
                  "recordsPerSecond": round(accepted / elapsed),
                  "batchP50Ms": round(latencies[len(latencies) // 2] * 1000, 1),
                  "batchP99Ms": round(p99 * 1000, 1)}))

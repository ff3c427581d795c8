#!/usr/bin/env python3
"""The end of `make bench`: ours beside Sidekiq, from the figures this one run wrote.

Reads bench-results/queue.json (queue-bench), bench-results/queue-peers.json (Sidekiq, live with
BENCH_PEERS=1, else the peers' published figures, labelled) and bench-results/functions.json
(function-bench), prints one table and writes bench-results/summary.json. Each figure is the median
of the runs (each run in brackets); ratios say how many times better ours is (above 1) or worse.
"""
import json
import os
import sys

results = sys.argv[1] if len(sys.argv) > 1 else "bench-results"


def load(name):
    path = os.path.join(results, name)
    return json.load(open(path)) if os.path.exists(path) else None


queue = {m["id"]: m for m in (load("queue.json") or {"measurements": []})["measurements"]}
peers = load("queue-peers.json") or {}
functions = {r["id"]: r for r in (load("functions.json") or {"rows": []})["rows"]}
sidekiq = peers.get("sidekiq") or {}
live = bool(peers.get("live"))


def ours_queue(mid, key):
    m = queue.get(mid)
    return (m["medians"][key], [r[key] for r in m["runs"]]) if m and key in m["medians"] else None


def ours_fn(rid, key):
    r = functions.get(rid)
    return (r["medians"][key], [x[key] for x in r["runs"] if key in x]) if r and key in r["medians"] else None


def theirs(key):
    s = sidekiq.get(key)
    return (s["median"], s["runs"]) if s else None


def show(fig, fmt):
    if fig is None:
        return "-"
    value, runs = fig
    each = runs if isinstance(runs, str) else " / ".join(fmt(v) for v in runs)
    return f"{fmt(value)} ({each})"


rate = lambda v: f"{v:,.0f}"
ms = lambda v: f"{v:.2f}"
sec = lambda v: f"{v:.2f}"

rows = []  # (workload, ours, sidekiq, better, goal)
def compare(name, ours, other, fmt, better, goal=None):
    ratio = None
    if ours and other and ours[0] and other[0]:
        ratio = ours[0] / other[0] if better == "higher" else other[0] / ours[0]
    verdict = "-" if ratio is None else f"{ratio:.2f}×"
    if goal is not None and ratio is not None:
        verdict += " (goal ≥ %.2g×: %s)" % (goal, "met" if ratio >= goal else "NOT met")
    rows.append((name, show(ours, fmt), show(other, fmt), verdict))

compare("warm function invocations/s, batch 1 vs Sidekiq drain 1×c10", ours_fn("drain-warm-b1", "invocations_per_s"),
        theirs("drain-1"), rate, "higher", 1.0)
compare("raw queue drain jobs/s, 2 processes × c10 vs Sidekiq 2×c10", ours_queue("drain-2-processes", "drainRate"),
        theirs("drain-2"), rate, "higher", 1.5)
compare("raw queue drain jobs/s, 1 consumer × c10 vs Sidekiq 1×c10", ours_queue("drain-1-in-process", "drainRate"),
        theirs("drain-1"), rate, "higher")
compare("enqueueBatch (1000 per call) vs push_bulk, jobs/s", ours_queue("enqueue-batch", "jobsPerSecond"),
        theirs("enqueue-batch"), rate, "higher", 1.0)
compare("enqueue one at a time, jobs/s", ours_queue("enqueue-one", "jobsPerSecond"), theirs("enqueue-one"), rate, "higher")
for r, suffix in (("200", ""), ("2000", "-2000")):
    for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
        goal = 1.0 if (r, key) == ("200", "p99") else None
        compare(f"enqueue-to-start {label} at {r}/s, queue consumer (ms)", ours_queue(f"latency-{r}", key),
                theirs(key + suffix), ms, "lower", goal)
    fid = "latency-warm-b1" + ("" if r == "200" else "-2000")
    for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
        compare(f"enqueue-to-start {label} at {r}/s, warm function b1 (ms)", ours_fn(fid, key + "_ms"),
                theirs(key + suffix), ms, "lower")
rows.append(("consumer SIGKILL → its in-flight messages started elsewhere (s)",
             show(ours_queue("recovery", "max"), sec) + " max of 10", "lost (BRPOP; peers' crash test)", "-"))
rows.append(("dispatcher SIGKILL → its 4 messages started elsewhere (s)",
             show(ours_fn("dispatcher-recovery", "messages_s"), sec), "lost (BRPOP; peers' crash test)", "goal < 10 s"))
rows.append(("dispatcher SIGKILL → its concurrency slots free (s)",
             show(ours_fn("dispatcher-recovery", "slots_s"), sec), "-", "goal < 10 s"))

source = peers.get("source", "no Sidekiq figures (run scripts/bench-queue.sh)")
print("\nours beside Sidekiq, from this run of `%sscripts/bench.sh` — medians (each run)" % ("BENCH_PEERS=1 " if live else ""))
print(f"  Sidekiq: {source}")
head = ("workload", "ours", "Sidekiq", "ours vs Sidekiq")
widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
json.dump({"live": live, "source": source, "rows": [dict(zip(head, r)) for r in rows]},
          open(os.path.join(results, "summary.json"), "w"), indent=2)
print(f"figures written to {results}/summary.json")

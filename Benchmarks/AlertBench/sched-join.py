#!/usr/bin/env python3
"""Which thread waits during the alert-evaluator's firing transactions: joins alert-bench's stage
trace (--trace DIR) with the scheduler's timeline (perf sched, CLOCK_MONOTONIC).

Capture (root; perf's tracepoints cannot use CLOCK_REALTIME, so the offset is recorded beside):
    python3 -c 'import time; print((time.time()-time.monotonic())*1000)' > OUT/offset_ms
    perf sched record -k mono -o OUT/sched.data &   # then the bench, then kill -INT the perf
    alert-bench ... --trace OUT/trace
    perf script -i OUT/sched.data -F comm,pid,tid,cpu,time,event,trace -f | grep -v sched_stat_runtime > OUT/events.txt
    Benchmarks/AlertBench/sched-join.py OUT

For every firing transaction (an evaluator batch whose `transaction` stamp is set: the body entered
on the connection's thread, until `committed`: the call returned) it splits the wall time by the
state of the evaluator's connection thread (tm-postgres-0) and of the backend it talks to (the
postgres process that thread wakes most): client running / client waiting for a CPU / backend
running / backend waiting for a CPU / both asleep (a lock, I/O, a flush: anything not the CPU), and
says what ran on the cores while they waited.
"""
import bisect, collections, glob, json, re, sys

d = sys.argv[1]
offset = float(open(f"{d}/offset_ms").readline())  # wall ms - monotonic ms
line_re = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$')

batches = []
for f in glob.glob(f"{d}/trace/alert-evaluator-*.jsonl"):
    pid = int(re.search(r'-(\d+)\.jsonl$', f).group(1))
    for line in open(f):
        o = json.loads(line)
        if o.get("transaction", 0) > 0:
            o["pid"] = pid
            batches.append(o)
evaluators = {o["pid"] for o in batches}

events, process_of, comm = [], {}, {}
for line in open(f"{d}/events.txt"):
    m = line_re.match(line)
    if not m: continue
    c, pid, tid, cpu, t, name, rest = m.groups()
    process_of[int(tid)] = int(pid); comm.setdefault(int(tid), c)
    events.append((float(t), name, int(tid), int(cpu), rest))

client_of = {process_of[t]: t for t in process_of if process_of[t] in evaluators and comm[t].startswith("tm-postgres-0")}
wakes = collections.Counter()
for t, name, tid, cpu, rest in events:
    if name == "sched_waking" and tid in client_of.values():
        m = re.search(r'comm=(\S+) pid=(\d+)', rest)
        if m and m.group(1) == "postgres": wakes[(tid, int(m.group(2)))] += 1
backend_of = {}
for (client, backend), _ in wakes.most_common():
    backend_of.setdefault(client, backend)

watch = set(client_of.values()) | set(backend_of.values())
current, spans = {}, collections.defaultdict(list)  # tid -> [(start, end, state)]
def move(tid, state, t):
    if tid not in watch or (tid in current and current[tid][0] == state): return
    if tid in current: spans[tid].append((current[tid][1], t, current[tid][0]))
    current[tid] = (state, t)
on_cpu, running = collections.defaultdict(list), {}
for t, name, tid, cpu, rest in events:
    if name == "sched_switch":
        m = re.search(r'prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.+?) next_pid=(\d+)', rest)
        move(int(m.group(1)), "runnable" if m.group(2).startswith("R") else "asleep", t)
        move(int(m.group(4)), "running", t)
        if cpu in running: on_cpu[cpu].append((running[cpu][0], t, running[cpu][1], int(running[cpu][2])))
        running[cpu] = (t, m.group(3), m.group(4))
    elif name in ("sched_waking", "sched_wakeup_new"):
        woken = int(re.search(r'pid=(\d+)', rest).group(1))
        if woken in current and current[woken][0] == "asleep": move(woken, "runnable", t)
starts = {cpu: [s for s, *_ in runs] for cpu, runs in on_cpu.items()}

def state_at(tid, t):
    for s, e, st in spans.get(tid, []):
        if s <= t < e: return st
    return "?"
def who(name, pid):
    if pid in evaluators or process_of.get(pid) in evaluators: return "alert-evaluator"
    return "swift-build/frontend" if name.startswith("swift") else name
def on_cpus(a, b, into):
    for cpu, runs in on_cpu.items():
        i = max(0, bisect.bisect_right(starts[cpu], a) - 1)
        while i < len(runs) and runs[i][0] < b:
            s, e, name, pid = runs[i]
            if e > a: into[who(name, pid)] += min(e, b) - max(s, a)
            i += 1

rows = []
for o in batches:
    client = client_of.get(o["pid"])
    if client is None: continue
    a, b = (o["transaction"] - offset) / 1000, (o["committed"] - offset) / 1000
    rows.append((b - a, a, b, client, backend_of.get(client)))
rows.sort()
ms = [r[0] * 1000 for r in rows]
print(f"{len(rows)} firing transactions; transaction -> returned ms p50 {ms[len(ms)//2]:.2f} p90 {ms[int(len(ms)*.9)]:.2f} "
      f"p99 {ms[int(len(ms)*.99)]:.2f} max {ms[-1]:.2f}")
for title, chosen in (("all", rows), ("slowest 10%", rows[-max(1, len(rows) // 10):])):
    split, waited_for = collections.Counter(), collections.Counter()
    for _, a, b, client, backend in chosen:
        cuts = sorted({a, b} | {x for tid in (client, backend) for s, e, _ in spans.get(tid, []) for x in (s, e) if a < x < b})
        for x, y in zip(cuts, cuts[1:]):
            m = (x + y) / 2
            c, k = state_at(client, m), state_at(backend, m)
            key = ("client running" if c == "running" else "client waits for a CPU" if c == "runnable" else
                   "backend running" if k == "running" else "backend waits for a CPU" if k == "runnable" else "both asleep")
            split[key] += y - x
            if "waits" in key: on_cpus(x, y, waited_for)
    n = len(chosen)
    print(f"\n{title} ({n}), ms per transaction: " + ", ".join(f"{k} {v / n * 1000:.2f}" for k, v in split.most_common()))
    print("  on the two cores while one of them waited: " + ", ".join(f"{k} {v / n * 1000:.2f}" for k, v in waited_for.most_common(8)))

#!/usr/bin/env bash
# Mutation check: every guarantee must have a test that fails when the code keeping it is removed.
#
#   scripts/mutate.sh [--baseline] [NAME...]     (make mutate)
#
# Each scripts/mutations/NAME.mut breaks one guarantee (format below). For each one (or only the
# NAMEs given) this script checks that `find` occurs exactly once in `file` (else: "stale mutation",
# a failure), applies the replacement, builds incrementally (`swift build --build-tests`), runs
# `swift test --skip-build --filter '<tests>'` against the test servers, expects a failure, and
# restores the file — always, also on Ctrl-C or an error (a copy is kept under .tm/mutate/ until
# then, and restored at the next run if this one was killed outright). It prints and writes
# bench-results/mutations.txt: mutation → caught by → result, and exits non-zero when a mutation
# survived (its tests still passed), is stale, or its tests matched nothing.
# --baseline first runs every mutation's tests on the unmutated tree: they must pass there, or a
# "caught" would mean nothing.
#
# A .mut file:
#   # one line: what the mutation breaks
#   file: Sources/TMQueue/Redis/QueueScripts.swift
#   tests: QueueFencingTests
#   --- find
#   (verbatim text, exactly once in the file)
#   --- replace
#   (its replacement; may be empty)
#   --- end
#
# Test servers: started like `make test` does (scripts/tm-servers.sh up test, honouring
# TM_REDIS_PORT / TM_PG_PORT). MUTATE_TIMEOUT (seconds, default 900) bounds one mutation's tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=/opt/swift/usr/bin:$PATH
backups=$root/.tm/mutate

# Whatever happens, no mutated file is left behind.
restore_backups() {
  [ -d "$backups" ] || return 0
  python3 - "$backups" "$root" <<'EOF'
import json, os, sys
backups, root = sys.argv[1], sys.argv[2]
for name in os.listdir(backups):
    if not name.endswith(".json"): continue
    path = os.path.join(backups, name)
    with open(path) as f: saved = json.load(f)
    with open(os.path.join(root, saved["file"]), "w") as f: f.write(saved["text"])
    os.remove(path)
    print(f"==> restored {saved['file']}", file=sys.stderr)
EOF
}
restore_backups
trap restore_backups EXIT
trap 'exit 130' INT TERM

scripts/tm-servers.sh up test >/dev/null

python3 - "$root" "$@" <<'EOF'
import glob, json, os, re, signal, subprocess, sys, time

root, args = sys.argv[1], sys.argv[2:]
baseline = "--baseline" in args
names = [a for a in args if not a.startswith("--")]
backups = os.path.join(root, ".tm", "mutate")
env_file = os.path.join(root, ".tm", "test", "env")
timeout = int(os.environ.get("MUTATE_TIMEOUT", "900"))
logs = os.path.join(root, ".tm", "mutate-logs")
os.makedirs(backups, exist_ok=True)
os.makedirs(logs, exist_ok=True)
signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

def parse(path):
    """A .mut file: header lines (# description, file:, tests:) then --- find / --- replace / --- end."""
    m = {"name": os.path.basename(path)[:-4], "description": "", "find": None, "replace": None}
    section, lines = None, []
    with open(path) as f:
        for raw in f.read().split("\n"):
            if raw.startswith("--- "):
                if section: m[section] = "\n".join(lines)
                section, lines = {"--- find": "find", "--- replace": "replace", "--- end": None}.get(raw.rstrip(), "?"), []
                if section == "?": raise ValueError(f"{path}: unknown section line '{raw}'")
                continue
            if section: lines.append(raw)
            elif raw.startswith("#") and not m["description"]: m["description"] = raw.lstrip("#").strip()
            elif raw.startswith("file:"): m["file"] = raw[5:].strip()
            elif raw.startswith("tests:"): m["tests"] = raw[6:].strip()
    if section: m[section] = "\n".join(lines)
    for field in ("file", "tests", "find"):
        if not m.get(field): raise ValueError(f"{path}: missing '{field}'")
    # Both are the lines between their section lines, without the last newline: deleting a whole
    # line leaves it empty, which changes nothing for Swift or Lua.
    m["replace"] = m["replace"] or ""
    return m

def run(cmd, log, limit=None):
    with open(log, "w") as out:
        try:
            return subprocess.run(cmd, cwd=root, stdout=out, stderr=subprocess.STDOUT, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            return None

def build(log):
    return run(["swift", "build", "--build-tests"], log)

def test(filter, log):
    env = dict(os.environ, TM_ENV_FILE=env_file)
    cmd = ["swift", "test", "--no-parallel", "--skip-build", "--filter", filter]
    with open(log, "w") as out:
        try:
            code = subprocess.run(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = None
    text = open(log, errors="replace").read()
    failed = []
    for line in text.splitlines():
        # Swift Testing: "✘ Test name(args) failed ..." / "... recorded an issue"; XCTest: "Test Case '-[M.C name]' failed".
        hit = re.search(r"Test (\w+)\([^)]*\)[^\n]*? (?:failed|recorded an issue)", line) or re.search(r"Test Case '.*?[ .](\w+)\]?' failed", line)
        if hit and hit.group(1) not in failed: failed.append(hit.group(1))
    counted = [int(n) for n in re.findall(r"Test run with (\d+) tests?", text)] + [int(n) for n in re.findall(r"Executed (\d+) tests?", text)]
    return code, failed, sum(counted)

def started_tests(log):
    """Whether the log shows a test itself starting — Swift Testing's "◇ Test name(...) started.", XCTest's
    "Test Case '...' started" — not only the runner's banner ("◇ Test run started.", "Test Suite ... started")."""
    text = open(log, errors="replace").read()
    return re.search(r"◇ Test [^\s(]+\([^)]*\) started|Test Case '.*' started", text) is not None

paths = sorted(glob.glob(os.path.join(root, "scripts", "mutations", "*.mut")))
if names:
    wanted = set(n[:-4] if n.endswith(".mut") else n for n in names)
    paths = [p for p in paths if os.path.basename(p)[:-4] in wanted]
    missing = wanted - {os.path.basename(p)[:-4] for p in paths}
    if missing: sys.exit(f"no such mutation: {', '.join(sorted(missing))}")
mutations = [parse(p) for p in paths]
if not mutations: sys.exit("no mutations in scripts/mutations/")

print(f"==> building the unmutated tree", flush=True)
if build(os.path.join(logs, "baseline-build.log")) != 0:
    sys.exit(f"the unmutated tree does not build: see {logs}/baseline-build.log")
if baseline:
    union = "|".join(f"(?:{m['tests']})" for m in mutations)
    print(f"==> baseline: the mutations' tests on the unmutated tree", flush=True)
    code, failed, count = test(union, os.path.join(logs, "baseline-test.log"))
    if code != 0 or count == 0:
        sys.exit(f"baseline failed (exit {code}, {count} tests, failed: {', '.join(failed) or '?'}): see {logs}/baseline-test.log")

rows, bad = [], 0
try:
    for m in mutations:
        path = os.path.join(root, m["file"])
        started = time.monotonic()
        print(f"==> {m['name']}: {m['description']}", flush=True)
        original = open(path).read() if os.path.exists(path) else None
        found = original.count(m["find"]) if original is not None and m["find"] else 0
        if found != 1:
            rows.append((m["name"], "-", f"stale mutation (find occurs {found} times in {m['file']})"))
            bad += 1
            continue
        backup = os.path.join(backups, m["name"] + ".json")
        with open(backup, "w") as f: json.dump({"file": m["file"], "text": original}, f)
        try:
            with open(path, "w") as f: f.write(original.replace(m["find"], m["replace"], 1))
            build_log = os.path.join(logs, m["name"] + "-build.log")
            if build(build_log) != 0:
                rows.append((m["name"], "the compiler", "caught (does not build)"))
                continue
            code, failed, count = test(m["tests"], os.path.join(logs, m["name"] + "-test.log"))
            if code is None:
                rows.append((m["name"], ", ".join(failed) or m["tests"], f"caught (tests timed out after {timeout} s)"))
            elif count == 0 and code != 0 and started_tests(os.path.join(logs, m["name"] + "-test.log")):
                # A test began and no summary was printed: the test process died (a trap, a crash).
                rows.append((m["name"], ", ".join(failed) or m["tests"], f"caught (the test process crashed, exit {code})"))
            elif count == 0:
                rows.append((m["name"], m["tests"], "SURVIVED (no test matched the filter)"))
                bad += 1
            elif code != 0:
                rows.append((m["name"], ", ".join(failed) or f"exit {code}", "caught"))
            else:
                rows.append((m["name"], f"{count} tests passed", "SURVIVED"))
                bad += 1
        finally:
            with open(path, "w") as f: f.write(original)
            os.remove(backup)
        print(f"    {rows[-1][2]} ({time.monotonic() - started:.0f} s)", flush=True)
finally:
    # Leave the build matching the sources.
    print("==> rebuilding the unmutated tree", flush=True)
    build(os.path.join(logs, "final-build.log"))

width = [max(len(r[i]) for r in rows + [("mutation", "caught by", "result")]) for i in range(3)]
lines = [f"{'mutation'.ljust(width[0])}  {'caught by'.ljust(width[1])}  result", f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}"]
lines += [f"{a.ljust(width[0])}  {b.ljust(width[1])}  {c}" for a, b, c in rows]
summary = f"{len(rows) - bad} of {len(rows)} mutations caught"
table = "\n".join(lines + ["", summary]) + "\n"
print("\n" + table, end="")
os.makedirs(os.path.join(root, "bench-results"), exist_ok=True)
with open(os.path.join(root, "bench-results", "mutations.txt"), "w") as f: f.write(table)
print(f"(logs in {logs}; table in bench-results/mutations.txt)")
sys.exit(1 if bad else 0)
EOF

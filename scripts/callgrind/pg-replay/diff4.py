#!/usr/bin/env python3
# diff4.py A1 A2 B1 B2 N [yes|no] [TOP]: per-function instructions of variant B less variant A, per
# order: ((B2 - B1) - (A2 - A1)) / N, from four callgrind outputs (vg.sh's cg.NAME.N1/N2); yes =
# inclusive, no = self.
import re, subprocess, sys
def prof(f, incl):
    out = subprocess.run(['callgrind_annotate', '--threshold=100', '--inclusive=%s' % incl, f], capture_output=True, text=True).stdout
    d = {}
    for l in out.split('\n'):
        m = re.match(r'\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$', l)
        if m and ':' in m.group(2):
            d[m.group(2).split(' [')[0]] = int(m.group(1).replace(',', ''))
    return d
a1, a2, b1, b2, n = sys.argv[1:6]
incl = sys.argv[6] if len(sys.argv) > 6 else 'yes'; top = int(sys.argv[7]) if len(sys.argv) > 7 else 40
A1, A2, B1, B2 = [prof(f, incl) for f in (a1, a2, b1, b2)]
rows = sorted((((B2.get(k, 0) - B1.get(k, 0)) - (A2.get(k, 0) - A1.get(k, 0))) / int(n), k) for k in set(A1) | set(A2) | set(B1) | set(B2))
for v, k in rows[:8] + [(0, '...')] + list(reversed(rows[-top:])):
    print("%10.1fk  %s" % (v / 1000, k))

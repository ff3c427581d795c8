#!/usr/bin/env python3
# wire.py SOCKDIR PORT N WRITERS text|binary|binary-but-numeric [OFFSET]: the group commit's batches over the
# wire (session 33): the captured merged INSERT and UPDATE (replay/bins.*, bupd.*, see vg.sh) prepared once
# (PQprepare) and run N+6 times each as Bind/Execute with the captured values in batches of WRITERS (as
# gen_batch.py), every array parameter in text format (as the worker sends them today) or binary
# (array_recv + each element's receive function; "binary-but-numeric" keeps numeric[] and timestamptz[]
# as text). Run from $W/replay against a server whose backend callgrind counts (wire.sh); prints the
# backend's pid. OFFSET keeps ids apart between connections. TXN=unnamed wraps each statement in BEGIN and
# COMMIT sent as the worker sends them (PQsendQueryParams: parsed every time), TXN=prepared in prepared ones.
# PLANS=1 prints each prepared statement's generic and custom plan counts (pg_prepared_statements) on stderr.
import datetime, decimal, json, re, struct, sys, uuid
import psycopg
from psycopg import pq
sock, port, N, W, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
off = int(sys.argv[6]) if len(sys.argv) > 6 else 0
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from gen_batch import batch, params, parse_arr
def text_arr(xs):
    return ('{' + ','.join('NULL' if x is None else '"' + x.replace('\\', '\\\\').replace('"', '\\"') + '"' for x in xs) + '}').encode()
OID = {'uuid': (2950, 2951), 'text': (25, 1009), 'numeric': (1700, 1231), 'jsonb': (3802, 3807), 'timestamptz': (1184, 1185),
       'bigint': (20, 1016), 'integer': (23, 1007), 'boolean': (16, 1000)}
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
def numeric_bin(v):
    d = decimal.Decimal(v); sign, digits, exp = d.as_tuple()
    dscale = max(0, -exp)
    s = ''.join(map(str, digits)); intpart = s[:len(s) + exp] if exp < 0 else s + '0' * exp
    frac = s[len(s) + exp:] if exp < 0 else ''
    intpart = intpart.lstrip('0')
    ip = intpart.rjust((len(intpart) + 3) // 4 * 4, '0'); fp = frac.ljust((len(frac) + 3) // 4 * 4, '0')
    groups = [int(ip[i:i + 4]) for i in range(0, len(ip), 4)] + [int(fp[i:i + 4]) for i in range(0, len(fp), 4)]
    weight = len(ip) // 4 - 1
    while groups and groups[0] == 0: groups.pop(0); weight -= 1
    while groups and groups[-1] == 0: groups.pop()
    if not groups: weight = 0
    return struct.pack('!hhHh', len(groups), weight, 0x4000 if sign else 0, dscale) + b''.join(struct.pack('!H', g) for g in groups)
def elem_bin(t, x):
    if t == 'uuid': return uuid.UUID(x).bytes
    if t == 'text': return x.encode()
    if t == 'jsonb': return b'\x01' + x.encode()
    if t == 'numeric': return numeric_bin(x)
    if t == 'timestamptz':
        d = datetime.datetime.fromisoformat(x.replace('+00', '+00:00'))
        dt = d - EPOCH; return struct.pack('!q', dt.days * 86400000000 + dt.seconds * 1000000 + dt.microseconds)
    if t == 'bigint': return struct.pack('!q', int(x))
    if t == 'integer': return struct.pack('!i', int(x))
    if t == 'boolean': return b'\x01' if x in ('t', 'true') else b'\x00'
def bin_arr(t, xs):
    out = [struct.pack('!iiIii', 1, int(any(x is None for x in xs)), OID[t][0], len(xs), 1)]
    for x in xs:
        if x is None: out.append(struct.pack('!i', -1))
        else: b = elem_bin(t, x); out.append(struct.pack('!i', len(b)) + b)
    return b''.join(out)
ins = open('bins.sql').read(); upd = open('bupd.sql').read()
itypes = [t for _, t in re.findall(r'\$(\d+)::(\w+)\[\]', ins)]; utypes = [t for _, t in re.findall(r'\$(\d+)::(\w+)\[\]', upd)]
ip = [parse_arr(x) for x in params('bins.params')]; up = [parse_arr(x) for x in params('bupd.params')]
conn = pq.PGconn.connect(('host=%s port=%s dbname=tm_test user=postgres' % (sock, port)).encode())
assert conn.status == pq.ConnStatus.OK, conn.error_message
def binary(t): return mode == 'binary' or (mode == 'binary-but-numeric' and t not in ('numeric', 'timestamptz'))
def run(name, types, cols):
    vals = [bin_arr(t, c) if binary(t) else text_arr(c) for t, c in zip(types, cols)]
    if TXN: tx(b'BEGIN')
    r = conn.exec_prepared(name.encode(), vals, [1 if binary(t) else 0 for t in types])
    assert r.status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK), (r.error_message, name)
    if TXN: tx(b'COMMIT')
    return r.ntuples
TXN = __import__('os').environ.get('TXN', '')
def tx(sql):
    r = conn.exec_prepared(sql.lower(), []) if TXN == 'prepared' else conn.exec_params(sql, [])
    assert r.status == pq.ExecStatus.COMMAND_OK, r.error_message
if TXN == 'prepared':
    for sql in (b'BEGIN', b'COMMIT'): conn.prepare(sql.lower(), sql)
for name, sql, types in (('bins', ins, itypes), ('bupd', upd, utypes)):
    r = conn.prepare(name.encode(), sql.encode(), [OID[t][1] for t in types])
    assert r.status == pq.ExecStatus.COMMAND_OK, r.error_message
for b in range(N + 6):
    p, q = batch(ip, up, off + b, W)
    assert run('bins', itypes, p) == W and run('bupd', utypes, q) == W
if __import__('os').environ.get('PLANS'):
    r = conn.exec_(b"SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name")
    sys.stderr.write(' '.join('%s %s/%s' % tuple(r.get_value(i, j).decode() for j in range(3)) for i in range(r.ntuples)) + ' (generic/custom)\n')
r = conn.exec_(b'SELECT pg_backend_pid()'); print(r.get_value(0, 0).decode())
conn.finish()

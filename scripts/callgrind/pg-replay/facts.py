#!/usr/bin/env python3
# facts.py SOCKDIR PORT DB N STATEMENT.sql K [OFFSET]: the intake's facts statement (session 35) over the wire as
# the intake sends it: prepared once (PQprepare), run N+6 times (6 warm-up runs: past the 5 custom plans) with
# text parameters. K = 0: the lone statement (PlaceFacts: $1 key, $2 account, $3 exchange, $4 symbol); K >= 1:
# the batch's (BatchFacts: $1 uuid[] of K distinct accounts, $2/$3 exchange[]/symbol[] of the one instrument, $4
# text[] of K keys, one of them on an order row). Accounts, the instrument and the placed key are read from DB
# (an order-bench database restored: see facts.sh). Prints the backend's pid and, with ROWS=1, each run's rows.
import os, sys
from psycopg import pq
sock, port, db, N, sqlf, K = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
off = int(sys.argv[7]) if len(sys.argv) > 7 else 0
conn = pq.PGconn.connect(('host=%s port=%s dbname=%s user=postgres' % (sock, port, db)).encode())
assert conn.status == pq.ConnStatus.OK, conn.error_message
def q(sql):
    r = conn.exec_(sql.encode()); assert r.status == pq.ExecStatus.TUPLES_OK, r.error_message
    return [[r.get_value(i, j).decode() for j in range(r.nfields)] for i in range(r.ntuples)]
accounts = [x[0] for x in q('SELECT id FROM broker_accounts ORDER BY id')]
exchange, symbol = q('SELECT exchange, symbol FROM instruments ORDER BY 1, 2 LIMIT 1')[0]
placed = [x[0] for x in q('SELECT idempotency_key FROM orders ORDER BY idempotency_key LIMIT 50')]
sql = open(sqlf).read()
r = conn.prepare(b'f', sql.encode()); assert r.status == pq.ExecStatus.COMMAND_OK, r.error_message
out = []
for b in range(N + 6):
    i = off + b
    if K == 0:
        key = placed[i % len(placed)] if i % 2 else 'new-%d' % i
        vals = [key, accounts[i % len(accounts)], exchange, symbol]
    else:
        acc = [accounts[(i * K + j) % len(accounts)] for j in range(K)]
        keys = ['new-%d-%d' % (i, j) for j in range(K - 1)] + [placed[i % len(placed)]]
        vals = ['{' + ','.join(acc) + '}', '{' + exchange + '}', '{' + symbol + '}', '{' + ','.join(keys) + '}']
    r = conn.exec_prepared(b'f', [v.encode() for v in vals])
    assert r.status == pq.ExecStatus.TUPLES_OK, r.error_message
    out.append(sorted(tuple(None if r.get_value(x, y) is None else r.get_value(x, y).decode() for y in range(r.nfields)) for x in range(r.ntuples)))
if os.environ.get('ROWS'):
    for rows in out: print(rows)
r = conn.exec_(b'SELECT pg_backend_pid()'); print(r.get_value(0, 0).decode())
conn.finish()

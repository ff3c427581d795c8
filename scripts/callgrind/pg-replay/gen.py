#!/usr/bin/env python3
# gen.py N [full|fence|nofence]: single-user -j input replaying N+3 lone orders (see vg.sh): the captured
# fence, INSERT and UPDATE prepared once, then each order its two transactions, with ids and keys of its own.
import re, sys, uuid
N=int(sys.argv[1]); mode=sys.argv[2] if len(sys.argv)>2 else 'full'
def params(f):
    s=open(f).read()
    return [m.group(2) for m in re.finditer(r"\$(\d+) = (NULL|'(?:[^']|'')*')", s)]
ins=open('ins.sql').read(); upd=open('upd.sql').read()
ip=params('ins.params'); up=params('upd.params'); fp=params('fence.params')
oid=ip[0].strip("'")  # the captured order's id, replaced by each order's own
out=[]
out.append("PREPARE f AS SELECT tm_fence_first_delivery($1::text, $2::text, $3::bigint);\n\n")
out.append("PREPARE ins AS "+ins+";\n\n")
out.append("PREPARE upd AS "+upd+";\n\n")
def order(i):
    nid=str(uuid.UUID(int=(0x1234<<96)+i))
    p=[x.replace(oid,nid) for x in ip]
    p[5]="'k-%d'"%i; p[6]="'c%d'"%i
    q=[x.replace(oid,nid) for x in up]
    q[4]="'b%d'"%i
    f=list(fp); f[0]="'message:orders/m%d'"%i
    fence="EXECUTE f(%s); "%", ".join(f) if mode!='nofence' else ""
    if mode=='fence':
        return ["EXECUTE f(%s);\n\n"%", ".join(f)]*2
    return [fence+"EXECUTE ins(%s);\n\n"%", ".join(p), fence+"EXECUTE upd(%s);\n\n"%", ".join(q)]
for i in range(N+3):
    out+=order(i)
sys.stdout.write(''.join(out))

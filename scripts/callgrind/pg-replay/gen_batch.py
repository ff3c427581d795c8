#!/usr/bin/env python3
# gen_batch.py N [SEEDFILE]: single-user -j input replaying N+2 batches of W new orders (see vg.sh): the
# captured merged INSERT of 5 rows, then the merged UPDATE of their W moves (widened from the 4 captured).
# W = $WRITERS (default 5): a batch of W writers repeats the captured 5 rows' values in turn, each row
# with its own id, key and client order id (session 33: batches of 8 and 40). Take N >= 4 for both runs of
# a difference: a prepared statement's first 5 runs are custom plans (planned afresh, ~220k instructions
# an order at 8 writers), the generic plan from the 6th — a difference across the switch counts planning
# the worker does not do.
# wire.py imports params, parse_arr and batch from here.
import os, re, sys, uuid
def params(f):
    s=open(f).read()
    return [m.group(2) for m in re.finditer(r"\$(\d+) = (NULL|'(?:[^']|'')*')", s)]
def parse_arr(lit):
    s=lit[1:-1].replace("''","'")
    assert s[0]=='{' and s[-1]=='}'
    s=s[1:-1]; out=[]; i=0
    while i<len(s):
        if s[i]=='"':
            i+=1; buf=''
            while s[i]!='"':
                if s[i]=='\\': i+=1
                buf+=s[i]; i+=1
            i+=1; out.append(buf)
        else:
            j=s.find(',',i); j=len(s) if j<0 else j
            v=s[i:j]; out.append(None if v=='NULL' else v); i=j
        if i<len(s) and s[i]==',': i+=1
    return out
def fmt_arr(xs):
    els=['NULL' if x is None else '"'+x.replace('\\','\\\\').replace('"','\\"')+'"' for x in xs]
    return "'"+('{'+','.join(els)+'}').replace("'","''")+"'"
def batch(ip, up, b, W):
    """Batch b's INSERT and UPDATE values (a list per array parameter) for W writers."""
    ids=[str(uuid.UUID(int=(0x5678<<96)+b*1024+j)) for j in range(W)]
    p=[[x[j%len(x)] for j in range(W)] for x in ip]
    p[0]=ids; p[5]=['k-%d-%d'%(b,j) for j in range(W)]; p[6]=['c%dx%d'%(b,j) for j in range(W)]; p[25]=ids
    q=[[x[0]]*W for x in up]
    q[0]=ids; q[1]=['SUBMITTING']*W; q[2]=['0']*W; q[3]=['ACCEPTED']*W; q[4]=['b%dx%d'%(b,j) for j in range(W)]; q[19]=ids
    return p, q
def main():
    N=int(sys.argv[1]); W=int(os.environ.get('WRITERS', '5'))
    ins=open('bins.sql').read(); upd=open('bupd.sql').read()
    ip=[parse_arr(x) for x in params('bins.params')]; up=[parse_arr(x) for x in params('bupd.params')]
    out=["PREPARE bins AS "+ins+";\n\n","PREPARE bupd AS "+upd+";\n\n"]
    for b in range(N+2):
        p, q = batch(ip, up, b, W)
        out.append("EXECUTE bins(%s);\n\n"%", ".join(fmt_arr(x) for x in p))
        out.append("EXECUTE bupd(%s);\n\n"%", ".join(fmt_arr(x) for x in q))
    sys.stdout.write(''.join(out))
    # seed
    if len(sys.argv)>2:
        with open(sys.argv[2],'w') as f:
            for u,a in sorted(set(zip(ip[1],ip[2]))):
                f.write("INSERT INTO users (id, email) VALUES ('%s','%s@x') ON CONFLICT DO NOTHING;\n\nINSERT INTO broker_accounts (id, user_id, broker, label) VALUES ('%s','%s','kite','x') ON CONFLICT DO NOTHING;\n\n"%(u,u,a,u))
if __name__ == '__main__':
    main()

#!/bin/bash
# A schema variant's Postgres instructions per order in the three shapes of the order path (session 34):
#
#   variants.sh NAME PRESQL      (PRESQL: '-' for today's schema, else a single-user -j file, see vg.sh)
#
# runs vg.sh three times on fresh copies of $W/c0 with PRESQL applied first: a lone order (N=10/30, per
# order), the group commit's batches of 4 and of 8 writers (WRITERS=4|8, N=4/8, per batch — divide by 4
# or 8 for an order). A part's cost is today's count minus the count without it (a PRESQL that drops
# it); a change's, the count with it minus today's. Each line is vg.sh's; ~25 s each on a quiet machine.
# Differences are exact and load-free; the shapes matter because Postgres pays some costs per row
# (a PL/pgSQL call, an index entry), some per statement (node text read back: a CHECK's, a trigger's
# WHEN) and some per transaction (PL/pgSQL's expressions set up again), which the three weigh apart.
here=$(cd "$(dirname "$0")" && pwd)
name=$1; pre=$2
"$here/vg.sh" "$name" "$pre" 10 30 | sed 's/^/lone /'
WRITERS=4 "$here/vg.sh" "${name}_b4" "$pre" 4 8 batch | sed 's/^/b4 /'
WRITERS=8 "$here/vg.sh" "${name}_b8" "$pre" 4 8 batch | sed 's/^/b8 /'

-- 0043: the order path's outbox batches (`trade_event_outbox.batch`, 0035) compressed with lz4 when a
-- row is too long to stay in line, instead of moved out of line raw (issue 11).
--
-- 0033 and 0035 stored them STORAGE EXTERNAL — out of line, never compressed — because pglz cost the
-- writer and the relay more than the bytes it saved. At 1,000 orders/s a group batch of ~36 writes
-- holds ~90 messages, ~40 kB of text: ~20 TOAST chunks, each a heap tuple and an index entry written,
-- read back by the relay and deleted — ~4 WAL records and ~2.4 kB of WAL per order, a third of the
-- order path's WAL bytes at that rate (Benchmarks/OrderBench/PROFILE.md, session 24 (pgfence)). lz4
-- compresses such a batch ~3.5x at a fraction of pglz's cost; measured in isolation (pgbench, one
-- batch written, read whole and deleted per transaction, as the writer and the relay do): WAL 65 ->
-- 23 records and 43 -> 12 kB per batch, backend CPU lower too. A row short enough to stay in line (a
-- lone order's batch, under ~2 kB) is written exactly as before: the toaster only compresses a row
-- above that size.
--
-- Reads are unchanged: Postgres decompresses transparently, rows already written keep their form.
-- A server built without lz4 refuses the method (feature_not_supported): it then keeps 0035's
-- storage and says so in a NOTICE, so this migration applies everywhere.
--
-- Applied to a live database: a catalog update only (no scan, no rewrite), under ACCESS EXCLUSIVE on
-- trade_event_outbox for that instant, waited for at most 5 s.
SET LOCAL lock_timeout = '5s';
DO $$
BEGIN
    ALTER TABLE trade_event_outbox ALTER COLUMN batch SET COMPRESSION lz4, ALTER COLUMN batch SET STORAGE EXTENDED;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'trade_event_outbox.batch keeps STORAGE EXTERNAL: this server has no lz4 (%)', SQLERRM;
END
$$;

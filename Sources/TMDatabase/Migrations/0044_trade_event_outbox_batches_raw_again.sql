-- 0044: the order path's outbox batches (`trade_event_outbox.batch`) stored as 0035 stored them
-- again — out of line when long, never compressed (STORAGE EXTERNAL) — undoing 0043's lz4 (issue 11).
--
-- 0043 cut the order path's WAL by ~19% in bytes, but on the order bench at 1,000 orders/s the
-- lz4 compression of each group batch (by the writer) and its decompression (by the relay) cost more
-- Postgres CPU than the TOAST chunks it saved: the same binary with 0043 undone on the bench database
-- gave total CPU per order 1,705 / 1,711 / 1,705 µs against 1,741–1,749 with lz4 (4 runs), and the
-- session's A/B had Postgres per order +5% at 1,000/s in 6 of 6 pairs (Benchmarks/OrderBench/PROFILE.md,
-- "Quiet machine after the session-24 merges"). This system is CPU-bound at that rate and its test and
-- bench servers write WAL to memory (fsync off): WAL bytes are not the bound, CPU is.
--
-- Rows already written keep their form (reads decompress transparently). Applied to a live database:
-- a catalog update only, under ACCESS EXCLUSIVE on trade_event_outbox for that instant, waited for at
-- most 5 s.
SET LOCAL lock_timeout = '5s';
ALTER TABLE trade_event_outbox ALTER COLUMN batch SET STORAGE EXTERNAL;

-- 0047: an outbox row of up to ~8 kB (`trade_event_outbox`, the order path's text batches of 0035)
-- stays in its heap page whole, instead of having its batch cut into ~2 kB TOAST chunks (issue 11).
--
-- A row over ~2 kB (the toaster's default target) had its batch moved out of line raw (0044): at
-- 1,000 orders/s the batch INSERT writes ~4 new orders a statement, whose outbox row holds 12
-- messages, ~7 kB — 4 TOAST chunks, each a heap tuple and a TOAST-index entry written, looked up and
-- read back by the relay, then deleted with the row: 8 of the statement's ~71 WAL records, 11 of a
-- write-and-relay cycle's ~77 (Benchmarks/OrderBench/PROFILE.md, session 26 (pgrow)). Kept in line,
-- the row is one heap tuple of ~7 kB. Nothing is compressed either way (STORAGE EXTERNAL, 0044); rows
-- longer than a page can hold (~8 kB: a deep group batch, a burst) are still moved out of line raw.
-- Readers are unchanged: the same text is read back. The one cost: a backed-up outbox's rows take a
-- heap page each, so a scan of the whole heap (`TradeEventOutbox.status`'s sum of messages, behind
-- `tm queues`) reads more pages than it did.
--
-- Applied to a live database: a reloption, catalog only, under SHARE UPDATE EXCLUSIVE (readers and
-- writers go on), waited for at most 5 s. Rows already written keep their form.
SET LOCAL lock_timeout = '5s';
ALTER TABLE trade_event_outbox SET (toast_tuple_target = 8160);

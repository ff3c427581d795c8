-- 0058: the outbox's account index holds the rows of an account only (issue 11). The order path
-- writes its outbox rows with a NULL account (one row a transaction, its messages in `batch`, 0035),
-- and each was an entry of `trade_event_outbox_account_idx (account_id, id)` that no query reads:
-- the index serves `account_id = <an account>` — `BrokerAccount`'s pending-events EXISTS, the
-- account FK's actions when a broker account goes, a relay pass for one account — and an `=` on a
-- column is never true for NULL, so Postgres proves `account_id IS NOT NULL` from it and uses this
-- partial index for all of them. An order's two transactions wrote two entries (two B-tree inserts
-- and their WAL records: ~19k instructions and 2 of ~32 WAL records a lone order, callgrind and
-- pg_waldump, Benchmarks/OrderBench/PROFILE.md, session 32 (pgrow)); now none. (The relay's
-- account pass, `account_id = $1 OR account_id IS NULL ORDER BY id LIMIT n`, reads the primary key
-- in id order either way.)
--
-- Applied to a live database: the new index is built under the table's SHARE lock (writes wait; the
-- outbox is rows not yet relayed, a few hundred at most in normal running), waited for at most 5 s,
-- then takes the old one's name. Workers of any version write through it.
SET LOCAL lock_timeout = '5s';

CREATE INDEX trade_event_outbox_account_idx_new ON trade_event_outbox (account_id, id) WHERE account_id IS NOT NULL;
DROP INDEX trade_event_outbox_account_idx;
ALTER INDEX trade_event_outbox_account_idx_new RENAME TO trade_event_outbox_account_idx;

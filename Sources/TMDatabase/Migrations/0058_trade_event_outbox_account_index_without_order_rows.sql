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
-- (The relay's first five passes on a connection plan each call afresh: with a large backlog, those
-- custom plans scan the table for the NULL-account half where they read the old index; its generic
-- plan, from the sixth, reads the primary key as before.)
--
-- Applied to a live database: the table is locked first, in the mode the DROP needs (ACCESS
-- EXCLUSIVE: readers and writers wait while the index builds; the outbox is rows not yet relayed, a
-- few hundred at most in normal running), so the migration never upgrades a lock it holds — building
-- under SHARE and then asking for ACCESS EXCLUSIVE deadlocked against a relay pass that had locked
-- rows FOR UPDATE and then deleted them. The lock is waited for at most 5 s; then the new index takes
-- the old one's name. Workers of any version write through it.
SET LOCAL lock_timeout = '5s';
LOCK TABLE trade_event_outbox IN ACCESS EXCLUSIVE MODE;

CREATE INDEX trade_event_outbox_account_idx_new ON trade_event_outbox (account_id, id) WHERE account_id IS NOT NULL;
DROP INDEX trade_event_outbox_account_idx;
ALTER INDEX trade_event_outbox_account_idx_new RENAME TO trade_event_outbox_account_idx;

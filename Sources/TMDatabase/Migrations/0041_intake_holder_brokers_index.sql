-- 0041: the intake's look-up of an account holder's active brokers by the holder, not by a scan of
-- every active account (issue 11). Every order the intake checks reads the brokers of its holder's
-- active accounts (`OrderIntake.AccountFacts.holderBrokers`: `WHERE s.user_id = a.user_id AND
-- s.status = 'active'`). Without statistics on `broker_accounts` (a fresh or little-changed table is
-- never analyzed) the planner took the partial index `broker_accounts_due_idx` (WHERE status =
-- 'active') for it: a bitmap scan of EVERY active account of the platform, filtered by holder — 400
-- tuples and 20 buffers for each order of the 200-account bench (EXPLAIN ANALYZE; perf: 58% of the
-- intake backend's CPU), growing with the platform. This index answers it by holder alone, brokers in
-- order (an index-only scan when the page is all-visible), whatever the statistics say.
--
-- Applied to a live database: broker_accounts holds one row per connected account (small); the build
-- blocks its writes (syncs) for that long only.
SET LOCAL lock_timeout = '5s';
CREATE INDEX broker_accounts_holder_active_idx ON broker_accounts (user_id, broker) WHERE status = 'active';

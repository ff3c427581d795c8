-- 0039: the fence check's look-up planned once per session, not at every call (issue 11). Every
-- fenced transaction of the order path calls `tm_advance_fences` (through 0032's `_or_raise`), whose
-- second statement (which fences are stale) takes the arrays as parameters. Postgres's plan cache
-- compared its generic plan (costed for arrays of unknown length) with custom plans built for each
-- call's arrays (one or two fences: cheaper), so it kept the custom ones: the statement was planned
-- anew at EVERY call (`pg_stat_statements`: 751 plans in 861 calls in an order-bench run, ~30-90 us
-- each; Benchmarks/OrderBench/PROFILE.md, session 21). Its generic plan is the one wanted whatever the
-- length — a primary-key look-up per fence, as the function's comment says — so the function now
-- always takes it. Its answers are unchanged.
--
-- Applied to a live database: a catalog update of the function only (no table lock); sessions
-- compile it afresh on their next call.
SET LOCAL lock_timeout = '5s';
ALTER FUNCTION tm_advance_fences(text[], bigint[]) SET plan_cache_mode = force_generic_plan;

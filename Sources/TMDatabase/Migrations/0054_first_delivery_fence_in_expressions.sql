-- 0054: a lone order's fence — its message's first delivery and its shard's lease — checked by one
-- look-up when nothing is stale (issue 11).
--
-- Every lone order's two transactions call `tm_advance_fences_or_raise` (0032, 0046) with
-- `{message:<queue>/<id>, shard:<queue>.<n>}`, `{1, <lease token>}`. 0046's body spends ~247k
-- instructions a call on it (Benchmarks/OrderBench/PROFILE.md, session 30): three SPI statements over
-- `unnest` (the lock statement ~47k, the upsert ~90k, the check ~66k) and the call with its
-- `SET plan_cache_mode` (~39k); the arrays' input and subscripts cost ~5k an expression besides.
--
-- `tm_fence_first_delivery(m, l, t)` answers exactly as `tm_advance_fences_or_raise(ARRAY[m, l],
-- ARRAY[1, t])`. Its short path returns only where that call returns having taken the same locks and
-- written nothing:
--   * READ COMMITTED, `m` a message fence (epoch 1: no row, 0046) and `l` not one (a row fence);
--   * `m`'s transaction-scoped SHARED advisory lock (0046's class and key), its only advisory lock;
--   * then ONE statement, whose READ COMMITTED snapshot is taken after that lock's wait: `l`'s row
--     locked FOR NO KEY UPDATE (the strength 0046's `ON CONFLICT DO UPDATE` takes) if it holds
--     exactly `t` — neither raised nor stale — and no row of `m` holds a newer epoch.
-- Anything else (no row for `l`, a lower or higher token, a newer delivery's row, another isolation
-- level, a NULL) goes to `tm_advance_fences_or_raise` itself, which takes the same locks again (held
-- already: no new wait, the same order — the advisory lock, then the row) and answers: raises the
-- lease, writes its row, refuses with TMF01 and 0046's DETAIL. A row that did not match is locked by
-- the short path's statement only where 0046's upsert locks it next, in the same mode (a row updated
-- while the statement waited: READ COMMITTED locks its newest version, then re-checks).
--
-- Security and search_path as 0046's: SECURITY INVOKER, names resolved by the caller's search_path.
-- No SET clause: the statement is a primary-key look-up, whose generic plan the plan cache keeps.
-- Applied to a live database: a new function only; callers use it once their code does.
SET LOCAL lock_timeout = '5s';

CREATE FUNCTION tm_fence_first_delivery(p_message text, p_lease text, p_lease_token bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF (p_message LIKE 'message:%' AND p_lease NOT LIKE 'message:%'
        AND current_setting('transaction_isolation') = 'read committed') THEN
        PERFORM pg_advisory_xact_lock_shared(1953326693, hashtext(p_message));
        PERFORM FROM lock_fences f
        WHERE f.resource = p_lease AND f.token = p_lease_token
          AND NOT EXISTS (SELECT FROM lock_fences m WHERE m.resource = p_message AND m.token > 1)
        FOR NO KEY UPDATE OF f;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    PERFORM tm_advance_fences_or_raise(ARRAY[p_message, p_lease], ARRAY[1, p_lease_token]);
END
$$;

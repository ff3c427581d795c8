-- 0040: the one-round-trip fence check (`tm_advance_fences_or_raise`, 0032) in ONE PL/pgSQL call
-- instead of two nested ones (issue 11). Every fenced transaction of the order path calls it; it ran
-- `SELECT … FROM tm_advance_fences(…)`, a set-returning PL/pgSQL function with a SET clause
-- (0039), whose two statements did the work: a statement of its own, the nested call's setup, the
-- GUC save and restore, its rows through a tuplestore, per call. `pg_stat_statements` over a serial
-- order-bench run (Benchmarks/OrderBench/PROFILE.md, session 22 (pgwrite)): of the 140 µs a call,
-- the two statements took 64. Now the same two statements run here directly.
--
-- The rule is tm_advance_fences's (0029), word for word: each fence raised to its token when that
-- token is newer than the stored one, a fence at its stored token locked (ON CONFLICT … DO UPDATE
-- locks the row even when its WHERE refuses the update) but not rewritten, in resource order (no
-- deadlock between transactions taking the same fences); then a new statement — which sees every
-- fence row as this transaction now holds it — finds the first fence (in resource order) whose stored
-- token is newer than the one given, and raises SQLSTATE 'TMF01' with '<token> <resource>' in DETAIL
-- (FencingGuard.refusal reads it back). Both statements take their generic plan (0039's reason: a
-- primary-key look-up per fence; custom plans for each call's arrays were planned at every call).
-- tm_advance_fences itself stays (FencingGuard.advance reads its rows).
--
-- Applied to a live database: a catalog update of the function only (no table lock).
SET LOCAL lock_timeout = '5s';
CREATE OR REPLACE FUNCTION tm_advance_fences_or_raise(p_resources text[], p_tokens bigint[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_stale record;
BEGIN
    WITH wanted AS (
        SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
    )
    INSERT INTO lock_fences AS f (resource, token)
    SELECT wanted.r, wanted.t FROM wanted ORDER BY wanted.r
    ON CONFLICT ON CONSTRAINT lock_fences_pkey DO UPDATE
        SET token = EXCLUDED.token, updated_at = now()
        WHERE f.token < EXCLUDED.token;
    SELECT w.r AS stale_resource, w.t AS stale_token INTO v_stale
    FROM unnest(p_resources, p_tokens) AS w (r, t)
    WHERE (SELECT f.token FROM lock_fences f WHERE f.resource = w.r) > w.t
    ORDER BY w.r LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'TMF01', MESSAGE = 'stale fencing token',
            DETAIL = v_stale.stale_token::text || ' ' || v_stale.stale_resource;
    END IF;
END
$$;

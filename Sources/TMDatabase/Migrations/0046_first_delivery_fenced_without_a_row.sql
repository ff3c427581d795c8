-- 0046: a message's first delivery fenced without a `lock_fences` row (issue 11).
--
-- Every order-path transaction fences its message's delivery (`message:<queue>/<id>`, token the
-- delivery's epoch). Until now a message's first write INSERTed a fence row (heap, pkey and
-- `lock_fences_message_age` entries, purged later: ~44 µs of executor time and 4 WAL records per
-- message) and its second write locked it (a Heap LOCK record). A row at a message's LOWEST epoch
-- carries no information: the queue writes epoch 0 at enqueue and every delivery raises it before
-- handing the message out (first read, reclaim, retry's next read, a dead letter's replay, which
-- restores the dead epoch first), so every delivery's epoch is at least 1 and no delivery older
-- than epoch 1 exists to be refused. The row only serialized writers through its row lock; an
-- advisory lock does that without writing anything.
--
-- The rule, for message fences (`message:%`; other fences keep their rows — a lease's row stays
-- the point that serializes its holder's transactions):
--   * epoch 1: a transaction-scoped SHARED advisory lock on the resource; no row written. The
--     check statement then refuses it if a row holds a newer epoch.
--   * epoch above 1: the EXCLUSIVE advisory lock on the resource first, then the row raised (or
--     locked) as before. So a newer delivery waits for every first delivery in flight to end; and
--     a first delivery that comes while a newer one holds the lock waits for it, then its check —
--     a later statement, whose READ COMMITTED snapshot is taken after the wait — sees the newer
--     row and raises TMF01, as the row lock made it do before.
--   * epoch below 1: no delivery carries it; refused (TMF01), since no row at 1 is left to do it.
-- Under REPEATABLE READ or SERIALIZABLE a statement's snapshot is the transaction's, taken before
-- the wait, so there a first delivery also writes its row (the old rule: the upsert then fails to
-- serialize against a newer delivery's committed row); the advisory locks are taken all the same,
-- so the other transactions' rule still holds against it.
--
-- Lock-table room: each message fence is an advisory lock in Postgres's shared lock table until
-- commit (a row lock lived in the tuple): a group batch (at most 64 writers) holds up to 64, and the
-- table holds max_locks_per_transaction × (max_connections + max_prepared_transactions) in all — a
-- caller fencing thousands of messages in one transaction would need that raised.
--
-- Deadlock-free: every call takes all its advisory locks first, ordered by key and the exclusive
-- one first on a key (never a shared lock upgraded), then its rows in resource order, each lock
-- in its own statement before the next. The lock is the two-int4 form: class 0x746d6665 ('tmfe',
-- fences only) and hashtext(resource) — the migrator's bigint key lives in another lock space, and
-- two resources sharing a hash only wait for each other (the check reads the real resource).
-- Both functions keep 0039's generic plans and 0040's one call (no nested function);
-- tm_advance_fence (0001, one fence) calls tm_advance_fences so that no writer of a message fence
-- row skips the exclusive lock.
--
-- Applied to a live database: catalog updates of the functions only. A transaction fenced by the
-- old body that is still in flight when this commits (a redelivery of a message racing its first
-- delivery at that very moment) is not seen by the new body's epoch-1 check: roll out while the
-- order workers are stopped, or accept that sub-second window.
SET LOCAL lock_timeout = '5s';

CREATE OR REPLACE FUNCTION tm_advance_fences_or_raise(p_resources text[], p_tokens bigint[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_rows_only boolean := current_setting('transaction_isolation') <> 'read committed';
    v_stale record;
BEGIN
    PERFORM CASE WHEN l.exclusive THEN pg_advisory_xact_lock(1953326693, l.key)
                 ELSE pg_advisory_xact_lock_shared(1953326693, l.key) END
    FROM (
        SELECT hashtext(w.r) AS key, w.t > 1 AS exclusive
        FROM unnest(p_resources, p_tokens) AS w (r, t)
        WHERE w.r LIKE 'message:%'
        ORDER BY 1, 2 DESC
    ) AS l;
    WITH wanted AS (
        SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
        WHERE v_rows_only OR w.t > 1 OR w.r NOT LIKE 'message:%'
    )
    INSERT INTO lock_fences AS f (resource, token)
    SELECT wanted.r, wanted.t FROM wanted ORDER BY wanted.r
    ON CONFLICT ON CONSTRAINT lock_fences_pkey DO UPDATE
        SET token = EXCLUDED.token, updated_at = now()
        WHERE f.token < EXCLUDED.token;
    SELECT w.r AS stale_resource, w.t AS stale_token INTO v_stale
    FROM unnest(p_resources, p_tokens) AS w (r, t)
    WHERE (SELECT f.token FROM lock_fences f WHERE f.resource = w.r) > w.t
       OR (w.t < 1 AND w.r LIKE 'message:%')
    ORDER BY w.r LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'TMF01', MESSAGE = 'stale fencing token',
            DETAIL = v_stale.stale_token::text || ' ' || v_stale.stale_resource;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION tm_advance_fences(p_resources text[], p_tokens bigint[])
RETURNS TABLE (stale_resource text, stale_token bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_rows_only boolean := current_setting('transaction_isolation') <> 'read committed';
BEGIN
    PERFORM CASE WHEN l.exclusive THEN pg_advisory_xact_lock(1953326693, l.key)
                 ELSE pg_advisory_xact_lock_shared(1953326693, l.key) END
    FROM (
        SELECT hashtext(w.r) AS key, w.t > 1 AS exclusive
        FROM unnest(p_resources, p_tokens) AS w (r, t)
        WHERE w.r LIKE 'message:%'
        ORDER BY 1, 2 DESC
    ) AS l;
    WITH wanted AS (
        SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
        WHERE v_rows_only OR w.t > 1 OR w.r NOT LIKE 'message:%'
    )
    INSERT INTO lock_fences AS f (resource, token)
    SELECT wanted.r, wanted.t FROM wanted ORDER BY wanted.r
    ON CONFLICT ON CONSTRAINT lock_fences_pkey DO UPDATE
        SET token = EXCLUDED.token, updated_at = now()
        WHERE f.token < EXCLUDED.token;
    RETURN QUERY
    SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
    WHERE (SELECT f.token FROM lock_fences f WHERE f.resource = w.r) > w.t
       OR (w.t < 1 AND w.r LIKE 'message:%')
    ORDER BY w.r;
END
$$;

CREATE OR REPLACE FUNCTION tm_advance_fence(p_resource text, p_token bigint) RETURNS boolean
LANGUAGE sql AS $$
    SELECT NOT EXISTS (SELECT 1 FROM tm_advance_fences(ARRAY[p_resource], ARRAY[p_token]));
$$;

-- 0029: fewer row and index writes per order (issue 11's throughput).
--
-- Indexes no query needs: every write of an order (the INSERT, and each state change, which is
-- never a HOT update: state and broker_order_id are indexed) paid for them.
--  - orders_user_created_idx (user_id, created_at): no query reads orders by user;
--  - orders_account_state_idx (account_id, state): the open states of an account (sync, the
--    reconciler, risk) are served by the partial orders_open_idx, and `tm orders list --account`
--    by the unique (account_id, client_order_id) index, which leads with the account too.
DROP INDEX orders_user_created_idx;
DROP INDEX orders_account_state_idx;
-- The broker's id is unique per account once known; NULLs were never compared, so the partial index
-- keeps the same rule without an entry for every row not yet accepted (each new order's INSERT).
ALTER TABLE orders DROP CONSTRAINT orders_broker_order_id_key;
CREATE UNIQUE INDEX orders_broker_order_id_key ON orders (account_id, broker_order_id) WHERE broker_order_id IS NOT NULL;

-- order_events is only ever read by order (`tm orders show`, in id order): one index, the primary
-- key (order_id, id), instead of the id's key and an (order_id, id) index beside it.
ALTER TABLE order_events DROP CONSTRAINT order_events_pkey;
DROP INDEX order_events_order_idx;
ALTER TABLE order_events ADD CONSTRAINT order_events_pkey PRIMARY KEY (order_id, id);

-- tm_advance_fences (0021) rewrote a fence's row even when its token did not change — the shard
-- lease's fence in every transaction, a message's fence at the second write of the same delivery —
-- a new row version and new index entries each time (updated_at is indexed for message fences).
-- Now a fence whose token is already the stored one is locked (ON CONFLICT … DO UPDATE locks the
-- row even when its WHERE refuses the update) but not rewritten; the rule is unchanged: a token
-- at least the stored one passes, the row locked until the transaction ends; an older one is
-- returned as stale. updated_at is the time the token was last raised (the purge of old message
-- fences, 0009, reads it).
CREATE OR REPLACE FUNCTION tm_advance_fences(p_resources text[], p_tokens bigint[])
RETURNS TABLE (stale_resource text, stale_token bigint)
LANGUAGE plpgsql AS $$
BEGIN
    WITH wanted AS (
        SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
    )
    INSERT INTO lock_fences AS f (resource, token)
    SELECT wanted.r, wanted.t FROM wanted ORDER BY wanted.r
    ON CONFLICT ON CONSTRAINT lock_fences_pkey DO UPDATE
        SET token = EXCLUDED.token, updated_at = now()
        WHERE f.token < EXCLUDED.token;
    -- A new statement sees every fence row as this transaction now holds it (all are locked). One
    -- primary-key look-up per fence (a join's cached generic plan may scan the whole table).
    RETURN QUERY
    SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
    WHERE (SELECT f.token FROM lock_fences f WHERE f.resource = w.r) > w.t
    ORDER BY w.r;
END
$$;

-- 0037: the rules of an order row in ONE check that Postgres does not rebuild for every statement
-- (issue 11). PostgreSQL rebuilds every CHECK of the table written from its stored node text, and
-- plans it, at the first row of EVERY statement (`ExecRelCheck`: stringToNode + ExecPrepareExpr),
-- and `orders` had 30 of them (~24 kB of node text): ~73 us of backend CPU per one-row statement,
-- twice per lone order (its INSERT and its UPDATE) -- the largest fixed per-statement cost of the
-- order path (Benchmarks/OrderBench/PROFILE.md, sessions 20 and 21).
--
-- Now one CHECK, `orders_rules`, calls the PL/pgSQL function `tm_orders_rules` with the columns the
-- rules read. A PL/pgSQL function is compiled once per session and its expressions planned once, so a
-- statement rebuilds only the call (~3 kB of node text). The rules are the same 30, word for word,
-- and a row breaking one is refused as before: SQLSTATE 23514 (check_violation), the message
-- `new row for relation "orders" violates check constraint "<name>"`, the constraint, table and
-- schema fields naming the old constraint. Like Postgres, which checks a table's constraints in the
-- order of their names and reports the first that fails, the CASE lists the rules in name order and
-- stops at the first false one; a rule that is NULL (unknown) passes, as in a CHECK. The function is
-- IMMUTABLE (its answer depends on its arguments only): PL/pgSQL then takes no snapshot per expression.
--
-- Applied to a live database: one ALTER TABLE, whose lock on `orders` is brief (the old checks
-- dropped, the new one added NOT VALID: no scan, no rewrite) and waited for at most 5 s. The rows in
-- the table passed the same rules; new and updated rows are checked from this commit on, and 0038
-- validates the old ones without blocking writes.
SET LOCAL lock_timeout = '5s';

CREATE FUNCTION tm_orders_rules(
    average_price numeric, broker_order_id text, client_order_id text, fencing_token bigint,
    filled_quantity numeric, idempotency_key text, lookup_attempts integer, order_type text, origin text,
    price numeric, product text, quantity numeric, reject_code text, remaining_quantity numeric,
    requested_price numeric, risk_decision jsonb, route jsonb, side text, state text,
    submit_attempts integer, time_in_force text, trigger_price numeric, unknown_reason text, version integer
)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    -- The first rule broken, in the order of the names (NOT of a NULL is NULL: no match, as a CHECK passes NULL).
    failed text := CASE
        WHEN NOT (average_price > 0) THEN 'orders_average_price_check'
        WHEN NOT (client_order_id ~ '^[A-Za-z0-9_-]+$' AND length(client_order_id) <= 128) THEN 'orders_client_order_id_check'
        WHEN NOT (fencing_token >= 0) THEN 'orders_fencing_token_check'
        WHEN NOT (filled_quantity <= quantity) THEN 'orders_fill_bounds'
        WHEN NOT (filled_quantity = 0 OR average_price IS NOT NULL) THEN 'orders_fill_has_price'
        WHEN NOT (state <> 'FILLED' OR filled_quantity = quantity) THEN 'orders_filled_is_complete'
        WHEN NOT (filled_quantity >= 0) THEN 'orders_filled_quantity_check'
        WHEN NOT (length(idempotency_key) >= 1 AND length(idempotency_key) <= 255) THEN 'orders_idempotency_key_check'
        WHEN NOT (lookup_attempts >= 0) THEN 'orders_lookup_attempts_check'
        WHEN NOT (order_type IN ('market', 'limit', 'stop', 'stop_limit')) THEN 'orders_order_type_check'
        WHEN NOT (origin IN ('platform', 'broker')) THEN 'orders_origin_check'
        WHEN NOT ((origin = 'platform' AND idempotency_key IS NOT NULL AND client_order_id IS NOT NULL)
                  OR (origin = 'broker' AND broker_order_id IS NOT NULL)) THEN 'orders_origin_keys'
        WHEN NOT (state <> 'PARTIALLY_FILLED' OR (filled_quantity > 0 AND filled_quantity < quantity))
            THEN 'orders_partial_is_partial'
        WHEN NOT ((order_type IN ('market', 'stop')) = (price IS NULL)) THEN 'orders_price_by_type'
        WHEN NOT (price > 0) THEN 'orders_price_check'
        WHEN NOT (product IN ('delivery', 'intraday', 'carry_forward', 'margin')) THEN 'orders_product_check'
        WHEN NOT (quantity > 0) THEN 'orders_quantity_check'
        WHEN NOT (remaining_quantity >= 0) THEN 'orders_remaining_quantity_check'
        WHEN NOT (requested_price > 0) THEN 'orders_requested_price_check'
        WHEN NOT (risk_decision IS NULL OR jsonb_typeof(risk_decision) = 'object') THEN 'orders_risk_decision_check'
        WHEN NOT (state <> 'RISK_REJECTED' OR reject_code IS NOT NULL) THEN 'orders_risk_rejected_has_code'
        WHEN NOT (route IS NULL OR jsonb_typeof(route) = 'object') THEN 'orders_route_check'
        WHEN NOT (side IN ('buy', 'sell')) THEN 'orders_side_check'
        WHEN NOT (state IN ('RECEIVED', 'RISK_REJECTED', 'ROUTED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED',
                            'CANCELLED', 'REJECTED', 'UNKNOWN', 'EXPIRED')) THEN 'orders_state_check'
        WHEN NOT (submit_attempts >= 0) THEN 'orders_submit_attempts_check'
        WHEN NOT (time_in_force IN ('day', 'gtc', 'ioc', 'fok')) THEN 'orders_time_in_force_check'
        WHEN NOT ((order_type IN ('stop', 'stop_limit')) = (trigger_price IS NOT NULL)) THEN 'orders_trigger_by_type'
        WHEN NOT (trigger_price > 0) THEN 'orders_trigger_price_check'
        WHEN NOT (state <> 'UNKNOWN' OR unknown_reason IS NOT NULL) THEN 'orders_unknown_has_reason'
        WHEN NOT (version >= 0) THEN 'orders_version_check'
    END;
BEGIN
    IF failed IS NULL THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = failed, TABLE = 'orders',
        SCHEMA = coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE c.oid = to_regclass('orders')), current_schema()),
        MESSAGE = format('new row for relation "orders" violates check constraint "%s"', failed);
END $$;

ALTER TABLE orders
    DROP CONSTRAINT orders_average_price_check,
    DROP CONSTRAINT orders_client_order_id_check,
    DROP CONSTRAINT orders_fencing_token_check,
    DROP CONSTRAINT orders_fill_bounds,
    DROP CONSTRAINT orders_fill_has_price,
    DROP CONSTRAINT orders_filled_is_complete,
    DROP CONSTRAINT orders_filled_quantity_check,
    DROP CONSTRAINT orders_idempotency_key_check,
    DROP CONSTRAINT orders_lookup_attempts_check,
    DROP CONSTRAINT orders_order_type_check,
    DROP CONSTRAINT orders_origin_check,
    DROP CONSTRAINT orders_origin_keys,
    DROP CONSTRAINT orders_partial_is_partial,
    DROP CONSTRAINT orders_price_by_type,
    DROP CONSTRAINT orders_price_check,
    DROP CONSTRAINT orders_product_check,
    DROP CONSTRAINT orders_quantity_check,
    DROP CONSTRAINT orders_remaining_quantity_check,
    DROP CONSTRAINT orders_requested_price_check,
    DROP CONSTRAINT orders_risk_decision_check,
    DROP CONSTRAINT orders_risk_rejected_has_code,
    DROP CONSTRAINT orders_route_check,
    DROP CONSTRAINT orders_side_check,
    DROP CONSTRAINT orders_state_check,
    DROP CONSTRAINT orders_submit_attempts_check,
    DROP CONSTRAINT orders_time_in_force_check,
    DROP CONSTRAINT orders_trigger_by_type,
    DROP CONSTRAINT orders_trigger_price_check,
    DROP CONSTRAINT orders_unknown_has_reason,
    DROP CONSTRAINT orders_version_check,
    ADD CONSTRAINT orders_rules CHECK (tm_orders_rules(
        average_price, broker_order_id, client_order_id, fencing_token, filled_quantity, idempotency_key,
        lookup_attempts, order_type, origin, price, product, quantity, reject_code, remaining_quantity,
        requested_price, risk_decision, route, side, state, submit_attempts, time_in_force, trigger_price,
        unknown_reason, version)) NOT VALID;

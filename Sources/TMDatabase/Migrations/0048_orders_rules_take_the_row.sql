-- 0048: the order rules' one check (0037) takes the row whole (issue 11). Postgres rebuilds a CHECK
-- from its stored node text at the first row of every statement; 0037's check passed the 24 columns
-- its rules read one by one, ~3.2 kB of node text, and reading that back was ~78k of the ~218k
-- instructions the check cost a one-row statement (callgrind, Benchmarks/OrderBench/PROFILE.md,
-- session 28 (pgrows)). Now the check passes the new row as one whole-row value, ~270 bytes of node
-- text, and the function reads the columns from it: ~137k instructions a one-row statement.
--
-- The rules are 0037's, word for word but for the `r.` before each column, in the same order (the
-- order of their names: the first false one is named), and a row breaking one is refused as before:
-- SQLSTATE 23514, the message `new row for relation "orders" violates check constraint "<name>"`,
-- the constraint, table and schema fields naming the rule. A rule that is NULL (unknown) passes.
--
-- Applied to a live database: one ALTER TABLE whose lock on `orders` is brief (the old check dropped,
-- the new one added NOT VALID: no scan, no rewrite), waited for at most 5 s; 0049 validates the rows
-- without blocking writes. Later migrations may add, drop or retype columns of `orders` as before:
-- the function reads the columns it names from whatever row type the table has then.
SET LOCAL lock_timeout = '5s';

CREATE FUNCTION tm_orders_row_rules(r orders)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    -- The first rule broken, in the order of the names (NOT of a NULL is NULL: no match, as a CHECK passes NULL).
    failed text := CASE
        WHEN NOT (r.average_price > 0) THEN 'orders_average_price_check'
        WHEN NOT (r.client_order_id ~ '^[A-Za-z0-9_-]+$' AND length(r.client_order_id) <= 128) THEN 'orders_client_order_id_check'
        WHEN NOT (r.fencing_token >= 0) THEN 'orders_fencing_token_check'
        WHEN NOT (r.filled_quantity <= r.quantity) THEN 'orders_fill_bounds'
        WHEN NOT (r.filled_quantity = 0 OR r.average_price IS NOT NULL) THEN 'orders_fill_has_price'
        WHEN NOT (r.state <> 'FILLED' OR r.filled_quantity = r.quantity) THEN 'orders_filled_is_complete'
        WHEN NOT (r.filled_quantity >= 0) THEN 'orders_filled_quantity_check'
        WHEN NOT (length(r.idempotency_key) >= 1 AND length(r.idempotency_key) <= 255) THEN 'orders_idempotency_key_check'
        WHEN NOT (r.lookup_attempts >= 0) THEN 'orders_lookup_attempts_check'
        WHEN NOT (r.order_type IN ('market', 'limit', 'stop', 'stop_limit')) THEN 'orders_order_type_check'
        WHEN NOT (r.origin IN ('platform', 'broker')) THEN 'orders_origin_check'
        WHEN NOT ((r.origin = 'platform' AND r.idempotency_key IS NOT NULL AND r.client_order_id IS NOT NULL)
                  OR (r.origin = 'broker' AND r.broker_order_id IS NOT NULL)) THEN 'orders_origin_keys'
        WHEN NOT (r.state <> 'PARTIALLY_FILLED' OR (r.filled_quantity > 0 AND r.filled_quantity < r.quantity))
            THEN 'orders_partial_is_partial'
        WHEN NOT ((r.order_type IN ('market', 'stop')) = (r.price IS NULL)) THEN 'orders_price_by_type'
        WHEN NOT (r.price > 0) THEN 'orders_price_check'
        WHEN NOT (r.product IN ('delivery', 'intraday', 'carry_forward', 'margin')) THEN 'orders_product_check'
        WHEN NOT (r.quantity > 0) THEN 'orders_quantity_check'
        WHEN NOT (r.remaining_quantity >= 0) THEN 'orders_remaining_quantity_check'
        WHEN NOT (r.requested_price > 0) THEN 'orders_requested_price_check'
        WHEN NOT (r.risk_decision IS NULL OR jsonb_typeof(r.risk_decision) = 'object') THEN 'orders_risk_decision_check'
        WHEN NOT (r.state <> 'RISK_REJECTED' OR r.reject_code IS NOT NULL) THEN 'orders_risk_rejected_has_code'
        WHEN NOT (r.route IS NULL OR jsonb_typeof(r.route) = 'object') THEN 'orders_route_check'
        WHEN NOT (r.side IN ('buy', 'sell')) THEN 'orders_side_check'
        WHEN NOT (r.state IN ('RECEIVED', 'RISK_REJECTED', 'ROUTED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED',
                              'CANCELLED', 'REJECTED', 'UNKNOWN', 'EXPIRED')) THEN 'orders_state_check'
        WHEN NOT (r.submit_attempts >= 0) THEN 'orders_submit_attempts_check'
        WHEN NOT (r.time_in_force IN ('day', 'gtc', 'ioc', 'fok')) THEN 'orders_time_in_force_check'
        WHEN NOT ((r.order_type IN ('stop', 'stop_limit')) = (r.trigger_price IS NOT NULL)) THEN 'orders_trigger_by_type'
        WHEN NOT (r.trigger_price > 0) THEN 'orders_trigger_price_check'
        WHEN NOT (r.state <> 'UNKNOWN' OR r.unknown_reason IS NOT NULL) THEN 'orders_unknown_has_reason'
        WHEN NOT (r.version >= 0) THEN 'orders_version_check'
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
    DROP CONSTRAINT orders_rules,
    ADD CONSTRAINT orders_rules CHECK (tm_orders_row_rules(orders)) NOT VALID;

DROP FUNCTION tm_orders_rules(numeric, text, text, bigint, numeric, text, integer, text, text, numeric, text, numeric,
                              text, numeric, numeric, jsonb, jsonb, text, text, integer, text, numeric, text, integer);

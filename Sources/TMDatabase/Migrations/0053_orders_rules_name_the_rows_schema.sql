-- 0053: a refused order row names its schema whatever the session's search_path (issue 11).
--
-- 0048's rules function named the schema in its refusal from `to_regclass('orders')`, falling back
-- to `current_schema()`: under an empty search_path (pg_restore's) both are NULL, and `RAISE` with
-- a NULL option fails with 22004 ("RAISE statement option cannot be null") instead of the rule's
-- 23514 — the refusal lost its rule's name. The schema now comes from the row's own type, as 0050's
-- outbox form does. The 30 rules are 0048's, unchanged (a function is replaced whole).
--
-- (0048's header says later migrations may add, drop or retype the columns of `orders` freely; a
-- column the rules read cannot go without its rule: `PgOrderRulesByRowTests` checks that every
-- column read still exists.)
--
-- Applied to a live database: a catalog update of the function only; the CHECK calls it by oid.
SET LOCAL lock_timeout = '5s';

CREATE OR REPLACE FUNCTION tm_orders_row_rules(r orders)
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
        -- the schema of the row's own type: right whatever the session's search_path (pg_restore's is '')
        SCHEMA = (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE t.oid = pg_catalog.pg_typeof(r)),
        MESSAGE = format('new row for relation "orders" violates check constraint "%s"', failed);
END $$;

-- 0059: a valid order row never sets up the rules' CASE, and a test can tell (issue 11). 0057 made a
-- row that breaks no rule pass by one short test, before the 30-arm CASE that names the first broken
-- rule (~110k instructions a transaction set up and run, ~219k of a lone order's Postgres,
-- Benchmarks/OrderBench/PROFILE.md, session 32 (pgrow)). Nothing could tell whether valid rows still
-- reached the CASE: a short test that is false for every row lets the CASE decide, and every rule
-- test stays green. Now the CASE, word for word, is a function of its own, `tm_orders_row_broken_rule`,
-- which only the short test's failure branch calls — so `pg_stat_user_functions` (track_functions =
-- 'pl') counts the rows that reached it: none for a valid row, one for a broken row
-- (`PgOrderRulesShortTestTests`). The refusal is 0057's: SQLSTATE 23514, the first broken rule by
-- name, the same message, table and schema; a NULL from the CASE passes.
--
-- The CASE's function is called in the row's own schema (as the RAISE names it: 0053), by a dynamic
-- statement on the failure branch only, so a session whose search_path does not find it (pg_restore's
-- is '') gets the same refusal. A valid row costs what it did (the failure branch is not set up).
--
-- Applied to a live database: a new function, then a catalog update of the rules' function; the
-- CHECK calls it by oid, and a worker of any version writes through it.
SET LOCAL lock_timeout = '5s';

CREATE FUNCTION tm_orders_row_broken_rule(r orders)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    -- The first rule broken, in the order of the names (NOT of a NULL is NULL: no match, as a CHECK passes NULL).
    RETURN CASE
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
END $$;

CREATE OR REPLACE FUNCTION tm_orders_row_rules(r orders)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    failed text;
    row_schema text;
BEGIN
    -- Every rule, in one conjunction: not false when no rule is false.
    IF (least(r.average_price, r.price, r.quantity, r.requested_price, r.trigger_price) > 0
        AND least(r.filled_quantity, r.remaining_quantity) >= 0
        AND least(r.lookup_attempts, r.submit_attempts, r.version) >= 0
        AND r.fencing_token >= 0
        AND r.filled_quantity <= r.quantity
        AND (r.filled_quantity = 0 OR r.average_price IS NOT NULL)
        AND r.client_order_id ~ '^[A-Za-z0-9_-]+$' AND length(r.client_order_id) <= 128
        AND length(r.idempotency_key) >= 1 AND length(r.idempotency_key) <= 255
        AND r.order_type IN ('market', 'limit', 'stop', 'stop_limit')
        AND r.origin IN ('platform', 'broker')
        AND ((r.origin = 'platform' AND r.idempotency_key IS NOT NULL AND r.client_order_id IS NOT NULL)
             OR (r.origin = 'broker' AND r.broker_order_id IS NOT NULL))
        AND r.product IN ('delivery', 'intraday', 'carry_forward', 'margin')
        AND r.side IN ('buy', 'sell')
        AND r.state IN ('RECEIVED', 'RISK_REJECTED', 'ROUTED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED',
                        'CANCELLED', 'REJECTED', 'UNKNOWN', 'EXPIRED')
        AND r.time_in_force IN ('day', 'gtc', 'ioc', 'fok')
        AND (r.state <> 'FILLED' OR r.filled_quantity = r.quantity)
        AND (r.state <> 'PARTIALLY_FILLED' OR (r.filled_quantity > 0 AND r.filled_quantity < r.quantity))
        AND (r.state <> 'RISK_REJECTED' OR r.reject_code IS NOT NULL)
        AND (r.state <> 'UNKNOWN' OR r.unknown_reason IS NOT NULL)
        AND (r.order_type IN ('market', 'stop')) = (r.price IS NULL)
        AND (r.order_type IN ('stop', 'stop_limit')) = (r.trigger_price IS NOT NULL)
        AND (r.risk_decision IS NULL OR jsonb_typeof(r.risk_decision) = 'object')
        AND (r.route IS NULL OR jsonb_typeof(r.route) = 'object')) IS NOT FALSE THEN
        RETURN true;
    END IF;
    -- Only here, a row for which the one test is false: the CASE names the first broken rule.
    -- the schema of the row's own type: right whatever the session's search_path (pg_restore's is '')
    row_schema := (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE t.oid = pg_catalog.pg_typeof(r));
    EXECUTE pg_catalog.format('SELECT %I.tm_orders_row_broken_rule($1)', row_schema) INTO failed USING r;
    IF failed IS NULL THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = failed, TABLE = 'orders', SCHEMA = row_schema,
        MESSAGE = format('new row for relation "orders" violates check constraint "%s"', failed);
END $$;

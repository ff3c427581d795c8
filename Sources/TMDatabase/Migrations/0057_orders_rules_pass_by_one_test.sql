-- 0057: a valid order row passes the rules by one short test (issue 11). The rules are 0053's (0048's),
-- unchanged, and a row breaking one is refused exactly as before — the same CASE names the first
-- broken rule by name, the same RAISE. What changes is the path of a row that breaks none, which is
-- every row the order path writes: PL/pgSQL sets a function's expressions up again in every
-- transaction (their state lives for one transaction), and 0053 set up and ran its 30-arm CASE in
-- each of a lone order's two (~110k instructions a transaction: ~219k of a lone order's ~2.63M,
-- callgrind, Benchmarks/OrderBench/PROFILE.md, session 32 (pgrow)). Now the function first tests
-- the rules as one conjunction with fewer nodes — the positive prices and quantities in one
-- `least(...) > 0`, the non-negative counts in two `least(...) >= 0` (`least` ignores NULLs and is
-- NULL only when all are: `least(a, b) > 0` is false exactly when `a > 0` or `b > 0` is false) — and
-- returns at once when it is not false (a rule that is NULL passes, as a CHECK passes NULL); only
-- a row for which it is false sets up the CASE, which names the first broken rule in the order of
-- their names as before. Should the two ever disagree the CASE decides: a NULL from it passes.
--
-- Every rule below appears in the conjunction (a rule missing there would let its broken rows
-- pass): `PgOrderRulesTests` refuses a broken row of each rule on INSERT and UPDATE against 0036's
-- CHECKs, and `PgOrderRulesGuardTests` writes every combination of NULL, negative, zero and positive
-- values of the grouped columns against 0036's CHECKs.
--
-- Applied to a live database: a catalog update of the function only; the CHECK calls it by oid, and
-- a worker of any version writes through it.
SET LOCAL lock_timeout = '5s';

CREATE OR REPLACE FUNCTION tm_orders_row_rules(r orders)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    failed text;
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
    -- The first rule broken, in the order of the names (NOT of a NULL is NULL: no match, as a CHECK passes NULL).
    failed := CASE
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
    IF failed IS NULL THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = failed, TABLE = 'orders',
        -- the schema of the row's own type: right whatever the session's search_path (pg_restore's is '')
        SCHEMA = (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE t.oid = pg_catalog.pg_typeof(r)),
        MESSAGE = format('new row for relation "orders" violates check constraint "%s"', failed);
END $$;

-- 0036: one trigger call per order row written, not three (issue 11). Every order row written ran
-- PL/pgSQL twice or more: `orders_execution_quality` (0013) on every INSERT and UPDATE, and
-- `orders_touch` (0002) on every UPDATE — three calls per order on the order path (a row inserted in
-- SUBMITTING, then moved to ACCEPTED), each copying the row in and out of PL/pgSQL
-- (Benchmarks/OrderBench/PROFILE.md, session 20). Now:
--   * an UPDATE runs ONE function, `tm_orders_stamp`, doing both jobs: `updated_at`, and the
--     execution quality (first acceptance, the fill, the slippage), as before for every writer;
--   * an INSERT runs it only when it has something to stamp — a row inserted already accepted or
--     filled (sync finds such orders at the broker), or with a fill. The WHEN is exactly the union of
--     the conditions under which the function changes a column, so a row it skips is stored as before.
--     The order path's new rows (SUBMITTING, ROUTED, RISK_REJECTED, no fill) skip it.
--
-- Applied to a live database: triggers swapped in one transaction (no moment without them), each
-- lock on `orders` brief (no scan, no rewrite) and waited for at most 5 s.
SET LOCAL lock_timeout = '5s';

CREATE FUNCTION tm_orders_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    -- Execution quality, kept by the database whoever moves the order (the placer, sync).
    IF NEW.state IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED') AND NEW.accepted_at IS NULL THEN
        NEW.accepted_at := now();
    END IF;
    IF NEW.state = 'FILLED' AND NEW.filled_at IS NULL THEN
        NEW.filled_at := now();
    END IF;
    IF NEW.filled_quantity > 0 AND NEW.average_price IS NOT NULL AND NEW.requested_price > 0 THEN
        -- Positive is worse for the trader: paid more on a buy, received less on a sell.
        NEW.slippage_bps := round((NEW.average_price - NEW.requested_price) / NEW.requested_price * 10000
                                  * CASE WHEN NEW.side = 'sell' THEN -1 ELSE 1 END, 2);
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER orders_touch ON orders;
DROP TRIGGER orders_execution_quality ON orders;
DROP FUNCTION tm_orders_execution_quality();

CREATE TRIGGER orders_stamp BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION tm_orders_stamp();
-- FILLED is among the accepted states and a slippage needs a fill: these two cover every change.
CREATE TRIGGER orders_stamp_inserted BEFORE INSERT ON orders
    FOR EACH ROW WHEN (NEW.state IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED') OR NEW.filled_quantity > 0)
    EXECUTE FUNCTION tm_orders_stamp();

-- 0052: a new order row's stamp trigger tests its condition in its function, not in a WHEN (issue 11).
-- Postgres rebuilds a trigger's WHEN from its stored node text (~1.5 kB here) at every statement that
-- fires it, and the order path's INSERTs — whose rows the WHEN skips — paid ~62k instructions a lone
-- order for it (callgrind, Benchmarks/OrderBench/PROFILE.md, session 29 (pgtx)). A PL/pgSQL function
-- keeps its parsed body for the session; its first test, 0036's WHEN word for word, returns the row
-- as it came when there is nothing to stamp. A row is stored exactly as before: the function changes a
-- column only under that condition (0036). The price is a call per row: a statement of many new rows
-- pays it for each (see the session's figures).
--
-- Applied to a live database: the trigger swapped in one transaction (no moment without it), the lock
-- on `orders` brief (no scan, no rewrite) and waited for at most 5 s.
SET LOCAL lock_timeout = '5s';

CREATE OR REPLACE FUNCTION tm_orders_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- 0036's WHEN (a NULL condition skipped the call, as it returns here).
    IF TG_OP = 'INSERT' AND (NEW.state IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED') OR NEW.filled_quantity > 0) IS NOT TRUE THEN
        RETURN NEW;
    END IF;
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

DROP TRIGGER orders_stamp_inserted ON orders;
CREATE TRIGGER orders_stamp_inserted BEFORE INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION tm_orders_stamp();

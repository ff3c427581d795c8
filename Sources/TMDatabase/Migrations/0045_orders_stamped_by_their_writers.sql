-- 0045: an order row's stamps written by the UPDATE that writes the row, not by a BEFORE UPDATE
-- trigger (issue 11). Postgres locks the old tuple before calling any BEFORE ROW UPDATE trigger,
-- whatever the trigger does and even when its WHEN is false: 0036's `orders_stamp` cost every UPDATE
-- of `orders` a Heap LOCK WAL record, a dirtied page and a PL/pgSQL call (Benchmarks/OrderBench/
-- PROFILE.md, session 24). Now:
--   * the platform's writers — the order placer (`OrderStore.updateSet`) and sync
--     (`SyncWriter.updateOrders`) — write `updated_at`, `accepted_at`, `filled_at` and `slippage_bps`
--     in their own SET lists, one text for both (`OrderRowStamps`), with exactly the rules of
--     `tm_orders_stamp` (0036);
--   * a new row is stamped as before (`orders_stamp_inserted`, whose WHEN skips the order path's rows:
--     a BEFORE INSERT trigger locks nothing);
--   * any other UPDATE — an operator's by hand, a function's — that does not set `updated_at` to the
--     transaction's time is stamped after its statement by `orders_restamp`, with the same rules: an
--     AFTER trigger (no tuple lock) whose WHEN is one comparison, so the platform's writers pay only
--     that (the function runs for such rows alone, at the cost of a second row version). So a hand-made
--     UPDATE keeps getting the stamps it got under 0036 (a hand-set `updated_at` or a `slippage_bps`
--     contrary to the fill overruled, a hand-set `accepted_at` or `filled_at` kept), with two
--     differences: its own statement (its RETURNING) sees the row before the stamps, and an UPDATE that
--     sets `updated_at = now()` itself on a row last written by an earlier transaction, or that runs
--     inside another trigger, is taken to have written every stamp — such a writer must write them as
--     `OrderRowStamps` does. A row this transaction already wrote (inserted, or updated before) is
--     stamped again by the net whatever its UPDATE sets.
--     A WHEN checking every stamp was measured and not kept: it added more executor time per UPDATE
--     than 0036's trigger cost; this one adds a few µs (Benchmarks/OrderBench/PROFILE.md, session 26).
--
-- Applied to a live database: triggers swapped in one transaction (no moment without stamps), each
-- lock on `orders` brief (no scan, no rewrite) and waited for at most 5 s.
SET LOCAL lock_timeout = '5s';

-- The stamps of a row whose UPDATE did not write them (the rules of tm_orders_stamp, over the row as
-- written: this statement changes none of state, fill, average, side, requested price).
CREATE FUNCTION tm_orders_restamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders SET updated_at = now(),
        accepted_at = CASE WHEN state IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED') THEN coalesce(accepted_at, now()) ELSE accepted_at END,
        filled_at = CASE WHEN state = 'FILLED' THEN coalesce(filled_at, now()) ELSE filled_at END,
        slippage_bps = CASE WHEN filled_quantity > 0 AND average_price IS NOT NULL AND requested_price > 0
                            THEN round((average_price - requested_price) / requested_price * 10000
                                       * CASE WHEN side = 'sell' THEN -1 ELSE 1 END, 2)
                            ELSE slippage_bps END
    WHERE id = NEW.id;
    RETURN NULL;
END $$;

DROP TRIGGER orders_stamp ON orders;
-- Depth 0: the net's own UPDATE (depth 1) does not fire it again. OLD at now(): a row this transaction
-- already wrote (inserted, or updated before) is stamped again, since its updated_at says nothing.
CREATE TRIGGER orders_restamp AFTER UPDATE ON orders
    FOR EACH ROW WHEN (pg_trigger_depth() = 0 AND (NEW.updated_at IS DISTINCT FROM now() OR OLD.updated_at = now()))
    EXECUTE FUNCTION tm_orders_restamp();

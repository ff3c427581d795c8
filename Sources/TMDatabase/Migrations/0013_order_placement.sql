-- 0013_order_placement: what exactly-once placement keeps on each order — how many times it was
-- sent and looked up, why its outcome is unknown and when to look again — and the shard leases'
-- fencing tokens on every write.

ALTER TABLE orders
    ADD COLUMN submit_attempts integer NOT NULL DEFAULT 0 CHECK (submit_attempts >= 0),
    ADD COLUMN lookup_attempts integer NOT NULL DEFAULT 0 CHECK (lookup_attempts >= 0),
    ADD COLUMN next_lookup_at  timestamptz,
    ADD COLUMN unknown_reason  text,
    -- The account the order was asked for; account_id is where the router placed it.
    ADD COLUMN requested_account_id uuid REFERENCES broker_accounts (id) ON DELETE RESTRICT;
ALTER TABLE orders ADD CONSTRAINT orders_unknown_has_reason CHECK (state <> 'UNKNOWN' OR unknown_reason IS NOT NULL);
COMMENT ON COLUMN orders.submit_attempts IS
    'Broker calls that placed (or may have placed) the order. Each after the first follows a look-up by client_order_id that found nothing.';
COMMENT ON COLUMN orders.next_lookup_at IS
    'UNKNOWN orders: when the order-worker looks the order up at the broker again (backoff by lookup_attempts).';

-- `tm orders unknown` and the worker's sweep.
CREATE INDEX orders_unknown_idx ON orders (next_lookup_at) WHERE state IN ('UNKNOWN', 'SUBMITTING');

-- ---------------------------------------------------------------------------------------------
-- Execution quality, kept by the database whoever moves the order (the placer, sync): the first
-- acceptance, the fill, and the slippage of the average fill price against the requested price.
CREATE FUNCTION tm_orders_execution_quality() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER orders_execution_quality BEFORE INSERT OR UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION tm_orders_execution_quality();

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

-- 0011_order_path: the order path's states and what each order records on its way — the risk
-- decision, the route, execution quality — every state change as an event, and the funds each
-- broker account reports (the risk engine's buying power).

-- ---------------------------------------------------------------------------------------------
-- RISK_REJECTED: refused by the pre-trade risk engine, never sent. ROUTED: risk passed and a
-- broker chosen, about to be sent (SUBMITTING is entered, committed, before the broker call).
ALTER TABLE orders DROP CONSTRAINT orders_state_check;
ALTER TABLE orders ADD CONSTRAINT orders_state_check CHECK (state IN (
    'RECEIVED', 'RISK_REJECTED', 'ROUTED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED',
    'CANCELLED', 'REJECTED', 'UNKNOWN', 'EXPIRED'));
COMMENT ON COLUMN orders.state IS
    'RECEIVED -> RISK_REJECTED | ROUTED -> SUBMITTING -> ACCEPTED | REJECTED | UNKNOWN -> PARTIALLY_FILLED -> FILLED | CANCELLED | EXPIRED. '
    'Each step is committed (fenced) before the next side effect. A row in SUBMITTING or UNKNOWN is looked up at the broker '
    'by client_order_id before anything is sent again.';
DROP INDEX orders_open_idx;
CREATE INDEX orders_open_idx ON orders (account_id, created_at)
    WHERE state IN ('RECEIVED', 'ROUTED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'UNKNOWN');

ALTER TABLE orders
    ADD COLUMN requested_price numeric CHECK (requested_price > 0),
    ADD COLUMN risk_decision jsonb CHECK (risk_decision IS NULL OR jsonb_typeof(risk_decision) = 'object'),
    ADD COLUMN route jsonb CHECK (route IS NULL OR jsonb_typeof(route) = 'object'),
    ADD COLUMN accepted_at timestamptz,
    ADD COLUMN filled_at timestamptz,
    ADD COLUMN slippage_bps numeric;
ALTER TABLE orders ADD CONSTRAINT orders_risk_rejected_has_code CHECK (state <> 'RISK_REJECTED' OR reject_code IS NOT NULL);
COMMENT ON COLUMN orders.requested_price IS
    'The price the order was valued at when routed: its limit (or trigger) price, else the last price. Slippage is measured against it.';
COMMENT ON COLUMN orders.risk_decision IS
    'The risk engine''s verdict: {"passed": bool, "reason": code, "message": text, "emergency_limits": bool, "checked_at": time}.';
COMMENT ON COLUMN orders.route IS
    'The router''s decision: {"scores": [{"account_id", "broker", "speed", "cost", "liquidity", "reliability", "total"}], "split_reason": text}.';
COMMENT ON COLUMN orders.slippage_bps IS
    '(average_price - requested_price) / requested_price x 10,000, signed so that positive is worse for the trader (paid more, sold for less).';

-- ---------------------------------------------------------------------------------------------
-- Every state change of an order, for `tm orders show` and the audit trail.
CREATE TABLE order_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_state  text,
    to_state    text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- Why: a risk reason, a broker's refusal, the look-up that resolved an UNKNOWN, ...
    detail      jsonb CHECK (detail IS NULL OR jsonb_typeof(detail) = 'object')
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- ---------------------------------------------------------------------------------------------
-- What each broker account may spend, as its broker last reported (BrokerFunds), per segment
-- (Kite/Upstox equity and commodity; '' where the broker has one) and currency.
CREATE TABLE account_funds (
    account_id  uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    segment     text NOT NULL DEFAULT '',
    currency    text NOT NULL CHECK (length(currency) BETWEEN 3 AND 10),
    available   numeric NOT NULL,
    cash        numeric,
    used        numeric,
    total       numeric,
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (account_id, segment, currency)
);
COMMENT ON TABLE account_funds IS
    'Derived state (re-fetchable from the broker): replaced by each sync. available = what new orders may use now.';

-- 0002_trading: orders, trades, positions and the pre-trade limits the order-worker enforces.

-- ---------------------------------------------------------------------------------------------
CREATE TABLE orders (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL,
    -- RESTRICT: an account with orders cannot be deleted (disable it instead); history stays whole.
    account_id        uuid NOT NULL,
    -- Orders the router split across brokers point at the order the user placed.
    parent_order_id   uuid REFERENCES orders (id) ON DELETE RESTRICT,

    -- Exactly-once: the producer's key is unique, and the client order id sent to the broker is
    -- derived from it deterministically, so a redelivery finds this row instead of a second order.
    origin            text NOT NULL DEFAULT 'platform' CHECK (origin IN ('platform', 'broker')),
    idempotency_key   text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    client_order_id   text CHECK (client_order_id ~ '^[A-Za-z0-9_-]{1,128}$'),

    symbol            text NOT NULL,
    exchange          text NOT NULL,
    side              text NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type        text NOT NULL CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    time_in_force     text NOT NULL DEFAULT 'day' CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok')),
    quantity          numeric NOT NULL CHECK (quantity > 0),
    -- Limit price: NULL for market and stop (stop-market) orders, > 0 for limit and stop_limit.
    price             numeric CHECK (price > 0),
    -- Trigger price: > 0 for stop and stop_limit, NULL otherwise.
    trigger_price     numeric CHECK (trigger_price > 0),

    filled_quantity   numeric NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
    average_price     numeric CHECK (average_price > 0),

    state             text NOT NULL DEFAULT 'RECEIVED' CHECK (state IN (
                          'RECEIVED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED',
                          'CANCELLED', 'REJECTED', 'UNKNOWN', 'EXPIRED')),
    broker_order_id   text,
    reject_code       text,                      -- risk reason code, e.g. QUANTITY_EXCEEDS_MAXIMUM
    reject_reason     text,

    -- Optimistic concurrency: UPDATE ... SET version = version + 1 WHERE id = $1 AND version = $2.
    version           integer NOT NULL DEFAULT 0 CHECK (version >= 0),
    -- Fencing token of the shard lease under which the row was last written; guarded writes add
    -- `AND (fencing_token IS NULL OR fencing_token <= $token)` so a stale ex-holder changes nothing.
    fencing_token     bigint CHECK (fencing_token >= 0),

    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    submitted_at      timestamptz,               -- when SUBMITTING was entered (broker call begins)
    completed_at      timestamptz,               -- when a terminal state was reached

    CONSTRAINT orders_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT orders_client_order_id_key UNIQUE (account_id, client_order_id),
    CONSTRAINT orders_broker_order_id_key UNIQUE (account_id, broker_order_id),
    -- The order's user is the account's user.
    CONSTRAINT orders_account_fk FOREIGN KEY (account_id, user_id)
        REFERENCES broker_accounts (id, user_id) ON DELETE RESTRICT,
    CONSTRAINT orders_price_by_type CHECK (
        (order_type IN ('market', 'stop')) = (price IS NULL)),
    CONSTRAINT orders_trigger_by_type CHECK (
        (order_type IN ('stop', 'stop_limit')) = (trigger_price IS NOT NULL)),
    CONSTRAINT orders_fill_bounds CHECK (filled_quantity <= quantity),
    CONSTRAINT orders_fill_has_price CHECK (filled_quantity = 0 OR average_price IS NOT NULL),
    CONSTRAINT orders_filled_is_complete CHECK (state <> 'FILLED' OR filled_quantity = quantity),
    CONSTRAINT orders_partial_is_partial CHECK (
        state <> 'PARTIALLY_FILLED' OR (filled_quantity > 0 AND filled_quantity < quantity)),
    -- Platform orders always carry their exactly-once keys; orders found at the broker by sync
    -- (placed in the broker's own app) have none, but must then have the broker's id.
    CONSTRAINT orders_origin_keys CHECK (
        (origin = 'platform' AND idempotency_key IS NOT NULL AND client_order_id IS NOT NULL)
        OR (origin = 'broker' AND broker_order_id IS NOT NULL))
);
COMMENT ON COLUMN orders.state IS
    'RECEIVED -> SUBMITTING -> ACCEPTED | REJECTED | UNKNOWN -> PARTIALLY_FILLED -> FILLED | CANCELLED | EXPIRED. '
    'A row in SUBMITTING or UNKNOWN must be looked up at the broker by client_order_id before any resubmission. '
    'REJECTED may be reached from RECEIVED (risk check) without submission.';
COMMENT ON COLUMN orders.client_order_id IS
    'Deterministic from idempotency_key; sent as Alpaca client_order_id, Binance newClientOrderId, Kite/Upstox tag.';
CREATE INDEX orders_account_state_idx ON orders (account_id, state);
CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC);
-- Open orders: max-open-orders checks and the reconciler.
CREATE INDEX orders_open_idx ON orders (account_id, created_at)
    WHERE state IN ('RECEIVED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'UNKNOWN');
CREATE INDEX orders_parent_idx ON orders (parent_order_id) WHERE parent_order_id IS NOT NULL;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Fills as reported by the broker. Sync inserts with ON CONFLICT (account_id, broker_trade_id)
-- DO NOTHING, so a redelivered sync job cannot double-count a fill.
CREATE TABLE trades (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id       uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE RESTRICT,
    -- NULL when the fill belongs to an order placed outside the platform (or not yet matched).
    order_id         uuid REFERENCES orders (id) ON DELETE SET NULL,
    broker_trade_id  text NOT NULL,
    broker_order_id  text,
    symbol           text NOT NULL,
    exchange         text NOT NULL,
    side             text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity         numeric NOT NULL CHECK (quantity > 0),
    price            numeric NOT NULL CHECK (price > 0),
    fees             numeric NOT NULL DEFAULT 0 CHECK (fees >= 0),
    fee_currency     text,
    traded_at        timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trades_broker_trade_id_key UNIQUE (account_id, broker_trade_id)
);
CREATE INDEX trades_account_traded_idx ON trades (account_id, traded_at);
CREATE INDEX trades_order_idx ON trades (order_id) WHERE order_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
CREATE TABLE positions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    symbol          text NOT NULL,
    exchange        text NOT NULL,
    quantity        numeric NOT NULL,            -- negative = short
    average_price   numeric NOT NULL DEFAULT 0 CHECK (average_price >= 0),
    realized_pnl    numeric NOT NULL DEFAULT 0,
    as_of           timestamptz NOT NULL,        -- broker's time of the snapshot (or last fill applied)
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT positions_account_symbol_key UNIQUE (account_id, exchange, symbol),
    -- A flat position has no meaningful average price.
    CONSTRAINT positions_flat_has_no_price CHECK (quantity <> 0 OR average_price = 0)
);
COMMENT ON TABLE positions IS
    'Derived state (re-fetchable from the broker), hence ON DELETE CASCADE; upserts must not move as_of backwards.';
CREATE TRIGGER positions_touch BEFORE UPDATE ON positions
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Pre-trade limits. One user-wide row (account_id NULL) and optionally one row per account; the
-- stricter of the two applies. A NULL limit means "not limited at this level" — the order-worker
-- still applies its conservative emergency defaults when no row can be loaded at all.
CREATE TABLE trading_limits (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id             uuid,
    max_order_quantity     numeric CHECK (max_order_quantity > 0),
    max_order_notional     numeric CHECK (max_order_notional > 0),
    price_band_pct         numeric CHECK (price_band_pct > 0 AND price_band_pct <= 100),
    max_position_quantity  numeric CHECK (max_position_quantity > 0),
    max_position_notional  numeric CHECK (max_position_notional > 0),
    daily_loss_limit       numeric CHECK (daily_loss_limit > 0),     -- a positive amount of loss
    daily_turnover_limit   numeric CHECK (daily_turnover_limit > 0),
    max_open_orders        integer CHECK (max_open_orders > 0),
    max_orders_per_second  integer CHECK (max_orders_per_second > 0),
    restricted_symbols     text[] NOT NULL DEFAULT '{}',
    trading_state          text NOT NULL DEFAULT 'active'
                           CHECK (trading_state IN ('active', 'reduce_only', 'halted')),
    -- Kill switch: halts everything but cancels. Engaging it must also set trading_state =
    -- 'halted', and releasing it leaves the state halted until someone resumes deliberately.
    kill_switch            boolean NOT NULL DEFAULT false,
    kill_switch_reason     text,
    kill_switch_at         timestamptz,
    kill_switch_by         text,
    version                integer NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_by             text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trading_limits_account_fk FOREIGN KEY (account_id, user_id)
        REFERENCES broker_accounts (id, user_id) ON DELETE CASCADE,
    CONSTRAINT trading_limits_kill_switch_halts CHECK (NOT kill_switch OR trading_state = 'halted'),
    CONSTRAINT trading_limits_kill_switch_reason CHECK (
        NOT kill_switch OR (kill_switch_reason IS NOT NULL AND kill_switch_at IS NOT NULL))
);
CREATE UNIQUE INDEX trading_limits_user_key ON trading_limits (user_id) WHERE account_id IS NULL;
CREATE UNIQUE INDEX trading_limits_account_key ON trading_limits (account_id) WHERE account_id IS NOT NULL;
CREATE TRIGGER trading_limits_touch BEFORE UPDATE ON trading_limits
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- 0012_trading_controls: the platform-wide trading state (the global kill switch) and the
-- platform's default limits, who set an account's trading state and why, the instruments'
-- contract multiplier, and one version counter that moves with every change of limits or trading
-- state, so the order-worker sees a change by polling one row.

-- ---------------------------------------------------------------------------------------------
-- One row. Its trading state applies to every account (the most severe of it, the user's row and
-- the account's row wins). Its limits fill in what neither the user's nor the account's
-- trading_limits row sets (NULL there means "not limited at that level"); its restricted symbols
-- add to theirs.
CREATE TABLE platform_trading_controls (
    singleton              boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    trading_state          text NOT NULL DEFAULT 'active'
                           CHECK (trading_state IN ('active', 'reduce_only', 'halted')),
    state_reason           text,
    state_by               text,
    state_at               timestamptz,
    max_order_quantity     numeric CHECK (max_order_quantity > 0),
    max_order_notional     numeric CHECK (max_order_notional > 0),
    price_band_pct         numeric CHECK (price_band_pct > 0 AND price_band_pct <= 100),
    max_position_quantity  numeric CHECK (max_position_quantity > 0),
    max_position_notional  numeric CHECK (max_position_notional > 0),
    max_concentration      numeric CHECK (max_concentration > 0 AND max_concentration <= 1),
    daily_loss_limit       numeric CHECK (daily_loss_limit > 0),
    daily_turnover_limit   numeric CHECK (daily_turnover_limit > 0),
    max_open_orders        integer CHECK (max_open_orders > 0),
    max_orders_per_second  integer CHECK (max_orders_per_second > 0),
    restricted_symbols     text[] NOT NULL DEFAULT '{}',
    -- Positions older than this are not trusted (POSITIONS_STALE); identical orders within the
    -- window are duplicates.
    max_position_age       interval NOT NULL DEFAULT interval '10 minutes' CHECK (max_position_age > interval '0'),
    duplicate_window       interval NOT NULL DEFAULT interval '2 seconds' CHECK (duplicate_window >= interval '0'),
    updated_by             text,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- A platform-wide halt or reduce-only always says who, when and why.
    CONSTRAINT platform_trading_controls_state_recorded CHECK (
        trading_state = 'active' OR (state_reason IS NOT NULL AND state_by IS NOT NULL AND state_at IS NOT NULL))
);
COMMENT ON TABLE platform_trading_controls IS
    'One row: the global trading state (kill switch) and the default limits. A missing row counts as limits that cannot be loaded.';
INSERT INTO platform_trading_controls DEFAULT VALUES;
CREATE TRIGGER platform_trading_controls_touch BEFORE UPDATE ON platform_trading_controls
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Who set a row's trading state, when and why (the kill_switch_* columns keep recording the last
-- engagement of the kill switch itself; halted <=> kill switch stays as 0002 documents).
ALTER TABLE trading_limits
    ADD COLUMN max_concentration numeric CHECK (max_concentration > 0 AND max_concentration <= 1),
    ADD COLUMN state_reason text,
    ADD COLUMN state_by text,
    ADD COLUMN state_at timestamptz;

-- ---------------------------------------------------------------------------------------------
-- Contract size: an order's value is quantity x price x multiplier (1 for shares and coins).
ALTER TABLE instruments ADD COLUMN multiplier numeric NOT NULL DEFAULT 1 CHECK (multiplier > 0);

-- ---------------------------------------------------------------------------------------------
-- Moves (in the writer's transaction) with every statement that changes trading_limits or
-- platform_trading_controls: a reader polling it sees any change once the change is committed,
-- whatever the change was (an update, a delete, a row added), at the cost of one row read.
CREATE TABLE trading_controls_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL DEFAULT 0
);
INSERT INTO trading_controls_version DEFAULT VALUES;

CREATE FUNCTION tm_bump_trading_controls_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trading_controls_version SET version = version + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER trading_limits_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trading_limits
    FOR EACH STATEMENT EXECUTE FUNCTION tm_bump_trading_controls_version();
CREATE TRIGGER platform_trading_controls_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON platform_trading_controls
    FOR EACH STATEMENT EXECUTE FUNCTION tm_bump_trading_controls_version();

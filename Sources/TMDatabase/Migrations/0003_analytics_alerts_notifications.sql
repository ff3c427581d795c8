-- 0003: per-user analytics, price alerts and the notification outbox.

-- ---------------------------------------------------------------------------------------------
-- Recomputed by analytics-batch with INSERT ... ON CONFLICT (user_id, period, period_start) DO UPDATE,
-- so a rerun of the nightly job replaces rather than duplicates.
CREATE TABLE analytics (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period          text NOT NULL CHECK (period IN ('day', 'week', 'month', 'year', 'all')),
    -- UTC start of the period; for 'all' by convention 1970-01-01.
    period_start    date NOT NULL,
    pnl             numeric NOT NULL,            -- realized P&L net of fees
    gross_profit    numeric NOT NULL DEFAULT 0 CHECK (gross_profit >= 0),
    gross_loss      numeric NOT NULL DEFAULT 0 CHECK (gross_loss <= 0),
    fees            numeric NOT NULL DEFAULT 0 CHECK (fees >= 0),
    -- NULL = undefined (no closed round trips, fewer than 2 returns, zero deviation, no losses),
    -- never a made-up number.
    win_rate        numeric CHECK (win_rate BETWEEN 0 AND 1),
    sharpe          numeric,
    max_drawdown    numeric CHECK (max_drawdown BETWEEN -1 AND 0),   -- fraction, e.g. -0.10
    profit_factor   numeric CHECK (profit_factor >= 0),
    trade_count     integer NOT NULL DEFAULT 0 CHECK (trade_count >= 0),
    winning_trades  integer NOT NULL DEFAULT 0 CHECK (winning_trades >= 0),
    losing_trades   integer NOT NULL DEFAULT 0 CHECK (losing_trades >= 0),
    computed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT analytics_user_period_key UNIQUE (user_id, period, period_start),
    CONSTRAINT analytics_counts CHECK (winning_trades + losing_trades <= trade_count),
    CONSTRAINT analytics_all_period_start CHECK (period <> 'all' OR period_start = DATE '1970-01-01')
);

-- ---------------------------------------------------------------------------------------------
-- Alerts fire once: the evaluator moves a row with
--   UPDATE price_alerts SET state = 'triggered', triggered_at = now(), triggered_price = $p
--   WHERE id = $1 AND state = 'active' RETURNING ...
-- and only the transaction that wins that update inserts the notification (same transaction,
-- dedup_key 'price_alert:<id>'), so concurrent or redelivered ticks cannot fire it twice.
CREATE TABLE price_alerts (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol           text NOT NULL,
    exchange         text NOT NULL,
    condition        text NOT NULL CHECK (condition IN ('above', 'below', 'cross_up', 'cross_down')),
    threshold        numeric NOT NULL CHECK (threshold > 0),
    -- Last price the evaluator saw, needed to detect a cross (previous side vs current side).
    last_seen_price  numeric CHECK (last_seen_price > 0),
    state            text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'triggered', 'cancelled')),
    triggered_at     timestamptz,
    triggered_price  numeric CHECK (triggered_price > 0),
    note             text,
    expires_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT price_alerts_triggered_fields CHECK (
        (state = 'triggered') = (triggered_at IS NOT NULL AND triggered_price IS NOT NULL))
);
-- alert-evaluator: active alerts for the symbol of an incoming tick.
CREATE INDEX price_alerts_active_idx ON price_alerts (exchange, symbol) WHERE state = 'active';
CREATE INDEX price_alerts_user_idx ON price_alerts (user_id, created_at DESC);
CREATE TRIGGER price_alerts_touch BEFORE UPDATE ON price_alerts
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Outbox of notifications. dedup_key is the exactly-once guard: producers insert with
-- ON CONFLICT (dedup_key) DO NOTHING (e.g. 'price_alert:<id>', 'limit_breach:<user>:<limit>:<day>').
CREATE TABLE notifications (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind             text NOT NULL,              -- 'price_alert', 'limit_breach', 'order_update', 'sync_error', ...
    channel          text NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'email', 'webhook', 'push')),
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedup_key        text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    CONSTRAINT notifications_dedup_key_key UNIQUE (dedup_key),
    CONSTRAINT notifications_sent_at CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
-- Sender: pending notifications that are due.
CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);

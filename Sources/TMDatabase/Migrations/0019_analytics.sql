-- 0019_analytics: what the analytics need (issue 13) — each user's capital, a trade's own category,
-- manual accounts (fills a user imports himself), and the analytics rows in their final shape.
--
-- Amounts in different currencies are never added up: a user trading INR at Kite and USD at Alpaca
-- has one set of rows per currency. Returns, Sharpe and drawdown need a capital in the same
-- currency: `users.capital` is in `users.capital_currency`; other currencies' ratios are NULL.

ALTER TABLE users
    ADD COLUMN capital numeric CHECK (capital > 0),
    ADD COLUMN capital_currency text CHECK (length(capital_currency) BETWEEN 3 AND 10),
    ADD CONSTRAINT users_capital_has_currency CHECK ((capital IS NULL) = (capital_currency IS NULL));
COMMENT ON COLUMN users.capital IS
    'The trading capital daily returns are measured against (analytics). NULL: no return-based ratios.';

-- A user's own record of fills at a broker the platform does not connect to (tm trades import).
-- Sync, market data and the order path skip manual accounts: there is nothing to call.
ALTER TABLE broker_accounts DROP CONSTRAINT broker_accounts_broker_check;
ALTER TABLE broker_accounts ADD CONSTRAINT broker_accounts_broker_check
    CHECK (broker IN ('kite', 'upstox', 'alpaca', 'binance', 'manual'));

ALTER TABLE trades ADD COLUMN category text CHECK (category IN ('intraday', 'swing', 'long_term'));
COMMENT ON COLUMN trades.category IS
    'The trade''s own category when the user gave one (import); NULL: analytics derive it from the holding time.';

-- The analytics of 0003 were never written; their final shape replaces them.
DROP TABLE analytics;
CREATE TABLE analytics (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    currency               text NOT NULL CHECK (length(currency) BETWEEN 3 AND 10),
    period                 text NOT NULL CHECK (period IN ('day', 'week', 'month', 'year', 'all')),
    -- First day of the period in the exchange zone (ISO week: its Monday); 'all': 1970-01-01.
    period_start           date NOT NULL,
    -- The run that wrote the row (analytics_runs, 0020), NULL for a refresh after a trade.
    run_id                 uuid,
    realized_pnl           numeric NOT NULL,     -- net of the matched slices' prorated fees
    unrealized_pnl         numeric,              -- open lots at the latest price; 'all' only
    total_pnl              numeric,              -- realized + unrealized; 'all' only
    fees                   numeric NOT NULL CHECK (fees >= 0),
    net_pnl                numeric NOT NULL,
    gross_profit           numeric NOT NULL CHECK (gross_profit >= 0),
    gross_loss             numeric NOT NULL CHECK (gross_loss <= 0),
    closing_fills          integer NOT NULL CHECK (closing_fills >= 0),
    wins                   integer NOT NULL CHECK (wins >= 0),
    losses                 integer NOT NULL CHECK (losses >= 0),
    break_evens            integer NOT NULL CHECK (break_evens >= 0),
    -- NULL = undefined (no decisive closes, no losses, fewer than 2 returns, zero deviation or
    -- drawdown, no capital), never a made-up number.
    win_rate               numeric CHECK (win_rate BETWEEN 0 AND 1),
    profit_factor          numeric CHECK (profit_factor >= 0),
    expectancy             numeric,
    sharpe                 double precision,
    max_drawdown           numeric CHECK (max_drawdown BETWEEN -1 AND 0),
    max_drawdown_amount    numeric CHECK (max_drawdown_amount <= 0),
    calmar                 double precision,
    recovery_factor        double precision,
    fills_count            integer NOT NULL CHECK (fills_count >= 0),
    trading_days           integer NOT NULL CHECK (trading_days >= 0),
    -- Everything else of the report (averages, runs, categories, symbols, hour/weekday/month
    -- breakdowns) as the report's own JSON: what `tm analytics show --json` prints.
    report                 jsonb NOT NULL,
    computed_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT analytics_user_period_key UNIQUE (user_id, currency, period, period_start),
    CONSTRAINT analytics_counts CHECK (wins + losses + break_evens = closing_fills),
    CONSTRAINT analytics_all_period_start CHECK (period <> 'all' OR period_start = DATE '1970-01-01')
);

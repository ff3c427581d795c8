-- 0018_portfolio_snapshots: the end-of-day value of each broker account, written by the daily
-- `portfolio-snapshot` schedule (portfolio-valuer) and `tm portfolio snapshot` (TMPortfolio).
--
-- One row per account, day and currency: amounts in different currencies are never added up (a
-- Binance account may hold USDT and USDC; most accounts have one currency, hence one row a day).
-- A rerun of the same day updates the row (ON CONFLICT on the unique key), never adds one; a
-- rerun never replaces a row computed later than itself (computed_at decides).

CREATE TABLE portfolio_snapshots (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Derived, re-computable history: goes with its account (accounts with trades cannot be deleted).
    account_id         uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    -- The UTC day the values are of (its fills count towards daily_pnl).
    snapshot_date      date NOT NULL,
    currency           text NOT NULL CHECK (length(currency) BETWEEN 3 AND 10),
    cash               numeric NOT NULL,
    -- Sum of quantity x price x multiplier over open positions (a short counts negative).
    positions_value    numeric NOT NULL,
    realized_pnl       numeric NOT NULL,
    unrealized_pnl     numeric NOT NULL,
    daily_pnl          numeric NOT NULL,
    -- false when a position held overnight had no previous close: its overnight move is left out.
    daily_pnl_complete boolean NOT NULL,
    -- Open positions valued at a fallback (last fill or average price), not a live price.
    fallback_priced    integer NOT NULL DEFAULT 0 CHECK (fallback_priced >= 0),
    computed_at        timestamptz NOT NULL,
    CONSTRAINT portfolio_snapshots_account_day_key UNIQUE (account_id, snapshot_date, currency)
);
CREATE INDEX portfolio_snapshots_date_idx ON portfolio_snapshots (snapshot_date);
COMMENT ON TABLE portfolio_snapshots IS
    'End-of-day value per broker account, day (UTC) and currency; a rerun of a day updates its row (newer computed_at wins).';
COMMENT ON COLUMN portfolio_snapshots.daily_pnl IS
    'Realized and unrealized change over the day: the day''s sells minus buys minus fees, plus the open quantity at the '
    'current price, minus the quantity held at the previous close at that close (TMPortfolio PortfolioArithmetic).';

-- Who holds an instrument: a price move revalues only the holders of the moved instruments
-- (TMPortfolio PortfolioRows.holders), without scanning every position.
CREATE INDEX positions_instrument_idx ON positions (exchange, symbol) WHERE quantity <> 0;

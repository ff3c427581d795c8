-- 0010_broker_fidelity: what the brokers report and traders rely on, kept instead of dropped —
-- the product a fill was made for, maker/taker, the quote amount, what was left of the order, an
-- order's remaining quantity, and a position's contract multiplier, last price and unrealized P&L,
-- with its exposure computed in the database (one definition for every reader).
-- Every new trades/orders column is nullable: NULL means the broker did not say (or the row was
-- synced before this migration); a later sync fills it in without announcing a correction.

-- ---------------------------------------------------------------------------------------------
ALTER TABLE trades
    ADD COLUMN product text CHECK (product IN ('delivery', 'intraday', 'carry_forward', 'margin')),
    ADD COLUMN is_maker boolean,
    -- >= 0, not > 0: the broker rounds price x quantity to its own precision, and a dust fill can round to 0.
    ADD COLUMN quote_quantity numeric CHECK (quote_quantity >= 0),
    ADD COLUMN order_remaining_quantity numeric CHECK (order_remaining_quantity >= 0);
COMMENT ON COLUMN trades.product IS
    'How the fill is held: delivery (Kite CNC, Upstox D), intraday (Kite MIS/CO/BO, Upstox I), carry_forward (Kite NRML), '
    'margin (MTF). NULL where the broker has no product (Alpaca, Binance) or the trade predates migration 0010.';
COMMENT ON COLUMN trades.is_maker IS
    'Whether the fill added liquidity (Binance isMaker): true maker, false taker, NULL when the broker does not say. '
    'A boolean, as the broker reports it: no broker the platform trades through reports a third kind.';
COMMENT ON COLUMN trades.quote_quantity IS
    'price x quantity in the quote currency as the broker computed it (Binance quoteQty); NULL when not reported.';
COMMENT ON COLUMN trades.order_remaining_quantity IS
    'What was left of the order after this fill (Alpaca leaves_qty); NULL when not reported.';
-- The unlinked trades of an account, looked up by the broker's order id when the order becomes known.
CREATE INDEX trades_unlinked_idx ON trades (account_id, broker_order_id) WHERE order_id IS NULL;

-- ---------------------------------------------------------------------------------------------
ALTER TABLE orders
    ADD COLUMN remaining_quantity numeric CHECK (remaining_quantity >= 0),
    ADD COLUMN product text CHECK (product IN ('delivery', 'intraday', 'carry_forward', 'margin'));
COMMENT ON COLUMN orders.remaining_quantity IS
    'What is still working at the broker as it last reported (Kite/Upstox pending_quantity, Alpaca/Binance quantity - '
    'filled while open); 0 once finished; NULL until the broker reports the order.';
COMMENT ON COLUMN orders.product IS
    'delivery, intraday, carry_forward or margin (see trades.product); NULL where the broker has no product.';

-- ---------------------------------------------------------------------------------------------
ALTER TABLE positions
    ADD COLUMN multiplier numeric NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    -- No sign check: a futures price can go below zero (MCX crude settled negative in April 2020).
    ADD COLUMN last_price numeric,
    ADD COLUMN unrealized_pnl numeric;
ALTER TABLE positions
    ADD COLUMN exposure numeric GENERATED ALWAYS AS (abs(quantity) * coalesce(last_price, average_price) * multiplier) STORED;
COMMENT ON COLUMN positions.multiplier IS
    'Contract size: value = quantity x price x multiplier (1 for shares and coins; e.g. 1000 for some Indian currency '
    'and commodity contracts, Kite/Upstox multiplier).';
COMMENT ON COLUMN positions.last_price IS 'The last traded price the broker reported with the position; NULL when it reports none.';
COMMENT ON COLUMN positions.unrealized_pnl IS 'Unrealized P&L as the broker computed it (Kite unrealised, Upstox unrealised, Alpaca unrealized_pl).';
COMMENT ON COLUMN positions.exposure IS
    'abs(quantity) x coalesce(last_price, average_price) x multiplier, in the instrument''s currency: the same definition '
    'as BrokerPosition.exposure. 0 for a position with no price at all (e.g. a Binance balance).';

-- ---------------------------------------------------------------------------------------------
-- sync_logs: the rest of a run's counts.
ALTER TABLE sync_logs
    ADD COLUMN orders_updated_count integer NOT NULL DEFAULT 0 CHECK (orders_updated_count >= 0),
    ADD COLUMN positions_count integer NOT NULL DEFAULT 0 CHECK (positions_count >= 0),
    ADD COLUMN linked_count integer NOT NULL DEFAULT 0 CHECK (linked_count >= 0);
COMMENT ON COLUMN sync_logs.linked_count IS
    'Trades linked to their platform order by this run (the order''s broker id learnt in this run or earlier); not corrections.';

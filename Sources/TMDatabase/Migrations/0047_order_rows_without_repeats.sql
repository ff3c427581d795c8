-- 0047: a new order's rows without the values that only repeat the order row (issue 11).
--
-- Two repeats of a routed order's INSERT, dropped by the writer (OrderStore) from this release on:
--   * The ROUTED event's `detail` was the row's `route`, byte for byte (the placer writes one value
--     to both; nothing updates `orders.route`; ROUTED is reached only from RECEIVED, in the row's
--     INSERT). It is now NULL, and the row's `route` is the event's detail: ~0.5 kB of WAL and one
--     jsonb input of ~470 bytes per order fewer. The `trade-events` message still carries it.
--     `order_event_details` (below) is `order_events` with that detail filled in: what `tm orders
--     show` reads, and what an auditor reading the table directly should read.
--   * `requested_account_id` equal to `account_id` (an order placed on the account it was asked
--     for) is now NULL: its foreign key's check (one query per row) is skipped for NULL. Every
--     reader already takes `coalesce(requested_account_id, account_id)` (RiskRows, the placer's
--     ledger account, the unknown sweep, a change's account check). An unknown or deleted account is
--     still refused: `account_id`'s own foreign key checks the same account.
--
-- Safe while workers run: a new view and comments only, no rewrite, no lock a writer waits on. Old
-- and new writers may overlap during a roll-out — the view and the readers take either form.

CREATE VIEW order_event_details AS
SELECT e.id, e.order_id, e.from_state, e.to_state, e.at,
       coalesce(e.detail, o.route) AS detail
FROM order_events e
LEFT JOIN orders o ON e.detail IS NULL AND e.to_state = 'ROUTED' AND o.id = e.order_id;

COMMENT ON VIEW order_event_details IS
    'order_events with each ROUTED event''s detail: stored NULL since 0047, it is the order row''s route.';
COMMENT ON COLUMN order_events.detail IS
    'Why the state changed. NULL for ROUTED since 0047: the order''s route is its detail (read order_event_details).';
COMMENT ON COLUMN orders.requested_account_id IS
    'The account the order was asked for, when not account_id; NULL when it is the same (since 0047) or predates routing.';

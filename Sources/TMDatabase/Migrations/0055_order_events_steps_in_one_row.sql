-- 0055: a new order's steps in ONE `order_events` row (issue 11).
--
-- A new order's INSERT wrote three events (RECEIVED, ROUTED, SUBMITTING: same transaction, same
-- `at`), a heap tuple, a primary-key entry and a `nextval` each: 6 of the ~31 WAL records of an
-- order (Benchmarks/OrderBench/PROFILE.md, session 28). From this release the writer (OrderStore)
-- puts up to three consecutive steps of one statement in one row: the first in the row's own
-- columns, the others — each from the step before it — in `later_to_states` and `later_details`, in
-- order. A move (one step) writes one row as before, the new columns NULL.
--
-- Every step keeps its own id: the row's `id` is the first step's, the later ones are `id + 1` and
-- `id + 2`. `order_events_id_seq` now steps by 3, so it never hands out those two: ids stay distinct
-- and, per order, in the order of its steps (a later statement's `nextval` is above every id of an
-- earlier one). Those ids are what the `trade-events` message keys (`order:<order_id>:<id>`) and the
-- outbox's `event_key` (`order-events:<min id>-<max id>`) are made of, unchanged.
--
-- Readers read `order_event_details`: one line per state change — its id, from_state (the step
-- before it in the row), to_state, the row's `at` and its detail (ROUTED's from the order row, 0047)
-- — as before. Rows written before this release (one step each) read as they did.
--
-- Safe while workers run: nullable columns without a default and a view (no rewrite), the check NOT
-- VALID (0056 validates it without blocking writers), each lock waited for at most 5 s. Old writers
-- (one row a step, `nextval` each) and new ones may overlap during a roll-out: the sequence's values
-- keep their step of 3 whoever calls it, and `id + 1`, `id + 2` are never one of them.
--
-- No key covers `id + 1`, `id + 2`: only the sequence keeps them free. Setting the sequence by hand
-- (after an import, a restore into a fresh table, a failover to a logical replica) must start past
-- every step: `SELECT setval('order_events_id_seq', max(id + coalesce(cardinality(later_to_states), 0)))
-- FROM order_events` — never `max(id) + 1`, which hands out the newest row's second step. pg_dump and
-- pg_restore keep the increment and the last value (OrderEventsOneRowTests checks the increment).
SET LOCAL lock_timeout = '5s';

ALTER TABLE order_events ADD COLUMN later_to_states text[], ADD COLUMN later_details jsonb[];

-- The row's form — `detail` an object (0011's `order_events_detail_check`) and the later steps
-- whole — in ONE check calling a PL/pgSQL function of the whole row, as 0048 and 0050 do: a CHECK's
-- node text is read back at every statement's first row (~24 instructions a byte), and these rules
-- as plain CHECKs are 5,133 bytes (~125k instructions a statement, Benchmarks/OrderBench/PROFILE.md,
-- session 31), the function's call 270. A PL/pgSQL function keeps its parsed body for the session;
-- it sets up only the tests a row reaches, once per transaction. It refuses a row as a CHECK would:
-- SQLSTATE 23514 naming the broken rule as the constraint (`order_events_detail_check` as before,
-- `order_events_later_steps`), NULL passes. The later steps' rule: both columns or neither (NULL
-- must not pass here, hence the coalesces); one or two later steps (three a row at most: the
-- sequence's step); one-dimensional arrays from 1 (the view's subscripts count on it); every later
-- state set; every later detail an object or NULL, as `detail`.
CREATE FUNCTION tm_order_events_row_form(r order_events)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    failed text;
BEGIN
    IF NOT (r.detail IS NULL OR jsonb_typeof(r.detail) = 'object') THEN
        failed := 'order_events_detail_check';
    ELSIF r.later_to_states IS NULL AND r.later_details IS NULL THEN
        RETURN true;
    ELSIF NOT (coalesce(cardinality(r.later_to_states), 0) BETWEEN 1 AND 2
               AND coalesce(cardinality(r.later_details), 0) = cardinality(r.later_to_states)
               AND array_ndims(r.later_to_states) = 1 AND array_lower(r.later_to_states, 1) = 1
               AND array_ndims(r.later_details) = 1 AND array_lower(r.later_details, 1) = 1
               AND array_position(r.later_to_states, NULL) IS NULL
               AND coalesce(jsonb_typeof(r.later_details[1]), 'object') = 'object'
               AND coalesce(jsonb_typeof(r.later_details[2]), 'object') = 'object') THEN
        failed := 'order_events_later_steps';
    END IF;
    IF failed IS NULL THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = failed, TABLE = 'order_events',
        -- the schema of the row's own type: right whatever the session's search_path (0053)
        SCHEMA = (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE t.oid = pg_catalog.pg_typeof(r)),
        MESSAGE = format('new row for relation "order_events" violates check constraint "%s"', failed);
END $$;

ALTER TABLE order_events
    DROP CONSTRAINT order_events_detail_check,
    ADD CONSTRAINT order_events_form CHECK (tm_order_events_row_form(order_events)) NOT VALID;

ALTER TABLE order_events ALTER COLUMN id SET INCREMENT BY 3;

CREATE OR REPLACE VIEW order_event_details AS
SELECT e.id, e.order_id, e.from_state, e.to_state, e.at,
       coalesce(e.detail, o.route) AS detail
FROM order_events e
LEFT JOIN orders o ON e.detail IS NULL AND e.to_state = 'ROUTED' AND o.id = e.order_id
UNION ALL
SELECT e.id + s.n, e.order_id, coalesce(e.later_to_states[s.n - 1], e.to_state), s.to_state, e.at,
       coalesce(s.detail, o.route)
FROM order_events e
CROSS JOIN LATERAL unnest(e.later_to_states, e.later_details) WITH ORDINALITY AS s (to_state, detail, n)
LEFT JOIN orders o ON s.detail IS NULL AND s.to_state = 'ROUTED' AND o.id = e.order_id;

COMMENT ON VIEW order_event_details IS
    'One line per state change of an order: order_events with each row''s later steps (0055) and each ROUTED step''s detail (the order row''s route, 0047).';
COMMENT ON COLUMN order_events.later_to_states IS
    'The states this row''s later steps moved to, in order (since 0055); step k''s id is id + k and its from_state the step before it. NULL: one step.';
COMMENT ON COLUMN order_events.later_details IS
    'The later steps'' details, as later_to_states (NULL for a ROUTED step: the order''s route is its detail).';

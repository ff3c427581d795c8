-- 0050: the outbox row's form is one check on the whole row (issue 11). Postgres rebuilds every CHECK
-- of a table from its stored node text at the first row of every statement; the outbox's three (0028's
-- `messages > 0` and batch shape, 0035's one form) are ~2.1 kB of it, and reading them back cost a
-- lone order's two outbox rows ~146k instructions (callgrind; one merged plain CHECK is as long and
-- costs the same). A check on the whole row is ~270 bytes of node text and a PL/pgSQL call per row:
-- ~56k the two rows, −90k a lone order (Benchmarks/OrderBench/PROFILE.md, session 29 (pgtx)).
--
-- The rules are the three checks', in the order of their names (the first broken one is named), and a
-- row breaking one is refused as before: SQLSTATE 23514, the message `new row for relation
-- "trade_event_outbox" violates check constraint "<name>"`, the constraint, table and schema fields
-- naming the rule. A rule that is NULL (unknown) passes, as a CHECK's does.
--
-- The price is per row: a statement of many rows (sync's jsonb rows, TradeEventOutbox) pays the call
-- for each; the order path writes one outbox row a statement whatever its batch.
--
-- Applied to a live database: one ALTER TABLE whose lock on the outbox is brief (the three dropped, the
-- one added NOT VALID: no scan), waited for at most 5 s; 0051 validates the rows without blocking
-- writes. A migration that renames, drops or retypes a column the rules read must replace the
-- function in the same transaction (the check depends on the table, not on those columns).
SET LOCAL lock_timeout = '5s';

CREATE FUNCTION tm_outbox_row_form(r trade_event_outbox)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    -- NOT of a NULL is NULL: no match, as a CHECK passes NULL.
    failed text := CASE
        WHEN NOT ((jsonb_typeof(r.payload) = 'array') = (r.account_id IS NULL)) THEN 'trade_event_outbox_batch_shape'
        WHEN NOT (r.messages > 0) THEN 'trade_event_outbox_messages_check'
        WHEN NOT (CASE WHEN r.batch IS NULL THEN r.payload IS NOT NULL ELSE r.payload IS NULL AND r.account_id IS NULL END)
            THEN 'trade_event_outbox_one_form'
    END;
BEGIN
    IF failed IS NULL THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = failed, TABLE = 'trade_event_outbox',
        -- the schema of the row's own type: right whatever the session's search_path (pg_restore's is '')
        SCHEMA = (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE t.oid = pg_catalog.pg_typeof(r)),
        MESSAGE = format('new row for relation "trade_event_outbox" violates check constraint "%s"', failed);
END $$;

ALTER TABLE trade_event_outbox
    DROP CONSTRAINT trade_event_outbox_batch_shape,
    DROP CONSTRAINT trade_event_outbox_messages_check,
    DROP CONSTRAINT trade_event_outbox_one_form,
    ADD CONSTRAINT trade_event_outbox_form CHECK (tm_outbox_row_form(trade_event_outbox)) NOT VALID;

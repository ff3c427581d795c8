-- 0042: the trade-events relay sets a malformed outbox row aside instead of stopping on it. Before,
-- one row the relay could not read (a text batch line without its key, a jsonb batch pair without
-- one) stopped every relay pass until the row aged out by the retention: one bad row silently held
-- up every trader's trade events.
--
-- Now the relay moves such a row here (`state` 'malformed', with the reason naming the row and the
-- line) and relays every other row. The outbox promises per-account order, so the later rows that
-- carry a message of an account a quarantined row names are moved here too (`state` 'waiting',
-- `behind` the quarantined row): they wait until an operator replays the fixed row or drops it
-- (`tm queues outbox replay|drop`), and then go back to the outbox under their own ids, in their
-- old place in the relay's order. A row is sent whole or not at all (one group per row), so a
-- waiting row's other accounts wait with it. Rows here are not subject to the outbox's retention:
-- they wait for the operator, who sees them in `tm doctor` and `tm queues`.
--
-- Applied to a live database: a new table and functions only; nothing on the order path changes.
CREATE TABLE trade_event_outbox_quarantine (
    id              bigint PRIMARY KEY,         -- the outbox row's id: its place in the relay's order
    account_id      uuid,
    event_key       text NOT NULL,
    payload         jsonb,
    batch           text,
    messages        integer NOT NULL,
    created_at      timestamptz NOT NULL,
    state           text NOT NULL CHECK (state IN ('malformed', 'waiting')),
    -- the accounts its messages name, as far as they can be read (a line without a readable
    -- account names none, and holds no account's order)
    accounts        uuid[] NOT NULL,
    reason          text NOT NULL,
    behind          bigint,                     -- a waiting row: the quarantined row it waits behind
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trade_event_outbox_quarantine_behind CHECK ((state = 'waiting') = (behind IS NOT NULL))
);

-- The account a message's payload names (its top-level account_id), or NULL when the text is not
-- JSON or names none: the relay reads it only for rows it may have to hold, never on the way out.
CREATE FUNCTION tm_outbox_message_account(p_payload text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (p_payload::jsonb ->> 'account_id')::uuid;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- The account of each message of an outbox row in any form, in order (NULL where unreadable). A
-- text batch's line is split at its first tab; a line without one is read whole.
CREATE FUNCTION tm_outbox_message_accounts(p_account uuid, p_payload jsonb, p_batch text)
RETURNS TABLE (n bigint, account_id uuid)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 1::bigint, p_account WHERE p_account IS NOT NULL
    UNION ALL
    SELECT x.n, tm_outbox_message_account(x.pair ->> 1)
    FROM jsonb_array_elements(CASE WHEN p_account IS NULL AND jsonb_typeof(p_payload) = 'array' THEN p_payload END)
         WITH ORDINALITY AS x (pair, n)
    UNION ALL
    SELECT x.n, tm_outbox_message_account(substr(x.line, strpos(x.line, E'\t') + 1))
    FROM string_to_table(p_batch, E'\n') WITH ORDINALITY AS x (line, n)
$$;

-- The distinct accounts an outbox row's messages name.
CREATE FUNCTION tm_outbox_accounts(p_account uuid, p_payload jsonb, p_batch text) RETURNS uuid[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(DISTINCT m.account_id) FILTER (WHERE m.account_id IS NOT NULL), '{}')
    FROM tm_outbox_message_accounts(p_account, p_payload, p_batch) AS m
$$;

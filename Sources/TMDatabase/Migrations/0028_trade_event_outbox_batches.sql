-- 0028: the order path writes ONE `trade_event_outbox` row per committed transaction (a group
-- commit's batch of orders, or one writer alone) instead of one row per state change: a row holds
-- its messages in commit order as a JSON array of [event_key, payload] pairs, and `messages` says
-- how many. Per order that removes four outbox rows (each with four index entries) and their
-- deletes by the relay. Rows of one message (sync's, imports', and every row written before this
-- migration) are unchanged: payload the message itself, event_key its key. A batch row may carry
-- several accounts' messages: its account_id is NULL (each message names its account).
ALTER TABLE trade_event_outbox
    ADD COLUMN messages integer NOT NULL DEFAULT 1 CHECK (messages > 0),
    ALTER COLUMN account_id DROP NOT NULL,
    ADD CONSTRAINT trade_event_outbox_batch_shape CHECK (
        (jsonb_typeof(payload) = 'array') = (account_id IS NULL));

-- The messages of one outbox row, in order: (n, event_key, payload). A row of one message is its
-- own pair; a batch row's pairs are unpacked.
CREATE FUNCTION tm_outbox_messages(p_event_key text, p_payload jsonb)
RETURNS TABLE (n bigint, event_key text, payload jsonb)
LANGUAGE sql IMMUTABLE AS $$
    SELECT x.n, x.pair ->> 0, x.pair -> 1
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_payload) = 'array' THEN p_payload
                                   ELSE jsonb_build_array(jsonb_build_array(p_event_key, p_payload)) END)
         WITH ORDINALITY AS x (pair, n)
$$;

-- Every waiting message, as the relay publishes them (by outbox_id, then n) and as one reads them.
CREATE VIEW trade_event_messages AS
SELECT o.id AS outbox_id, m.n, coalesce(o.account_id, (m.payload ->> 'account_id')::uuid) AS account_id,
       m.event_key, m.payload, o.created_at
FROM trade_event_outbox o CROSS JOIN LATERAL tm_outbox_messages(o.event_key, o.payload) AS m;

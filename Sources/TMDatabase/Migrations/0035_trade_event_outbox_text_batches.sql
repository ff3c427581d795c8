-- 0035: the order path's outbox batch row (0028) holds its messages as TEXT, not jsonb (issue 11).
-- Parsing a transaction's ~100 messages into jsonb cost the writer ~0.5 ms per 28-order batch, and
-- the relay unpacked them again (jsonb_array_elements, then each payload back to text) only to send
-- the same text to Redis (Benchmarks/OrderBench/PROFILE.md, sessions 18 and 19). The messages are JSON
-- by construction (OrderStore builds each from JSONValue's compact text, which escapes every control
-- character), so the batch is stored as it is sent: one line per message, in order, each
-- "<event_key>\t<payload>", lines joined by "\n" (neither byte can occur raw in a key or in compact JSON).
--
-- Rows written before (jsonb batches, single events) stay as they are and are still relayed and read
-- the same way: a row holds its messages in exactly one of `payload` (jsonb: one message, or a 0028
-- batch) and `batch` (text), and a text batch carries no single account.
--
-- Applied to a live database: no scan, no rewrite (a nullable column without a default, a NOT NULL
-- dropped, a CHECK added NOT VALID — every existing row has `batch` NULL and a payload, so it holds;
-- rows written from now on are checked), each lock waited for at most 5 s.
SET LOCAL lock_timeout = '5s';

ALTER TABLE trade_event_outbox
    ADD COLUMN batch text,
    ALTER COLUMN payload DROP NOT NULL,
    ADD CONSTRAINT trade_event_outbox_one_form CHECK (
        CASE WHEN batch IS NULL THEN payload IS NOT NULL ELSE payload IS NULL AND account_id IS NULL END) NOT VALID;
-- Out of line without compression, as 0033 made the jsonb batches (random ids barely compress).
ALTER TABLE trade_event_outbox ALTER COLUMN batch SET STORAGE EXTERNAL;

-- The messages of one outbox row in any form, in order: (n, event_key, payload).
CREATE FUNCTION tm_outbox_messages(p_event_key text, p_payload jsonb, p_batch text)
RETURNS TABLE (n bigint, event_key text, payload jsonb)
LANGUAGE sql IMMUTABLE AS $$
    SELECT m.n, m.event_key, m.payload FROM tm_outbox_messages(p_event_key, p_payload) AS m WHERE p_batch IS NULL
    UNION ALL
    SELECT x.n, split_part(x.line, E'\t', 1), substr(x.line, strpos(x.line, E'\t') + 1)::jsonb
    FROM string_to_table(p_batch, E'\n') WITH ORDINALITY AS x (line, n)
$$;

-- Every waiting message, as the relay publishes them (by outbox_id, then n) and as one reads them:
-- the same columns as before, text batches included.
CREATE OR REPLACE VIEW trade_event_messages AS
SELECT o.id AS outbox_id, m.n, coalesce(o.account_id, (m.payload ->> 'account_id')::uuid) AS account_id,
       m.event_key, m.payload, o.created_at
FROM trade_event_outbox o CROSS JOIN LATERAL tm_outbox_messages(o.event_key, o.payload, o.batch) AS m;

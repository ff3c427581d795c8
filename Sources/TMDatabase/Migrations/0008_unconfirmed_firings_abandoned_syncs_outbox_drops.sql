-- 0008: outcomes that used to be missing — a schedule firing whose enqueue can no longer be
-- confirmed, a sync run that died without an outcome, and trade events the outbox gave up on.

-- ---------------------------------------------------------------------------------------------
-- schedule_firings: when the first enqueue of a pending slot was sent. A later completion may send
-- again under the slot's idempotency key only while that key's record is certain to be alive (the
-- queue's retention of completed messages, counted from this instant); past that the row, not the
-- expired record, decides: the slot becomes 'unconfirmed' and is never sent a second time.
ALTER TABLE schedule_firings ADD COLUMN enqueue_sent_at timestamptz;
ALTER TABLE schedule_firings DROP CONSTRAINT schedule_firings_state_check;
ALTER TABLE schedule_firings ADD CONSTRAINT schedule_firings_state_check
    CHECK (state IN ('pending', 'enqueued', 'skipped_overlap', 'skipped_misfire', 'buffered', 'unconfirmed'));

-- ---------------------------------------------------------------------------------------------
-- sync_logs: a run killed mid-way (SIGKILL, timeout, lost lock) is closed as 'abandoned' with the
-- reason, by the next sync of its account or by sync-trigger's sweep, instead of staying open.
ALTER TABLE sync_logs DROP CONSTRAINT sync_logs_outcome_check;
ALTER TABLE sync_logs ADD CONSTRAINT sync_logs_outcome_check CHECK (outcome IN ('ok', 'partial', 'error', 'abandoned'));
CREATE INDEX sync_logs_open_idx ON sync_logs (account_id, started_at) WHERE outcome IS NULL;

-- ---------------------------------------------------------------------------------------------
-- Trade events the outbox dropped because trade-events did not take them within the outbox's
-- retention (the queue full, or refusing them): counted here, never dropped silently. The trades
-- themselves stay in `trades`, the source of truth the events only announce.
CREATE TABLE trade_event_outbox_drops (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    dropped       integer NOT NULL CHECK (dropped > 0),
    oldest_event  timestamptz NOT NULL,        -- created_at of the oldest dropped event
    newest_event  timestamptz NOT NULL,
    reason        text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trade_event_outbox_drops_at_idx ON trade_event_outbox_drops (at DESC);
CREATE INDEX trade_event_outbox_created_idx ON trade_event_outbox (created_at);

-- 0007: trade events written in the sync's own transaction and published after it commits, so a
-- crash between the commit and the publish delays the events (the next sync of the account sends
-- them) instead of losing them.
CREATE TABLE trade_event_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    event_key   text NOT NULL,                 -- the message's idempotency key on trade-events
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trade_event_outbox_event_key_key UNIQUE (event_key)
);
CREATE INDEX trade_event_outbox_account_idx ON trade_event_outbox (account_id, id);

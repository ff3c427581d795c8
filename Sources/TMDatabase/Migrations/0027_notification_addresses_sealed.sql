-- Webhook and Slack URLs are credentials (a Slack incoming webhook's path is its secret): they are
-- stored sealed by TMCrypto, like broker credentials and webhook signing secrets, bound to the
-- channel's id. `address` then keeps only what may be shown (scheme://host/***).
--
-- A migration cannot seal (the key is TM_SECRET_KEY, outside the database): rows stored in plain
-- text before this migration are sealed on first read, by the notifier (all of them when it opens,
-- and any one it meets before delivering to it).
ALTER TABLE notification_channels ADD COLUMN address_sealed text CHECK (address_sealed LIKE 'tmseal.%');
ALTER TABLE notification_channels ADD CONSTRAINT notification_channels_address_sealed_channel
    CHECK (address_sealed IS NULL OR channel IN ('webhook', 'slack'));

-- Two sealed URLs on one host redact alike: their uniqueness per user and channel is checked by the
-- code, which opens them under a lock on the user's row. Plain addresses stay unique here.
ALTER TABLE notification_channels DROP CONSTRAINT notification_channels_address_key;
CREATE UNIQUE INDEX notification_channels_address_key ON notification_channels (user_id, channel, address)
    WHERE address_sealed IS NULL;

-- 0015: the notifier — the addresses a user set up per channel, which channels each kind of
-- notification may use, and one delivery row per notification, channel and recipient (the
-- notifier's idempotency record: a delivery moves to `sent` once, by a conditional update).

-- The legacy single `channel` column predates per-channel deliveries: the notifier ignores it
-- (channels come from `notifications.channels`, the severity matrix or the preferences).
COMMENT ON COLUMN notifications.channel IS 'Deprecated (0015): see notification_deliveries for where a notification went.';
-- The outbox's sweep re-announces pending notifications whose message was lost.
CREATE INDEX notifications_pending_created_idx ON notifications (created_at) WHERE status = 'pending';

-- One address of a user on one channel. In-app needs none (the row is the delivery).
CREATE TABLE notification_channels (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id               uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel               text NOT NULL CHECK (channel IN ('email', 'webhook', 'slack', 'sms', 'push', 'call')),
    -- An e-mail address, a webhook URL, a Slack incoming-webhook URL, a phone number (E.164) or a
    -- push token. Slack and webhook URLs may carry a secret path: never logged or put in an error.
    address               text NOT NULL CHECK (length(address) BETWEEN 1 AND 2000),
    -- The key webhooks are signed with (HMAC-SHA256), sealed by TMCrypto like broker credentials.
    signing_secret_sealed text CHECK (signing_secret_sealed LIKE 'tmseal.%'),
    enabled               boolean NOT NULL DEFAULT true,
    -- Failed attempts in a row (reset by a success); at the notifier's limit the channel is marked
    -- failing: reported to the user and skipped until re-enabled (`tm notifications channels --enable`).
    consecutive_failures  integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    failing_since         timestamptz,
    disabled_reason       text CHECK (length(disabled_reason) <= 1000),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_channels_address_key UNIQUE (user_id, channel, address),
    CONSTRAINT notification_channels_webhook_secret CHECK (channel <> 'webhook' OR signing_secret_sealed IS NOT NULL)
);
CREATE INDEX notification_channels_user_idx ON notification_channels (user_id, channel);

-- Which channels a kind of notification may use for a user ('*': every kind without its own row).
-- No row at all: in-app only. Alerts with a severity follow the severity matrix instead.
CREATE TABLE notification_preferences (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind = '*' OR kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    channels   text[] NOT NULL CHECK (channels <@ ARRAY['in_app', 'email', 'webhook', 'slack', 'sms', 'push', 'call']),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

-- One notification on one channel to one recipient: 'user' for in-app, the notification_channels
-- id for the user's own addresses, 'role:<role>' for a contact of Config/escalation.yaml.
CREATE TABLE notification_deliveries (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    notification_id     uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel             text NOT NULL CHECK (channel IN ('in_app', 'email', 'webhook', 'slack', 'sms', 'push', 'call')),
    recipient           text NOT NULL CHECK (length(recipient) BETWEEN 1 AND 200),
    channel_id          uuid REFERENCES notification_channels (id) ON DELETE SET NULL,
    -- pending: not tried yet; sending: claimed by one notifier until claimed_until (a crash leaves
    -- it to be claimed again); failed: the last try failed, the queue's retry tries again; sent;
    -- dead: not retried (out of attempts, a permanent refusal, a failing channel, expired).
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'failed', 'sent', 'dead')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_until       timestamptz,
    next_attempt_at     timestamptz,
    -- Channel, status and the provider's error text; never an address's secret part, a token or a credential.
    last_error          text CHECK (length(last_error) <= 1000),
    provider_message_id text,
    -- Each `tm notifications resend` raises it; the idempotency key receivers see is the delivery
    -- id, suffixed `.r<resends>` after a resend, so a resend is a new delivery to them.
    resends             integer NOT NULL DEFAULT 0 CHECK (resends >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    CONSTRAINT notification_deliveries_once UNIQUE (notification_id, channel, recipient),
    CONSTRAINT notification_deliveries_sent_at CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id) WHERE status IN ('pending', 'sending', 'failed');

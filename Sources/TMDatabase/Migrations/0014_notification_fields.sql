-- 0014: what a notification says and to whom, so producers (order path, sync, alerts, limits,
-- escalation) write one shape and the notifier decides the channels. The notifier's own tables
-- (preferences, per-channel deliveries) come with it.

ALTER TABLE notifications
    ADD COLUMN title            text NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    ADD COLUMN body             text NOT NULL DEFAULT '' CHECK (length(body) <= 4000),
    ADD COLUMN priority         text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    -- Escalation class of an alert (INFO in-app; WARNING +email; ERROR all; CRITICAL all + SMS).
    -- NULL: not an alert; the user's preferences alone choose the channels.
    ADD COLUMN severity         text CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    ADD COLUMN action_url       text CHECK (action_url IS NULL OR action_url LIKE 'http%' OR action_url LIKE '/%'),
    ADD COLUMN read_at          timestamptz,
    ADD COLUMN read             boolean GENERATED ALWAYS AS (read_at IS NOT NULL) STORED,
    ADD COLUMN expires_at       timestamptz,
    -- Set by `tm alerts ack`: stops the escalation of this alert.
    ADD COLUMN acknowledged_at  timestamptz,
    -- Exactly these channels (an escalation step's "then Slack"); NULL: severity and preferences decide.
    ADD COLUMN channels         text[] CHECK (channels <@ ARRAY['in_app', 'email', 'webhook', 'slack', 'sms', 'push', 'call']),
    -- Deliver to a contact role of Config/escalation.yaml (admin, manager, executive, on_call)
    -- instead of the user's own addresses; the row still belongs to the user whose event it is.
    ADD COLUMN recipient_role   text CHECK (recipient_role ~ '^[a-z][a-z0-9_]{0,39}$'),
    -- An escalation step points at the alert it escalates, with its step number.
    ADD COLUMN escalation_of    uuid REFERENCES notifications (id) ON DELETE CASCADE,
    ADD COLUMN escalation_step  integer CHECK (escalation_step > 0),
    ADD CONSTRAINT notifications_escalation_fields CHECK ((escalation_of IS NULL) = (escalation_step IS NULL));

CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at DESC) WHERE read_at IS NULL;
-- Escalation: alerts with a severity that nobody acknowledged yet.
CREATE INDEX notifications_unacknowledged_idx ON notifications (created_at)
    WHERE severity IS NOT NULL AND acknowledged_at IS NULL AND escalation_of IS NULL;

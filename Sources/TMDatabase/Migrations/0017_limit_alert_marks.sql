-- 0017_limit_alert_marks: limit alerts fire once per level per account per day, and the
-- escalation sweep finds an alert's steps by index.

-- ---------------------------------------------------------------------------------------------
-- One row per (account, limit, level, day) that fired: inserted in the transaction that writes the
-- alert's notification (and, for a breach, sets the account to REDUCING), so of two sweeps racing
-- one inserts it and the other does nothing. `day` is the UTC day the risk engine counts the
-- day's fills in.
CREATE TABLE limit_alert_marks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id       uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    limit_kind       text NOT NULL CHECK (limit_kind IN ('daily_loss', 'daily_turnover')),
    level            text NOT NULL CHECK (level IN ('warning', 'breach')),
    day              date NOT NULL,
    used             numeric NOT NULL,
    limit_value      numeric NOT NULL CHECK (limit_value > 0),
    -- The user's notification (NULL: a warning passed over because the breach came first).
    notification_id  uuid REFERENCES notifications (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT limit_alert_marks_once UNIQUE (account_id, limit_kind, level, day)
);

-- ---------------------------------------------------------------------------------------------
-- An alert's escalation steps (the sweep counts them; the cascade from the alert uses it too).
CREATE INDEX notifications_escalation_of_idx ON notifications (escalation_of, escalation_step) WHERE escalation_of IS NOT NULL;

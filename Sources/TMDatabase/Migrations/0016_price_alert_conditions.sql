-- 0016: price alerts for the alert-evaluator (issue 12): ABOVE, BELOW and CHANGE_PERCENT beside the
-- crosses, repeats after a cooldown, a fire count, and an `expired` state.
--
-- Conditions (price = the tick's price; previous = the instrument's price before it):
--   above          price >= threshold
--   below          price <= threshold
--   change_percent |price / previous_close - 1| * 100 >= threshold
--   cross_up       previous < threshold <= price
--   cross_down     previous > threshold >= price
--
-- Exactly once (0003's rule, still true with repeats): an alert fires only through
--   UPDATE price_alerts SET state = 'triggered', triggered_at = $now, triggered_price = $p,
--          fire_count = fire_count + 1
--   WHERE id = ANY($ids) AND state = 'active' AND (expires_at IS NULL OR expires_at > $now) RETURNING ...
-- and only the transaction that wins that update inserts the notification (same transaction,
-- dedup_key 'price_alert:<id>:<fire_count>': one key per firing, so a repeat alert's second firing
-- is a new notification and a raced first firing is still one). A repeat alert goes back to
-- 'active' (re-armed) by a conditional update once triggered_at + cooldown has passed; an alert
-- whose expires_at has passed is never fired and is moved to 'expired' by the sweep.

ALTER TABLE price_alerts DROP CONSTRAINT price_alerts_condition_check;
ALTER TABLE price_alerts ADD CONSTRAINT price_alerts_condition_check
    CHECK (condition IN ('above', 'below', 'change_percent', 'cross_up', 'cross_down'));

ALTER TABLE price_alerts DROP CONSTRAINT price_alerts_state_check;
ALTER TABLE price_alerts ADD CONSTRAINT price_alerts_state_check
    CHECK (state IN ('active', 'triggered', 'cancelled', 'expired'));

-- A re-armed alert keeps its last firing's time and price (the cooldown runs from it), so the
-- triggered fields say "has fired", not "is triggered now".
ALTER TABLE price_alerts DROP CONSTRAINT price_alerts_triggered_fields;

ALTER TABLE price_alerts
    -- Fire again after `cooldown` (re-armed), instead of once.
    ADD COLUMN repeat      boolean NOT NULL DEFAULT false,
    ADD COLUMN cooldown    interval CHECK (cooldown > interval '0'),
    -- How many times it fired; the notification of firing n has dedup_key 'price_alert:<id>:<n>'.
    ADD COLUMN fire_count  integer NOT NULL DEFAULT 0 CHECK (fire_count >= 0),
    ADD COLUMN expired_at  timestamptz,
    ADD CONSTRAINT price_alerts_repeat_cooldown CHECK (repeat = (cooldown IS NOT NULL)),
    ADD CONSTRAINT price_alerts_fired_fields CHECK (
        (fire_count > 0) = (triggered_at IS NOT NULL AND triggered_price IS NOT NULL)
        AND (state <> 'triggered' OR fire_count > 0)),
    ADD CONSTRAINT price_alerts_expired_fields CHECK ((state = 'expired') = (expired_at IS NOT NULL));

-- The evaluator reloads the rows changed since its watermark when the alerts' version moves.
CREATE INDEX price_alerts_updated_idx ON price_alerts (updated_at);
-- The sweep: alerts past expires_at, and repeat alerts whose cooldown may have passed.
CREATE INDEX price_alerts_expiry_idx ON price_alerts (expires_at) WHERE state IN ('active', 'triggered') AND expires_at IS NOT NULL;
CREATE INDEX price_alerts_rearm_idx ON price_alerts (triggered_at) WHERE state = 'triggered' AND repeat;

COMMENT ON TABLE price_alerts IS
    'Fired only by UPDATE ... WHERE id = ANY($ids) AND state = ''active'' AND (expires_at IS NULL OR expires_at > $now); '
    'the winner inserts notification price_alert:<id>:<fire_count> in the same transaction (see 0003, 0016).';

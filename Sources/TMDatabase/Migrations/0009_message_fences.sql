-- 0009_message_fences: retention for message fences.
-- A function's fenced write (FencingGuard with a MessageFence) keeps one lock_fences row per message,
-- resource 'message:<queue>/<message id>' and token the delivery's epoch. Such a row only matters
-- while a delivery of that message can still be running — at most a function's timeout (15 minutes
-- at most, then it is killed) — so rows not advanced for days are deleted by the dispatcher's
-- housekeeping (tm dispatch, hourly, rows older than 7 days). Lock fences ('sync:…', …) are kept.
CREATE INDEX lock_fences_message_age ON lock_fences (updated_at) WHERE resource LIKE 'message:%';

-- Deletes up to p_limit message fences not advanced for p_older_than_seconds; returns how many.
-- SKIP LOCKED: a fence a running transaction holds is not waited for (it is being advanced anyway).
CREATE FUNCTION tm_purge_message_fences(p_older_than_seconds double precision, p_limit integer) RETURNS integer
LANGUAGE sql AS $$
    WITH old AS (
        SELECT resource FROM lock_fences
        WHERE resource LIKE 'message:%' AND updated_at < now() - make_interval(secs => p_older_than_seconds)
        ORDER BY updated_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM lock_fences f USING old WHERE f.resource = old.resource RETURNING 1
    )
    SELECT count(*)::integer FROM gone;
$$;

-- 0031_analytics_digest_follows_row: a row's `digest` (migration 0025) never outlives the content
-- it was computed from.
--
-- A recompute keeps a stored row whose digest equals a new row's, unread. A writer that changes a
-- row but not its digest — an upsert from a binary older than 0025, whose column list has no
-- `digest`, or a hand-made UPDATE — would leave the old digest on the new content, and the next
-- recompute would take that content for the right one and keep it. So an UPDATE that changes what
-- the digest covers (everything but `id`, `run_id`, `computed_at`) without writing a new digest
-- clears it: a row without a digest is never taken as unchanged, and is rewritten. A writer that
-- sets the digest (ReportWriter) is not affected, nor one that rewrites a row unchanged.
CREATE FUNCTION analytics_digest_follows_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(NEW) - ARRAY['id', 'run_id', 'computed_at', 'digest']::text[] IS DISTINCT FROM
       to_jsonb(OLD) - ARRAY['id', 'run_id', 'computed_at', 'digest']::text[] THEN
        NEW.digest := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER analytics_digest_follows_row BEFORE UPDATE ON analytics
    FOR EACH ROW WHEN (NEW.digest IS NOT NULL AND NEW.digest IS NOT DISTINCT FROM OLD.digest)
    EXECUTE FUNCTION analytics_digest_follows_row();

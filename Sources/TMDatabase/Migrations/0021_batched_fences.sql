-- Fences advanced many at a time: a group commit carries the fences of every writer in its batch
-- (each message's delivery epoch, the shard lease), and advancing them one function call each cost
-- a parse of tm_advance_fence's body per fence. tm_advance_fences does them all in one statement,
-- in resource order (two transactions taking the same fence rows never wait on each other in
-- opposite orders), with tm_advance_fence's rule per fence: raised when the token is at least the
-- stored one, the row locked until the transaction ends. It returns the fences that did NOT pass
-- (none: every fence holds). A resource must appear once per call (the caller refuses two tokens
-- of one resource); plpgsql keeps the statement's plan for the session.
CREATE FUNCTION tm_advance_fences(p_resources text[], p_tokens bigint[])
RETURNS TABLE (stale_resource text, stale_token bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH wanted AS (
        SELECT w.r, w.t FROM unnest(p_resources, p_tokens) AS w (r, t)
    ), raised AS (
        INSERT INTO lock_fences AS f (resource, token)
        SELECT wanted.r, wanted.t FROM wanted ORDER BY wanted.r
        ON CONFLICT ON CONSTRAINT lock_fences_pkey DO UPDATE
            SET token = EXCLUDED.token, updated_at = now()
            WHERE f.token <= EXCLUDED.token
        RETURNING f.resource
    )
    SELECT wanted.r, wanted.t FROM wanted
    WHERE NOT EXISTS (SELECT 1 FROM raised WHERE raised.resource = wanted.r)
    ORDER BY wanted.r;
END
$$;

-- 0032: a fence check that RAISES instead of returning rows, so the order path's transaction can go
-- in ONE round trip: [BEGIN · fences · writes · COMMIT] in one libpq pipeline. A pipeline stops at
-- its first error (the statements after it, the COMMIT included, are skipped and the transaction
-- is rolled back), while rows a check returns cannot stop a COMMIT already sent. Same rule as
-- tm_advance_fences (0029): each fence raised to its token when that token is at least the stored
-- one, the rows locked until the transaction ends, in resource order; a fence whose stored token
-- is newer raises SQLSTATE 'TMF01' (stale fencing token) with the first such resource in DETAIL as
-- '<token> <resource>' (the token the caller gave, then the resource; FencingGuard reads it back).
CREATE FUNCTION tm_advance_fences_or_raise(p_resources text[], p_tokens bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_stale record;
BEGIN
    SELECT s.stale_resource, s.stale_token INTO v_stale
    FROM tm_advance_fences(p_resources, p_tokens) AS s
    ORDER BY s.stale_resource LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'TMF01', MESSAGE = 'stale fencing token',
            DETAIL = v_stale.stale_token::text || ' ' || v_stale.stale_resource;
    END IF;
END
$$;

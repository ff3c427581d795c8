-- 0005: one row per function invocation (dispatcher, tm invoke), for `tm functions` and metrics.
-- Observability, not truth: the effects of an invocation live in their own tables.
CREATE TABLE function_invocations (
    id            uuid PRIMARY KEY,
    function      text NOT NULL,
    source        text NOT NULL,                 -- the queue the batch came from, or 'invoke'
    attempt       integer NOT NULL CHECK (attempt >= 1),
    records       integer NOT NULL CHECK (records >= 0),
    failed        integer NOT NULL CHECK (failed >= 0 AND failed <= records),
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'partial', 'error', 'timeout', 'crash', 'exit', 'garbage', 'spawn')),
    reason        text,
    cold          boolean NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   numeric(12, 3) NOT NULL CHECK (duration_ms >= 0),
    dispatcher    text NOT NULL,
    log_tail      text,                          -- the function's last stderr lines
    CONSTRAINT function_invocations_failure_explained CHECK (outcome = 'ok' OR reason IS NOT NULL OR failed > 0)
);
CREATE INDEX function_invocations_function_started_idx ON function_invocations (function, started_at DESC);

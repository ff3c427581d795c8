-- 0020_analytics_runs: the analytics-batch runs (issue 13) — one row per run, one row per user of
-- the run — so a run can be resumed after a crash without recomputing its finished users, and
-- `tm analytics status` can show how far it is.
--
-- A run's users are fixed when it starts and split into chunks (`chunk`), one `analytics` queue
-- message each; a chunk's worker marks each user done as it goes, so a redelivered chunk does only
-- the users still pending.

CREATE TABLE analytics_runs (
    id             uuid PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('nightly', 'manual')),
    -- The schedule slot a nightly run was fired for (ISO 8601 UTC); NULL for a manual run.
    slot           text,
    -- One run per slot: a slot fired twice (a redelivery, two schedulers) finds the first run.
    slot_key       text UNIQUE,
    state          text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'skipped')),
    users_total    integer NOT NULL DEFAULT 0 CHECK (users_total >= 0),
    users_done     integer NOT NULL DEFAULT 0 CHECK (users_done >= 0),
    chunks_total   integer NOT NULL DEFAULT 0 CHECK (chunks_total >= 0),
    -- Fills read by the run's recomputations (of the users done).
    fills          bigint NOT NULL DEFAULT 0 CHECK (fills >= 0),
    started_at     timestamptz NOT NULL DEFAULT now(),
    -- Last progress; a running run without progress for long is stalled (see AnalyticsRunStore).
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    -- Why it failed or was skipped, or the last chunk failure while it runs.
    error          text,
    CONSTRAINT analytics_runs_slot_kind CHECK ((kind = 'nightly') = (slot IS NOT NULL)),
    CONSTRAINT analytics_runs_done_within CHECK (users_done <= users_total)
);
CREATE INDEX analytics_runs_started ON analytics_runs (started_at DESC);
CREATE INDEX analytics_runs_running ON analytics_runs (state) WHERE state = 'running';

CREATE TABLE analytics_run_users (
    run_id         uuid NOT NULL REFERENCES analytics_runs (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL,
    chunk          integer NOT NULL CHECK (chunk >= 0),
    -- How many times this run started recomputing the user: 1 unless a crash interrupted it.
    recomputations integer NOT NULL DEFAULT 0,
    done_at        timestamptz,
    PRIMARY KEY (run_id, user_id)
);
CREATE INDEX analytics_run_users_pending ON analytics_run_users (run_id, chunk, user_id) WHERE done_at IS NULL;

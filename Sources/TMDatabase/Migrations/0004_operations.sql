-- 0004: operational history — sync runs and dead-letter replays.

-- ---------------------------------------------------------------------------------------------
-- One row per sync-consumer run; inserted when the run starts (outcome NULL), completed at the end.
CREATE TABLE sync_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
    message_id     text,                         -- queue message id, to correlate with the DLQ
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    fetched_count  integer NOT NULL DEFAULT 0 CHECK (fetched_count >= 0),
    created_count  integer NOT NULL DEFAULT 0 CHECK (created_count >= 0),
    updated_count  integer NOT NULL DEFAULT 0 CHECK (updated_count >= 0),
    skipped_count  integer NOT NULL DEFAULT 0 CHECK (skipped_count >= 0),
    duration_ms    bigint CHECK (duration_ms >= 0),
    outcome        text CHECK (outcome IN ('ok', 'partial', 'error')),
    error          text,                         -- never contains credentials
    CONSTRAINT sync_logs_finished CHECK ((finished_at IS NULL) = (outcome IS NULL)),
    CONSTRAINT sync_logs_order CHECK (finished_at IS NULL OR finished_at >= started_at),
    CONSTRAINT sync_logs_error_explained CHECK (outcome IS NULL OR outcome = 'ok' OR error IS NOT NULL)
);
CREATE INDEX sync_logs_account_started_idx ON sync_logs (account_id, started_at DESC);

-- ---------------------------------------------------------------------------------------------
-- Who replayed or purged which dead letters (`tm dlq`), with the payloads as they were, so an
-- operator's action can always be explained and, for a purge, undone by hand.
CREATE TABLE dlq_replays (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue              text NOT NULL,
    message_ids        text[] NOT NULL CHECK (cardinality(message_ids) > 0),
    operator           text NOT NULL,
    action             text NOT NULL CHECK (action IN ('replay', 'purge', 'patch-replay')),
    -- The JSON merge patch applied before re-enqueueing; present exactly for 'patch-replay'.
    patch              jsonb,
    original_payloads  jsonb NOT NULL DEFAULT '[]'::jsonb,
    reason             text,
    dry_run            boolean NOT NULL DEFAULT false,
    result             jsonb,                    -- e.g. {"replayed": 3, "skipped": 1}
    at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dlq_replays_patch CHECK ((action = 'patch-replay') = (patch IS NOT NULL))
);
CREATE INDEX dlq_replays_queue_at_idx ON dlq_replays (queue, at DESC);

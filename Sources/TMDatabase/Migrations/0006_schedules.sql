-- 0006: the scheduler's durable memory — one row per fired (or deliberately not fired) slot, and
-- the instant each schedule was first seen. (0005 belongs to the functions runtime.)

-- ---------------------------------------------------------------------------------------------
-- One row per (schedule, slot), ever: the UNIQUE constraint is what makes a slot fire once even
-- when two leaders, a manual fire and a backfill race for it. A row is inserted 'pending' before
-- the enqueue and becomes 'enqueued' after it; a crash in between leaves 'pending', which the next
-- leader completes by enqueueing again under the same idempotency key (a no-op if it had landed).
CREATE TABLE schedule_firings (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule         text NOT NULL,
    slot             timestamptz NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'enqueued', 'skipped_overlap', 'skipped_misfire', 'buffered')),
    trigger          text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'backfill', 'catch-up')),
    queue            text,                     -- the queue the slot was (or is to be) enqueued on
    idempotency_key  text NOT NULL,            -- schedule:<name>:<slot ISO UTC>
    message_id       text,                     -- the queue message id, once enqueued
    leader           text NOT NULL,            -- who wrote it: host:pid of a scheduler, or tm@host for the CLI
    fencing_token    bigint,                   -- the leader's lease token; NULL for the CLI's manual/backfill
    detail           text,                     -- why a slot was skipped or buffered
    created_at       timestamptz NOT NULL DEFAULT now(),
    fired_at         timestamptz,              -- when the enqueue landed
    CONSTRAINT schedule_firings_slot_once UNIQUE (schedule, slot),
    CONSTRAINT schedule_firings_enqueued CHECK ((state = 'enqueued') = (message_id IS NOT NULL AND fired_at IS NOT NULL))
);
-- The unique index also answers "latest slot of a schedule" (scanned backwards) and "rows in state
-- X", which are small; no further index is needed.

-- ---------------------------------------------------------------------------------------------
-- When a leader first saw each schedule: a new schedule fires from then on, and a leader that
-- takes over before its first slot still knows where it starts (so that slot is not lost).
CREATE TABLE schedule_cursors (
    schedule       text PRIMARY KEY,
    first_seen_at  timestamptz NOT NULL
);

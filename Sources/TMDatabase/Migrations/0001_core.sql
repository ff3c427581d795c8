-- 0001_core: users, their broker accounts, the instrument master, lock fences and the audit log.
-- PostgreSQL 15. Runs in one transaction (the migrator's); gen_random_uuid() is built in since PG13.
-- Conventions for the whole schema: money and quantities are numeric (exact, never float);
-- times are timestamptz (UTC instants); enumerations are text + CHECK so that adding a value is a
-- one-line migration (DROP/ADD CONSTRAINT) rather than an ALTER TYPE that cannot run in a transaction.

-- Keeps updated_at true without trusting every writer to remember it.
CREATE FUNCTION tm_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------------------------------------
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email LIKE '%_@_%'),
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails compare case-insensitively; a plain UNIQUE(email) would admit Foo@x and foo@x.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
CREATE TABLE broker_accounts (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Deleting a user removes their connections; accounts with orders/trades block that (RESTRICT
    -- below), so trading history is never erased as a side effect.
    user_id                 uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    broker                  text NOT NULL CHECK (broker IN ('kite', 'upstox', 'alpaca', 'binance')),
    label                   text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    -- The account's id at the broker (Kite user id, Alpaca account number, ...), when known.
    broker_account_ref      text,

    -- Credentials, sealed by TMCrypto (AES-256-GCM, `tmseal.v1.<keyid>.<payload>`). The CHECKs
    -- make it impossible to store a plaintext secret here by mistake.
    api_key_sealed          text CHECK (api_key_sealed LIKE 'tmseal.%'),
    api_secret_sealed       text CHECK (api_secret_sealed LIKE 'tmseal.%'),
    access_token_sealed     text CHECK (access_token_sealed LIKE 'tmseal.%'),
    access_token_expires_at timestamptz,

    -- Sync scheduling: sync-trigger picks rows with status = 'active' AND next_sync_at <= now().
    sync_frequency          interval NOT NULL DEFAULT interval '5 minutes'
                            CHECK (sync_frequency >= interval '1 minute'),
    next_sync_at            timestamptz NOT NULL DEFAULT now(),
    last_sync_at            timestamptz,
    last_sync_outcome       text CHECK (last_sync_outcome IN ('ok', 'partial', 'error')),
    -- Broker-specific resume point (e.g. Alpaca page_token, last trade time); opaque to the schema.
    sync_cursor             jsonb NOT NULL DEFAULT '{}'::jsonb,
    consecutive_failures    integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),

    status                  text NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'paused', 'error', 'disabled')),
    error_reason            text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),

    -- An account in 'error' always says why (operators and the user see it).
    CONSTRAINT broker_accounts_error_has_reason CHECK (status <> 'error' OR error_reason IS NOT NULL),
    CONSTRAINT broker_accounts_label_key UNIQUE (user_id, broker, label),
    -- Target of composite foreign keys that pin child rows to the account's own user.
    CONSTRAINT broker_accounts_id_user_key UNIQUE (id, user_id)
);
COMMENT ON COLUMN broker_accounts.api_secret_sealed IS
    'Sealed with TMCrypto SecretKeyring; associated data binds it to this row and column. Never log.';
COMMENT ON COLUMN broker_accounts.sync_cursor IS
    'Broker-specific incremental sync position, advanced in the same transaction as the synced rows.';
CREATE INDEX broker_accounts_user_idx ON broker_accounts (user_id);
-- sync-trigger: accounts due for sync.
CREATE INDEX broker_accounts_due_idx ON broker_accounts (next_sync_at) WHERE status = 'active';
CREATE TRIGGER broker_accounts_touch BEFORE UPDATE ON broker_accounts
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- The instrument master the risk engine validates lot and tick sizes against.
CREATE TABLE instruments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange        text NOT NULL,               -- NSE, BSE, NASDAQ, BINANCE, ...
    symbol          text NOT NULL,               -- exchange trading symbol, e.g. INFY, AAPL, BTCUSDT
    name            text,
    instrument_type text NOT NULL DEFAULT 'equity'
                    CHECK (instrument_type IN ('equity', 'etf', 'future', 'option', 'crypto', 'index', 'other')),
    currency        text NOT NULL DEFAULT 'INR' CHECK (length(currency) BETWEEN 3 AND 10),
    lot_size        numeric NOT NULL DEFAULT 1 CHECK (lot_size > 0),
    tick_size       numeric NOT NULL CHECK (tick_size > 0),
    tradable        boolean NOT NULL DEFAULT true,
    -- Per-broker identifiers, e.g. {"upstox": "NSE_EQ|INE009A01021", "kite": "408065"}.
    broker_tokens   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(broker_tokens) = 'object'),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT instruments_exchange_symbol_key UNIQUE (exchange, symbol)
);
CREATE TRIGGER instruments_touch BEFORE UPDATE ON instruments
    FOR EACH ROW EXECUTE FUNCTION tm_touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Fencing tokens for Redis locks and leases. A lock holder gets token T from Redis (INCR); before
-- writing it calls tm_advance_fence(resource, T) in the same transaction. The row lock taken there
-- serializes writers, and a paused ex-holder with a smaller token is refused.
CREATE TABLE lock_fences (
    resource    text PRIMARY KEY,                -- e.g. 'sync:<account id>', 'orders.3', 'analytics'
    token       bigint NOT NULL CHECK (token >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- True (and the fence raised to p_token) if p_token is not older than the stored token; false if a
-- newer holder has already written, in which case the caller must roll back.
CREATE FUNCTION tm_advance_fence(p_resource text, p_token bigint) RETURNS boolean
LANGUAGE sql AS $$
    WITH up AS (
        INSERT INTO lock_fences AS f (resource, token) VALUES (p_resource, p_token)
        ON CONFLICT (resource) DO UPDATE
            SET token = EXCLUDED.token, updated_at = now()
            WHERE f.token <= EXCLUDED.token
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM up);
$$;

-- ---------------------------------------------------------------------------------------------
-- Append-only record of who did what (operators, CLI, workers). Never updated, never deleted by the app.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,               -- 'user:<id>', 'operator:<name>', 'worker:order-placer'
    action          text NOT NULL,               -- 'account.rotate-key', 'limits.kill-switch', ...
    entity_type     text NOT NULL,
    entity_id       text,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    correlation_id  text
);
COMMENT ON TABLE audit_log IS 'Append-only; details must never contain secrets or sealed values.';
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);

/// What a function process's environment is made of — an allow-list, never the dispatcher's whole
/// environment:
///
/// 1. the variables the runtime needs (`passed`, and `LC_*`) and the TM_* configuration functions
///    read (`configuration`), taken from the dispatcher's resolved configuration;
/// 2. the manifest's `environment`;
/// 3. the secrets the manifest names in `secrets:` (each one of `secrets`), and no other;
/// 4. the invocation's own: `TM_FUNCTION`, `TM_WARM`, `TM_INVOCATION_ID`, `TM_DEADLINE_MS`,
///    `TM_ATTEMPT`, and `TM_ENV_FILE=/dev/null`, so the function does not read `.tm/env` (which may
///    hold the secret key) behind the allow-list's back: its configuration is what it is given.
///
/// Guarantees: `TM_SECRET_KEY` and `TM_SECRET_KEYS_PREVIOUS` reach only functions that declare
/// them; any other variable of the dispatcher (cloud credentials, tokens) reaches none. This is
/// what the dispatcher hands over, not a sandbox: the process runs as the dispatcher's user.
public enum FunctionEnvironment {
    /// Process basics, passed as they are.
    public static let passed: Set<String> = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR"]
    public static let passedPrefixes = ["LC_"]

    /// The configuration a function may read (stores, queue manifests, logging, the brokers).
    public static let configuration: Set<String> = [
        "TM_REDIS_URL", "TM_DATABASE_URL", "TM_LOG_LEVEL", "TM_QUEUES_DIR",
        "TM_KITE_BASE_URL", "TM_UPSTOX_BASE_URL", "TM_UPSTOX_ORDER_BASE_URL", "TM_ALPACA_BASE_URL", "TM_ALPACA_DATA_BASE_URL", "TM_BINANCE_BASE_URL",
        "TM_BROKER_TIMEOUT", "TM_BROKER_CONNECT_TIMEOUT",
        // The notifier's providers and limits (its credentials are secrets, below).
        "TM_CONFIG_DIR", "TM_SMTP_URL", "TM_SMTP_FROM", "TM_TWILIO_BASE_URL", "TM_TWILIO_FROM", "TM_FCM_BASE_URL", "TM_FCM_PROJECT",
        "TM_NOTIFY_MAX_ATTEMPTS", "TM_NOTIFY_FAILING_AFTER", "TM_NOTIFY_ALLOW_PRIVATE_TARGETS",
        // A benchmark's stage trace (TMFunctionRuntime's StageTrace): a directory, off when unset.
        "TM_STAGE_TRACE",
    ]

    /// The secrets a manifest may ask for in `secrets:`.
    public static let secrets: Set<String> = [
        "TM_SECRET_KEY", "TM_SECRET_KEYS_PREVIOUS",
        // The notifier's provider credentials.
        "TM_SMTP_USERNAME", "TM_SMTP_PASSWORD", "TM_TWILIO_ACCOUNT_SID", "TM_TWILIO_AUTH_TOKEN", "TM_FCM_ACCESS_TOKEN",
    ]

    /// The environment of `manifest`'s processes, built from the dispatcher's `base` environment.
    static func build(base: [String: String], manifest: FunctionManifest) -> [String: String] {
        var env = base.filter { key, _ in
            passed.contains(key) || configuration.contains(key) || passedPrefixes.contains { key.hasPrefix($0) }
        }
        for (key, value) in manifest.environment { env[key] = value }
        for secret in manifest.secrets { env[secret] = base[secret] }
        env["TM_ENV_FILE"] = "/dev/null"
        env["TM_FUNCTION"] = manifest.name
        return env
    }
}

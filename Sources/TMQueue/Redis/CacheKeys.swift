/// The Redis keys of the caches (latest prices, live portfolios, analytics): what other services
/// read, named in one place like the queues' keys.
///
/// Not hash-tagged: each is read and written alone, so in a cluster they spread over the slots.
public enum CacheKeys {
    /// The latest price of an instrument (a hash: price, previous_close, source, at_ms), with a
    /// short TTL, so a price nobody refreshes disappears rather than lingers as current.
    public static func price(symbol: String, exchange: String) -> String { "price:\(symbol):\(exchange)" }
    /// A user's live portfolio value (JSON), refreshed on fills and price moves, TTL five minutes.
    public static func portfolio(user: String) -> String { "portfolio:\(user)" }
    /// A user's analytics for one period (JSON), invalidated by each recompute.
    public static func analytics(user: String, period: String) -> String { "analytics:\(user):\(period)" }
    /// The analytics refresh's coordination for one user (a hash: `pending` — events seen, `done` —
    /// the highest of them a finished recompute covers, `holder`/`lease_until` — who recomputes
    /// now): one recompute per burst across every invocation of analytics-refresh.
    public static func analyticsRefresh(user: String) -> String { "analytics-refresh:\(user)" }
    /// A counter `tm alerts add|cancel` and the alerts sweep bump (INCR) once their change is
    /// committed: a running alert-evaluator reloads the price alerts changed since it last looked
    /// when it sees the counter move, so a new or cancelled alert counts from the next tick.
    public static let priceAlertsVersion = "alerts:price:version"
}

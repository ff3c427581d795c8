import Foundation
import TMBrokers
import TMCore
import TMPostgres
import TMRisk

/// Why part of the risk state could not be read.
struct RiskLoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum RiskSnapshot {
    /// Runs `body` in one repeatable-read snapshot, so rows read one after the other agree (an order's
    /// remaining quantity and the fills that shrank it). Inside a caller's transaction it runs in a
    /// savepoint: a failure leaves the caller's transaction usable.
    static func consistent<T>(_ db: PostgresConnection, _ body: (PostgresConnection) throws -> T) throws -> T {
        if db.isInTransaction { return try db.transaction(body) }
        return try db.transaction { db in
            try db.simpleQuery("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return try body(db)
        }
    }

    /// `{id,id,...}` for `= ANY($1::uuid[])`, sorted so one set of ids gives one query text.
    static func uuidArray<S: Sequence<UUID>>(_ ids: S) -> String {
        PostgresArrayText.uuids(ids.sorted(by: UUIDText.precedes))
    }

    /// Midnight UTC of `now`'s day: "today" for turnover and P&L.
    static func startOfUTCDay(_ now: Date) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 86400).rounded(.down) * 86400)
    }
}

extension PostgresRow {
    /// A numeric column selected as `::text`, exactly (nil for NULL); more than nine places throws.
    func fixedDecimal(_ column: String) throws -> FixedDecimal? {
        guard let text: String = try decode(column) else { return nil }
        guard let value = FixedDecimal(text) else { throw RiskLoadError("\(column) \(text) has more than nine decimal places or is out of range") }
        return value
    }
}

/// An instrument of the master with what the risk side needs.
struct InstrumentListing: Sendable {
    var rules: InstrumentRules
    var currency: String
}

/// One funds line: what new orders may use, and the account's total value where reported.
struct FundsLine: Sendable {
    var available: FixedDecimal
    var total: FixedDecimal?
}

/// Today's fills of one instrument in one account, values including the multiplier.
struct DayFlow: Sendable {
    var bought: FixedDecimal = 0
    var boughtValue: FixedDecimal = 0
    var sold: FixedDecimal = 0
    var soldValue: FixedDecimal = 0
    var fees: FixedDecimal = 0
    var multiplier: FixedDecimal = 1

    /// Cash in minus cash out, with what is still held (or owed) valued at `last`.
    func pnl(last: FixedDecimal?) -> FixedDecimal {
        soldValue - boughtValue - fees + (last.map { (bought - sold) * $0 * multiplier } ?? 0)
    }

    mutating func add(side: OrderSide, quantity: FixedDecimal, value: FixedDecimal) {
        if side == .buy { bought += quantity; boughtValue += value } else { sold += quantity; soldValue += value }
    }
}

/// An order row in an open state, as it reserves after a restart.
struct WorkingRow: Sendable {
    var id: UUID
    var instrument: InstrumentKey
    var side: OrderSide
    var remaining: FixedDecimal
    var limitPrice: FixedDecimal?
    /// requested_price, else the limit, else the trigger (nil: valued at the last price).
    var reservePrice: FixedDecimal?
    /// nil: not sent yet (ROUTED), so no funds figure can have counted it.
    var submittedAt: Date?
}

/// One account's stored state, as `RiskBook.load` rebuilds it.
struct AccountRows: Sendable {
    var id: UUID
    var user: UUID
    var positionsAsOf: Date?
    var positions: [InstrumentKey: FixedDecimal] = [:]
    /// By currency (the line of the equity segment where a broker has several).
    var funds: [String: FundsLine] = [:]
    var fundsAsOf: Date?
    var working: [WorkingRow] = []
    var day: [InstrumentKey: DayFlow] = [:]
    /// Fills of the last 30 days: how many, and their value.
    var tradeCount = 0
    var tradeValue: FixedDecimal = 0
}

/// Everything `RiskBook.load` reads, in one snapshot.
struct RiskRows: Sendable {
    var instruments: [InstrumentKey: InstrumentListing] = [:]
    /// The newest price seen per instrument (a position's last price or a fill), with its time.
    var prices: [InstrumentKey: (price: FixedDecimal, at: Date)] = [:]
    var accounts: [UUID: AccountRows] = [:]
    var limits: Result<LimitRows, any Error> = .failure(RiskLoadError("not read"))

    /// The order states that hold a reservation: risk passed and not finished. RECEIVED has not
    /// been checked yet (its check reserves when it runs).
    static let openStates = "'ROUTED', 'SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'UNKNOWN'"

    static func read(_ db: PostgresConnection, accounts ids: [UUID], limitUsers: Set<UUID>, now: Date) throws -> RiskRows {
        try RiskSnapshot.consistent(db) { db in
            var rows = RiskRows()
            let list = RiskSnapshot.uuidArray(ids)
            try readInstruments(db, into: &rows)
            for row in try db.query("""
                SELECT id, user_id, coalesce(last_sync_at, (SELECT min(as_of) FROM positions p WHERE p.account_id = a.id)) AS as_of
                FROM broker_accounts a WHERE id = ANY(\(list)::uuid[])
                """).rows {
                let id: UUID = try row.decode("id")
                rows.accounts[id] = AccountRows(id: id, user: try row.decode("user_id"), positionsAsOf: try row.decode("as_of"))
            }
            try readPositionsAndPrices(db, list, into: &rows)
            try readFunds(db, list, into: &rows)
            try readWorkingOrders(db, list, into: &rows)
            try readTrades(db, list, now: now, into: &rows)
            // Last: a failure here rolls back only its savepoint, and the rest stands.
            let users = limitUsers.union(rows.accounts.values.map(\.user))
            rows.limits = Result { try LimitRows.read(db, users: users) }
            return rows
        }
    }

    private static func readInstruments(_ db: PostgresConnection, into rows: inout RiskRows) throws {
        for row in try db.query("""
            SELECT exchange, symbol, lot_size::text, tick_size::text, tradable, multiplier::text, currency FROM instruments
            """).rows {
            let key = InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange"))
            // A lot or tick finer than nine places cannot be checked exactly: left out, so its orders
            // are refused as unknown rather than checked wrongly.
            guard let lot = try? row.fixedDecimal("lot_size"), let tick = try? row.fixedDecimal("tick_size"),
                  let multiplier = try? row.fixedDecimal("multiplier") else { continue }
            rows.instruments[key] = InstrumentListing(
                rules: InstrumentRules(lotSize: lot, tickSize: tick, tradable: try row.decode("tradable"), multiplier: multiplier),
                currency: try row.decode("currency"))
        }
    }

    private mutating func notePrice(_ key: InstrumentKey, _ price: FixedDecimal?, at: Date) {
        guard let price, price > 0 else { return }
        if let known = prices[key], known.at >= at { return }
        prices[key] = (price, at)
    }

    private static func readPositionsAndPrices(_ db: PostgresConnection, _ list: String, into rows: inout RiskRows) throws {
        for row in try db.query("""
            SELECT account_id, exchange, symbol, quantity::text, last_price::text, as_of FROM positions WHERE account_id = ANY(\(list)::uuid[])
            """).rows {
            let key = InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange"))
            let account: UUID = try row.decode("account_id")
            rows.accounts[account]?.positions[key] = try row.fixedDecimal("quantity") ?? 0
            rows.notePrice(key, try row.fixedDecimal("last_price"), at: try row.decode("as_of"))
        }
        // Any account's position tells the market's last price; so does these accounts' latest fill.
        for row in try db.query("""
            SELECT DISTINCT ON (exchange, symbol) exchange, symbol, last_price::text, as_of FROM positions
            WHERE last_price IS NOT NULL ORDER BY exchange, symbol, as_of DESC
            """).rows {
            rows.notePrice(InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange")),
                           try row.fixedDecimal("last_price"), at: try row.decode("as_of"))
        }
        for row in try db.query("""
            SELECT DISTINCT ON (exchange, symbol) exchange, symbol, price::text, traded_at FROM trades
            WHERE account_id = ANY(\(list)::uuid[]) ORDER BY exchange, symbol, traded_at DESC
            """).rows {
            rows.notePrice(InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange")),
                           try row.fixedDecimal("price"), at: try row.decode("traded_at"))
        }
    }

    private static func readFunds(_ db: PostgresConnection, _ list: String, into rows: inout RiskRows) throws {
        // Per currency, the equity segment ('' where the broker has one) before any other.
        for row in try db.query("""
            SELECT DISTINCT ON (account_id, currency) account_id, currency, available::text, total::text, as_of FROM account_funds
            WHERE account_id = ANY(\(list)::uuid[])
            ORDER BY account_id, currency, (segment IN ('', 'equity')) DESC, segment
            """).rows {
            let account: UUID = try row.decode("account_id")
            guard rows.accounts[account] != nil, let available = try row.fixedDecimal("available") else { continue }
            rows.accounts[account]?.funds[try row.decode("currency")] = FundsLine(available: available, total: try row.fixedDecimal("total"))
            let asOf: Date = try row.decode("as_of")
            let known = rows.accounts[account]?.fundsAsOf ?? asOf
            rows.accounts[account]?.fundsAsOf = max(known, asOf)
        }
    }

    private static func readWorkingOrders(_ db: PostgresConnection, _ list: String, into rows: inout RiskRows) throws {
        for row in try db.query(PostgresQuery(unsafeSQL: """
            SELECT id, coalesce(requested_account_id, account_id) AS account_id, exchange, symbol, side,
                   coalesce(remaining_quantity, quantity - filled_quantity)::text AS remaining,
                   price::text, coalesce(requested_price, price, trigger_price)::text AS reserve_price,
                   CASE WHEN state = 'ROUTED' THEN NULL ELSE coalesce(submitted_at, created_at) END AS submitted_at
            FROM orders
            -- An order is reserved where it was asked for (the shard's account), wherever it was routed;
            -- a split's children are held by their parent's reservation.
            WHERE coalesce(requested_account_id, account_id) = ANY($1::uuid[]) AND parent_order_id IS NULL AND state IN (\(openStates))
            ORDER BY created_at, id
            """, binds: [list.postgresData()])).rows {
            let account: UUID = try row.decode("account_id")
            let side: String = try row.decode("side")
            guard let remaining = try row.fixedDecimal("remaining"), remaining > 0, let orderSide = OrderSide(rawValue: side) else { continue }
            rows.accounts[account]?.working.append(WorkingRow(
                id: try row.decode("id"), instrument: InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange")),
                side: orderSide, remaining: remaining, limitPrice: try row.fixedDecimal("price"), reservePrice: try row.fixedDecimal("reserve_price"),
                submittedAt: try row.decode("submitted_at")))
        }
    }

    /// Today's (UTC) fills per instrument, and the last 30 days' count and value (the average trade).
    /// Fees count against the day's P&L where they are in the instrument's currency (or unnamed).
    private static func readTrades(_ db: PostgresConnection, _ list: String, now: Date, into rows: inout RiskRows) throws {
        let today = RiskSnapshot.startOfUTCDay(now)
        for row in try db.query("""
            SELECT t.account_id, t.exchange, t.symbol, coalesce(i.multiplier, 1)::text AS multiplier,
                   sum(t.quantity) FILTER (WHERE t.side = 'buy')::text AS bought,
                   round(sum(t.quantity * t.price * coalesce(i.multiplier, 1)) FILTER (WHERE t.side = 'buy'), 9)::text AS bought_value,
                   sum(t.quantity) FILTER (WHERE t.side = 'sell')::text AS sold,
                   round(sum(t.quantity * t.price * coalesce(i.multiplier, 1)) FILTER (WHERE t.side = 'sell'), 9)::text AS sold_value,
                   sum(t.fees) FILTER (WHERE t.fee_currency IS NULL OR t.fee_currency = i.currency)::text AS fees
            FROM trades t LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol
            WHERE t.account_id = ANY(\(list)::uuid[]) AND t.traded_at >= \(today)
            GROUP BY t.account_id, t.exchange, t.symbol, i.multiplier
            """).rows {
            let account: UUID = try row.decode("account_id")
            let key = InstrumentKey(symbol: try row.decode("symbol"), exchange: try row.decode("exchange"))
            rows.accounts[account]?.day[key] = DayFlow(
                bought: try row.fixedDecimal("bought") ?? 0, boughtValue: try row.fixedDecimal("bought_value") ?? 0,
                sold: try row.fixedDecimal("sold") ?? 0, soldValue: try row.fixedDecimal("sold_value") ?? 0,
                fees: try row.fixedDecimal("fees") ?? 0, multiplier: try row.fixedDecimal("multiplier") ?? 1)
        }
        for row in try db.query("""
            SELECT t.account_id, count(*) AS n, round(sum(t.quantity * t.price * coalesce(i.multiplier, 1)), 9)::text AS value
            FROM trades t LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol
            WHERE t.account_id = ANY(\(list)::uuid[]) AND t.traded_at >= \(now.addingTimeInterval(-30 * 86400)) AND t.traded_at <= \(now)
            GROUP BY t.account_id
            """).rows {
            let account: UUID = try row.decode("account_id")
            rows.accounts[account]?.tradeCount = try row.decode("n")
            rows.accounts[account]?.tradeValue = try row.fixedDecimal("value") ?? 0
        }
    }
}

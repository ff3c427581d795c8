import Foundation
import TMCore
import TMPostgres
import TMSync
import TMRisk

/// Users' whole histories of fills, read for the analytics in one binary COPY.
public struct FillBatch: Sendable {
    /// One per user per currency (amounts in different currencies are never added up), users in
    /// the order of their ids, each one's fills in time order (ties by broker trade id).
    public var users: [UserFills]
    /// Fills read, over every user.
    public var fillCount: Int
    /// The instruments some user still holds (net quantity ≠ 0): the ones to price.
    public var openInstruments: [InstrumentKey]
}

/// Reads a chunk of users' fills across all their accounts: trades ⋈ broker_accounts (the user),
/// the instrument's currency (else the broker's: alpaca USD, binance USDT, the Indian brokers INR),
/// the trade's own category, and `users.capital` for the currency it is in.
///
/// Guarantees: one `COPY (SELECT ...) TO STDOUT (FORMAT binary)` per call, parsed from the bytes
/// (numbers exact, `timestamptz` to µs without text); a user's fills in different currencies are
/// kept apart, and the capital is given only to the group in `users.capital_currency`; a user with
/// no fills has no group. Runs on the caller's connection (synchronous, on its thread).
public struct FillReader: Sendable {
    public init() {}

    /// The instrument's currency, else the account's broker's: one definition for every reader.
    static let currencySQL = "COALESCE(i.currency, \(BrokerAccount.currencySQL(broker: "a.broker")))"

    /// No ORDER BY: sorting a chunk's fills spilled to disk in Postgres (4 MB `work_mem`); each user's
    /// fills are put in order here instead (`Parser.finish`), a few hundred at a time.
    ///
    /// COPY cannot bind parameters: the only literals in it are the uuid array, built from typed
    /// `UUID`s by `PostgresArrayText.uuids`, and a typed day's `yyyy-MM-dd`, never user text.
    /// With `tradedBefore`, only the fills before that UTC midnight: a range of each account's
    /// `(account_id, traded_at)` index.
    static func copySQL(users: [UUID], tradedBefore: AnalyticsDay? = nil) -> String {
        let bound = tradedBefore.map { " AND t.traded_at < '\($0)T00:00:00Z'::timestamptz" } ?? ""
        return """
        COPY (SELECT a.user_id, \(currencySQL), t.symbol, t.exchange, t.side, t.quantity, t.price, t.fees,
                     t.traded_at, t.broker_trade_id, t.category
              FROM broker_accounts a
              JOIN trades t ON t.account_id = a.id
              LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol
              WHERE a.user_id = ANY('\(PostgresArrayText.uuids(users))'::uuid[])\(bound))
        TO STDOUT (FORMAT binary)
        """
    }

    /// The users' fills (all of them, or only those traded before midnight UTC opening `tradedBefore`).
    public func read(users: [UUID], tradedBefore: AnalyticsDay? = nil, on connection: PostgresConnection) throws -> FillBatch {
        guard !users.isEmpty else { return FillBatch(users: [], fillCount: 0, openInstruments: []) }
        var capitals: [UUID: (amount: FixedDecimal, currency: String)] = [:]
        let rows = try connection.query("""
            SELECT id, capital::text AS capital, capital_currency FROM users
            WHERE id = ANY(\(PostgresArrayText.uuids(users))::uuid[]) AND capital IS NOT NULL
            """)
        for row in rows {
            let text: String = try row.decode("capital")
            guard let amount = FixedDecimal(text) else {
                throw PostgresError(kind: .decoding, message: "capital with more than nine places", column: "capital")
            }
            capitals[try row.decode("id", as: UUID.self)] = (amount, try row.decode("capital_currency"))
        }

        var parser = Parser()
        try connection.transaction { tx in
            // A chunk is ~1 % of the trades: by the accounts' index, never a (parallel, JIT-compiled)
            // scan of the whole table — which the default costs chose at 10 million trades, 4 s a chunk.
            // The histories are read every night, so they are in memory: random reads cost ~ sequential.
            try tx.simpleQuery("SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off")
            try tx.copyOut(Self.copySQL(users: users, tradedBefore: tradedBefore)) { message in
                var reader = try PostgresBinaryCopyReader(message)
                while let fields = try reader.nextTuple() {
                    guard fields == 11 else { throw PostgresError(kind: .decoding, message: "expected 11 columns, got \(fields)") }
                    try parser.row(&reader)
                }
            }
        }
        var groups = parser.finish()
        for i in groups.indices {
            if let capital = capitals[groups[i].userID], capital.currency == groups[i].currency {
                groups[i].capital = capital.amount
            }
        }
        var open = Set<InstrumentKey>()
        for (key, net) in parser.netQuantity where net != 0 {
            open.insert(InstrumentKey(symbol: parser.strings.string(key.symbol), exchange: parser.strings.string(key.exchange)))
        }
        return FillBatch(users: groups, fillCount: parser.fillCount, openInstruments: open.sorted { "\($0)" < "\($1)" })
    }

    /// Turns tuples into groups; the previous tuple's user and currency are remembered, so the
    /// usual run of one user's fills costs no lookups.
    private struct Parser {
        var groups: [UserFills] = []
        var strings = Interner()
        var fillCount = 0
        var netQuantity: [NetKey: Int128] = [:]
        private var groupIndex: [GroupKey: Int] = [:]
        private var lastUser = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        private var lastCurrency = -1
        private var lastGroup = -1

        struct GroupKey: Hashable { var user: UUID; var currency: Int }
        struct NetKey: Hashable { var group: Int; var symbol: Int; var exchange: Int }

        /// The groups by user id (as Postgres orders uuids: by their bytes; a user's currencies in
        /// order of first fill), each one's fills by time, then broker trade id (bytes, as `COLLATE "C"`).
        func finish() -> [UserFills] {
            var ordered = groups
            for i in ordered.indices {
                var sorted = true
                for j in ordered[i].fills.indices.dropFirst() where !Self.precedes(ordered[i].fills[j - 1], ordered[i].fills[j]) {
                    sorted = false
                    break
                }
                if !sorted {
                    // Sort positions, not the fills (moving a fill retains and releases its strings).
                    let fills = ordered[i].fills
                    var order = Array(fills.indices)
                    order.sort { Self.precedes(fills[$0], fills[$1]) }
                    ordered[i].fills = order.map { fills[$0] }
                }
            }
            ordered.sort { a, b in
                let c = withUnsafeBytes(of: a.userID.uuid) { p in withUnsafeBytes(of: b.userID.uuid) { q in memcmp(p.baseAddress!, q.baseAddress!, 16) } }
                if c != 0 { return c < 0 }
                return Self.precedes(a.fills[0], b.fills[0])
            }
            return ordered
        }

        static func precedes(_ a: AnalyticsFill, _ b: AnalyticsFill) -> Bool {
            if a.timeMicros != b.timeMicros { return a.timeMicros < b.timeMicros }
            return a.brokerTradeID.utf8.lexicographicallyPrecedes(b.brokerTradeID.utf8)
        }

        mutating func row(_ reader: inout PostgresBinaryCopyReader) throws {
            let user = try PostgresBinaryCopyReader.uuid(reader.requiredField("user_id"))
            let currency = strings.intern(try reader.requiredField("currency"))
            let symbol = strings.intern(try reader.requiredField("symbol"))
            let exchange = strings.intern(try reader.requiredField("exchange"))
            let sideBytes = try reader.requiredField("side")
            let side: AnalyticsFill.Side
            if PostgresBinaryCopyReader.equals(sideBytes, "buy") {
                side = .buy
            } else if PostgresBinaryCopyReader.equals(sideBytes, "sell") {
                side = .sell
            } else {
                throw PostgresError(kind: .decoding, message: "side is neither buy nor sell", column: "side")
            }
            let quantity = try PostgresBinaryCopyReader.fixedDecimal(reader.requiredField("quantity"))
            let price = try PostgresBinaryCopyReader.fixedDecimal(reader.requiredField("price"))
            let fee = try PostgresBinaryCopyReader.fixedDecimal(reader.requiredField("fees"))
            let time = try PostgresBinaryCopyReader.timestampMicros(reader.requiredField("traded_at"))
            let tradeID = PostgresBinaryCopyReader.string(try reader.requiredField("broker_trade_id"))
            var category: AnalyticsFill.Category?
            if let raw = try reader.field() {
                guard let known = AnalyticsFill.Category(rawValue: PostgresBinaryCopyReader.string(raw)) else {
                    throw PostgresError(kind: .decoding, message: "unknown category", column: "category")
                }
                category = known
            }

            if user != lastUser || currency != lastCurrency || lastGroup < 0 {
                let key = GroupKey(user: user, currency: currency)
                if let index = groupIndex[key] {
                    lastGroup = index
                } else {
                    lastGroup = groups.count
                    groupIndex[key] = lastGroup
                    groups.append(UserFills(userID: user, currency: strings.string(currency), capital: nil, fills: []))
                }
                lastUser = user
                lastCurrency = currency
            }
            let fill = AnalyticsFill(
                symbol: strings.string(symbol), exchange: strings.string(exchange), side: side, quantity: quantity,
                price: price, fee: fee, timeMicros: time, brokerTradeID: tradeID, category: category)
            groups[lastGroup].fills.append(fill)
            netQuantity[NetKey(group: lastGroup, symbol: symbol, exchange: exchange), default: 0] += side == .buy ? quantity.units : -quantity.units
            fillCount += 1
        }
    }

    /// Symbols, exchanges and currencies repeat on every row: each distinct byte string becomes
    /// one `String`, shared by every fill that names it.
    struct Interner {
        private var index: [UInt64: Int] = [:]
        private var entries: [(bytes: [UInt8], string: String)] = []
        private var collided: [Int] = []

        func string(_ id: Int) -> String { entries[id].string }

        mutating func intern(_ bytes: UnsafeRawBufferPointer) -> Int {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            if let id = index[hash] {
                if entries[id].bytes.elementsEqual(bytes) { return id }
                // A hash collision (two different strings): the others live unindexed, found by a scan.
                for other in collided where entries[other].bytes.elementsEqual(bytes) { return other }
                entries.append((Array(bytes), String(decoding: bytes, as: UTF8.self)))
                collided.append(entries.count - 1)
                return entries.count - 1
            }
            entries.append((Array(bytes), String(decoding: bytes, as: UTF8.self)))
            index[hash] = entries.count - 1
            return entries.count - 1
        }
    }
}

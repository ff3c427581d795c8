import Foundation
import TMBrokers
import TMCore
import TMPostgres
import TMQueue
import TMRisk
import TMRouting

/// What an intake did with a command: enqueued it, or found its key already used.
public struct OrderReceipt: Sendable, Equatable, Encodable {
    /// `place`, `cancel` or `modify`.
    public var kind: String
    public var idempotencyKey: String
    public var accountID: UUID
    /// The queue message: new, or for a duplicate the first message with this key (nil when the
    /// key was found only on an order row, after the queue's record of it expired).
    public var messageID: String?
    public var shard: Int?
    /// True when the key was already taken: nothing new was enqueued.
    public var duplicate: Bool
    /// For a duplicate: what became of the first message (`queued`, `done`, `dead`).
    public var messageState: String?
    /// For a duplicate place: the order row that already carries this key.
    public var orderID: UUID?

    enum CodingKeys: String, CodingKey {
        case kind, duplicate, shard
        case idempotencyKey = "idempotency_key", accountID = "account_id", messageID = "message_id"
        case messageState = "message_state", orderID = "order_id"
    }
}

/// The front door of the order path: checks an order command against the database, then puts it
/// on the `orders` queue (sharded by account) under its idempotency key.
///
/// Guarantees: a refusal (`OrderCommandError`, naming the field and the reason) enqueues nothing —
/// every check runs before the one enqueue. The checks: the shape checks of `OrderCommand.parse`
/// (the very ones the worker applies); the account exists, is not manual and is `active`; the instrument exists
/// on that exchange and is tradable; some active account of the account's holder is at a broker
/// that trades the exchange (`routing.lists`, the router's own rule: else no broker could take the
/// order and the worker would retry it in vain); the quantity is a whole number of lots; the limit and
/// trigger prices are on the tick. A cancel or modify must name an order of the same account that
/// is not terminal (a modify's values are checked against that order's instrument and type). The
/// same key enqueues once: a repeat answers with the first message (`duplicate`), and a place
/// whose key is already on an order row is not enqueued again, however long ago it was placed.
public struct OrderIntake {
    public let db: PostgresConnection
    public let producer: QueueProducer
    public let queue: String
    /// Which exchanges each broker trades: the router's configuration.
    public let routing: RoutingConfig

    public init(db: PostgresConnection, producer: QueueProducer, queue: String = "orders", routing: RoutingConfig = .defaults) {
        self.db = db
        self.producer = producer
        self.queue = queue
        self.routing = routing
    }

    /// With the checkout's routing configuration (`RoutingConfig.standard`: what the order-worker routes by).
    public static func configured(db: PostgresConnection, producer: QueueProducer, queue: String = "orders") throws -> OrderIntake {
        OrderIntake(db: db, producer: producer, queue: queue, routing: try RoutingConfig.standard())
    }

    /// Checks `command`, then enqueues it. Throws `OrderCommandError` on a refusal (nothing
    /// enqueued); other errors are the database's or the queue's.
    public func submit(_ command: OrderCommand) async throws -> OrderReceipt {
        let checked = try Self.shaped(command)
        if let existing = try placedOrder(checking: checked) {
            // Placed before, perhaps beyond the queue's memory of the key: never a second order.
            var receipt = OrderReceipt(kind: checked.kind, idempotencyKey: checked.idempotencyKey, accountID: checked.accountID, duplicate: true)
            receipt.orderID = existing
            return receipt
        }
        return Self.receipt(checked, try await producer.enqueue(queue, Self.message(checked)))
    }

    /// The queue message of a checked command: its JSON under its idempotency key.
    static func message(_ checked: OrderCommand) -> OutgoingMessage {
        OutgoingMessage(payload: Array(checked.json.text.utf8), key: checked.idempotencyKey)
    }

    /// What the enqueue of a checked command did.
    static func receipt(_ checked: OrderCommand, _ result: EnqueueResult) -> OrderReceipt {
        var receipt = OrderReceipt(kind: checked.kind, idempotencyKey: checked.idempotencyKey, accountID: checked.accountID, duplicate: result.duplicate)
        receipt.messageID = result.id
        receipt.shard = result.shard
        receipt.messageState = result.state
        return receipt
    }

    /// The command as it will be enqueued, or the first reason to refuse it.
    public func check(_ command: OrderCommand) throws -> OrderCommand {
        let command = try Self.shaped(command)
        _ = try placedOrder(checking: command)
        return command
    }

    /// Checks a shaped command against the database (a refusal is thrown); for a place, also the
    /// order row already carrying its key — all of a place's facts in one round trip (`PlaceFacts`).
    private func placedOrder(checking command: OrderCommand) throws -> UUID? {
        switch command {
        case .place(let order):
            let facts = try PlaceFacts.read(db, order)
            try Self.check(order, account: facts.account, instrument: facts.instrument, routing: routing)
            return facts.placedOrder
        case .change(let change):
            try check(change)
            return nil
        }
    }

    /// A cancel's or a modify's checks against the order it names (the single and the batch intake's one rule).
    func check(_ change: ChangeOrder) throws {
        let order = try Self.order(change.orderID, in: db)
        guard order.accountID == change.accountID else {
            throw OrderCommandError("order_id", "order \(Self.text(change.orderID)) belongs to another account")
        }
        guard !order.state.isTerminal else {
            throw OrderCommandError("order_id", "order \(Self.text(change.orderID)) is \(order.state.rawValue) (final): nothing to \(change.action.rawValue)")
        }
        if change.action == .modify {
            if change.limitPrice != nil, order.type == .market || order.type == .stop {
                throw OrderCommandError("price", "order \(Self.text(change.orderID)) is a \(order.type.rawValue) order: it takes no limit price")
            }
            if change.triggerPrice != nil, order.type != .stop && order.type != .stopLimit {
                throw OrderCommandError("trigger", "order \(Self.text(change.orderID)) is a \(order.type.rawValue) order: it takes no trigger price")
            }
            try instrument(exchange: order.exchange, symbol: order.symbol, forChange: true)
                .check(quantity: change.quantity, limitPrice: change.limitPrice, triggerPrice: change.triggerPrice)
            }
    }

    /// The command as the worker will parse it back, or the shape check's refusal.
    static func shaped(_ command: OrderCommand) throws -> OrderCommand {
        // The worker parses what it dequeues; refusing here what it would refuse there keeps a
        // malformed message off the queue (an API caller can build any PlaceOrder).
        try OrderCommand.parse(command.json)
    }

    // MARK: Look-ups the CLI needs to build a command

    /// The account named by `text`: its id, or a label that names exactly one account.
    public static func account(_ text: String, in db: PostgresConnection) throws -> UUID {
        if let id = UUID(uuidString: text) { return id }
        let rows = try db.query("SELECT id FROM broker_accounts WHERE label = \(text) ORDER BY id LIMIT 2").rows
        guard let first = rows.first else { throw OrderCommandError("account_id", "no account with id or label '\(text)'") }
        guard rows.count == 1 else { throw OrderCommandError("account_id", "the label '\(text)' names more than one account: give the account id") }
        return try first.decode("id")
    }

    /// The exchange `symbol` trades on, when it is listed on exactly one.
    public static func exchange(of symbol: String, in db: PostgresConnection) throws -> String {
        let exchanges: [String] = try db.query("SELECT exchange FROM instruments WHERE symbol = \(symbol) ORDER BY exchange").rows.map { try $0.decode("exchange") }
        guard let first = exchanges.first else { throw OrderCommandError("symbol", "unknown symbol '\(symbol)' (on every exchange)") }
        guard exchanges.count == 1 else {
            throw OrderCommandError("exchange", "'\(symbol)' is listed on \(exchanges.joined(separator: ", ")): say which")
        }
        return first
    }

    /// The account an order belongs to (a cancel or modify travels that account's shard).
    public static func account(ofOrder id: UUID, in db: PostgresConnection) throws -> UUID {
        try order(id, in: db).accountID
    }

    // MARK: The database's facts

    private func instrumentFacts(exchange: String, symbol: String) throws -> InstrumentFacts? {
        try db.query("""
            SELECT lot_size::text AS lot, tick_size::text AS tick, tradable FROM instruments WHERE exchange = \(exchange) AND symbol = \(symbol)
            """).rows.first.map { try InstrumentFacts(row: $0) }
    }

    /// A place's checks against the database's facts (the single and the batch intake's one rule):
    /// the account exists, is not manual and is active; the instrument is known and tradable; a
    /// broker of the holder's trades its exchange; the quantity and prices are on its lot and tick.
    static func check(_ order: PlaceOrder, account: AccountFacts?, instrument: InstrumentFacts?, routing: RoutingConfig) throws {
        try requireActive(order.accountID, account)
        let rules = try rules(exchange: order.exchange, symbol: order.symbol, instrument)
        if let account { try requireRoutable(order, account, routing: routing) }
        try rules.check(quantity: order.quantity, limitPrice: order.limitPrice, triggerPrice: order.triggerPrice)
    }

    /// What the intake checks of an account (one row of `broker_accounts`, as `a`).
    struct AccountFacts {
        var status: String, broker: String
        /// The brokers of the holder's active accounts (this one included when active): where the router may send.
        var holderBrokers: [String]
        /// The column `holderBrokers` is read from.
        static let holderBrokers: PostgresQuery = """
            (SELECT string_agg(DISTINCT s.broker, ',' ORDER BY s.broker) FROM broker_accounts s
             WHERE s.user_id = a.user_id AND s.status = 'active') AS holder_brokers
            """
        init(row: PostgresRow) throws {
            status = try row.decode("status")
            broker = try row.decode("broker")
            holderBrokers = (try row.decode("holder_brokers", as: String?.self))?.split(separator: ",").map(String.init) ?? []
        }
    }

    /// The refusal for an order no broker of the holder's trades: the router would find no
    /// candidate (`LiveRouteSource`: the holder's active accounts at brokers listing the exchange).
    static func requireRoutable(_ order: PlaceOrder, _ facts: AccountFacts, routing: RoutingConfig) throws {
        let brokers = facts.holderBrokers.compactMap(BrokerKind.init(rawValue:))
        guard !brokers.contains(where: { routing.lists($0, exchange: order.exchange) }) else { return }
        let listed = brokers.map { broker in "\(broker.rawValue) trades \((routing.exchanges[broker] ?? []).sorted().joined(separator: ", "))" }
        throw OrderCommandError("symbol", "\(order.symbol) on \(order.exchange) is not traded by any broker of the account holder's active accounts"
                                + (listed.isEmpty ? "" : " (\(listed.joined(separator: "; ")))") + ": no broker could take the order")
    }

    /// The refusal for an account that is missing, manual or not active (the single and the batch intake's one rule).
    static func requireActive(_ account: UUID, _ facts: AccountFacts?) throws {
        guard let facts else { throw OrderCommandError("account_id", "no account \(Self.text(account))") }
        // A manual account has no broker to place with (it holds imported fills only).
        guard facts.broker != ManualAccount.broker else {
            throw OrderCommandError("account_id", "account \(Self.text(account)) is \(ManualAccount.reason): orders cannot be placed")
        }
        guard facts.status == "active" else { throw OrderCommandError("account_id", "account \(Self.text(account)) is \(facts.status), not active") }
    }

    private func instrument(exchange: String, symbol: String, forChange: Bool = false) throws -> InstrumentRules {
        try Self.rules(exchange: exchange, symbol: symbol, try instrumentFacts(exchange: exchange, symbol: symbol), forChange: forChange)
    }

    /// What the intake checks of an instrument (one row of `instruments`, sizes as text).
    struct InstrumentFacts {
        var lot: String, tick: String, tradable: Bool
        init(row: PostgresRow) throws {
            lot = try row.decode("lot")
            tick = try row.decode("tick")
            tradable = try row.decode("tradable")
        }
    }

    /// The instrument's lot and tick, or the refusal for one unknown, not tradable or too fine.
    static func rules(exchange: String, symbol: String, _ facts: InstrumentFacts?, forChange: Bool = false) throws -> InstrumentRules {
        guard let facts else { throw OrderCommandError("symbol", "unknown symbol '\(symbol)' on \(exchange)") }
        guard let lotSize = FixedDecimal(facts.lot), let tickSize = FixedDecimal(facts.tick) else {
            throw OrderCommandError("symbol", "\(symbol) on \(exchange) has a lot or tick size finer than nine places (\(facts.lot), \(facts.tick))")
        }
        // A change to an order already placed is checked for lot and tick only: the worker and the
        // broker decide whether an order of an instrument no longer tradable may still be changed.
        if !forChange, !facts.tradable {
            throw OrderCommandError("symbol", "\(symbol) on \(exchange) is not tradable")
        }
        return InstrumentRules(lotSize: lotSize, tickSize: tickSize)
    }

    private struct OrderRow {
        var accountID: UUID, state: OrderState, type: OrderType, exchange: String, symbol: String
    }

    private static func order(_ id: UUID, in db: PostgresConnection) throws -> OrderRow {
        guard let row = try db.query("SELECT account_id, state, order_type, exchange, symbol FROM orders WHERE id = \(id)").rows.first else {
            throw OrderCommandError("order_id", "no order \(Self.text(id))")
        }
        let state: String = try row.decode("state"), type: String = try row.decode("order_type")
        guard let orderState = OrderState(rawValue: state), let orderType = OrderType(rawValue: type) else {
            throw OrderCommandError("order_id", "order \(Self.text(id)) has state \(state) and type \(type), which this version does not know")
        }
        return OrderRow(accountID: try row.decode("account_id"), state: orderState, type: orderType, exchange: try row.decode("exchange"),
                        symbol: try row.decode("symbol"))
    }

    static func text(_ id: UUID) -> String { id.uuidString.lowercased() }
}

extension InstrumentRules {
    /// The intake's refusal for a quantity or price off the instrument's lot or tick (the risk
    /// engine's own check, `breach`), in the message's field names.
    func check(quantity: Decimal?, limitPrice: Decimal?, triggerPrice: Decimal?) throws(OrderCommandError) {
        // OrderCommand.parse has already refused values finer than nine places.
        let fixed = { (value: Decimal?) in value.flatMap { FixedDecimal(exactly: $0) } }
        if let breach = breach(quantity: fixed(quantity), limitPrice: fixed(limitPrice), triggerPrice: fixed(triggerPrice)) {
            throw OrderCommandError(breach.field, breach.message)
        }
    }
}

extension OrderCommand {
    /// `place`, `cancel` or `modify` (the message's `kind`).
    public var kind: String {
        switch self {
        case .place: return "place"
        case .change(let change): return change.action.rawValue
        }
    }
}

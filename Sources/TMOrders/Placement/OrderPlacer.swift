import Foundation
import Logging
import Synchronization
import TMBrokers
import TMCore
import TMLocks
import TMNotify
import TMPostgres
import TMQueue
import TMRisk
import TMRouting

/// Whose writes a placement makes: the delivery of its message (always) and the shard lease of the
/// worker that owns the account (resident worker), so a writer that lost either commits nothing.
public struct PlacementFences: Sendable {
    public var fences: [any Fence]
    /// The shard lease's fencing token, stored on the rows written (nil for the cold placer).
    public var shardToken: Int64?
    /// Throws once the shard may belong to another worker: checked before every broker call, which
    /// no fence can take back.
    public var ownership: @Sendable () throws -> Void
    /// The worker's group commit (resident worker, cold batch): the placement's writes are merged
    /// with the other accounts' writes waiting at the same time; a write with none other in flight
    /// runs at once from its own task (`OrderCommits`). Nil: a transaction of its own each.
    public var commits: OrderCommits?
    /// This delivery is the message's first: an order row for its key can only exist if another
    /// message carried the same key, which the insert's conflict finds, so no look-up comes first.
    public var firstDelivery: Bool

    public init(fences: [any Fence], shardToken: Int64? = nil, ownership: @escaping @Sendable () throws -> Void = {}, commits: OrderCommits? = nil,
                firstDelivery: Bool = false) {
        self.fences = fences
        self.shardToken = shardToken
        self.ownership = ownership
        self.commits = commits
        self.firstDelivery = firstDelivery
    }

    /// Runs `kind` in a transaction fenced by these fences: merged in the group commit when there is one
    /// and another write goes through it now; alone, at once, from this task otherwise.
    func write(_ pool: PostgresPool, _ kind: OrderWrite.Kind) async throws -> OrderWritten {
        let write = OrderWrite(kind: kind, fencingToken: shardToken)
        // Counted in flight until written, at once or through the group.
        let alone = commits?.enter() ?? true
        defer { commits?.leave() }
        if let commits, !alone {
            HopStamps.stamp(.mark("group commit: queued"), "task")
            defer { HopStamps.stamp(.mark("group commit: written"), "task") }
            return try await commits.group.write(write, fencedBy: fences)
        }
        // One round trip: the fences, the write and the COMMIT in one pipeline (`perform` has no outside effects).
        return try await pool.transaction(fencedInOneRoundTrip: fences) { db in
            let written = try OrderStore.perform(db, [write])
            return { try written()[0] }
        }
    }
}

/// The order's outcome is not known yet (sent, no answer; or not found at the broker so soon after
/// sending): the message is retried with backoff, and the look-up comes first.
public struct PlacementPending: Error, RetryClassifying, CustomStringConvertible, Sendable {
    public let orderID: UUID
    public let reason: String
    public var isRetryable: Bool { true }
    public var description: String { "order \(orderID.uuidString.lowercased()) is pending: \(reason)" }
}

/// Nothing can be done before `retryNotBefore`, and this attempt sent nothing: the call was refused
/// at admission (`BrokerCallRefused`: its circuit open, or the account's budget spent), the router
/// found every broker's circuit open, or the look-up did not find an order that may not be resent
/// yet (`resendAfter`). The message is deferred to `retryNotBefore` rather than retried as a failed
/// attempt (`RetryDeferring`); the order row is left as the refusal found it (none, for the router's), so
/// the redelivery takes it from there as any redelivery does — a SUBMITTING or UNKNOWN row is
/// looked up at the broker first, never sent blind.
public struct PlacementDeferred: Error, RetryDeferring, CustomStringConvertible, Sendable {
    public let orderID: UUID
    public let reason: String
    public let retryNotBefore: Date
    public var description: String {
        "order \(orderID.uuidString.lowercased()) deferred until \(retryNotBefore.ISO8601Format()): \(reason)"
    }
}

/// What handling one command did, for the message's result and the logs.
public struct PlacementResult: Sendable, Equatable {
    public var orderID: UUID?
    public var state: OrderState?
    public var note: String

    /// `order <id> <state> <note>`, the parts there are, one space apart (the settle's result text;
    /// one string built in place, the id by `UUIDText`: Foundation's `uuidString` formats through `sprintf`).
    public var text: String {
        var text = ""
        if let orderID {
            text.append("order ")
            text.append(UUIDText.lower(orderID))
            text.append(" ")
        }
        if let state {
            text.append(state.rawValue)
            text.append(" ")
        }
        text.append(note)
        return text
    }
}

/// Places, cancels and modifies orders exactly once: the state machine of `OrderState`, driven by
/// `orders` messages (and by the worker's sweep of UNKNOWN orders).
///
/// Guarantees:
/// - every step is committed, fenced, before the next side effect: the row is SUBMITTING (with the
///   risk decision and the route) before the broker is called, and the broker's answer is committed
///   before the message is acknowledged;
/// - nothing is sent twice: an order found in SUBMITTING or UNKNOWN is looked up at the broker by its
///   client order id first; it is sent again only when the look-up finds nothing and the last send
///   began more than `resendAfter` ago (the broker's call timeout plus its look-up lag: a request
///   still in flight, or not yet visible to the look-up, is never overtaken by a second one);
/// - a definite refusal (risk, or the broker's) ends the order (RISK_REJECTED, REJECTED) and
///   notifies the user; anything else is UNKNOWN with a reason, and the message is retried;
/// - a cancel or modify ends in the broker's truth: after the call the order is looked up and its
///   reported state adopted, so a cancel racing a fill ends FILLED (or CANCELLED with the part filled).
public final class OrderPlacer: Sendable {
    public struct Settings: Sendable {
        /// How long after a send, not found at the broker, the order may be sent again, per broker:
        /// the broker call's timeout plus how long the broker's look-up may lag behind its book.
        public var resendAfter: @Sendable (BrokerKind) -> Duration
        /// Backoff of the UNKNOWN sweep's look-ups: base × 2^attempts, at most cap.
        public var lookupBase: Duration = .seconds(1)
        public var lookupCap: Duration = .seconds(60)
        public var notificationsQueue = "notifications"

        public init(brokerTimeout: Duration = BrokerTimeouts().total) {
            resendAfter = { broker in brokerTimeout + (broker == .binance ? .seconds(5) : .seconds(2)) }
        }
    }

    let pool: PostgresPool
    let risk: any RiskGate
    let routes: any RouteSource
    let router: OrderRouter
    let gateway: BrokerGateway
    let producer: QueueProducer?
    /// Market data's latest prices, fed to the risk side before each check (nil: the rows' prices only).
    let prices: (any MarketPriceSource)?
    let settings: Settings
    let clock: @Sendable () -> Date
    let logger: Logger

    public init(pool: PostgresPool, risk: any RiskGate, routes: any RouteSource, gateway: BrokerGateway, producer: QueueProducer?,
                prices: (any MarketPriceSource)? = nil, router: OrderRouter = OrderRouter(), settings: Settings = Settings(), clock: @escaping @Sendable () -> Date = { Date() },
                logger: Logger = Logger(label: "tm.orders.placer")) {
        self.pool = pool
        self.risk = risk
        self.routes = routes
        self.router = router
        self.gateway = gateway
        self.producer = producer
        self.prices = prices
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    /// Handles one `orders` message. Throws `MessageRejected` for a message no retry can fix (dead-
    /// lettered with the reason), `PlacementPending` while an outcome is unknown (retried).
    public func handle(_ payload: [UInt8], fences: PlacementFences) async throws -> PlacementResult {
        try await handle(Result { () throws(OrderCommandError) in try OrderCommand.parse(payload) }, fences: fences)
    }

    /// The same for a message already parsed (the resident worker parses each message once).
    func handle(_ parsed: Result<OrderCommand, OrderCommandError>, fences: PlacementFences) async throws -> PlacementResult {
        let command: OrderCommand
        do { command = try parsed.get() } catch { throw MessageRejected("\(error.field): \(error.reason)") }
        switch command {
        case .place(let order): return try await place(order, fences: fences)
        case .change(let change) where change.action == .cancel: return try await cancel(change, fences: fences)
        case .change(let change): return try await modify(change, fences: fences)
        }
    }

    // MARK: Place

    func place(_ order: PlaceOrder, fences: PlacementFences) async throws -> PlacementResult {
        if !fences.firstDelivery, let existing = try await read({ try OrderStore.load($0, idempotencyKey: order.idempotencyKey) }) {
            return try await advance(existing, fences: fences)
        }
        let now = clock()
        let orderID = RandomUUID.make()
        let account = try await line(order.accountID).account
        await observeMarketPrice(symbol: order.symbol, exchange: order.exchange)
        let check = risk.check(order, orderID: orderID, now: now)
        let requestedBroker = account.broker
        var decision: [(key: String, value: JSONValue)] = [
            ("checked_at", .string(now.ISO8601Format(Self.checkedAtStyle))), ("emergency_limits", .bool(check.underEmergencyLimits)),
        ]
        if let last = check.lastPrice { decision.append(("last_price", .string(last.description))) }
        switch check.outcome {
        case .denied(let denial):
            decision = [("passed", false), ("reason", .string(denial.reason.rawValue)), ("message", .string(denial.message))] + decision
            if let retry = denial.retryAfter { decision.append(("retry_after_ms", .number(String(retry.milliseconds)))) }
            let new = NewOrder(id: orderID, userID: account.userID, accountID: order.accountID, requestedAccountID: order.accountID, parentID: nil,
                               order: order, quantity: order.quantity,
                               clientOrderID: ClientOrderID.derive(idempotencyKey: order.idempotencyKey, for: requestedBroker),
                               state: .riskRejected, requestedPrice: order.limitPrice ?? order.triggerPrice ?? check.lastPrice?.decimal,
                               riskDecision: .object(decision), route: nil, rejectCode: denial.reason.rawValue, rejectReason: denial.message,
                               submittedAt: nil, steps: [(.riskRejected, .object(decision))])
            switch try await insertOrContinue([new], fences: fences) {
            case .inserted: return PlacementResult(orderID: orderID, state: .riskRejected, note: denial.description)
            case .taken(let other): return other
            }
        case .passed(let assessment):
            decision = [("passed", true), ("notional", .string(assessment.notional.description)),
                        ("reduces_exposure", .bool(assessment.reducesExposure))] + decision
            let candidates = routes.candidates(for: order, value: assessment.notional)
            let routed = router.route(quantity: order.exact?.quantity ?? 0, lotSize: check.lotSize, value: assessment.notional,
                                      idempotencyKey: order.idempotencyKey, averageTradeValue: check.averageTradeValue,
                                      candidates: candidates)
            let requestedPrice = order.limitPrice ?? order.triggerPrice ?? assessment.price.decimal
            switch routed {
            case .failure(let error):
                risk.release(orderID: orderID, account: order.accountID)
                // Every broker's circuit open: nothing written, nothing sent — wait for the first to reopen.
                if !candidates.isEmpty, candidates.allSatisfy(\.circuitOpen),
                   let wait = await gateway.circuitRefusal(Set(candidates.map(\.broker))) {
                    throw PlacementDeferred(orderID: orderID, reason: "\(error) (nothing written)", retryNotBefore: Date().addingTimeInterval(wait.seconds))
                }
                throw PlacementPending(orderID: orderID, reason: "\(error) (nothing written; retried)")
            case .success(let route):
                let routeJSON = Self.json(route, requested: order.accountID)
                var rows: [NewOrder] = []
                if route.orders.count == 1, let only = route.orders.first, let accountID = UUIDText.parse(only.accountID) {
                    rows.append(NewOrder(id: orderID, userID: account.userID, accountID: accountID, requestedAccountID: order.accountID,
                                         parentID: nil, order: order, quantity: order.quantity, clientOrderID: only.clientOrderID,
                                         state: .submitting, requestedPrice: requestedPrice, riskDecision: .object(decision), route: routeJSON,
                                         rejectCode: nil, rejectReason: nil, submittedAt: now, steps: [(.routed, routeJSON), (.submitting, nil)]))
                } else {
                    // The parent is the order the user placed; its children are what is sent.
                    rows.append(NewOrder(id: orderID, userID: account.userID, accountID: order.accountID, requestedAccountID: order.accountID,
                                         parentID: nil, order: order, quantity: order.quantity,
                                         clientOrderID: ClientOrderID.derive(idempotencyKey: order.idempotencyKey, for: requestedBroker),
                                         state: .submitting, requestedPrice: requestedPrice, riskDecision: .object(decision), route: routeJSON,
                                         rejectCode: nil, rejectReason: nil, submittedAt: now, steps: [(.routed, routeJSON), (.submitting, nil)]))
                    for child in route.orders {
                        guard let accountID = UUIDText.parse(child.accountID) else { continue }
                        var part = order
                        part.idempotencyKey = child.idempotencyKey
                        rows.append(NewOrder(id: RandomUUID.make(), userID: account.userID, accountID: accountID, requestedAccountID: order.accountID,
                                             parentID: orderID, order: part, quantity: child.quantity.decimal, clientOrderID: child.clientOrderID,
                                             state: .submitting, requestedPrice: requestedPrice, riskDecision: .object(decision), route: nil,
                                             rejectCode: nil, rejectReason: nil, submittedAt: now, steps: [(.routed, nil), (.submitting, nil)]))
                    }
                }
                let record: OrderRecord
                switch try await insertOrContinue(rows, fences: fences) {
                case .inserted(let written): record = written
                case .taken(let other):
                    risk.release(orderID: orderID, account: order.accountID)
                    return other
                }
                // Just committed SUBMITTING and never sent: send now (`advance` would look it up first).
                if record.isSplitParent { return try await advanceParent(record, fresh: true, fences: fences) }
                let sent = try await send(record, fences: fences)
                return PlacementResult(orderID: sent.id, state: sent.state, note: "placed")
            }
        }
    }

    enum Insertion {
        /// Written; the first row as committed.
        case inserted(OrderRecord)
        /// The key was taken meanwhile: nothing written; the result of continuing from that row.
        case taken(PlacementResult)
    }

    /// Inserts the rows in one fenced transaction; when the key was taken meanwhile, continues from
    /// the row that took it and writes nothing.
    private func insertOrContinue(_ rows: [NewOrder], fences: PlacementFences) async throws -> Insertion {
        do {
            let written = try await fences.write(pool, .insert(rows))
            await announce(written.notified)
            if let first = written.record { return .inserted(first) }
        } catch is InsertRace {}
        guard let key = rows.first?.order.idempotencyKey, let existing = try await read({ try OrderStore.load($0, idempotencyKey: key) }) else {
            throw PlacementPending(orderID: rows[0].id, reason: "the idempotency key is taken but its order cannot be read")
        }
        return .taken(try await advance(existing, fences: fences))
    }

    /// Takes an order from wherever it stands to as far as it can go now.
    func advance(_ record: OrderRecord, fences: PlacementFences) async throws -> PlacementResult {
        switch record.state {
        case .submitting where record.isSplitParent, .unknown where record.isSplitParent:
            return try await advanceParent(record, fresh: false, fences: fences)
        case .submitting, .unknown:
            let resolved = try await resolve(record, fences: fences, mayResend: true)
            return PlacementResult(orderID: resolved.id, state: resolved.state, note: "resolved")
        case .received, .routed:
            // Written by an older version or a half-finished split: send what was decided.
            guard let moved = try await move(record, to: .submitting, OrderChanges(submittedAt: clock()), detail: nil, fences: fences) else {
                return try await advance(try await reload(record), fences: fences)
            }
            let sent = try await send(moved, fences: fences)
            return PlacementResult(orderID: sent.id, state: sent.state, note: "sent")
        default:
            return PlacementResult(orderID: record.id, state: record.state, note: "already \(record.state.rawValue)")
        }
    }

    /// A split order: each child is sent (`fresh`: just committed SUBMITTING) or, on a redelivery,
    /// resolved; the parent then reports their sum.
    private func advanceParent(_ parent: OrderRecord, fresh: Bool, fences: PlacementFences) async throws -> PlacementResult {
        var pending: [String] = []
        var deferred: [PlacementDeferred] = []
        for child in try await read({ try OrderStore.children($0, of: parent.id) }) {
            do {
                switch child.state {
                case .submitting where fresh: _ = try await send(child, fences: fences)
                case .received, .routed: _ = try await advance(child, fences: fences)
                case .submitting, .unknown: _ = try await resolve(child, fences: fences, mayResend: true)
                default: break
                }
            } catch let error as PlacementPending {
                pending.append(error.reason)
            } catch let error as PlacementDeferred {
                pending.append(error.description)
                deferred.append(error)
            }
        }
        let children = try await read { try OrderStore.children($0, of: parent.id) }
        let summary = ParentSummary(parent: parent, children: children)
        if let target = summary.state, target != parent.state {
            _ = try await move(parent, to: target, OrderChanges(filledQuantity: summary.filled, averagePrice: summary.average,
                                                               unknownReason: pending.first, nextLookupAt: target == .unknown ? lookupTime(parent) : nil),
                               detail: ["children": .string(summary.text)], fences: fences)
        }
        // Only children refused unsent: the parent waits as they do (for the latest of them).
        if !deferred.isEmpty, deferred.count == pending.count, let last = deferred.max(by: { $0.retryNotBefore < $1.retryNotBefore }) {
            throw PlacementDeferred(orderID: parent.id, reason: "children deferred: \(last.reason)", retryNotBefore: last.retryNotBefore)
        }
        if !pending.isEmpty { throw PlacementPending(orderID: parent.id, reason: "children pending: \(pending.joined(separator: "; "))") }
        return PlacementResult(orderID: parent.id, state: summary.state ?? parent.state, note: summary.text)
    }

    // MARK: The broker call and its answer

    /// Sends an order that was just committed SUBMITTING and commits the answer.
    func send(_ record: OrderRecord, fences: PlacementFences) async throws -> OrderRecord {
        try fences.ownership()
        let line = try await line(record.accountID)
        let token = line.broker == .upstox
            ? try await read { try BrokerGateway.brokerToken($0, broker: .upstox, exchange: record.exchange, symbol: record.symbol) } : nil
        var request = record.request(brokerToken: token)
        request.product = BrokerGateway.productWord(record.product, for: line.broker)
        do {
            let ack = try await gateway.call(line, distinguishingRefusals: true) { try await $0.adapter.placeOrder(request, credentials: $0.credentials) }
            return try await adopt(record, ack, detail: ["via": "placement"], fences: fences)
        } catch let refused as BrokerCallRefused {
            // Refused at admission: the request never left. The row stays SUBMITTING (committed
            // before the admission) and nothing is written; the message waits for the broker.
            throw deferral(record, refused, broker: line.broker)
        } catch let error as BrokerError {
            switch error {
            case .rejected(let reason, let code):
                return try await refuse(record, code: code ?? "BROKER_REJECTED", reason: reason, fences: fences)
            case .unauthorized(let reason):
                return try await refuse(record, code: "UNAUTHORIZED", reason: reason, fences: fences)
            case .notFound(let reason):
                return try await refuse(record, code: "NOT_FOUND", reason: reason, fences: fences)
            case .unavailable, .rateLimited, .unknownOutcome, .invalidResponse:
                try await markUnknown(record, reason: error.description, fences: fences)
                throw PlacementPending(orderID: record.id, reason: error.description)
            }
        } catch let error as PlacementPending {
            throw error
        } catch let error as PlacementDeferred {
            throw error
        } catch {
            // Not a broker answer (credentials could not be opened, the process is stopping...): the
            // request may or may not have left; the look-up decides.
            try await markUnknown(record, reason: "\(error)", fences: fences)
            throw PlacementPending(orderID: record.id, reason: "\(error)")
        }
    }

    /// Looks an order in SUBMITTING or UNKNOWN up at the broker and adopts what it finds; when it
    /// finds nothing and the last send is older than `resendAfter`, sends again (`mayResend`) or
    /// ends the order CANCELLED as never placed (a cancel's resolution).
    func resolve(_ record: OrderRecord, fences: PlacementFences, mayResend: Bool) async throws -> OrderRecord {
        try fences.ownership()
        let line = try await line(record.accountID)
        let found: BrokerOrder?
        do {
            found = try await gateway.call(line, distinguishingRefusals: true) {
                try await $0.adapter.order(clientOrderID: record.clientOrderID, symbol: record.symbol, credentials: $0.credentials)
            }
        } catch let refused as BrokerCallRefused {
            // The look-up was refused at admission: nothing asked, nothing learnt (not counted as a
            // look-up). The row says why it waits; the message waits for the broker.
            try await markUnknown(record, reason: "look-up not sent: \(refused.brokerError)", notBefore: refused.retryNotBefore, fences: fences)
            throw deferral(record, refused, broker: line.broker)
        } catch {
            try await markUnknown(record, reason: "look-up failed: \(error)", lookedUp: true, fences: fences)
            throw PlacementPending(orderID: record.id, reason: "look-up failed: \(error)")
        }
        if let found { return try await adopt(record, found, detail: ["via": "look-up"], lookedUp: true, fences: fences) }
        let now = clock()
        let since = now.timeIntervalSince(record.submittedAt ?? record.createdAt)
        let wait = settings.resendAfter(line.broker)
        let resendable = resendableAt(record, broker: line.broker)
        guard now >= resendable else {
            let reason = "not found at the broker \(Int(since * 1000)) ms after the send; looked up again after \(DurationText.format(wait))"
            try await markUnknown(record, reason: reason, lookedUp: true, fences: fences)
            // Nothing can be done before the resend window ends, so the message waits for it
            // without spending an attempt (retries would only look up again and run out first).
            throw PlacementDeferred(orderID: record.id, reason: reason, retryNotBefore: resendable)
        }
        let detail: JSONValue = ["not_found_after_ms": .number(String(Int(since * 1000))), "attempt": .number(String(record.submitAttempts + 1))]
        guard mayResend else {
            guard let cancelled = try await move(record, to: .cancelled, OrderChanges(lookedUp: true), detail: detail, fences: fences) else {
                return try await reload(record)
            }
            risk.release(orderID: ledgerID(record), account: ledgerAccount(record))
            return cancelled
        }
        // The broker never got it: the same client id goes out again.
        guard let again = try await move(record, to: .submitting, OrderChanges(submittedAt: clock(), lookedUp: true), detail: detail, fences: fences) else {
            return try await resolveAgain(record)
        }
        return try await send(again, fences: fences)
    }

    /// A deferral to when the refusal lifts — and not before the order may be resent: the
    /// redelivery looks it up first, and a look-up that finds nothing may resend only `resendAfter`
    /// after the send began (`submitted_at`), so an earlier redelivery could only spend an attempt.
    func deferral(_ record: OrderRecord, _ refused: BrokerCallRefused, broker: BrokerKind) -> PlacementDeferred {
        PlacementDeferred(orderID: record.id, reason: refused.description, retryNotBefore: max(refused.retryNotBefore, resendableAt(record, broker: broker)))
    }

    /// When an order not found at the broker may be sent again: `resendAfter` after its send began.
    func resendableAt(_ record: OrderRecord, broker: BrokerKind) -> Date {
        (record.submittedAt ?? record.createdAt).addingTimeInterval(settings.resendAfter(broker).seconds)
    }

    private func resolveAgain(_ record: OrderRecord) async throws -> OrderRecord {
        let now = try await reload(record)
        guard now.state == .submitting || now.state == .unknown else { return now }
        throw PlacementPending(orderID: record.id, reason: "moved by another writer while resolving; looked up again")
    }

    /// Adopts the broker's report of the order: its id, fill and state (never a fill backwards).
    func adopt(_ record: OrderRecord, _ reported: BrokerOrder, detail: JSONValue, lookedUp: Bool = false,
               fences: PlacementFences, retries: Int = 2) async throws -> OrderRecord {
        let filled = max(min(reported.filledQuantity, record.quantity), record.filledQuantity)
        let average = filled > 0 ? (reported.averagePrice ?? record.averagePrice) : nil
        guard var target = OrderState(rawValue: reported.status.platformState(filled: filled, quantity: record.quantity)) else {
            throw PlacementPending(orderID: record.id, reason: "the broker's status \(reported.status.rawValue) has no platform state")
        }
        if filled > 0 && average == nil { target = .accepted }  // a fill without a price waits for the next report
        if target == record.state && filled == record.filledQuantity && reported.brokerOrderID == record.brokerOrderID { return record }
        guard record.state == target || record.state.canMove(to: target) else { return record }
        var changes = OrderChanges(brokerOrderID: reported.brokerOrderID, lookedUp: lookedUp)
        if filled > 0, let average {
            changes.filledQuantity = filled
            changes.averagePrice = average
        }
        guard let moved = try await move(record, to: target, changes, detail: detail, fences: fences) else {
            // Another writer (a sync, a sweep) moved it meanwhile: apply the report to where it is now.
            let now = try await reload(record)
            guard now.version != record.version, !now.state.isTerminal, retries > 0 else { return now }
            return try await adopt(now, reported, detail: detail, lookedUp: lookedUp, fences: fences, retries: retries - 1)
        }
        let delta = moved.filledQuantity - record.filledQuantity
        if delta > 0, let price = (reported.averagePrice ?? moved.averagePrice).flatMap({ FixedDecimal(exactly: $0) }),
           let quantity = FixedDecimal(exactly: delta) {
            risk.fill(orderID: ledgerID(record), account: ledgerAccount(record), symbol: record.symbol, exchange: record.exchange, side: record.side,
                      quantity: quantity, price: price)
        }
        if target.isTerminal { risk.release(orderID: ledgerID(record), account: ledgerAccount(record)) }
        return moved
    }

    private func refuse(_ record: OrderRecord, code: String, reason: String, fences: PlacementFences) async throws -> OrderRecord {
        guard let moved = try await move(record, to: .rejected, OrderChanges(rejectCode: code, rejectReason: reason),
                                         detail: ["code": .string(code), "reason": .string(reason)], fences: fences) else {
            return try await reload(record)
        }
        risk.release(orderID: ledgerID(record), account: ledgerAccount(record))
        return moved
    }

    /// UNKNOWN with the reason and the next look-up time (a row already UNKNOWN counts the look-up).
    /// `notBefore`: no look-up can be asked before then (a refusal's end), so the sweep waits for it
    /// rather than refusing itself again on its own backoff.
    private func markUnknown(_ record: OrderRecord, reason: String, lookedUp: Bool = false, notBefore: Date? = nil, fences: PlacementFences) async throws {
        guard record.state == .submitting || record.state == .unknown else { return }
        let next = max(lookupTime(record), notBefore ?? .distantPast)
        _ = try await move(record, to: .unknown, OrderChanges(unknownReason: reason, nextLookupAt: next, lookedUp: lookedUp),
                           detail: record.state == .unknown ? nil : ["reason": .string(reason)], fences: fences)
    }

    func lookupTime(_ record: OrderRecord) -> Date {
        let exponent = min(record.lookupAttempts, 16)
        let delay = min(settings.lookupBase * (1 << exponent), settings.lookupCap)
        return clock().addingTimeInterval(delay.seconds)
    }

    /// The ledger entry of an order: a split's children fill their parent's reservation.
    func ledgerID(_ record: OrderRecord) -> UUID { record.parentID ?? record.id }
    /// The account whose ledger holds it: the one the order was asked for (the shard's account),
    /// wherever the router placed it.
    func ledgerAccount(_ record: OrderRecord) -> UUID { record.requestedAccountID ?? record.accountID }

    // MARK: Cancel and modify

    func cancel(_ change: ChangeOrder, fences: PlacementFences) async throws -> PlacementResult {
        let named = try await target(change)
        // Never cancel blind: learn first whether the broker has it (nothing is sent again).
        let record = named.state == .submitting || named.state == .unknown ? try await resolve(named, fences: fences, mayResend: false) : named
        switch record.state {
        case .received, .routed:
            var cancelled = try await move(record, to: .cancelled, detail: ["by": .string(change.idempotencyKey)], fences: fences)
            if cancelled == nil { cancelled = try await reload(record) }
            risk.release(orderID: ledgerID(record), account: ledgerAccount(record))
            return PlacementResult(orderID: record.id, state: cancelled?.state, note: "cancelled before it was sent")
        case .accepted, .partiallyFilled:
            guard let brokerID = record.brokerOrderID else { throw PlacementPending(orderID: record.id, reason: "no broker order id yet") }
            try fences.ownership()
            let line = try await line(record.accountID)
            var refusal: String?
            do {
                try await gateway.call(line) { try await $0.adapter.cancelOrder(brokerOrderID: brokerID, symbol: record.symbol, credentials: $0.credentials) }
            } catch let error as BrokerError {
                // Refused (already filled, already gone) or unknown: the look-up below tells which.
                refusal = error.description
            }
            let sent = "cancel sent" + (refusal.map { " (\($0))" } ?? "")
            let after: OrderRecord
            do {
                after = try await resolve(record, fences: fences, mayResend: false)
            } catch let deferred as PlacementDeferred {
                // The cancel itself went out: this attempt did something, so it is counted.
                throw PlacementPending(orderID: record.id, reason: "\(sent); \(deferred.reason)")
            }
            guard after.state.isTerminal else {
                throw PlacementPending(orderID: record.id, reason: "\(sent); the broker still reports it \(after.state.rawValue)")
            }
            return PlacementResult(orderID: record.id, state: after.state, note: refusal.map { "cancel refused: \($0)" } ?? "cancel done")
        default:
            return PlacementResult(orderID: record.id, state: record.state, note: "nothing to cancel: already \(record.state.rawValue)")
        }
    }

    func modify(_ change: ChangeOrder, fences: PlacementFences) async throws -> PlacementResult {
        let named = try await target(change)
        let record = named.state == .submitting || named.state == .unknown ? try await resolve(named, fences: fences, mayResend: true) : named
        guard record.state.isWorking, let brokerID = record.brokerOrderID else {
            return PlacementResult(orderID: record.id, state: record.state, note: "not modified: the order is \(record.state.rawValue)")
        }
        let line = try await line(record.accountID)
        let replacementID = ClientOrderID.derive(idempotencyKey: change.idempotencyKey, for: line.broker)
        if record.clientOrderID == replacementID { return PlacementResult(orderID: record.id, state: record.state, note: "already modified") }
        let modification = OrderModification(
            brokerOrderID: brokerID, symbol: record.symbol, exchange: record.exchange, side: record.side, type: record.type,
            quantity: change.quantity ?? record.quantity, limitPrice: change.limitPrice ?? record.limitPrice,
            stopPrice: change.triggerPrice ?? record.triggerPrice, timeInForce: record.timeInForce, replacementClientOrderID: replacementID)
        // Checked as it will be, against the account's limits, before anything is sent. (A split's
        // child is held by its parent's reservation and is not checked alone.)
        if record.parentID == nil {
            let modified = PlaceOrder(idempotencyKey: change.idempotencyKey, accountID: ledgerAccount(record), symbol: record.symbol,
                                      exchange: record.exchange, side: record.side, quantity: modification.quantity, type: record.type,
                                      limitPrice: modification.limitPrice, triggerPrice: modification.stopPrice, timeInForce: record.timeInForce,
                                      product: record.product)
            await observeMarketPrice(symbol: record.symbol, exchange: record.exchange)
            if case .denied(let denial) = risk.recheck(modified, orderID: ledgerID(record), now: clock()).outcome {
                _ = try await move(record, to: record.state, detail: ["modify": .string(change.idempotencyKey), "risk_denied": .string(denial.reason.rawValue),
                                                                    "message": .string(denial.message)], fences: fences)
                return PlacementResult(orderID: record.id, state: record.state, note: "modify refused by the risk engine: \(denial)")
            }
        }
        try fences.ownership()
        let changes = { (reported: BrokerOrder) in
            OrderChanges(brokerOrderID: reported.brokerOrderID, quantity: change.quantity, limitPrice: change.limitPrice,
                         triggerPrice: change.triggerPrice, clientOrderID: reported.clientOrderID ?? record.clientOrderID)
        }
        let detail: JSONValue = ["modify": .string(change.idempotencyKey)]
        do {
            let reported = try await gateway.call(line) { try await $0.adapter.modifyOrder(modification, credentials: $0.credentials) }
            let moved = try await moveReported(record, reported, changes(reported), detail: detail, fences: fences)
            return PlacementResult(orderID: record.id, state: moved.state, note: "modified")
        } catch let error as BrokerError {
            // Alpaca and Binance replace the order: a lost answer or a replay finds the replacement.
            if line.broker == .alpaca || line.broker == .binance,
               let replacement = try? await gateway.call(line, { try await $0.adapter.order(clientOrderID: replacementID, symbol: record.symbol, credentials: $0.credentials) }) {
                let moved = try await moveReported(record, replacement, changes(replacement), detail: detail, fences: fences)
                return PlacementResult(orderID: record.id, state: moved.state, note: "modified (found the replacement)")
            }
            guard case .rejected = error else { throw PlacementPending(orderID: record.id, reason: "modify: \(error)") }
            _ = try await move(record, to: record.state, detail: ["modify": .string(change.idempotencyKey), "refused": .string(error.description)],
                               fences: fences)
            return PlacementResult(orderID: record.id, state: record.state, note: "modify refused: \(error)")
        }
    }

    private func moveReported(_ record: OrderRecord, _ reported: BrokerOrder, _ changes: OrderChanges, detail: JSONValue,
                              fences: PlacementFences) async throws -> OrderRecord {
        let quantity = changes.quantity ?? record.quantity
        let state = OrderState(rawValue: reported.status.platformState(filled: min(reported.filledQuantity, quantity), quantity: quantity)) ?? record.state
        let target = record.state == state || record.state.canMove(to: state) ? state : record.state
        if let moved = try await move(record, to: target, changes, detail: detail, fences: fences) { return moved }
        return try await reload(record)
    }

    /// The order a cancel or modify names, checked against the message's account.
    private func target(_ change: ChangeOrder) async throws -> OrderRecord {
        guard let record = try await read({ try OrderStore.load($0, id: change.orderID) }) else {
            throw MessageRejected("order_id: no order \(change.orderID.uuidString.lowercased())")
        }
        guard record.accountID == change.accountID || record.requestedAccountID == change.accountID else {
            throw MessageRejected("order_id: order \(change.orderID.uuidString.lowercased()) belongs to another account")
        }
        return record
    }

    // MARK: Plumbing

    /// One fenced transition; nil when the row had moved on (nothing written).
    private func move(_ record: OrderRecord, to state: OrderState, _ changes: OrderChanges = OrderChanges(), detail: JSONValue?,
                      fences: PlacementFences) async throws -> OrderRecord? {
        let written = try await fences.write(pool, .move(OrderMove(order: record, to: state, changes: changes, detail: detail)))
        await announce(written.notified)
        return written.record
    }

    private func reload(_ record: OrderRecord) async throws -> OrderRecord {
        guard let now = try await read({ try OrderStore.load($0, id: record.id) }) else {
            throw PlacementPending(orderID: record.id, reason: "the order row is gone")
        }
        return now
    }

    /// The price band and a market order's value are checked against the market's price, not the
    /// last sync's: market data's latest price goes to the risk side first (one Redis read).
    private func observeMarketPrice(symbol: String, exchange: String) async {
        guard let prices, let price = await prices.latestPrice(symbol: symbol, exchange: exchange) else { return }
        risk.observe(lastPrice: price, symbol: symbol, exchange: exchange)
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await pool.withConnection(body)
    }

    /// Queues each new notification for the notifier (the row is the source of truth; a lost enqueue
    /// is found by the notifier's sweep of pending rows).
    private func announce(_ notifications: [UUID]) async {
        await NotificationOutbox.announce(notifications, producer: producer, queue: settings.notificationsQueue)
    }

    /// The account's broker line: from the gateway's cache, else opened from its row.
    private func line(_ account: UUID) async throws -> BrokerLine {
        if let cached = gateway.cached(account) { return cached }
        return try await read { try self.gateway.line(account, db: $0) }
    }

    /// The route as stored with the order.
    static func json(_ route: RouteDecision, requested: UUID) -> JSONValue { RouteRecord.json(route, requested: requested) }

    /// The risk decision's `checked_at`: an instant, with its zone (UTC, `Z`) and milliseconds.
    static let checkedAtStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}


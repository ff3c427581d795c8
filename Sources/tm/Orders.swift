import ArgumentParser
import Foundation
import TMCore
import TMOrders
import TMPostgres
import TMQueue

/// `tm orders`: place, cancel and modify orders (checked, then enqueued on `orders`), and view them.
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Place, cancel and modify orders (checked at intake, then enqueued on the orders queue); list and show them.",
        discussion: """
            place, cancel and modify check the command against the database (account active, instrument known and tradable,
            quantity a whole number of lots, prices on the tick, the order to change open and of that account) and enqueue it on
            `orders`, on the account's shard, under an idempotency key (--key; one is made and printed when omitted). The same key
            enqueues once. A refusal prints `field: reason`, enqueues nothing and exits 1.
            """,
        subcommands: [Place.self, Cancel.self, Modify.self, List.self, Show.self, Unknown.self, Halt.self, Reduce.self, Resume.self])

    /// Runs a command that checks before it writes: a refusal prints `field: reason` and what was
    /// not done (`nothing`), and exits 1; any other error prints and exits 1.
    static func refusing(nothing: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let refusal as OrderCommandError {
            FileHandle.standardError.write(Data("\(refusal)\n\(nothing)\n".utf8))
            throw ExitCode(1)
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Options every enqueueing subcommand shares.
    struct Submission: ParsableArguments {
        @Option(help: "Idempotency key (default: a new cli-<uuid>, printed). The same key enqueues once.") var key: String?
        @Flag(help: "Print as JSON.") var json = false
        // The queue to enqueue on: `orders`; tests point it at a scratch queue of the same shape.
        @Option(help: .hidden) var queue = "orders"

        var idempotencyKey: String { key ?? Self.generatedKey }
        private static let generatedKey = "cli-\(UUID().uuidString.lowercased())"

        /// Builds the command with the database at hand, checks and enqueues it, and prints the outcome.
        func submit(_ build: (PostgresConnection) throws -> OrderCommand) async throws {
            try await Orders.refusing(nothing: "nothing was enqueued") {
                let db = try PostgresConnection.connect()
                defer { db.close() }
                let command = try build(db)
                let system = try await QueueSystem.open(checking: [queue], clientName: "tm-orders")
                defer { system.close() }
                let intake = try OrderIntake.configured(db: db, producer: QueueProducer(redis: system.redis, catalog: system.catalog), queue: queue)
                report(command, try await intake.submit(command))
            }
        }

        private func report(_ command: OrderCommand, _ receipt: OrderReceipt) {
            if json {
                var members: [(key: String, value: JSONValue)] = [
                    ("idempotency_key", .string(receipt.idempotencyKey)), ("generated_key", .bool(key == nil)), ("kind", .string(receipt.kind)),
                    ("account_id", .string(receipt.accountID.uuidString.lowercased())), ("queue", .string(queue)),
                    ("shard", receipt.shard.map { .number(String($0)) } ?? .null), ("message_id", .optional(receipt.messageID)),
                    ("duplicate", .bool(receipt.duplicate)), ("message_state", .optional(receipt.messageState)),
                    ("order_id", .optional(receipt.orderID?.uuidString.lowercased())),
                ]
                members.append(("message", command.json))
                return print(JSONValue.object(members).prettyText)
            }
            print("key: \(receipt.idempotencyKey)\(key == nil ? " (generated; give it as --key to repeat this safely)" : "")")
            if let order = receipt.orderID {
                print("already placed: the key is on order \(order.uuidString.lowercased()); nothing new was enqueued")
            } else if receipt.duplicate {
                print("already enqueued: the key names message \(receipt.messageID ?? "?") on \(queue) shard \(receipt.shard.map(String.init) ?? "?") "
                      + "(state: \(receipt.messageState ?? "unknown")); nothing new was enqueued")
            } else {
                print("enqueued \(receipt.kind) \(command.json.text) as message \(receipt.messageID ?? "?") on \(queue) shard \(receipt.shard.map(String.init) ?? "?")")
            }
        }
    }

    // Quantities and prices are read as given (`.unconditional`), so a negative one (`--qty -1`)
    // reaches the order's own check and is refused naming the field, not taken for an option.
    struct Place: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check an order and enqueue it for placement.")
        @Option(help: "The account: its id, or a label that names one account.") var account: String
        @Option(help: "The instrument's trading symbol, e.g. INFY, AAPL, BTCUSDT.") var symbol: String
        @Option(help: "buy or sell.") var side: String
        @Option(parsing: .unconditional, help: "Quantity (a whole number of lots).") var qty: String
        @Option(help: "market, limit, stop or stop-limit.") var type = "market"
        @Option(parsing: .unconditional, help: "Limit price (limit and stop-limit orders).") var price: String?
        @Option(parsing: .unconditional, help: "Trigger price (stop and stop-limit orders).") var trigger: String?
        @Option(help: "Time in force: day, gtc or ioc.") var tif = "day"
        @Option(help: "delivery or intraday.") var product = "delivery"
        @Option(help: "The exchange (default: the one exchange that lists the symbol).") var exchange: String?
        @OptionGroup var submission: Submission

        func run() async throws {
            try await submission.submit { db in
                var members: [(key: String, value: JSONValue)] = [
                    ("kind", "place"), ("idempotency_key", .string(submission.idempotencyKey)),
                    ("account_id", .string(try OrderIntake.account(account, in: db).uuidString)), ("symbol", .string(symbol)),
                    ("exchange", .string(try exchange ?? OrderIntake.exchange(of: symbol, in: db))), ("side", .string(side)),
                    ("quantity", .string(qty)), ("type", .string(type.replacingOccurrences(of: "-", with: "_"))),
                    ("tif", .string(tif)), ("product", .string(product)),
                ]
                if let price { members.append(("price", .string(price))) }
                if let trigger { members.append(("trigger", .string(trigger))) }
                return try OrderCommand.parse(.object(members))
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enqueue a cancel of an open order (on its account's shard, after its placement).")
        @Argument(help: "The order id.") var order: String
        @OptionGroup var submission: Submission

        func run() async throws {
            try await submission.submit { db in try change("cancel", order, submission, db) }
        }
    }

    struct Modify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enqueue a change of an open order's quantity, price or trigger.")
        @Argument(help: "The order id.") var order: String
        @Option(parsing: .unconditional, help: "The new quantity (a whole number of lots).") var qty: String?
        @Option(parsing: .unconditional, help: "The new limit price.") var price: String?
        @Option(parsing: .unconditional, help: "The new trigger price.") var trigger: String?
        @OptionGroup var submission: Submission

        func run() async throws {
            try await submission.submit { db in
                var values: [(key: String, value: JSONValue)] = []
                if let qty { values.append(("quantity", .string(qty))) }
                if let price { values.append(("price", .string(price))) }
                if let trigger { values.append(("trigger", .string(trigger))) }
                return try change("modify", order, submission, db, values)
            }
        }
    }

    /// A cancel or modify of `order`, on the account the order belongs to.
    static func change(_ kind: String, _ order: String, _ submission: Submission, _ db: PostgresConnection,
                       _ values: [(key: String, value: JSONValue)] = []) throws -> OrderCommand {
        guard let id = UUID(uuidString: order) else { throw OrderCommandError("order_id", "'\(order)' is not an order id (a UUID)") }
        let members: [(key: String, value: JSONValue)] = [
            ("kind", .string(kind)), ("idempotency_key", .string(submission.idempotencyKey)),
            ("account_id", .string(try OrderIntake.account(ofOrder: id, in: db).uuidString)), ("order_id", .string(order)),
        ]
        return try OrderCommand.parse(.object(members + values))
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Orders, newest first: state, risk reject code, prices, slippage.")
        @Option(help: "Only this account (id or label).") var account: String?
        @Option(help: "Only orders in this state, e.g. UNKNOWN, RISK_REJECTED.") var state: String?
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            guard limit > 0 else { throw ValidationError("--limit: must be positive") }
            var wanted: OrderState?
            if let state {
                guard let known = OrderState(rawValue: state.uppercased()) else {
                    throw ValidationError("--state: '\(state)' is not one of \(OrderState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                wanted = known
            }
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let orders = try OrderViews.list(db, account: try account.map { try OrderIntake.account($0, in: db) }, state: wanted, limit: limit)
            if json { return print(JSONValue.array(orders.map(\.json)).prettyText) }
            // The route (the broker the order went to), the risk decision (the reject code) and the
            // execution quality (average price, slippage, time to accept); `show` has the rest.
            print("ID                                    ACCOUNT           BROKER   SYMBOL        SIDE  TYPE        QTY           FILLED        PRICE         "
                  + "STATE             REJECT                               AVG PRICE     SLIP BPS  ACCEPT MS  CREATED")
            for o in orders {
                print([pad(o.id.uuidString.lowercased(), 38), pad(o.accountLabel, 18), pad(o.broker, 9), pad(o.symbol, 14), pad(o.side, 6), pad(o.type, 12),
                       pad(o.quantity, 14), pad(o.filledQuantity, 14), pad(o.price ?? o.triggerPrice ?? "-", 14), pad(o.state, 18),
                       pad(o.rejectCode ?? "-", 37), pad(o.averagePrice ?? "-", 14), pad(o.slippageBps ?? "-", 10),
                       pad(o.timeToAcceptMs.map(String.init) ?? "-", 11), ISO8601DateFormatter().string(from: o.createdAt)].joined())
            }
            if orders.isEmpty { print("(no orders)") }
        }
    }

    struct Unknown: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Orders whose outcome at the broker is not known yet, with why and when they are looked up again.",
            discussion: """
                An order is UNKNOWN when its broker call may have placed it but no answer came (a timeout, a 5xx, a dropped
                connection). The order-worker looks each one up by its client order id with backoff and adopts what the broker
                reports; it is sent again only when the look-up finds nothing well after the last send. SUBMITTING orders older
                than a minute are listed too (a worker died mid-call; the next delivery or sweep resolves them).
                """)
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            guard limit > 0 else { throw ValidationError("--limit: must be positive") }
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let orders = try OrderViews.unknown(db, limit: limit)
            if json { return print(JSONValue.array(orders.map(\.json)).prettyText) }
            print("ID                                    ACCOUNT           SYMBOL        STATE       SENT  LOOKED UP  NEXT LOOK-UP              REASON")
            let time = ISO8601DateFormatter()
            for o in orders {
                print([pad(o.id.uuidString.lowercased(), 38), pad(o.accountLabel, 18), pad(o.symbol, 14), pad(o.state, 12),
                       pad(String(o.submitAttempts), 6), pad(String(o.lookupAttempts), 11), pad(o.nextLookupAt.map(time.string) ?? "-", 26),
                       o.unknownReason ?? "-"].joined())
            }
            if orders.isEmpty { print("(no orders with an unknown outcome)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One order: its risk decision, route, execution quality and every state change.")
        @Argument(help: "The order id.") var order: String
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            guard let id = UUID(uuidString: order) else { throw ValidationError("order: '\(order)' is not an order id (a UUID)") }
            let db = try PostgresConnection.connect()
            defer { db.close() }
            guard let o = try OrderViews.show(db, order: id) else { throw ValidationError("order: no order \(order)") }
            if json { return print(o.json.prettyText) }
            let time = ISO8601DateFormatter()
            let lines: [(String, String?)] = [
                ("order", o.id.uuidString.lowercased()), ("account", "\(o.accountID.uuidString.lowercased()) (\(o.accountLabel), \(o.broker))"),
                ("instrument", "\(o.symbol) on \(o.exchange)"),
                ("order", "\(o.side) \(o.quantity) \(o.type)" + (o.price.map { " at \($0)" } ?? "") + (o.triggerPrice.map { " trigger \($0)" } ?? "")
                    + ", \(o.timeInForce)"),
                ("state", o.state + (o.rejectCode.map { " (\($0)\(o.rejectReason.map { ": \($0)" } ?? ""))" } ?? "")),
                ("filled", o.filledQuantity), ("key", o.idempotencyKey), ("client order id", o.clientOrderID), ("broker order id", o.brokerOrderID),
                ("risk decision", o.riskDecision?.text), ("route", o.route?.text), ("requested price", o.requestedPrice),
                ("average price", o.averagePrice), ("slippage", o.slippageBps.map { "\($0) bps" }),
                ("time to accept", o.timeToAcceptMs.map { "\($0) ms" }), ("time to fill", o.timeToFillMs.map { "\($0) ms" }),
                // Kept once the order moved on: then it says why it was unknown, not that it is.
                (o.state == "UNKNOWN" ? "unknown because" : "was unknown", o.unknownReason), ("broker calls", "\(o.submitAttempts) sent, \(o.lookupAttempts) looked up"),
                ("next look-up", o.nextLookupAt.map(time.string)), ("split from", o.parentOrderID?.uuidString.lowercased()),
                ("created", time.string(from: o.createdAt)),
            ]
            for (label, value) in lines { print(pad(label + ":", 18) + (value ?? "-")) }
            print("")
            print("STATE CHANGES")
            for event in o.events {
                print("  \(time.string(from: event.at))  \(event.fromState ?? "-") -> \(event.toState)" + (event.detail.map { "  \($0.text)" } ?? ""))
            }
            if o.events.isEmpty { print("  (none recorded)") }
        }
    }
}

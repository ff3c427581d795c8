import Foundation
import TMBrokers
import TMCore

/// A refusal of an order command: the field and the reason, never a guess.
public struct OrderCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason)" }
}

/// An order to place, as it travels on the `orders` queue (sharded by `account_id`).
public struct PlaceOrder: Sendable, Equatable {
    /// The caller's key: the order's identity, from which its client order id is derived.
    public var idempotencyKey: String
    public var accountID: UUID
    public var symbol: String
    public var exchange: String
    public var side: OrderSide
    public var quantity: Decimal { didSet { exact = Exact(self) } }
    public var type: OrderType
    public var limitPrice: Decimal? { didSet { exact = Exact(self) } }
    public var triggerPrice: Decimal? { didSet { exact = Exact(self) } }
    public var timeInForce: TimeInForce
    public var product: ProductType
    /// The quantity and prices in the risk engine's fixed point, converted once when the order is
    /// made (or a decimal changes), not on every check; nil when one has more than
    /// `FixedDecimal.scale` places or is out of range (the risk engine refuses that order).
    public private(set) var exact: Exact?

    /// `quantity`, `limitPrice` and `triggerPrice` as `FixedDecimal`, exactly.
    public struct Exact: Sendable, Equatable {
        public var quantity: FixedDecimal
        public var limitPrice: FixedDecimal?
        public var triggerPrice: FixedDecimal?

        public init(quantity: FixedDecimal, limitPrice: FixedDecimal?, triggerPrice: FixedDecimal?) {
            self.quantity = quantity
            self.limitPrice = limitPrice
            self.triggerPrice = triggerPrice
        }

        init?(quantity: Decimal, limitPrice: Decimal?, triggerPrice: Decimal?) {
            guard let fixed = FixedDecimal(exactly: quantity) else { return nil }
            self.quantity = fixed
            if let price = limitPrice { guard let fixed = FixedDecimal(exactly: price) else { return nil }; self.limitPrice = fixed }
            if let price = triggerPrice { guard let fixed = FixedDecimal(exactly: price) else { return nil }; self.triggerPrice = fixed }
        }

        init?(_ order: PlaceOrder) {
            self.init(quantity: order.quantity, limitPrice: order.limitPrice, triggerPrice: order.triggerPrice)
        }
    }

    public init(idempotencyKey: String, accountID: UUID, symbol: String, exchange: String, side: OrderSide, quantity: Decimal,
                type: OrderType, limitPrice: Decimal? = nil, triggerPrice: Decimal? = nil, timeInForce: TimeInForce = .day,
                product: ProductType = .delivery) {
        self.init(idempotencyKey: idempotencyKey, accountID: accountID, symbol: symbol, exchange: exchange, side: side, quantity: quantity,
                  type: type, limitPrice: limitPrice, triggerPrice: triggerPrice, timeInForce: timeInForce, product: product,
                  exact: Exact(quantity: quantity, limitPrice: limitPrice, triggerPrice: triggerPrice))
    }

    /// `exact` given by a reader that already converted the decimals (`OrderCommand.parse`).
    init(idempotencyKey: String, accountID: UUID, symbol: String, exchange: String, side: OrderSide, quantity: Decimal,
         type: OrderType, limitPrice: Decimal?, triggerPrice: Decimal?, timeInForce: TimeInForce, product: ProductType, exact: Exact?) {
        self.idempotencyKey = idempotencyKey
        self.accountID = accountID
        self.symbol = symbol
        self.exchange = exchange
        self.side = side
        self.quantity = quantity
        self.type = type
        self.limitPrice = limitPrice
        self.triggerPrice = triggerPrice
        self.timeInForce = timeInForce
        self.product = product
        self.exact = exact
    }
}

/// A change to an order already placed: travels the order's shard, so it is serialised with it.
public struct ChangeOrder: Sendable, Equatable {
    public enum Action: String, Sendable { case cancel, modify }
    public var action: Action
    public var idempotencyKey: String
    public var accountID: UUID
    public var orderID: UUID
    /// Modify only: the new values (nil keeps the current one; at least one is given).
    public var quantity: Decimal?
    public var limitPrice: Decimal?
    public var triggerPrice: Decimal?

    public init(action: Action, idempotencyKey: String, accountID: UUID, orderID: UUID, quantity: Decimal? = nil,
                limitPrice: Decimal? = nil, triggerPrice: Decimal? = nil) {
        self.action = action
        self.idempotencyKey = idempotencyKey
        self.accountID = accountID
        self.orderID = orderID
        self.quantity = quantity
        self.limitPrice = limitPrice
        self.triggerPrice = triggerPrice
    }
}

/// A message of the `orders` queue: one JSON object with a `kind`.
///
/// Guarantees: `parse` accepts exactly what `json` writes and refuses anything else — unknown
/// fields, a missing or mistyped field, a non-positive quantity or price, a price the order type
/// does not take or lacks — with the field and the reason; decimals are read from their exact
/// text (a JSON number or a string), never through `Double`. The shape checks that need no
/// database live here, so the producer and the worker apply the same ones.
public enum OrderCommand: Sendable, Equatable {
    case place(PlaceOrder)
    case change(ChangeOrder)

    public var accountID: UUID {
        switch self {
        case .place(let order): return order.accountID
        case .change(let change): return change.accountID
        }
    }

    public var idempotencyKey: String {
        switch self {
        case .place(let order): return order.idempotencyKey
        case .change(let change): return change.idempotencyKey
        }
    }

    /// The message: `{"kind": "place" | "cancel" | "modify", ...}`, decimals as exact strings,
    /// ids as lower-case UUID text (`UUIDText.lower`, exactly `uuidString.lowercased()`).
    public var json: JSONValue {
        switch self {
        case .place(let o):
            var members: [(key: String, value: JSONValue)] = [
                ("kind", "place"), ("idempotency_key", .string(o.idempotencyKey)), ("account_id", .string(UUIDText.lower(o.accountID))),
                ("symbol", .string(o.symbol)), ("exchange", .string(o.exchange)), ("side", .string(o.side.rawValue)),
                ("quantity", .string(DecimalText.plain(o.quantity))), ("type", .string(o.type.rawValue)),
            ]
            if let price = o.limitPrice { members.append(("price", .string(DecimalText.plain(price)))) }
            if let trigger = o.triggerPrice { members.append(("trigger", .string(DecimalText.plain(trigger)))) }
            members += [("tif", .string(o.timeInForce.rawValue)), ("product", .string(o.product.rawValue))]
            return .object(members)
        case .change(let c):
            var members: [(key: String, value: JSONValue)] = [
                ("kind", .string(c.action.rawValue)), ("idempotency_key", .string(c.idempotencyKey)),
                ("account_id", .string(UUIDText.lower(c.accountID))), ("order_id", .string(UUIDText.lower(c.orderID))),
            ]
            if let quantity = c.quantity { members.append(("quantity", .string(DecimalText.plain(quantity)))) }
            if let price = c.limitPrice { members.append(("price", .string(DecimalText.plain(price)))) }
            if let trigger = c.triggerPrice { members.append(("trigger", .string(DecimalText.plain(trigger)))) }
            return .object(members)
        }
    }

    public static func parse(_ bytes: [UInt8]) throws(OrderCommandError) -> OrderCommand {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw OrderCommandError("message", "is not JSON") }
        return try parse(value)
    }

    public static func parse(_ value: JSONValue) throws(OrderCommandError) -> OrderCommand {
        guard let members = value.objectFields else { throw OrderCommandError("message", "must be a JSON object") }
        var fields = Fields(members)
        let kind = try fields.text("kind")
        let command: OrderCommand
        switch kind {
        case "place":
            // Read in the message's order, so the first bad field is the one named.
            let key = try fields.key(), account = try fields.uuid("account_id"), symbol = try fields.text("symbol")
            let exchange = try fields.text("exchange"), side = try fields.word("side", OrderSide.self)
            let quantity = try fields.positiveExact("quantity"), type = try fields.word("type", OrderType.self)
            let price = try fields.optionalPositiveExact("price"), trigger = try fields.optionalPositiveExact("trigger")
            // Each decimal was converted to fixed point once, by its check; the risk engine uses that.
            let exact = PlaceOrder.Exact(quantity: quantity.fixed, limitPrice: price?.fixed, triggerPrice: trigger?.fixed)
            let order = PlaceOrder(
                idempotencyKey: key, accountID: account, symbol: symbol, exchange: exchange, side: side, quantity: quantity.decimal, type: type,
                limitPrice: price?.decimal, triggerPrice: trigger?.decimal,
                timeInForce: try fields.optionalWord("tif", TimeInForce.self) ?? .day,
                product: try fields.optionalWord("product", ProductType.self) ?? .delivery, exact: exact)
            let needsLimit = type == .limit || type == .stopLimit, needsTrigger = type == .stop || type == .stopLimit
            if needsLimit && order.limitPrice == nil { throw OrderCommandError("price", "a \(type.rawValue) order needs a limit price") }
            if !needsLimit && order.limitPrice != nil { throw OrderCommandError("price", "a \(type.rawValue) order takes no limit price") }
            if needsTrigger && order.triggerPrice == nil { throw OrderCommandError("trigger", "a \(type.rawValue) order needs a trigger price") }
            if !needsTrigger && order.triggerPrice != nil { throw OrderCommandError("trigger", "a \(type.rawValue) order takes no trigger price") }
            command = .place(order)
        case "cancel", "modify":
            let change = ChangeOrder(
                action: kind == "cancel" ? .cancel : .modify, idempotencyKey: try fields.key(), accountID: try fields.uuid("account_id"),
                orderID: try fields.uuid("order_id"), quantity: kind == "modify" ? try fields.optionalPositive("quantity") : nil,
                limitPrice: kind == "modify" ? try fields.optionalPositive("price") : nil,
                triggerPrice: kind == "modify" ? try fields.optionalPositive("trigger") : nil)
            if change.action == .modify, change.quantity == nil, change.limitPrice == nil, change.triggerPrice == nil {
                throw OrderCommandError("quantity", "a modify changes at least one of quantity, price, trigger")
            }
            command = .change(change)
        default:
            throw OrderCommandError("kind", "must be place, cancel or modify, not '\(kind)'")
        }
        if let unknown = fields.unread.first { throw OrderCommandError(unknown, "is not a field of a \(kind) message") }
        return command
    }

    /// Reads an object's members once each; what is left unread is an unknown field. A repeated
    /// name gives its last value and counts as read with all its repeats. The members are
    /// searched in place (a message has a dozen): no dictionary or set built per message.
    struct Fields {
        private let members: [(key: String, value: JSONValue)]
        private var read: [Bool]

        init(_ list: [(key: String, value: JSONValue)]) {
            members = list
            read = Array(repeating: false, count: list.count)
        }

        /// Names never read, each once, in the order they first appear.
        var unread: [String] {
            var names: [String] = []
            for (index, member) in members.enumerated() where !read[index] && !names.contains(member.key) { names.append(member.key) }
            return names
        }

        mutating func optional(_ key: String) -> JSONValue? {
            var last: JSONValue?
            for index in members.indices where members[index].key == key {
                read[index] = true
                last = members[index].value
            }
            guard let last, !last.isNull else { return nil }
            return last
        }

        mutating func text(_ key: String) throws(OrderCommandError) -> String {
            guard let value = optional(key) else { throw OrderCommandError(key, "is missing") }
            guard let text = value.stringValue else { throw OrderCommandError(key, "must be a string, not \(value.kindName)") }
            let trimmed = text.trimmingWhitespace()
            guard !trimmed.isEmpty else { throw OrderCommandError(key, "is empty") }
            // Postgres's text cannot hold NUL: refused here, as this field's reason, so that it never
            // fails a whole intake batch's statement (or the worker's writes) for the other commands.
            guard !trimmed.utf8.contains(0) else { throw OrderCommandError(key, "contains a NUL character (U+0000)") }
            return trimmed
        }

        mutating func key() throws(OrderCommandError) -> String {
            let key = try text("idempotency_key")
            guard key.utf8.count <= 255 else { throw OrderCommandError("idempotency_key", "is longer than 255 bytes") }
            return key
        }

        mutating func uuid(_ key: String) throws(OrderCommandError) -> UUID {
            let text = try text(key)
            guard let id = UUIDText.parse(text) else { throw OrderCommandError(key, "'\(text)' is not a UUID") }
            return id
        }

        mutating func word<T: RawRepresentable>(_ key: String, _ type: T.Type) throws(OrderCommandError) -> T where T.RawValue == String {
            let text = try text(key)
            guard let value = T(rawValue: text.lowercased()) else { throw OrderCommandError(key, "'\(text)' is not a known value") }
            return value
        }

        mutating func optionalWord<T: RawRepresentable>(_ key: String, _ type: T.Type) throws(OrderCommandError) -> T? where T.RawValue == String {
            guard optional(key) != nil else { return nil }
            return try word(key, type)
        }

        mutating func optionalPositive(_ key: String) throws(OrderCommandError) -> Decimal? {
            try optionalPositiveExact(key)?.decimal
        }

        /// The decimal and its fixed-point value (which must exist: at most 9 places, in range).
        mutating func optionalPositiveExact(_ key: String) throws(OrderCommandError) -> (decimal: Decimal, fixed: FixedDecimal)? {
            guard let value = optional(key) else { return nil }
            let text: String
            switch value {
            case .number(let number): text = number
            case .string(let string): text = string.trimmingWhitespace()
            default: throw OrderCommandError(key, "must be a decimal number, not \(value.kindName)")
            }
            guard let decimal = DecimalText.parse(text) else { throw OrderCommandError(key, "'\(text)' is not a decimal number") }
            guard decimal > 0 else { throw OrderCommandError(key, "must be positive, not \(text)") }
            guard let fixed = FixedDecimal(exactly: decimal) else { throw OrderCommandError(key, "'\(text)' has more than 9 decimal places or is too large") }
            return (decimal, fixed)
        }

        mutating func positiveExact(_ key: String) throws(OrderCommandError) -> (decimal: Decimal, fixed: FixedDecimal) {
            guard let value = try optionalPositiveExact(key) else { throw OrderCommandError(key, "is missing") }
            return value
        }
    }
}

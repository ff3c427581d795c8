import Foundation
import TMBrokers
import TMPostgres

/// An order row as placement reads it: what was asked, where it went, and where it stands.
public struct OrderRecord: Sendable, Equatable {
    public var id: UUID
    public var userID: UUID
    /// Where the order is (or will be) placed: the router's choice.
    public var accountID: UUID
    /// The account the order was asked for (the shard it travelled) when that is not `accountID`; nil
    /// when it is (stored NULL since migration 0047: one foreign-key check fewer per new row) and for
    /// rows placed before routing existed. Read it as `requestedAccountID ?? accountID`.
    public var requestedAccountID: UUID?
    public var parentID: UUID?
    public var idempotencyKey: String
    public var clientOrderID: String
    public var symbol: String
    public var exchange: String
    public var side: OrderSide
    public var type: OrderType
    public var timeInForce: TimeInForce
    public var product: ProductType
    public var quantity: Decimal
    public var limitPrice: Decimal?
    public var triggerPrice: Decimal?
    public var state: OrderState
    public var brokerOrderID: String?
    public var filledQuantity: Decimal
    public var averagePrice: Decimal?
    public var requestedPrice: Decimal?
    public var createdAt: Date
    /// When the latest broker call that placed (or may have placed) it began.
    public var submittedAt: Date?
    public var submitAttempts: Int
    public var lookupAttempts: Int
    public var version: Int
    /// The router split it: its children are what was sent.
    public var isSplitParent: Bool

    static let columns: PostgresQuery = """
        id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol, exchange, side,
        order_type, time_in_force, coalesce(product, 'delivery') AS product, quantity, price, trigger_price, state, broker_order_id,
        filled_quantity, average_price, requested_price, created_at, submitted_at, submit_attempts, lookup_attempts, version,
        route ->> 'split_reason' IS NOT NULL AS split_parent
        """

    /// The names of `columns`' results, in order (`OrderRecordColumnsTests` checks them against a query's).
    static let columnNames = [
        "id", "user_id", "account_id", "requested_account_id", "parent_order_id", "idempotency_key", "client_order_id", "symbol",
        "exchange", "side", "order_type", "time_in_force", "product", "quantity", "price", "trigger_price", "state", "broker_order_id",
        "filled_quantity", "average_price", "requested_price", "created_at", "submitted_at", "submit_attempts", "lookup_attempts",
        "version", "split_parent",
    ]

    /// Reads a row by column name; a row that begins with `columns` (every statement of `OrderStore`)
    /// by position, without a name look-up per column.
    init(row: PostgresRow) throws {
        let byPosition = row.columnsBegin(with: Self.columnNames)
        var next = 0
        /// The next column of `columnNames` (which `name` names: the reads below go in its order),
        /// as its position in the row.
        func column(_ name: String) throws -> Int {
            assert(Self.columnNames[next] == name, "OrderRecord(row:) reads \(name) where columnNames has \(Self.columnNames[next])")
            defer { next += 1 }
            return byPosition ? next : try row.index(of: name)
        }
        func value<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T { try row.decode(try column(name), as: type) }
        func word<T: RawRepresentable>(_ name: String, _ type: T.Type) throws -> T where T.RawValue == String {
            let text: String = try value(name)
            guard let value = T(rawValue: text) else { throw PostgresError(kind: .client, message: "orders.\(name): unknown value '\(text)'") }
            return value
        }
        id = try value("id")
        userID = try value("user_id")
        accountID = try value("account_id")
        requestedAccountID = try value("requested_account_id")
        parentID = try value("parent_order_id")
        idempotencyKey = try value("idempotency_key")
        clientOrderID = try value("client_order_id")
        symbol = try value("symbol")
        exchange = try value("exchange")
        side = try word("side", OrderSide.self)
        type = try word("order_type", OrderType.self)
        timeInForce = try word("time_in_force", TimeInForce.self)
        product = try word("product", ProductType.self)
        quantity = try value("quantity")
        limitPrice = try value("price")
        triggerPrice = try value("trigger_price")
        state = try word("state", OrderState.self)
        brokerOrderID = try value("broker_order_id")
        filledQuantity = try value("filled_quantity")
        averagePrice = try value("average_price")
        requestedPrice = try value("requested_price")
        createdAt = try value("created_at")
        submittedAt = try value("submitted_at")
        submitAttempts = Int(try value("submit_attempts", as: Int32.self))
        lookupAttempts = Int(try value("lookup_attempts", as: Int32.self))
        version = Int(try value("version", as: Int32.self))
        isSplitParent = try value("split_parent")
    }

    /// The request that places this order (the same client id every time: the broker's dedup and
    /// the look-up both hinge on it).
    func request(brokerToken: String?) -> OrderRequest {
        OrderRequest(clientOrderID: clientOrderID, symbol: symbol, exchange: exchange, side: side, quantity: quantity, type: type,
                     limitPrice: limitPrice, stopPrice: triggerPrice, timeInForce: timeInForce, product: nil, brokerToken: brokerToken)
    }
}

import Foundation
import TMBrokers
import TMPostgres

/// An order row as placement reads it: what was asked, where it went, and where it stands.
public struct OrderRecord: Sendable, Equatable {
    public var id: UUID
    public var userID: UUID
    /// Where the order is (or will be) placed: the router's choice.
    public var accountID: UUID
    /// The account the order was asked for (the shard it travelled); nil for rows placed before routing existed.
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

    init(row: PostgresRow) throws {
        func word<T: RawRepresentable>(_ column: String, _ type: T.Type) throws -> T where T.RawValue == String {
            let text: String = try row.decode(column)
            guard let value = T(rawValue: text) else { throw PostgresError(kind: .client, message: "orders.\(column): unknown value '\(text)'") }
            return value
        }
        id = try row.decode("id")
        userID = try row.decode("user_id")
        accountID = try row.decode("account_id")
        requestedAccountID = try row.decode("requested_account_id")
        parentID = try row.decode("parent_order_id")
        idempotencyKey = try row.decode("idempotency_key")
        clientOrderID = try row.decode("client_order_id")
        symbol = try row.decode("symbol")
        exchange = try row.decode("exchange")
        side = try word("side", OrderSide.self)
        type = try word("order_type", OrderType.self)
        timeInForce = try word("time_in_force", TimeInForce.self)
        product = try word("product", ProductType.self)
        quantity = try row.decode("quantity")
        limitPrice = try row.decode("price")
        triggerPrice = try row.decode("trigger_price")
        state = try word("state", OrderState.self)
        brokerOrderID = try row.decode("broker_order_id")
        filledQuantity = try row.decode("filled_quantity")
        averagePrice = try row.decode("average_price")
        requestedPrice = try row.decode("requested_price")
        createdAt = try row.decode("created_at")
        submittedAt = try row.decode("submitted_at")
        submitAttempts = Int(try row.decode("submit_attempts", as: Int32.self))
        lookupAttempts = Int(try row.decode("lookup_attempts", as: Int32.self))
        version = Int(try row.decode("version", as: Int32.self))
        isSplitParent = try row.decode("split_parent")
    }

    /// The request that places this order (the same client id every time: the broker's dedup and
    /// the look-up both hinge on it).
    func request(brokerToken: String?) -> OrderRequest {
        OrderRequest(clientOrderID: clientOrderID, symbol: symbol, exchange: exchange, side: side, quantity: quantity, type: type,
                     limitPrice: limitPrice, stopPrice: triggerPrice, timeInForce: timeInForce, product: nil, brokerToken: brokerToken)
    }
}

import Foundation
import Testing
import TMBrokers
import TMCore
@testable import TMOrders

/// The `trade-events` payloads of an order's steps are written as bytes (`OrderStore.stepRows`),
/// and must be byte for byte the text they had when built as a `JSONValue` object: consumers and
/// the relay read them as they are. The reference below is that construction, kept here only.
@Suite struct OrderEventPayloadTests {
    /// The payloads as `JSONValue.object(...).text`, then the step's members interpolated after it.
    static func reference(_ order: EventRows.Order) -> [(from: String?, to: String, detail: String?, payload: String)] {
        let lower = { (id: UUID) in id.uuidString.lowercased() }
        let common = JSONValue.object([
            ("event", "order.state"), ("order_id", .string(lower(order.id))), ("account_id", .string(lower(order.accountID))),
            ("user_id", .string(lower(order.userID))), ("idempotency_key", .string(order.key)), ("client_order_id", .string(order.clientOrderID)),
            ("symbol", .string(order.symbol)), ("exchange", .string(order.exchange)), ("side", .string(order.side.rawValue)),
            ("filled_quantity", .string(DecimalText.plain(order.filled))), ("average_price", order.average.map { .string(DecimalText.plain($0)) } ?? .null),
        ]).text.dropLast()
        return order.steps.map { step in
            let detail = step.detail?.text
            return (step.from?.rawValue, step.to.rawValue, detail,
                    "\(common),\"from\":\(step.from.map { "\"\($0.rawValue)\"" } ?? "null"),\"to\":\"\(step.to.rawValue)\"\(detail.map { ",\"detail\":\($0)" } ?? "")}")
        }
    }

    /// Texts that need every kind of JSON escape, and some that need none.
    static let awkward = ["", "plain", "quote\"d", "back\\slash", "tab\there", "line\nbreak", "cr\r", "nul\u{0}bell\u{7}\u{1F}",
                          "naïve ☃ 𝄞", "{\"json\":[1,2]}", "NIFTY 25JAN 21000 CE", "RELIANCE-EQ"]
    static let decimals: [Decimal] = [0, 1, Decimal(string: "101.35")!, Decimal(string: "0.00001")!, Decimal(string: "-3")!,
                                      Decimal(string: "123456789012345678.123456789")!, Decimal(string: "1e-20")!]
    static let details: [JSONValue?] = [
        nil, .null, .object([]), .object([("reason", .string("limit \"exceeded\"\n")), ("limit", .number("1e6")), ("ok", .bool(false))]),
        .object([("route", .object([("broker", "kite"), ("accounts", .array([.string("a"), .number("-0.5"), .null]))]))]),
    ]

    @Test func payloadsWrittenAsBytesEqualTheJSONValueConstructionByteForByte() throws {
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        for round in 0..<400 {
            let pick = { (texts: [String]) in texts[Int(generator.next() % UInt64(texts.count))] }
            var steps: [EventRows.Step] = []
            let stateCount = OrderState.allCases.count
            for n in 0..<(round % 5 + 1) {
                let from: OrderState? = n == 0 && round % 2 == 0 ? nil : OrderState.allCases[Int(generator.next() % UInt64(stateCount))]
                steps.append((from, OrderState.allCases[Int(generator.next() % UInt64(stateCount))], Self.details[(round + n) % Self.details.count]))
            }
            let order = EventRows.Order(
                id: UUID(), accountID: UUID(), userID: UUID(), key: pick(Self.awkward), clientOrderID: pick(Self.awkward), symbol: pick(Self.awkward),
                exchange: pick(Self.awkward), side: round % 3 == 0 ? .sell : .buy, filled: Self.decimals[round % Self.decimals.count],
                average: round % 4 == 0 ? nil : Self.decimals[(round / 4) % Self.decimals.count], steps: steps)
            let written = OrderStore.stepRows(order), expected = Self.reference(order)
            try #require(written.count == expected.count)
            for (new, old) in zip(written, expected) {
                #expect(new.from == old.from && new.to == old.to && new.detail == old.detail)
                #expect(Array(new.payload.utf8) == Array(old.payload.utf8), "payload bytes differ:\n\(new.payload)\n\(old.payload)")
                // And it is one JSON object whose members are the order's and the step's.
                let parsed = try JSONValue.parse(new.payload)
                #expect(parsed["order_id"] == .string(order.id.uuidString.lowercased()) && parsed["symbol"] == .string(order.symbol))
                checked += 1
            }
        }
        #expect(checked >= 1_000)
    }

    @Test func appendStringSpellsWhatTextSpells() {
        for text in Self.awkward {
            var out: [UInt8] = []
            JSONValue.appendString(text, to: &out)
            #expect(out == Array(JSONValue.string(text).text.utf8))
        }
    }
}

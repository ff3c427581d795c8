import Foundation
import Testing
import TMCore
@testable import TMOrders
@testable import TMQueue

/// The resident worker parses each `orders` message once (`ParsedCommands`): the ordering key and
/// the placer's command come from the same parse, and are what parsing each apart gave.
@Suite struct ParsedCommandsTests {
    static func delivery(_ id: String, _ payload: String) -> Delivery {
        Delivery(queue: "orders", shard: 0, streamID: "1-0", id: id, key: nil, payload: Array(payload.utf8),
                 attempt: 1, epoch: 1, deliveries: 1, enqueuedAt: Date(), history: [])
    }

    static let account = "A1B2C3D4-0000-4000-8000-00000000000F"
    static let place = #"{"kind":"place","idempotency_key":"k-1","account_id":"\#(account)","symbol":"INFY","exchange":"NSE","side":"buy","quantity":"2","type":"limit","price":"1400"}"#

    @Test func theKeyAndTheCommandAreThoseOfParsingApartAndTheParseIsKeptOnlyUntilTaken() throws {
        let parsed = ParsedCommands()
        let delivery = Self.delivery("m-1", Self.place)
        #expect(parsed.key(of: delivery) == OrderWorker.account(of: delivery.payload))
        #expect(parsed.key(of: delivery) == Self.account.lowercased())
        #expect(parsed.count == 1)
        #expect(try parsed.take(delivery).get() == OrderCommand.parse(delivery.payload))
        #expect(parsed.count == 0, "a taken parse is not kept")
        // Not kept (admitted elsewhere): parsed again, the same command.
        #expect(try parsed.take(delivery).get() == OrderCommand.parse(delivery.payload))
        // Two messages: each gets its own command, never the other's.
        let other = Self.delivery("m-2", Self.place.replacingOccurrences(of: "k-1", with: "k-2"))
        _ = parsed.key(of: delivery)
        _ = parsed.key(of: other)
        #expect(try parsed.take(other).get().idempotencyKey == "k-2")
        #expect(try parsed.take(delivery).get().idempotencyKey == "k-1")
    }

    @Test func aMessageThatIsNoCommandKeepsItsRawAccountKeyAndItsError() {
        let parsed = ParsedCommands()
        let broken = Self.delivery("m-3", #"{"kind":"place","account_id":"NOT-A-UUID","symbol":"INFY"}"#)
        #expect(parsed.key(of: broken) == "not-a-uuid")
        guard case .failure(let error) = parsed.take(broken) else { Issue.record("a broken message parsed"); return }
        #expect(throws: error) { try OrderCommand.parse(broken.payload) }
        let notJSON = Self.delivery("m-4", "{nope")
        #expect(parsed.key(of: notJSON) == nil)
    }

    @Test func deliveriesNeverRunAreNotKeptPastTheCapacity() {
        let parsed = ParsedCommands(capacity: 8)
        for index in 0..<20 { _ = parsed.key(of: Self.delivery("m-\(index)", Self.place)) }
        #expect(parsed.count <= 8)
    }
}

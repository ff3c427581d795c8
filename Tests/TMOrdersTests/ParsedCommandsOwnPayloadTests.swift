import Foundation
import Testing
import TMCore
@testable import TMOrders
@testable import TMQueue

/// `ParsedCommands` never hands a delivery another payload's command: a message id admitted again
/// with a different payload (a dead letter replayed with a patch, after its first delivery was
/// admitted and never run) gets its new payload's command, and past the cache's capacity every
/// message still gets its own.
@Suite struct ParsedCommandsOwnPayloadTests {
    static func place(key: String, quantity: String, account: String = "A1B2C3D4-0000-4000-8000-00000000000F") -> String {
        #"{"kind":"place","idempotency_key":"\#(key)","account_id":"\#(account)","symbol":"INFY","exchange":"NSE","side":"buy","quantity":"\#(quantity)","type":"limit","price":"1400"}"#
    }

    @Test func aMessageAdmittedAgainWithAPatchedPayloadIsHandledWithTheNewPayload() throws {
        let parsed = ParsedCommands()
        // First delivery: admitted (its parse kept), never run — its consumer stopped.
        _ = parsed.key(of: ParsedCommandsTests.delivery("m-replayed", Self.place(key: "k-replayed", quantity: "2")))
        // Dead-lettered elsewhere, replayed with a patch: same message id, another account and quantity.
        let other = "0F0E0D0C-0000-4000-8000-000000000001"
        let replayed = ParsedCommandsTests.delivery("m-replayed", Self.place(key: "k-replayed", quantity: "3", account: other))
        #expect(parsed.key(of: replayed) == other.lowercased(), "ordered by the account the new payload names")
        let command = try parsed.take(replayed).get()
        #expect(command == (try OrderCommand.parse(replayed.payload)))
        #expect(command.accountID.uuidString == other)
    }

    @Test func pastTheCapacityEachMessageStillGetsItsOwnCommand() throws {
        let parsed = ParsedCommands()
        let count = parsed.capacity + 10
        let deliveries = (0..<count).map { ParsedCommandsTests.delivery("m-\($0)", Self.place(key: "k-\($0)", quantity: "\($0 + 1)")) }
        for delivery in deliveries { _ = parsed.key(of: delivery) }
        #expect(parsed.count <= parsed.capacity)
        for (index, delivery) in deliveries.enumerated() {
            let command = try parsed.take(delivery).get()
            #expect(command.idempotencyKey == "k-\(index)")
            #expect(command == (try OrderCommand.parse(delivery.payload)))
        }
        #expect(parsed.count == 0)
    }
}

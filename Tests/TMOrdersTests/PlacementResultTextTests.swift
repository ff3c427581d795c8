import Foundation
import Testing
@testable import TMOrders

/// `PlacementResult.text` (the settle's result text) is exactly what it was when it joined its
/// parts with spaces and spelt the id with Foundation's `uuidString.lowercased()`: every part
/// present or absent, notes empty, with spaces and non-ASCII.
@Suite struct PlacementResultTextTests {
    static func reference(_ result: PlacementResult) -> String {
        var parts: [String] = []
        if let orderID = result.orderID { parts.append("order \(orderID.uuidString.lowercased())") }
        if let state = result.state { parts.append(state.rawValue) }
        parts.append(result.note)
        return parts.joined(separator: " ")
    }

    @Test func textIsTheJoinedPartsAsBefore() {
        let ids: [UUID?] = [nil, UUID(), UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                            UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        let states: [OrderState?] = [nil] + OrderState.allCases
        let notes = ["", "placed", " leading and trailing ", "already FILLED", "déjà vu ✓", "line\nbreak"]
        for id in ids {
            for state in states {
                for note in notes {
                    let result = PlacementResult(orderID: id, state: state, note: note)
                    #expect(result.text == Self.reference(result), "\(String(describing: id)) \(String(describing: state)) \(note)")
                }
            }
        }
    }
}

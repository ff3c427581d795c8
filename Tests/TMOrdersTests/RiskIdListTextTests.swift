import Foundation
import Testing
@testable import TMOrders

/// The risk snapshot's id lists (`RiskSnapshot.uuidArray`, for `= ANY($1::uuid[])`: the accounts' rows
/// and the trading limits' users) are sorted, so one set of ids gives one query text whatever order it
/// came in — and sorted as their lowercase text.
@Suite struct RiskIdListTextTests {
    @Test func oneSetOfIdsGivesOneTextWhateverItsOrder() {
        let ids = (0..<50).map { _ in UUID() } + [UUID(uuidString: "00000000-0000-0000-0000-000000000000")!,
                                                  UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")!]
        let text = RiskSnapshot.uuidArray(ids)
        for _ in 0..<5 { #expect(RiskSnapshot.uuidArray(ids.shuffled()) == text) }
        #expect(RiskSnapshot.uuidArray(Set(ids)) == text)
        #expect(text == "{" + ids.map { $0.uuidString.lowercased() }.sorted().joined(separator: ",") + "}")
    }
}

import Foundation
import Testing
import TMCore
@testable import TMAnalytics

@Suite struct EngineMatchingTests {
    @Test func periodNames() { #expect(AnalyticsPeriod.allCases.map(\.rawValue) == ["day", "week", "month", "year", "all"]) }
}

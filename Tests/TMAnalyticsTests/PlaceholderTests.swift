import Testing
@testable import TMAnalytics

@Suite struct AnalyticsPlaceholderTests {
    @Test func periodNames() { #expect(AnalyticsPeriod.allCases.map(\.rawValue) == ["day", "week", "month", "year", "all"]) }
}

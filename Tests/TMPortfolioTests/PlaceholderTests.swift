import XCTest

/// Placeholder so the target builds until its suites land.
final class TMPortfolioPlaceholderTests: XCTestCase {
    func testTargetBuilds() {}
}

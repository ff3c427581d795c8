import ArgumentParser

/// `tm analytics show --user U [--period P] [--json]` (owned by the analytics refresh).
struct AnalyticsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "A user's analytics for a period.")
    func run() async throws { throw ValidationError("not built yet") }
}

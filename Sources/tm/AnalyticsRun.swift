import ArgumentParser

/// `tm analytics recompute [--user U]` (owned by the analytics run).
struct AnalyticsRecompute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recompute", abstract: "Recompute every user's analytics, or one user's.")
    func run() async throws { throw ValidationError("not built yet") }
}

/// `tm analytics status` (owned by the analytics run).
struct AnalyticsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The latest analytics run: users done / total, rate, ETA.")
    func run() async throws { throw ValidationError("not built yet") }
}

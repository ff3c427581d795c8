import ArgumentParser

/// `tm analytics`: each user's performance (issue 13) — recompute it, watch a run, show it.
struct Analytics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Users' performance: FIFO P&L, win rate, Sharpe, drawdown, per period.",
        subcommands: [AnalyticsRecompute.self, AnalyticsStatus.self, AnalyticsShow.self])
}

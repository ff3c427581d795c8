import Logging
import TMMarketData

/// Revalues the holders of moved instruments off the caller's path: what the market-data service
/// hands each cycle's moves to, so a slow revaluation never delays the next price poll.
///
/// Guarantees: at most one revaluation runs at a time; moves that arrive meanwhile are merged (the
/// newest tick per instrument) and revalued once when it finishes, so a burst of cycles costs one
/// pass per instrument set, not one per cycle, and no move is dropped.
public actor PriceMoveRevaluation {
    private let valuer: PortfolioValuer
    private let logger: Logger
    private var pending: [String: PriceTick] = [:]
    private var running = false

    public init(valuer: PortfolioValuer, logger: Logger = Logger(label: "tm.portfolio.moves")) {
        self.valuer = valuer
        self.logger = logger
    }

    /// Queues `ticks` for revaluation and returns at once.
    public func submit(_ ticks: [PriceTick]) {
        for tick in ticks { pending["\(tick.symbol):\(tick.exchange)"] = tick }
        guard !running, !pending.isEmpty else { return }
        running = true
        Task { await drain() }
    }

    private func drain() async {
        while !pending.isEmpty {
            let ticks = Array(pending.values)
            pending = [:]
            do { try await valuer.revalue(holdersOf: ticks) } catch {
                logger.warning("portfolios not revalued after a price move", metadata: ["error": "\(error)", "instruments": "\(ticks.count)"])
            }
        }
        running = false
    }
}

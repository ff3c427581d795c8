import ArgumentParser
import Foundation
import TMCore
import TMOrders
import TMPostgres
import TMQueue
import TMRedis
import TMRisk

/// `tm orders halt|reduce|resume`: the kill switch, platform-wide or for one account.
extension Orders {
    /// What the three subcommands share: the scope, the reason, the output.
    struct TradingStateOptions: ParsableArguments {
        @Option(help: "Only this account (id or label); without it the state is set platform-wide.") var account: String?
        @Option(help: "Why (recorded with who and when, and in the audit log).") var reason: String?
        @Flag(help: "Print as JSON.") var json = false

        func set(_ state: TradingState) async throws {
            try await Orders.refusing(nothing: "nothing was changed") {
                let db = try PostgresConnection.connect()
                defer { db.close() }
                let scope: TradingScope = try account.map { .account(try OrderIntake.account($0, in: db)) } ?? .global
                let change = try TradingControls.set(db, scope: scope, state: state, reason: reason, by: "operator:\(Self.operatorName)")
                // Committed; now tell the workers (every `orders` shard's watched key), so their
                // next message sees it. A failure is reported, after what was committed.
                var failure: (any Error)?
                do {
                    // No `Queues` folder here (an operator's laptop): the count the workers recorded.
                    let shards = try? QueueCatalog.load().manifest(TradingControls.ordersQueue).shards
                    let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(), name: "tm-orders")
                    defer { redis.close() }
                    try await TradingControls.announce(redis, shards: shards)
                } catch {
                    failure = error
                }
                if json {
                    print(change.json.prettyText)
                } else {
                    let place: String
                    if case .account(let id) = change.scope { place = "for account \(id.uuidString.lowercased())" } else { place = "platform-wide" }
                    print("trading \(Self.word(change.state)) \(place) (was \(Self.word(change.previous))) by \(change.by) at \(ISO8601DateFormatter().string(from: change.at)): \(change.reason)")
                    let applied = failure == nil ? "Order workers apply it from their next message." : "Order workers apply it within a second."
                    switch change.state {
                    case .halted: print("new orders are refused (TRADING_HALTED); cancels still pass. \(applied)")
                    case .reducing: print("only orders that reduce a position pass. \(applied)")
                    case .active: print("orders are checked against every limit again. \(applied)")
                    }
                }
                if let failure {
                    FileHandle.standardError.write(Data("""
                        error: the change is committed, but the order workers could not be told at once (\(failure)): \
                        they apply it within a second; running the command again is safe and tells them now

                        """.utf8))
                    throw ExitCode.committedNotAnnounced
                }
            }
        }

        static func word(_ state: TradingState) -> String {
            switch state {
            case .active: return "ACTIVE"
            case .reducing: return "REDUCING"
            case .halted: return "HALTED"
            }
        }

        /// `$USER`, else the name of the process's user (a shell or a cron job without `USER`):
        /// the audit log names a person whenever the system can tell.
        static var operatorName: String {
            let user = ProcessInfo.processInfo.environment["USER"]?.trimmingCharacters(in: .whitespaces) ?? ""
            if !user.isEmpty { return user }
            let account = ProcessInfo.processInfo.userName
            return account.isEmpty ? "uid-\(getuid())" : account
        }
    }

    /// Exit statuses of halt/reduce/resume: 0 committed and announced; 1 refused (nothing was
    /// changed); 3 committed but not announced (the workers apply it within a second; running the
    /// command again is safe) — so a script can tell "still as it was" from "changed, told late".
    static let tradingStateExits = "Exit status: 0 done; 1 refused, nothing was changed; 3 committed, but the order workers could not be told at once (they apply it within a second; running the command again is safe)."

    struct Halt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Kill switch: refuse every new order (cancels still pass), platform-wide or for one account.", discussion: Orders.tradingStateExits)
        @OptionGroup var options: TradingStateOptions
        func run() async throws { try await options.set(.halted) }
    }

    struct Reduce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let only orders that reduce a position through, platform-wide or for one account.", discussion: Orders.tradingStateExits)
        @OptionGroup var options: TradingStateOptions
        func run() async throws { try await options.set(.reducing) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trade normally again (every limit still applies), platform-wide or for one account.", discussion: Orders.tradingStateExits)
        @OptionGroup var options: TradingStateOptions
        func run() async throws { try await options.set(.active) }
    }
}

extension ExitCode {
    /// A trading-state change committed but not announced to the order workers (`tm orders halt|reduce|resume`).
    static let committedNotAnnounced = ExitCode(3)
}

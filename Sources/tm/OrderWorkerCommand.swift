import ArgumentParser
import Foundation
import Logging
import TMCore
import TMOrders

/// `tm order-worker`: the resident order-worker (`OrderWorker`) until SIGTERM or Ctrl-C.
struct OrderWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-worker",
        abstract: "Place orders from the orders queue: leases shards, keeps the risk state resident, until SIGTERM or Ctrl-C.",
        discussion: """
            Takes its fair share of the orders queue's shards (one owner per shard, fenced leases), loads the risk state of their
            accounts, and places each order exactly once: risk check, route, SUBMITTING committed, broker call, answer committed.
            UNKNOWN orders are looked up with backoff. On SIGTERM it stops taking messages, lets in-flight orders finish, and hands
            its shards back.
            """)

    @Option(help: "The queue to consume (default orders).") var queue = "orders"
    @Option(help: "Where handlers run between hops: 'resuming' (on the Postgres, broker or Redis thread that answered them) or 'pool' (Swift's thread pool).")
    var taskExecutor = "resuming"

    func run() async throws {
        JSONLogHandler.bootstrap()
        var settings = OrderWorker.Settings()
        switch taskExecutor {
        case "resuming": settings.taskExecutor = ResumingThreadExecutor.shared
        case "pool": settings.taskExecutor = nil
        default: throw ValidationError("--task-executor: '\(taskExecutor)' is neither 'resuming' nor 'pool'")
        }
        let services = try await OrderServices.open()
        let worker = try OrderWorker.resident(services: services, queue: queue, settings: settings)
        TerminationSignals.install { _ in worker.stop() }
        print("order-worker \(worker.identity): consuming \(queue)")
        try await worker.run()
    }
}

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

    func run() async throws {
        JSONLogHandler.bootstrap()
        let services = try await OrderServices.open()
        let worker = try OrderWorker.resident(services: services, queue: queue)
        TerminationSignals.install { _ in worker.stop() }
        print("order-worker \(worker.identity): consuming \(queue)")
        try await worker.run()
    }
}

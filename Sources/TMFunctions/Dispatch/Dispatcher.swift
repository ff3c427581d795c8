import Foundation
import Logging
import TMCore
import TMQueue
import TMRedis

/// `tm dispatch`: invokes functions from their queues, the self-hosted counterpart of Lambda's
/// event-source mappings.
///
/// For each function it consumes the function's invocation queue (`fn:<name>`: schedules and
/// direct invocations) and its trigger queue. A queue with one subscribing function is consumed by
/// that function directly; a queue several functions subscribe to is copied by a router into one
/// subscription queue per function (`<queue>@<function>`), each with its own consumer group,
/// retries and dead letters — so one function's failure never redelivers to another.
///
/// Guarantees: reserved concurrency holds across dispatchers (`ReservedConcurrency`); a message
/// leaves its queue only when its record succeeded, was retried or was dead-lettered; `stop()`
/// stops fetching, lets running invocations finish (up to their timeout) and stops warm processes.
public final class Dispatcher: Sendable {
    public struct Options: Sendable {
        public var name = QueueConsumer.defaultConsumerName()
        /// Only these functions (default: all).
        public var only: Set<String>?
        /// Consumer tuning, mostly for tests.
        public var blockTimeout: Duration = .milliseconds(500)
        public var reclaimInterval: Duration?
        public var promoteInterval: Duration = .milliseconds(200)
        /// How long a reserved-concurrency slot lives past its last renewal (renewed every third).
        public var slotLease: Duration = ReservedConcurrency.defaultLease
        public init() {}
    }

    public let functions: FunctionCatalog
    public let queues: QueueCatalog
    private let options: Options
    private let redisConfiguration: RedisConfiguration
    private let redis: RedisClient
    private let services: [FunctionService]
    private let consumers: [QueueConsumer]
    private let logger = Logger(label: "tm.dispatch")
    private let stopped = Locked(false)

    /// - Parameter invokers: one per function to run (cold or warm; see `Dispatcher.invoker(for:)`).
    public init(functions: FunctionCatalog, queues: QueueCatalog, invokers: [String: any FunctionInvoking],
                redis: RedisClient, redisConfiguration: RedisConfiguration, log: InvocationLog?, options: Options = Options()) throws {
        self.functions = functions
        self.queues = try queues.adding(try functions.derivedQueues(from: queues))
        self.options = options
        self.redis = redis
        self.redisConfiguration = redisConfiguration
        var services: [FunctionService] = []
        var consumers: [QueueConsumer] = []
        let selected = functions.functions.values.filter { options.only?.contains($0.name) ?? true }.sorted { $0.name < $1.name }
        for manifest in selected {
            guard let invoker = invokers[manifest.name] else {
                throw ConfigurationError(variable: "TM_FUNCTIONS_BIN", reason: "no invoker for function \(manifest.name)")
            }
            let service = FunctionService(manifest: manifest, invoker: invoker, redis: redis, log: log, slotLease: options.slotLease)
            services.append(service)
            var consumed = [manifest.invocationQueue]
            if case .queue(let name) = manifest.trigger {
                consumed.append(manifest.consumedQueue(try queues.manifest(name), shared: functions.subscribers(of: name).count > 1))
            }
            for queue in consumed {
                // A read's messages go to the batch collector together, in pieces of the function's
                // batch size: one task and one settle call per piece, not per message.
                consumers.append(QueueConsumer(manifest: queue, redis: redisConfiguration, options: Self.consumerOptions(for: manifest, options),
                                               batchSize: manifest.batchSize) {
                    await service.handle($0)
                })
            }
        }
        // Routers for shared queues (every dispatcher runs them; they compete like any consumers).
        let shared = Set(selected.compactMap { manifest -> String? in
            guard case .queue(let name) = manifest.trigger, functions.subscribers(of: name).count > 1 else { return nil }
            return name
        })
        let producer = QueueProducer(redis: redis, catalog: self.queues)
        for name in shared.sorted() {
            let subscribers = functions.subscribers(of: name)
            var routerOptions = QueueConsumer.Options()
            routerOptions.consumerName = "\(options.name)-router"
            routerOptions.blockTimeout = options.blockTimeout
            routerOptions.promoteInterval = options.promoteInterval
            routerOptions.reclaimInterval = options.reclaimInterval
            consumers.append(QueueConsumer(manifest: try queues.manifest(name), redis: redisConfiguration, options: routerOptions) { delivery in
                try await SubscriptionRouter.route(delivery, to: subscribers, producer: producer)
                return nil
            })
        }
        self.services = services
        self.consumers = consumers
    }

    static func consumerOptions(for manifest: FunctionManifest, _ options: Options) -> QueueConsumer.Options {
        var consumer = QueueConsumer.Options()
        consumer.consumerName = "\(options.name)-\(manifest.name)"
        // Twice what may run at once: the next batch per slot is fetched and waiting while the
        // current one runs and settles, so a slot given back starts the next invocation at once
        // (the reserved concurrency, not this, bounds what runs).
        consumer.concurrency = 2 * manifest.batchSize * manifest.reservedConcurrency
        // One read takes messages for every free slot (the batch collector groups them by the
        // function's batch size): at batch size 1, one round trip per message would cap the rate.
        consumer.batchSize = consumer.concurrency
        consumer.blockTimeout = options.blockTimeout
        consumer.promoteInterval = options.promoteInterval
        consumer.reclaimInterval = options.reclaimInterval
        consumer.shutdownGrace = manifest.batchWindow + manifest.timeout + manifest.killGrace + .seconds(2)
        return consumer
    }

    /// The invoker a manifest asks for: a warm pool or a process per invocation.
    public static func invoker(for launch: FunctionLaunch) -> any FunctionInvoking {
        launch.manifest.warm ? WarmPool(launch) : ColdInvoker(launch)
    }

    /// Runs until `stop()`; then waits for running invocations and stops warm processes.
    public func run() async throws {
        logger.info("dispatching", metadata: [
            "functions": "\(services.map(\.manifest.name))", "queues": "\(consumers.map(\.manifest.name))", "dispatcher": "\(options.name)",
        ])
        let housekeeping = Task {
            while !stopped.current {
                for service in services { service.invoker.maintain() }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        // One renewal loop for every slot this dispatcher holds (one script call per function), kept
        // up until the consumers have let their last invocation finish.
        let renewal = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: options.slotLease / 3)
                for service in services {
                    do { try await service.concurrency.renew() } catch {
                        logger.warning("renewing concurrency slots failed", metadata: ["function": "\(service.manifest.name)", "error": "\(error)"])
                    }
                }
            }
        }
        defer { renewal.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for consumer in consumers { group.addTask { try await consumer.run() } }
            try await group.waitForAll()
        }
        // Nothing to consume (no functions deployed yet): stay up until told to stop, like a service.
        while consumers.isEmpty && !stopped.current { try await Task.sleep(for: .milliseconds(200)) }
        housekeeping.cancel()
        renewal.cancel()
        for service in services { await service.concurrency.releaseAll() }
        for service in services { await service.invoker.shutdown() }
        logger.info("stopped", metadata: ["dispatcher": "\(options.name)"])
    }

    public func stop() {
        stopped.withLock { $0 = true }
        for consumer in consumers { consumer.stop() }
    }

    /// Invocations so far by outcome, per function.
    public var outcomes: [String: [InvocationOutcome.Kind: Int]] {
        Dictionary(uniqueKeysWithValues: services.map { ($0.manifest.name, $0.outcomeCounts) })
    }
}

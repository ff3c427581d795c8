import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMFunctionRuntime
import TMPostgres
import TMQueue
import TMRedis

/// What the sync functions need, opened once per process (a warm process reuses it across
/// invocations): Postgres, Redis, the queues, the secret keyring and the broker adapters.
public struct SyncServices: Sendable {
    public let pool: PostgresPool
    public let redis: RedisClient
    public let producer: QueueProducer
    /// The secret keyring, when the process was given the key (sync-consumer declares
    /// `secrets: [TM_SECRET_KEY, TM_SECRET_KEYS_PREVIOUS]`; sync-trigger never opens a credential).
    public let keyring: SecretKeyring?
    /// The plain adapter of a broker; accounts get it behind the shared limits and breaker.
    public let makeAdapter: @Sendable (BrokerKind) -> any BrokerAdapter

    public init(pool: PostgresPool, redis: RedisClient, producer: QueueProducer, keyring: SecretKeyring?,
                makeAdapter: @escaping @Sendable (BrokerKind) -> any BrokerAdapter) {
        self.pool = pool
        self.redis = redis
        self.producer = producer
        self.keyring = keyring
        self.makeAdapter = makeAdapter
    }

    /// From the environment the dispatcher passes (TM_DATABASE_URL, TM_REDIS_URL, TM_QUEUES_DIR,
    /// the brokers' base URLs, and TM_SECRET_KEY when `secretKey` says it is needed).
    public static func open(environment: TMEnvironment = .current(), poolSize: Int = 4, secretKey: Bool = true,
                            makeAdapter: @escaping @Sendable (BrokerKind) -> any BrokerAdapter) async throws -> SyncServices {
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "sync")
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize)
        return SyncServices(pool: pool, redis: redis, producer: QueueProducer(redis: redis, catalog: try QueueCatalog.load(environment: environment)),
                            keyring: secretKey ? try SecretKeyring.fromEnvironment(environment) : nil, makeAdapter: makeAdapter)
    }

    /// The consumer; only a process given the secret key has one.
    public var consumer: SyncConsumer {
        get throws {
            guard let keyring else {
                throw ConfigurationError(variable: SecretKeyring.currentVariable,
                                         reason: "not given to this process: sync-consumer's function.yaml must list it under secrets")
            }
            let (redis, make) = (self.redis, makeAdapter)
            return SyncConsumer(pool: pool, redis: redis, producer: producer, keyring: keyring) { account in
                ResilientBrokerAdapter(make(account.broker), budgetKey: account.budgetKey, redis: redis)
            }
        }
    }

    public var trigger: SyncTrigger { SyncTrigger(pool: pool, producer: producer) }

    public var housekeeping: SyncHousekeeping { SyncHousekeeping(pool: pool, outbox: TradeEventOutbox(pool: pool, producer: producer)) }
}

/// The `sync-trigger` function: each record is a schedule slot (`{"slot": "<ISO 8601>"}`, else now).
public struct SyncTriggerFunction: FunctionHandler {
    let services: SyncServices
    public init(services: SyncServices) { self.services = services }

    struct Slot: Decodable { var slot: String? }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        await RecordHandler { record, context in
            let text = try record.decode(Slot.self).slot
            var slot = Date()
            if let text {
                guard let parsed = ISO8601DateFormatter().date(from: text) else { throw RecordRejected("slot: '\(text)' is not an ISO 8601 time") }
                slot = parsed
            }
            let report = try await services.trigger.run(slot: slot, logger: context.logger)
            var summary = "due \(report.due), enqueued \(report.enqueued), already enqueued \(report.duplicates), failed \(report.failed)"
            // Housekeeping never fails the pass: the syncs are enqueued, and the next pass tries again.
            do {
                let done = try await services.housekeeping.run(logger: context.logger)
                summary += "; abandoned runs \(done.abandonedRuns), events published \(done.published), dropped \(done.droppedEvents)"
            } catch {
                context.logger.error("sync housekeeping failed; the next pass tries again", metadata: ["error": "\(error)"])
            }
            return summary
        }.handle(request, context: context)
    }
}

/// The `sync-consumer` function: each record is one account's `broker-sync` message.
public struct SyncConsumerFunction: FunctionHandler {
    let services: SyncServices
    public init(services: SyncServices) { self.services = services }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        let consumer: SyncConsumer
        do { consumer = try services.consumer } catch { return .failed("\(error)", retryable: false) }
        // The accounts of a batch sync at once: a sync mostly waits on the broker.
        return await RecordHandler(concurrency: request.records.count) { record, context in
            let message = try record.decode(SyncTrigger.Message.self)
            switch try await consumer.sync(message, delivery: record.fence, logger: context.logger) {
            case .synced(let r):
                return "synced: fetched \(r.fetched), created \(r.created), updated \(r.updated), unchanged \(r.skipped), "
                    + (r.fundsError ?? "funds \(r.funds)")
            case .skipped(let why): return "skipped: \(why)"
            }
        }.handle(request, context: context)
    }
}

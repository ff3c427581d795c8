import Foundation
import Logging
import TMCore
import TMRedis

/// Consumes one queue: fetches, runs the handler, and settles every delivery exactly one way —
/// acknowledged, scheduled for retry, or dead-lettered.
///
/// The life of a message (each step one atomic script, see `QueueScripts`):
/// 1. **Fetch**: `XREADGROUP` (batched; after a blocking wait when idle, see `ShardRead`) into this
///    consumer's pending list; the fencing epoch of each message is raised in the same script.
/// 2. **Run**: the payload must be JSON (else dead-lettered as `malformed`), then the handler runs.
///    Long handlers are kept alive by heartbeats (`XCLAIM ... JUSTID`), which do not count as deliveries.
/// 3. **Settle**: success → ack + delete + outcome recorded under the idempotency key; a retryable
///    failure with attempts left → into the delayed set with backoff (full jitter), back on the
///    stream when due; otherwise → the DLQ with the whole attempt history.
/// 4. **Reclaim**: entries idle past the visibility timeout (their consumer died) are taken over
///    with `XAUTOCLAIM`; a crash does not use up an attempt, but a message reclaimed more than
///    `max_reclaims` times is dead-lettered as a poison pill.
///
/// Guarantees: at-least-once delivery — nothing leaves the stream before its outcome is recorded;
/// a consumer that lost a message (epoch moved on) cannot settle it; `stop()` (or cancelling `run`)
/// stops fetching, lets in-flight handlers finish within the grace period and leaves the rest
/// pending for another consumer to reclaim.
public final class QueueConsumer: Sendable {
    public struct Options: Sendable {
        /// This consumer's name within the group; unique per process.
        public var consumerName: String = QueueConsumer.defaultConsumerName()
        /// Handlers running at once (default: the manifest's `concurrency`).
        public var concurrency: Int?
        public var batchSize: Int?
        /// The shards this consumer reads (default: all).
        public var shards: [Int]?
        /// How long one blocking read waits; also how quickly `stop()` is noticed by the fetcher.
        public var blockTimeout: Duration = .milliseconds(500)
        public var shutdownGrace: Duration = .seconds(10)
        /// Default: a third of the visibility timeout.
        public var heartbeatInterval: Duration?
        /// Default: `defaultReclaimInterval(visibility:)`.
        public var reclaimInterval: Duration?
        /// The most a due retry or delayed message waits to be put back on the stream: each shard's
        /// delayed set is promoted at least this often — by the shard's own reads (`QueueScripts.fetch`
        /// promotes first) or, when none covered it within the interval, by `promote` — and at its
        /// earliest due time when one is known. An idle reader's wait covers its shard meanwhile
        /// (it ends at the next due time, or at once when an earlier one is added: `QueueKeys.wake`)
        /// when this is at least 150 ms: Redis ends a timed-out wait up to 100 ms late at `hz 10`
        /// (`ShardRead.blockLateness`), 50 ms left for the round trips. Shorter: the loop polls.
        public var promoteInterval: Duration = .milliseconds(200)
        /// Consumers with nothing pending and silent this long are removed from the group.
        public var forgetConsumersAfter: Duration = .seconds(3600)
        /// Messages with the same key (e.g. the account of an order) are handled one at a time, in
        /// stream order; nil keys (and no function) run freely. Retried messages rejoin at the back.
        public var orderingKey: (@Sendable (Delivery) -> String?)?
        /// Take over every pending message of the shards at start, however recently it was
        /// delivered: for a consumer that holds the shards' lease, so the previous owner has
        /// stopped; its messages then run before any newer ones.
        public var takeOverPending = false
        /// The executor the consumer's tasks prefer (fetchers, handlers, settles); nil: Swift's pool.
        /// Its tasks are unstructured, so the caller's own preference is not inherited.
        public var taskExecutor: (any TaskExecutor)?
        /// Read each shard's watched key (`QueueKeys.watched`) in the same script as every fetch and
        /// hand it to the handler with the delivery (`Delivery.watched`): a handler that must see
        /// a value as of its start can skip its own read when the value stands in for one
        /// (`WatchedRead`). Off: the fetch reads only the stream.
        public var readsWatchedKey = false
        /// A control connection and settler shared with other consumers (`QueueSettler`): their
        /// settles go out together. nil: this consumer opens its own for the time it runs.
        public var settler: QueueSettler?

        public init() {}

        /// A quarter of the visibility timeout, at most 5 s: a dead consumer's messages are taken
        /// over within about 1.25 visibility timeouts (plus one blocking read).
        public static func defaultReclaimInterval(visibility: Duration) -> Duration {
            min(visibility / 4, .seconds(5))
        }
    }

    /// Running totals, for tests, logs and metrics.
    public struct Counters: Sendable, Equatable {
        public var handled = 0
        public var retried = 0
        /// Rescheduled without using up an attempt (`RetryDeferring`).
        public var deferred = 0
        public var deadLettered = 0
        public var reclaimed = 0
        /// Outcomes refused because another consumer had taken the message over.
        public var stale = 0
        public var promoted = 0
        /// Deliveries admitted to their ordering key's lane (`Options.orderingKey`), in stream order.
        public var admitted = 0
    }

    public let manifest: QueueManifest
    public let options: Options
    public let redisConfiguration: RedisConfiguration
    private let handling: Handling
    private let logger: Logger
    private let slots: Slots
    private let lanes = SerialLanes()
    private let state = Locked(State())

    private struct State {
        var stopping = false
        var counters = Counters()
        var inFlight: [InFlightKey: InFlight] = [:]
        /// Per shard: the newest promotion known complete (by a fetch or by `promote`).
        var promoted: [Int: ShardRead.Promotion] = [:]
        /// Shards whose reader is in a wait that covers their delayed set (`coversByWaiting`).
        var waiting: Set<Int> = []
        /// Passes of the promote loop over every shard finished (for tests).
        var promotePasses = 0
    }

    private struct InFlight {
        let delivery: Delivery
        let startedAt: ContinuousClock.Instant
    }

    /// How deliveries reach the code: one at a time, or a batch at a time.
    private enum Handling {
        case each(QueueHandler)
        case batch(QueueBatchHandler, size: Int)
    }

    public convenience init(manifest: QueueManifest, redis: RedisConfiguration, options: Options = Options(), handler: @escaping QueueHandler) {
        self.init(manifest: manifest, redis: redis, options: options, handling: .each(handler))
    }

    /// A consumer whose handler takes the messages of one read together, up to `batchSize` at a
    /// time: one task, one call and one settle call per batch rather than per message. Each message
    /// still gets its own outcome (its own retry with backoff, or dead letter; the others acked),
    /// its own epoch check, and its own JSON check before the batch runs. Messages are not ordered
    /// across batches: `orderingKey` must be nil.
    public convenience init(manifest: QueueManifest, redis: RedisConfiguration, options: Options = Options(), batchSize: Int,
                            batchHandler: @escaping QueueBatchHandler) {
        precondition(options.orderingKey == nil, "a batch handler does not keep per-key order")
        self.init(manifest: manifest, redis: redis, options: options, handling: .batch(batchHandler, size: max(1, batchSize)))
    }

    private init(manifest: QueueManifest, redis: RedisConfiguration, options: Options, handling: Handling) {
        self.manifest = manifest
        self.options = options
        self.redisConfiguration = redis
        self.handling = handling
        var logger = Logger(label: "tm.queue.\(manifest.name)")
        logger[metadataKey: "queue"] = .string(manifest.name)
        logger[metadataKey: "consumer"] = .string(options.consumerName)
        self.logger = logger
        self.slots = Slots(options.concurrency ?? manifest.concurrency)
    }

    /// The consumer group every consumer of a queue joins. One group per stream: settling a message
    /// deletes it, so a second group would never see it; several subscribers each get a queue.
    public static let group = "workers"

    public static func defaultConsumerName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
    }

    public var counters: Counters { state.withLock { $0.counters } }
    /// Passes of the promote loop over every shard finished (for tests: after the first, each shard
    /// was promoted by the loop or covered by a read).
    var promotePasses: Int { state.withLock { $0.promotePasses } }
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    /// Stops fetching; `run` returns once in-flight work is settled or the grace period is over.
    public func stop() {
        state.withLock { $0.stopping = true }
        slots.close()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    var shards: [Int] { options.shards ?? Array(0..<manifest.shards) }

    /// Runs until `stop()` or cancellation.
    public func run() async throws {
        // A settler given to it is its owner's to close; one of its own lives while it runs.
        let ownsSettler = options.settler == nil
        let queueSettler = ownsSettler ? try await QueueSettler(redis: redisConfiguration) : options.settler!
        defer { if ownsSettler { queueSettler.close() } }
        let control = queueSettler.control
        for shard in shards { try await ensureGroup(control, QueueKeys(queue: manifest.name, shard: shard)) }
        logger.info("consuming", metadata: ["shards": "\(shards)", "concurrency": "\(slots.capacity)", "group": "\(Self.group)"])

        let settler = queueSettler.batcher
        // One element per read (or reclaim): the batch handler takes it whole.
        let (deliveries, sink) = AsyncStream<[Delivery]>.makeStream()
        // Cancelling `run` must mean "stop gracefully", not "abandon handlers and heartbeats now":
        // the work runs in a task of its own, and cancellation only calls `stop()`.
        let work = Task(executorPreference: options.taskExecutor) { [self] in
            await withTaskGroup(of: Void.self) { background in
                // Producers of deliveries: the stream ends when all of them have stopped.
                background.addTask {
                    await withTaskGroup(of: Void.self) { producers in
                        for shard in self.shards {
                            producers.addTask { await self.fetchLoop(shard: shard, control: control, settler: settler, sink: sink) }
                        }
                    }
                    sink.finish()
                }
                background.addTask { await self.promoteLoop(control: control) }
                background.addTask { await self.heartbeatLoop(control: control) }

                // Discarding: a finished handler's task (and its frames' slabs) is freed at once; a
                // plain group would keep every one until the consumer stops.
                await withDiscardingTaskGroup { handlers in
                    for await read in deliveries {
                        switch self.handling {
                        case .each(let handler):
                            for var delivery in read {
                                // Admitted here, in stream order: the lane keeps that order for the handlers.
                                let ticket = self.options.orderingKey?(delivery).map { self.admit($0, &delivery) }
                                handlers.addTask { await self.process(delivery, ticket: ticket, handler: handler, settler: settler) }
                            }
                        case .batch(let handler, let size):
                            for batch in Self.batches(of: read, size: size) {
                                handlers.addTask { await self.process(batch, handler: handler, settler: settler) }
                            }
                        }
                    }
                    // Stopping: give in-flight handlers the grace period, then cancel them; their
                    // messages stay pending and are reclaimed by another consumer.
                    let deadline = ContinuousClock.now + options.shutdownGrace
                    while inFlightCount > 0, ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    if inFlightCount > 0 {
                        logger.warning("grace period over; leaving in-flight messages for reclaim", metadata: ["in_flight": "\(inFlightCount)"])
                        handlers.cancelAll()
                    }
                }
                background.cancelAll()
            }
        }
        await withTaskCancellationHandler {
            await work.value
        } onCancel: {
            self.stop()
        }
        logger.info("stopped", metadata: ["handled": "\(counters.handled)", "dead_lettered": "\(counters.deadLettered)"])
    }

    // MARK: - Loops

    /// Reads one shard. Before a blocking read, and at most once per reclaim interval, the same
    /// slots are first offered to messages whose consumer died (`reclaim`), so a busy fetcher never
    /// starves recovery and recovery never exceeds the concurrency limit.
    private func fetchLoop(shard: Int, control: RedisClient, settler: ScriptBatcher, sink: AsyncStream<[Delivery]>.Continuation) async {
        let keys = QueueKeys(queue: manifest.name, shard: shard)
        let reclaimInterval = options.reclaimInterval ?? Options.defaultReclaimInterval(visibility: manifest.visibilityTimeout)
        var nextReclaim = ContinuousClock.now
        // Taking over: the first scan claims every pending entry, idle or not (see `takeOverPending`).
        var takingOver = options.takeOverPending
        var cursor = "0-0"
        // The first read does not wait: it learns where the group's reading stands (`ShardRead`).
        var backlog = true
        var waitCursor: String?
        // The last fetch's wake cursor and promotion: an idle wait watches the wake stream from the
        // one and ends by the other's next due time.
        var wakeCursor: String?
        var lastPromotion: ShardRead.Promotion?
        var reader: RedisClient?
        var backoff = Duration.milliseconds(50)
        // Set when a wait failed but its fetch delivered: the next read comes after this pause, and
        // the backoff keeps growing until a wait succeeds (the non-blocking reads between do not reset it).
        var nextPause: Duration?
        var waitFailing = false
        // With several shards, one shard's blocking read must not hold every slot.
        let batch = min(options.batchSize ?? manifest.batchSize, max(1, slots.capacity / shards.count))
        while !isStopping {
            if let pause = nextPause {
                nextPause = nil
                try? await Task.sleep(for: pause)
            }
            let wanted = await slots.acquire(max: batch)
            guard wanted > 0 else { break }
            var held = wanted  // slots not yet handed to a delivery or given back
            guard !isStopping else {
                slots.release(held)
                break
            }
            do {
                if ContinuousClock.now >= nextReclaim {
                    let (claimed, next) = try await reclaim(keys, count: wanted, cursor: cursor, minIdle: takingOver ? .zero : manifest.visibilityTimeout,
                                                            control: control, settler: settler, sink: sink)
                    cursor = next
                    if cursor == "0-0" { takingOver = false }
                    held -= claimed
                    // More may be waiting when the scan has not wrapped around: look again at once.
                    nextReclaim = cursor != "0-0" ? .now : .now + reclaimInterval
                    if claimed > 0 || takingOver {
                        // (While taking over, nothing new is read until the whole pending list is claimed.)
                        slots.release(held)
                        continue
                    }
                }
                if reader == nil { reader = try await RedisClient(configuration: redisConfiguration, name: "q-read") }
                // The last read was full: more is likely waiting, so read at once; else wait for the
                // stream to grow, the read pipelined behind the wait (one round trip either way).
                let (group, consumer, known) = (Self.group, options.consumerName, waitCursor)
                let wait = backlog ? nil : Self.idleWait(options.blockTimeout, after: lastPromotion, now: nowMillis())
                let watching = options.readsWatchedKey
                let wake = wakeCursor
                // A wait covers the shard when it watches the wake stream; a read at once, by its
                // fetch's own promotion (the loop must not race the read that follows a cut wait).
                let covering = coversByWaiting && (wait == nil || wake != nil)
                let read = try await whileCovering(shard, covering) {
                    try await reader!.withConnection { connection in
                        try ShardRead.read(connection, keys: keys, group: group, consumer: consumer, count: wanted, cursor: known, wait: wait,
                                           wakeCursor: wake, watching: watching)
                    }
                }
                waitCursor = read.cursor
                (wakeCursor, lastPromotion) = (read.wakeCursor, read.promotion)
                if let promotion = read.promotion {
                    recordPromotion(covering ? Self.coveredUntilAnswered(promotion, answeredAt: nowMillis()) : promotion, shard: shard)
                }
                let entries = read.entries  // (stream id, fields, epoch)
                backlog = entries.count == wanted
                slots.release(held - entries.count)
                held = entries.count
                if let failed = read.waitError {
                    // The fetch behind the failed wait ran: its entries are handed out below, and the
                    // next read starts afresh, without waiting, after a pause.
                    logger.warning("waiting for the stream failed; reading again", metadata: ["shard": "\(shard)", "error": "\(failed)"])
                    (backlog, waitCursor, waitFailing) = (true, nil, true)
                    nextPause = backoff
                    backoff = min(backoff * 2, .seconds(2))
                } else if wait != nil || !waitFailing {
                    (backoff, waitFailing) = (.milliseconds(50), false)
                }
                if entries.isEmpty { continue }
                var envelopes: [(String, MessageEnvelope, Int64)] = []
                var awaited = false
                for (sid, fields, epoch) in entries {
                    do {
                        envelopes.append((sid, try MessageEnvelope(fields: fields), epoch))
                    } catch {
                        // Not one of ours (written by hand?): dead-letter it rather than loop on it.
                        slots.release()
                        held -= 1
                        awaited = true
                        await deadLetterForeign(sid: sid, fields: fields, keys: keys, control: control)
                    }
                }
                guard !envelopes.isEmpty else { continue }
                // (Each epoch was raised by the read itself: an entry with an id comes back at 1 or more.)
                let delivered = envelopes.enumerated().map { index, entry in
                    // Only the read's first entry, and only when nothing was awaited since the fetch
                    // (a foreign entry's dead-lettering), goes from this fetch straight to a handler.
                    let watched = watching ? WatchedRead(value: read.watched, standsInForAReadNow: index == 0 && !awaited) : nil
                    return delivery(entry.1, sid: entry.0, shard: shard, epoch: entry.2, deliveries: 1, watched: watched)
                }
                held -= delivered.count
                sink.yield(register(delivered))
                slots.release(held)
            } catch {
                // Entries read but not yet handed out stay pending and are reclaimed later.
                slots.release(held)
                nextReclaim = .now + reclaimInterval
                if case RedisError.server(let code, _) = error, code == "NOGROUP" {
                    try? await ensureGroup(control, keys)
                    // A new group reads from the stream's start: the next read learns its cursor.
                    (backlog, waitCursor) = (true, nil)
                    continue
                }
                reader?.close()
                reader = nil
                // A new connection may reach another primary (a failover), whose wake ids need not
                // follow the old one's: the next read starts afresh, learning the cursors again.
                (wakeCursor, lastPromotion, backlog) = (nil, nil, true)
                logger.warning("fetch failed; retrying", metadata: ["shard": "\(shard)", "error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
        reader?.close()
    }

    /// How long an idle read waits: `blockTimeout`, cut short at the delayed set's next due time as
    /// the last fetch saw it; nil (read at once) when that time has come or the fetch left due
    /// messages behind.
    static func idleWait(_ blockTimeout: Duration, after promotion: ShardRead.Promotion?, now: Int64) -> Duration? {
        guard let promotion else { return blockTimeout }
        guard promotion.complete else { return nil }
        guard let due = promotion.nextDue else { return blockTimeout }
        return due > now ? min(blockTimeout, .milliseconds(due - now)) : nil
    }

    /// What a covering wait's answer says about its shard's delayed set: it was covered until the
    /// answer (`answeredAt`), but never past the fetch's head (`nextDue`), which the fetch — sent
    /// with the wait, its clock read before it — may have left unpromoted when the wait was cut at
    /// that due time: the promote loop must not count the shard promoted past it (a reader held
    /// after this answer relies on the loop for it).
    static func coveredUntilAnswered(_ promotion: ShardRead.Promotion, answeredAt: Int64) -> ShardRead.Promotion {
        var covered = promotion
        covered.through = max(promotion.through, min(answeredAt, (promotion.nextDue ?? .max) - 1))
        return covered
    }

    /// Whether a waiting reader covers its shard's delayed set: its wait watches the wake stream
    /// (an earlier head ends it at once) and ends by the head's due time, which Redis honours up
    /// to `ShardRead.blockLateness` late — so only when that, with 50 ms for the round trips of
    /// the answer and the read after it, fits in `promoteInterval`.
    var coversByWaiting: Bool { options.promoteInterval >= ShardRead.blockLateness + .milliseconds(50) }

    /// Runs `read` with `shard` marked covered by its waiting reader when `covering` (the promote
    /// loop skips it meanwhile).
    private func whileCovering<T>(_ shard: Int, _ covering: Bool, _ read: () async throws -> T) async throws -> T {
        guard covering else { return try await read() }
        state.withLock { _ = $0.waiting.insert(shard) }
        defer { state.withLock { _ = $0.waiting.remove(shard) } }
        return try await read()
    }

    /// Shards whose reader is in a covering wait now (for tests).
    var shardsCoveredByWaits: Set<Int> { state.withLock { $0.waiting } }

    /// Takes over up to `count` messages idle past the visibility timeout and yields them; returns
    /// how many it took (each holds one of the caller's slots). Poison pills (reclaimed more than
    /// `max_reclaims` times) come back claimed by this consumer at a raised epoch and are
    /// dead-lettered here, without running (a crash before that leaves them pending: reclaimed again).
    private func reclaim(
        _ keys: QueueKeys, count: Int, cursor: String, minIdle: Duration, control: RedisClient, settler: ScriptBatcher,
        sink: AsyncStream<[Delivery]>.Continuation
    ) async throws -> (claimed: Int, nextCursor: String) {
        let now = nowMillis()
        let reply = try await control.run(QueueScripts.reclaim, keys: [keys.stream, keys.epochs, keys.deadLetters], arguments: [
            Self.group, options.consumerName, minIdle.milliseconds, count,
            manifest.maxReclaims, now, manifest.name, "\(now - manifest.retention.deadLetters.milliseconds)-0", cursor,
        ])
        let claimed = reply.array?[0].array ?? []
        let malformed = Int(reply.array?[1].int ?? 0)
        let nextCursor = reply.array?[2].string ?? "0-0"
        if malformed > 0 {
            state.withLock { $0.counters.deadLettered += malformed }
            logger.error("dead-lettered foreign stream entries", metadata: ["shard": "\(keys.shard)", "count": "\(malformed)"])
        }
        let poison = (reply.array?.count ?? 0) > 3 ? reply.array?[3].array ?? [] : []
        if !poison.isEmpty {
            logger.error("dead-lettering poison messages after repeated crashes", metadata: ["shard": "\(keys.shard)", "count": "\(poison.count)"])
        }
        for item in poison {
            guard let parts = item.array, parts.count == 4, let sid = parts[0].string,
                  let envelope = try? MessageEnvelope(fields: parts[1].array ?? []) else { continue }
            let deliveries = Int(parts[3].int ?? 1)
            let poisoned = delivery(envelope, sid: sid, shard: keys.shard, epoch: parts[2].int ?? 0, deliveries: deliveries)
            let error = "delivered \(deliveries - 1) times without an outcome: its consumers crashed, hung or were killed"
            await settle([(poisoned, .deadLetter(reason: "crash", kind: .crash, error: error))], settler: settler)
        }
        guard !claimed.isEmpty else { return (0, nextCursor) }
        logger.info("reclaimed idle messages", metadata: ["shard": "\(keys.shard)", "count": "\(claimed.count)"])
        var taken: [Delivery] = []
        for item in claimed {
            guard let parts = item.array, parts.count == 4, let sid = parts[0].string,
                  let envelope = try? MessageEnvelope(fields: parts[1].array ?? []) else { continue }
            taken.append(delivery(envelope, sid: sid, shard: keys.shard, epoch: parts[2].int ?? 0, deliveries: Int(parts[3].int ?? 1)))
        }
        state.withLock { $0.counters.reclaimed += taken.count }
        if !taken.isEmpty { sink.yield(register(taken)) }
        return (taken.count, nextCursor)
    }

    /// Moves due delayed messages onto the stream, and now and then forgets dead consumers.
    ///
    /// A shard whose reads promoted it within `promoteInterval` (`QueueScripts.fetch` promotes
    /// before it reads), or whose reader is in a covering wait (`coversByWaiting`: the wait ends by
    /// the delayed set's head's due time and on any earlier head), gets no `promote` call: under
    /// load every read covers its shard, idle the waits do, and the loop's calls — a Redis wake-up
    /// each — are left to shards whose reader is held (every slot busy, a failing connection),
    /// consumers with a `promoteInterval` too short for a wait's lateness, and known due times.
    /// A covering read's answer counts as a promotion through its arrival, never past the fetch's
    /// head (`coveredUntilAnswered`): a head its reader leaves (held after the answer) is due at the
    /// loop's next pass, within the interval. The bound kept: a message due
    /// at d, past the last complete promotion's `through` t (else it is on the stream already), is
    /// moved by the next promotion, which comes at the latest at t + `promoteInterval` — so at most
    /// `promoteInterval` after it is due or added, whichever is later (one added after a promotion
    /// with a due time before its `through` — a late settle, a producer whose clock is behind —
    /// waits for the next), as when every shard was promoted every interval.
    private func promoteLoop(control: RedisClient) async {
        var nextPrune = ContinuousClock.now
        let interval = options.promoteInterval.milliseconds
        while !Task.isCancelled {
            if ContinuousClock.now >= nextPrune {
                nextPrune = .now + .seconds(60)
                for shard in shards {
                    let keys = QueueKeys(queue: manifest.name, shard: shard)
                    _ = try? await control.run(QueueScripts.pruneConsumers, keys: [keys.stream], arguments: [Self.group, options.forgetConsumersAfter.milliseconds])
                }
            }
            var wake = nowMillis() + interval
            for shard in shards {
                let now = nowMillis()
                let (last, covered) = state.withLock { ($0.promoted[shard], $0.waiting.contains(shard)) }
                // Its reader is reading: a wait on the wake stream bounded by the head's due time, or
                // a read at once whose fetch promotes first — no call. (Should the reader be held
                // after it, its answer never counts past the head: the next pass, within the
                // interval, finds the head due.)
                if covered { continue }
                if let next = Self.nextPromotion(after: last, interval: interval, now: now) {
                    wake = min(wake, next)
                    continue
                }
                let keys = QueueKeys(queue: manifest.name, shard: shard)
                do {
                    let reply = try await control.run(QueueScripts.promote, keys: [keys.stream, keys.delayed], arguments: [now, 1000])
                    let moved = Int(reply.array?[0].int ?? 0)
                    // All 1,000 moved: more may be due, and the next pass comes at once.
                    let promotion = ShardRead.Promotion(through: now, moved: moved, complete: moved < 1000, nextDue: reply.array?[1].int)
                    recordPromotion(promotion, shard: shard)
                    wake = min(wake, Self.nextPromotion(after: promotion, interval: interval, now: now) ?? now)
                } catch {
                    logger.warning("promoting delayed messages failed", metadata: ["shard": "\(shard)", "error": "\(error)"])
                }
            }
            state.withLock { $0.promotePasses += 1 }
            let sleep = min(wake - nowMillis(), interval)
            if sleep > 0 { try? await Task.sleep(for: .milliseconds(sleep)) } else { await Task.yield() }
        }
    }

    /// When a shard next needs a promotion (ms, this process's clock), after the newest complete
    /// one: `interval` after it, or its earliest due time if sooner. nil: it needs one now (none
    /// known, the last left due messages behind, that time has come, or the last is ahead of
    /// `now` — the wall clock went back since, and its time cannot be trusted).
    static func nextPromotion(after promotion: ShardRead.Promotion?, interval: Int64, now: Int64) -> Int64? {
        guard let promotion, promotion.complete, promotion.through <= now else { return nil }
        let next = min(promotion.through + interval, promotion.nextDue ?? .max)
        return next > now ? next : nil
    }

    /// Counts what a promotion moved and keeps the newest one of `shard` (a fetch and `promote`
    /// may answer out of order).
    private func recordPromotion(_ promotion: ShardRead.Promotion, shard: Int) {
        state.withLock { state in
            state.counters.promoted += promotion.moved
            guard promotion.through >= state.promoted[shard]?.through ?? .min else { return }
            state.promoted[shard] = promotion
        }
    }

    private func heartbeatLoop(control: RedisClient) async {
        // The first heartbeat can come up to two intervals after the read: a third of the
        // visibility timeout is the most that still keeps the message.
        let interval = min(options.heartbeatInterval ?? manifest.visibilityTimeout / 3, manifest.visibilityTimeout / 3)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let due = state.withLock { state in
                state.inFlight.values.filter { ContinuousClock.now - $0.startedAt >= interval }.map(\.delivery)
            }
            for (shard, group) in Dictionary(grouping: due, by: \.shard) {
                let keys = QueueKeys(queue: manifest.name, shard: shard)
                var arguments: [any RedisArgumentConvertible] = [Self.group, options.consumerName]
                for delivery in group { arguments += [delivery.streamID, delivery.id, delivery.epoch] }
                do {
                    let alive = try await control.run(QueueScripts.heartbeat, keys: [keys.stream, keys.epochs], arguments: arguments)
                    for (delivery, flag) in zip(group, alive.array ?? []) where flag.int == 0 {
                        logger.warning("message taken over by another consumer; this attempt's outcome will be discarded",
                                       metadata: ["message_id": "\(delivery.id)", "epoch": "\(delivery.epoch)"])
                    }
                } catch {
                    logger.warning("heartbeat failed", metadata: ["shard": "\(shard)", "error": "\(error)"])
                }
            }
        }
    }

    // MARK: - One delivery

    private func delivery(_ envelope: MessageEnvelope, sid: String, shard: Int, epoch: Int64, deliveries: Int, watched: WatchedRead? = nil) -> Delivery {
        Delivery(
            queue: manifest.name, shard: shard, streamID: sid, id: envelope.id, key: envelope.key.isEmpty ? nil : envelope.key,
            payload: envelope.payload, attempt: envelope.failedAttempts + 1, epoch: epoch, deliveries: deliveries,
            enqueuedAt: Date(timeIntervalSince1970: Double(envelope.enqueuedAt) / 1000), history: envelope.history, watched: watched)
    }

    /// Admits `delivery` to its key's lane. A delivery whose watched value stands in for a read at
    /// its start loses that when the lane already holds an earlier message of its key: it will wait
    /// for that one. (Only this loop creates lanes, and finishing work only removes them, so the
    /// count of active lanes rising by one across the admission means a new, empty lane: this
    /// message runs at once. Any other count — a lane joined, or one removed meanwhile — is taken
    /// as a wait, which only costs the handler its own read.)
    private func admit(_ key: String, _ delivery: inout Delivery) -> SerialLanes.Ticket {
        defer { state.withLock { $0.counters.admitted += 1 } }
        guard let watched = delivery.watched, watched.standsInForAReadNow else { return lanes.admit(key) }
        let before = lanes.activeKeys
        let ticket = lanes.admit(key)
        if lanes.activeKeys != before + 1 {
            delivery = delivery.with(watched: WatchedRead(value: watched.value, standsInForAReadNow: false))
        }
        return ticket
    }

    private func register(_ deliveries: [Delivery]) -> [Delivery] {
        let now = ContinuousClock.now
        state.withLock { state in
            for delivery in deliveries { state.inFlight[delivery.inFlightKey] = InFlight(delivery: delivery, startedAt: now) }
        }
        return deliveries
    }

    private func process(_ delivery: Delivery, ticket: SerialLanes.Ticket?, handler: QueueHandler, settler: ScriptBatcher) async {
        var holdsSlot = true
        defer {
            state.withLock { _ = $0.inFlight.removeValue(forKey: delivery.inFlightKey) }
            if holdsSlot { slots.release() }
        }
        if let malformed = Self.malformed(delivery, queue: manifest.name) {
            await settle([(delivery, malformed)], settler: settler)
            return
        }
        let answer: Result<String?, any Error>
        do {
            if let ticket {
                answer = .success(try await lanes.run(ticket) { try await handler(delivery) })
            } else {
                answer = .success(try await handler(delivery))
            }
        } catch {
            answer = .failure(error)
        }
        // shutdown past the grace period: leave it pending for reclaim
        guard let outcome = settlement(of: delivery, answer) else { return }
        // The handler is done: its slot takes the next message while this one settles (the message
        // stays in flight, heartbeated, until its outcome is recorded).
        slots.release()
        holdsSlot = false
        await settle([(delivery, outcome)], settler: settler)
    }

    /// A read's messages in batches of up to `size`, in stream order — except that a redelivered
    /// message (`Delivery.isRedelivery`) is a batch of its own: when a batch's process crashed, its
    /// messages come back together, and batched together again the innocent would crash with the
    /// poison one until all are dead-lettered.
    static func batches(of read: [Delivery], size: Int) -> [[Delivery]] {
        var batches: [[Delivery]] = []
        var fresh: [Delivery] = []
        for delivery in read {
            if delivery.isRedelivery {
                batches.append([delivery])
                continue
            }
            fresh.append(delivery)
            if fresh.count == size {
                batches.append(fresh)
                fresh = []
            }
        }
        if !fresh.isEmpty { batches.append(fresh) }
        return batches
    }

    /// A batch: the malformed are dead-lettered apart, the rest run in one handler call, and every
    /// message is settled by its own answer — the completions in one call, each failure by its own
    /// retry or dead letter.
    private func process(_ batch: [Delivery], handler: QueueBatchHandler, settler: ScriptBatcher) async {
        var heldSlots = batch.count
        defer {
            state.withLock { state in
                for delivery in batch { _ = state.inFlight.removeValue(forKey: delivery.inFlightKey) }
            }
            slots.release(heldSlots)
        }
        var settlements: [(Delivery, Settlement)] = []
        var valid: [Delivery] = []
        valid.reserveCapacity(batch.count)
        for delivery in batch {
            if let malformed = Self.malformed(delivery, queue: manifest.name) {
                settlements.append((delivery, malformed))
            } else {
                valid.append(delivery)
            }
        }
        if !valid.isEmpty {
            let answers = await handler(valid)
            for (index, delivery) in valid.enumerated() {
                let answer = index < answers.count ? answers[index] : .failure(MissingAnswer(count: answers.count, batch: valid.count))
                if let outcome = settlement(of: delivery, answer) { settlements.append((delivery, outcome)) }
            }
        }
        // The handler is done: the slots take the next messages while these settle.
        slots.release(heldSlots)
        heldSlots = 0
        await settle(settlements, settler: settler)
    }

    /// A batch handler answered fewer messages than it was given: the rest are retried.
    struct MissingAnswer: Error, CustomStringConvertible {
        let count: Int
        let batch: Int
        var description: String { "the batch handler answered \(count) of \(batch) messages" }
    }

    /// The producer's strict check (RFC 8259), so what one accepts the other does.
    private static func malformed(_ delivery: Delivery, queue: String) -> Settlement? {
        if (try? QueueProducer.checkJSON(delivery.payload, queue: queue)) != nil { return nil }
        return .deadLetter(reason: "malformed", kind: .malformed, error: "payload is not valid JSON")
    }

    /// What a handler's answer means for its message; nil when it was cancelled by a shutdown past
    /// the grace period (the message stays pending, for reclaim, with no attempt used).
    private func settlement(of delivery: Delivery, _ answer: Result<String?, any Error>) -> Settlement? {
        switch answer {
        case .success(let result):
            return .complete(result: result)
        case .failure(let error):
            if Task.isCancelled && isStopping { return nil }
            let message = "\(error)"
            if let deferring = error as? RetryDeferring { return deferral(of: delivery, until: deferring.retryNotBefore, error: message) }
            let retryable = (error as? RetryClassifying)?.isRetryable ?? true
            if !retryable {
                let kind: AttemptRecord.Kind = error is MessageRejected ? .malformed : .nonRetryable
                return .deadLetter(reason: kind == .malformed ? "invalid" : "non_retryable", kind: kind, error: message)
            } else if delivery.attempt >= manifest.maxDeliveries {
                return .deadLetter(reason: "exhausted", kind: .error, error: message)
            } else {
                return .retry(error: message, delay: manifest.backoff.delay(forRetry: delivery.attempt))
            }
        }
    }

    /// A handler that did nothing and asked to run again not before `notBefore`: rescheduled at
    /// that time (at least the normal backoff, so a handler cannot spin) WITHOUT using up an
    /// attempt, while the message's deferrals, counted from its first, end within `max_deferral`;
    /// a deferral that would end past it is an ordinary failed attempt (retried with the normal
    /// backoff), and the last attempt dead-letters the message as `deferral_exhausted`.
    private func deferral(of delivery: Delivery, until notBefore: Date, error: String) -> Settlement {
        let clock = QueueClockReading.now()
        let now = clock.millis
        // To the nanosecond (a `Date`'s resolution), so the due time rounded up is not before `notBefore`.
        // (Clamped to ±285 years from 1970: `Date.distantFuture` must not trap.)
        let notBeforeNanos = Int64(min(max((notBefore.timeIntervalSince1970 * 1e9).rounded(.up), -9e18), 9e18))
        let wait = Duration.nanoseconds(max(notBeforeNanos - clock.nanosecondsSince1970, 0))
        let delay = max(wait, manifest.backoff.delay(forRetry: delivery.attempt))
        let since = delivery.history.first { $0.kind == .deferred }?.deferredSince ?? now
        // The deferral must END within max_deferral of the first one: a wait past it (a budget
        // spent until tomorrow) is not taken uncounted, however early it is asked for.
        if now + delay.milliseconds - since <= manifest.maxDeferral.milliseconds { return .deferral(error: error, delay: delay) }
        let spent = "deferred for \(DurationText.format(.milliseconds(now - since))); waiting \(DurationText.format(wait)) more would be past max_deferral \(DurationText.format(manifest.maxDeferral)): \(error)"
        if delivery.attempt >= manifest.maxDeliveries { return .deadLetter(reason: "deferral_exhausted", kind: .error, error: spent) }
        return .retry(error: spent, delay: manifest.backoff.delay(forRetry: delivery.attempt))
    }

    enum Settlement {
        case complete(result: String?)
        case retry(error: String, delay: Duration)
        /// Run again after `delay`, the attempt not counted.
        case deferral(error: String, delay: Duration)
        case deadLetter(reason: String, kind: AttemptRecord.Kind, error: String)

        var isComplete: Bool {
            if case .complete = self { return true }
            return false
        }
    }

    /// Records the outcomes: the completions together (one element each of the merged calls), each
    /// retry and dead letter as a call of its own script. Retries a call on connection errors (the
    /// scripts are idempotent thanks to the epoch check), so a Redis restart does not turn a
    /// finished handler into a redelivery.
    private func settle(_ outcomes: [(Delivery, Settlement)], settler: ScriptBatcher) async {
        guard !outcomes.isEmpty else { return }
        let clock = QueueClockReading.now()
        let now = clock.millis
        var completed: [Delivery] = []
        var completions: [ScriptBatcher.Completion] = []
        for (delivery, settlement) in outcomes {
            guard case .complete(let result) = settlement else { continue }
            completed.append(delivery)
            completions.append(ScriptBatcher.Completion(
                keys: QueueKeys(queue: manifest.name, shard: delivery.shard), group: Self.group, streamID: delivery.streamID, id: delivery.id,
                epoch: delivery.epoch, key: delivery.key, result: result ?? "", ttlMillis: manifest.retention.completed.milliseconds, now: now))
        }
        if !completions.isEmpty, let replies = await recording({ try await settler.complete(completions) }) {
            var handled = 0
            for (delivery, reply) in zip(completed, replies) {
                if reply.string == "stale" {
                    discarded(delivery)
                } else {
                    handled += 1
                    logger.debug("handled", metadata: ["message_id": "\(delivery.id)", "attempt": "\(delivery.attempt)"])
                }
            }
            state.withLock { $0.counters.handled += handled }
        }
        // (The completions are recorded above: nothing is built for them here.)
        for (delivery, settlement) in outcomes where !settlement.isComplete {
            var logger = self.logger
            logger[metadataKey: "message_id"] = .string(delivery.id)
            let keys = QueueKeys(queue: manifest.name, shard: delivery.shard)
            let script: RedisScript
            let redisKeys: [any RedisArgumentConvertible]
            let arguments: [any RedisArgumentConvertible]
            switch settlement {
            case .complete:
                continue
            case .retry(let error, let delay):
                script = QueueScripts.retry
                redisKeys = [keys.stream, keys.delayed, keys.epochs, keys.wake]
                let failed = AttemptRecord(at: now, consumer: options.consumerName, attempt: delivery.attempt, kind: .error, error: error)
                arguments = Self.rescheduled(delivery, failedAttempts: delivery.attempt, history: delivery.history + [failed], due: clock.due(after: delay))
            case .deferral(let error, let delay):
                // The retry's script, with the attempt count as it was: this attempt did not happen.
                script = QueueScripts.retry
                redisKeys = [keys.stream, keys.delayed, keys.epochs, keys.wake]
                let due = clock.due(after: delay)
                let history = Self.deferred(delivery, at: now, until: due, consumer: options.consumerName, error: error)
                arguments = Self.rescheduled(delivery, failedAttempts: delivery.attempt - 1, history: history, due: due)
            case .deadLetter(let reason, let kind, let error):
                script = QueueScripts.deadLetter
                var declared: [any RedisArgumentConvertible] = [keys.stream, keys.deadLetters, keys.epochs]
                if let key = delivery.key { declared.append(keys.idempotency(key)) }
                redisKeys = declared
                var history = delivery.history
                history.append(AttemptRecord(at: now, consumer: options.consumerName, attempt: delivery.attempt, kind: kind, error: error))
                let historyJSON = AttemptRecord.json(history)
                // Attempts made: a crash (a poison pill, buried without running) uses up none.
                let attempts = kind == .crash ? delivery.attempt - 1 : delivery.attempt
                arguments = [
                    Self.group, delivery.streamID, delivery.id, delivery.epoch, delivery.key ?? "", delivery.payload,
                    attempts, Int64(delivery.enqueuedAt.timeIntervalSince1970 * 1000), historyJSON, reason, error, now,
                    manifest.name, "\(now - manifest.retention.deadLetters.milliseconds)-0", manifest.retention.deadLetters.milliseconds,
                ]
            }
            guard let reply = await recording({ try await settler.run(script, keys: redisKeys, arguments: arguments) }) else { continue }
            if reply.string == "stale" {
                discarded(delivery)
                continue
            }
            switch settlement {
            case .complete: break
            case .retry(let error, let delay):
                state.withLock { $0.counters.retried += 1 }
                logger.info("attempt failed; retry scheduled", metadata: ["attempt": "\(delivery.attempt)", "delay_ms": "\(delay.milliseconds)", "error": "\(error)"])
            case .deferral(let error, let delay):
                state.withLock { $0.counters.deferred += 1 }
                logger.info("deferred; the attempt is not counted", metadata: ["attempt": "\(delivery.attempt)", "delay_ms": "\(delay.milliseconds)", "error": "\(error)"])
            case .deadLetter(let reason, _, let error):
                state.withLock { $0.counters.deadLettered += 1 }
                logger.error("dead-lettered", metadata: ["attempt": "\(delivery.attempt)", "reason": "\(reason)", "error": "\(error)"])
            }
        }
    }

    /// The retry script's arguments: the message back into the delayed set at `due`, as an envelope
    /// carrying its failed attempts so far and its history.
    static func rescheduled(_ delivery: Delivery, failedAttempts: Int, history: [AttemptRecord], due: Int64) -> [any RedisArgumentConvertible] {
        let envelope = MessageEnvelope(
            id: delivery.id, key: delivery.key ?? "", payload: delivery.payload, failedAttempts: failedAttempts,
            enqueuedAt: Int64(delivery.enqueuedAt.timeIntervalSince1970 * 1000), history: history)
        return [group, delivery.streamID, delivery.id, delivery.epoch, due, envelope.delayedMember]
    }

    /// The history with this deferral: folded into the record of the attempt's previous deferrals
    /// (a message deferred many times keeps a bounded history), else a new record.
    static func deferred(_ delivery: Delivery, at now: Int64, until due: Int64, consumer: String, error: String) -> [AttemptRecord] {
        var history = delivery.history
        var (deferrals, since) = (1, now)
        if let last = history.last, last.kind == .deferred, last.attempt == delivery.attempt {
            (deferrals, since) = ((last.deferrals ?? 1) + 1, last.deferredSince ?? last.at)
            history.removeLast()
        }
        func iso(_ millis: Int64) -> String { Date(timeIntervalSince1970: Double(millis) / 1000).ISO8601Format() }
        history.append(AttemptRecord(
            at: now, consumer: consumer, attempt: delivery.attempt, kind: .deferred,
            error: "deferred \(deferrals)× since \(iso(since)), not before \(iso(due)) (attempt not counted): \(error)",
            deferrals: deferrals, deferredSince: since))
        return history
    }

    /// Runs one settle call, again after connection errors with backoff, for up to a visibility
    /// timeout; nil when it never got through (the messages will be redelivered).
    private func recording<Reply>(_ call: () async throws -> Reply) async -> Reply? {
        var backoff = Duration.milliseconds(50)
        let deadline = ContinuousClock.now + manifest.visibilityTimeout
        while true {
            do {
                return try await call()
            } catch {
                guard ContinuousClock.now + backoff < deadline else {
                    logger.error("could not record the outcome; the message will be redelivered", metadata: ["error": "\(error)"])
                    return nil
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
            }
        }
    }

    /// Another consumer took the message over: this delivery's outcome is not recorded.
    private func discarded(_ delivery: Delivery) {
        state.withLock { $0.counters.stale += 1 }
        logger.warning("outcome discarded: the message was taken over by another consumer",
                       metadata: ["message_id": "\(delivery.id)", "epoch": "\(delivery.epoch)"])
    }

    /// An entry without our fields cannot be handled; it goes to the DLQ so the queue keeps moving.
    private func deadLetterForeign(sid: String, fields: [RedisValue], keys: QueueKeys, control: RedisClient) async {
        let now = nowMillis()
        let id = "foreign-\(sid)"
        do {
            _ = try await control.run(QueueScripts.raiseEpochs, keys: [keys.epochs], arguments: [id])
            let epoch = try await control.send("HGET", keys.epochs, id).string ?? "1"
            var raw: [String: String] = [:]
            var i = 0
            while i + 1 < fields.count { raw[fields[i].string ?? "?"] = fields[i + 1].string; i += 2 }
            let payload = (try? JSONSerialization.data(withJSONObject: raw)) ?? Data("{}".utf8)
            let error = "stream entry has no 'id' field: not written by a tm producer"
            let history = AttemptRecord.json([AttemptRecord(at: now, consumer: options.consumerName, attempt: 1, kind: .malformed, error: error)])
            _ = try await control.run(QueueScripts.deadLetter, keys: [keys.stream, keys.deadLetters, keys.epochs], arguments: [
                Self.group, sid, id, epoch, "", Array(payload), 1, now, history, "malformed", error, now, manifest.name,
                "\(now - manifest.retention.deadLetters.milliseconds)-0", manifest.retention.deadLetters.milliseconds,
            ])
            state.withLock { $0.counters.deadLettered += 1 }
            logger.error("dead-lettered a foreign stream entry", metadata: ["stream_id": "\(sid)"])
        } catch {
            logger.warning("could not dead-letter a foreign entry", metadata: ["stream_id": "\(sid)", "error": "\(error)"])
        }
    }

    private func ensureGroup(_ control: RedisClient, _ keys: QueueKeys) async throws {
        do {
            try await control.send("XGROUP", "CREATE", keys.stream, Self.group, "0", "MKSTREAM")
        } catch let error as RedisError where error.serverCode == "BUSYGROUP" {
            // Created already, by us earlier or by another consumer.
        }
    }
}

extension MessageEnvelope {
    /// The JSON member of the delayed set (read back by the promote script).
    var delayedMember: String {
        let object: [String: String] = [
            "id": id, "key": key, "payload": String(decoding: payload, as: UTF8.self),
            "attempt": String(failedAttempts), "enqueued_at": String(enqueuedAt), "history": historyJSON,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Identifies one delivery: the same stream entry reclaimed by this consumer is a new delivery.
/// (Fields, not a "sid#epoch" string: no text is built per message to add and remove it.) The
/// shard too: each shard's stream numbers its own entries, so two shards' entries added in the same
/// millisecond share a stream id, and both first deliveries have epoch 1.
struct InFlightKey: Hashable {
    let shard: Int
    let streamID: String
    let epoch: Int64
}

extension Delivery {
    var inFlightKey: InFlightKey { InFlightKey(shard: shard, streamID: streamID, epoch: epoch) }
}

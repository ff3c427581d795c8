import TMCore
import TMRedis

/// Runs scripts in pipelines: calls that arrive while a round trip is in flight go out together in
/// the next one. Under load, settling N messages costs about one round trip instead of N; when
/// idle, a call goes out at once (no timer, so no added latency), from its caller's own task (no
/// flush task spawned: a lone settle costs the Redis thread's hop and no more — two thread
/// wake-ups fewer than through a flush task). Completions (`complete`) that go
/// out together are merged further: one `QueueScripts.complete` call per shard carries them all
/// (up to `completionsPerCall`), so Redis runs one script, not one per message.
///
/// Guarantees: every call gets exactly its own reply or error (a completion its own element of the
/// merged reply, checked to have one element per completion); calls are independent (a batch
/// mixes messages, never two steps of one message, which are sequential by construction); on a
/// Redis Cluster (or a server not known to be a lone one) one pipeline holds the calls of one hash
/// slot (one queue shard), so each goes to one node — on a server that says it is not a cluster
/// node (`INFO cluster`: `cluster_enabled:0`, asked once per client) the calls of every slot
/// go in one pipeline, one round trip (a settler shared by a worker's shards, `QueueSettler`);
/// one round trip at a time: a caller that finds none in flight sends its own call from its task,
/// callers that arrive meanwhile wait and go out together in the next one.
final class ScriptBatcher: Sendable {
    /// One message's success, as `QueueScripts.complete` takes it.
    struct Completion: Sendable {
        let keys: QueueKeys
        let group: String
        let streamID: String
        let id: String
        let epoch: Int64
        let key: String?
        let result: String
        let ttlMillis: Int64
        let now: Int64
    }

    private enum Work {
        case script(RedisScriptCall)
        /// One caller's completions (one message, or a whole batch): answered by an array with one
        /// element per completion, in order.
        case completions([Completion])

        /// How many completions this call carries (0 for a script call).
        var completionCount: Int {
            if case .completions(let list) = self { return list.count }
            return 0
        }
    }

    private struct Call {
        let work: Work
        let continuation: CheckedContinuation<RedisValue, Error>
    }

    private struct State {
        var pending: [Call] = []
        /// A round trip is in flight (a lone caller's own, or the flush task's).
        var flushing = false
        var sentAtOnce = 0
        /// Round trips sent (lone and flushed), and of them those that carried several hash slots.
        var roundTrips = 0
        var mixedRoundTrips = 0
    }

    /// What the server said it is, per connection: a lone server (not a cluster node) takes every
    /// slot's calls in one pipeline. nil: not asked yet on this connection.
    private final class ServerKind: @unchecked Sendable {
        // Read and written only on the client's thread (inside `withConnection`).
        var standalone: Bool?
        weak var connection: RedisConnection?
    }

    /// The most completions one merged script call carries (Redis runs a script without
    /// interruption: a bounded call keeps other clients' latency bounded too).
    static let completionsPerCall = 500

    private let redis: RedisClient
    private let state = Locked(State())
    private let server = ServerKind()

    init(redis: RedisClient) { self.redis = redis }

    /// Calls sent at once from their caller's task, alone (not through the flush task); for tests.
    var sentAtOnce: Int { state.withLock { $0.sentAtOnce } }
    /// Calls waiting for the next round trip now (for tests).
    var waiting: Int { state.withLock { $0.pending.count } }
    /// A round trip is in flight now (for tests).
    var isSending: Bool { state.withLock { $0.flushing } }
    /// Round trips sent so far, and of them those that carried calls of several hash slots (for tests).
    var roundTrips: (all: Int, mixingSlots: Int) { state.withLock { ($0.roundTrips, $0.mixedRoundTrips) } }

    func run(_ script: RedisScript, keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) async throws -> RedisValue {
        try await submit(.script(RedisScriptCall(script, keys: keys, arguments: arguments)))
    }

    /// Completes one message; the reply is its own: "ok" or "stale".
    func complete(_ completion: Completion) async throws -> RedisValue {
        try await complete([completion])[0]
    }

    /// Completes messages (of any shards); the replies are their own, in order: "ok" or "stale".
    /// A batch's completions go out as one element of the merged calls, not one call each.
    func complete(_ completions: [Completion]) async throws -> [RedisValue] {
        guard !completions.isEmpty else { return [] }
        let reply = try await submit(.completions(completions))
        guard let replies = reply.array, replies.count == completions.count else {
            throw RedisError.protocolViolation("complete answered \(reply) for \(completions.count) messages")
        }
        return replies
    }

    private func submit(_ work: Work) async throws -> RedisValue {
        // No round trip in flight means no one waits: this caller is alone and sends its call at
        // once, itself (task → Redis thread → task).
        if state.withLock({ state -> Bool in
            if state.flushing { return false }
            state.flushing = true
            state.sentAtOnce += 1
            return true
        }) {
            defer { finishLoneCall() }
            return try await send([work])[0].get()
        }
        return try await withCheckedThrowingContinuation { continuation in
            let startFlush = state.withLock { state -> Bool in
                state.pending.append(Call(work: work, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlush { Task { await self.flush() } }
        }
    }

    /// After a lone caller's own round trip: callers that arrived meanwhile go out together in the next.
    private func finishLoneCall() {
        let waited = state.withLock { state -> Bool in
            if state.pending.isEmpty { state.flushing = false }
            return !state.pending.isEmpty
        }
        if waited { Task { await self.flush() } }
    }

    /// Sends what waits, round trip after round trip, until nothing does.
    private func flush() async {
        while true {
            let batch = state.withLock { state -> [Call] in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let answers = await send(batch.map(\.work))
            for (call, answer) in zip(batch, answers) { call.continuation.resume(with: answer) }
        }
    }

    /// Sends one round trip for `batch` (merged, one pipeline per hash slot); each call's own
    /// answer, in batch order.
    private func send(_ batch: [Work]) async -> [Result<RedisValue, any Error>] {
        let (work, owners) = Self.merge(batch)
        var answers = [Result<[RedisValue], any Error>](repeating: .success([]), count: batch.count)
        var scriptAnswers = [Result<RedisValue, any Error>?](repeating: nil, count: batch.count)
        let (server, state) = (self.server, self.state)
        do {
            let results = try await redis.withConnection { connection -> [Result<RedisValue, RedisError>] in
                var results = [Result<RedisValue, RedisError>](repeating: .failure(.protocolViolation("no reply")), count: work.count)
                let groups = try Self.isStandalone(connection, server) ? [Array(work.indices)] : work.indicesBySlot()
                for indices in groups {
                    let replies = try connection.runPipelined(indices.map { work[$0] })
                    for (index, reply) in zip(indices, replies) { results[index] = reply }
                }
                // (Only one pipeline can mix slots; told without a set: no allocation a round trip.)
                let mixed = groups.count == 1 && work.count > 1 && work.contains { $0.slot != work[0].slot }
                state.withLock { state in
                    state.roundTrips += groups.count
                    if mixed { state.mixedRoundTrips += 1 }
                }
                return results
            }
            for (owner, result) in zip(owners, results) {
                guard let elements = owner.elements else {
                    scriptAnswers[owner.call] = result.mapError { $0 }
                    continue
                }
                // A merged call's reply is an array with one element per completion, in order;
                // a caller whose completions span several merged calls fails if any of them does.
                switch result {
                case .success(let reply):
                    guard let replies = reply.array, replies.count == elements.count else {
                        let error = RedisError.protocolViolation("complete answered \(reply) for \(elements.count) messages")
                        for (call, _) in elements { answers[call] = .failure(error) }
                        continue
                    }
                    for ((call, position), reply) in zip(elements, replies) {
                        if case .success(var list) = answers[call] {
                            if list.isEmpty { list = Array(repeating: .null, count: batch[call].completionCount) }
                            list[position] = reply
                            answers[call] = .success(list)
                        }
                    }
                case .failure(let error):
                    for (call, _) in elements { answers[call] = .failure(error) }
                }
            }
            return batch.indices.map { index in scriptAnswers[index] ?? answers[index].map { RedisValue.array($0) } }
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    /// Whether the connection's server is a lone one (not a cluster node): asked once per
    /// `RedisConnection` object (`INFO cluster`) — which lives as long as its client, reconnects
    /// included, so a client that reconnects to a server of another kind is not noticed (this client
    /// does not follow a cluster's redirections either). A server that does not answer it, or answers
    /// with an error once, is taken for a cluster node for the client's life (one pipeline per slot:
    /// right everywhere, only slower on a lone server).
    private static func isStandalone(_ connection: RedisConnection, _ server: ServerKind) throws -> Bool {
        if server.connection === connection, let known = server.standalone { return known }
        let standalone: Bool
        do {
            let info = try connection.send("INFO", "cluster").string ?? ""
            standalone = info.contains("cluster_enabled:0")
        } catch let error as RedisError where !error.isConnectionError {
            standalone = false
        }
        (server.connection, server.standalone) = (connection, standalone)
        return standalone
    }

    /// Where a completion goes: one stream (queue shard) and consumer group.
    private struct Target: Hashable {
        let keys: QueueKeys
        let group: String
    }

    /// The script calls to send, and for each whom it answers: a script call its own caller; one
    /// `complete` call the completions of one shard (in batch order, up to `completionsPerCall` per
    /// call), each as (caller, position in that caller's list).
    private static func merge(_ batch: [Work]) -> (calls: [RedisScriptCall], owners: [(call: Int, elements: [(Int, Int)]?)]) {
        var calls: [RedisScriptCall] = []
        var owners: [(call: Int, elements: [(Int, Int)]?)] = []
        // Grouped by (shard, group) without building a key's text per completion: a batch's
        // completions mostly share one, so the last target is checked before the dictionary.
        var byStream: [Target: [(Completion, Int, Int)]] = [:]
        var streams: [Target] = []
        var last: Target?
        var run: [(Completion, Int, Int)] = []
        func flushRun() {
            guard let target = last, !run.isEmpty else { return }
            if byStream[target] == nil { streams.append(target) }
            byStream[target, default: []] += run
            run.removeAll(keepingCapacity: true)
        }
        for (index, work) in batch.enumerated() {
            switch work {
            case .script(let call):
                calls.append(call)
                owners.append((index, nil))
            case .completions(let list):
                for (position, completion) in list.enumerated() {
                    let target = Target(keys: completion.keys, group: completion.group)
                    if target != last {
                        flushRun()
                        last = target
                    }
                    run.append((completion, index, position))
                }
            }
        }
        flushRun()
        for stream in streams {
            let entries = byStream[stream]!
            for start in stride(from: 0, to: entries.count, by: completionsPerCall) {
                let chunk = entries[start..<min(start + completionsPerCall, entries.count)]
                let first = chunk.first!.0
                var keys: [any RedisArgumentConvertible] = [first.keys.stream, first.keys.epochs]
                var arguments: [any RedisArgumentConvertible] = [first.group]
                arguments.reserveCapacity(1 + 5 * chunk.count)
                for (c, _, _) in chunk {
                    if let key = c.key { keys.append(c.keys.idempotency(key)) }
                    arguments += QueueScripts.completeArguments(streamID: c.streamID, id: c.id, epoch: c.epoch, keyed: c.key != nil,
                                                                result: c.result, now: c.now, ttlMillis: c.ttlMillis)
                }
                calls.append(RedisScriptCall(QueueScripts.complete, keys: keys, arguments: arguments))
                owners.append((-1, chunk.map { ($0.1, $0.2) }))
            }
        }
        return (calls, owners)
    }
}


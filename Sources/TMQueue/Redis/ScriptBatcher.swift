import TMCore
import TMRedis

/// Runs scripts in pipelines: calls that arrive while a round trip is in flight go out together in
/// the next one. Under load, settling N messages costs about one round trip instead of N; when
/// idle, a call goes out at once (no timer, so no added latency). Completions (`complete`) that go
/// out together are merged further: one `QueueScripts.complete` call per shard carries them all
/// (up to `completionsPerCall`), so Redis runs one script, not one per message.
///
/// Guarantees: every call gets exactly its own reply or error (a completion its own element of the
/// merged reply, checked to have one element per completion); calls are independent (a batch
/// mixes messages, never two steps of one message, which are sequential by construction); one
/// pipeline holds the calls of one hash slot (one queue shard), so each would go to one Redis
/// Cluster node.
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
        case completion(Completion)
    }

    private struct Call {
        let work: Work
        let continuation: CheckedContinuation<RedisValue, Error>
    }

    private struct State {
        var pending: [Call] = []
        var flushing = false
    }

    /// The most completions one merged script call carries (Redis runs a script without
    /// interruption: a bounded call keeps other clients' latency bounded too).
    static let completionsPerCall = 500

    private let redis: RedisClient
    private let state = Locked(State())

    init(redis: RedisClient) { self.redis = redis }

    func run(_ script: RedisScript, keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) async throws -> RedisValue {
        try await submit(.script(RedisScriptCall(script, keys: keys, arguments: arguments)))
    }

    /// Completes one message; the reply is its own: "ok" or "stale".
    func complete(_ completion: Completion) async throws -> RedisValue {
        try await submit(.completion(completion))
    }

    private func submit(_ work: Work) async throws -> RedisValue {
        try await withCheckedThrowingContinuation { continuation in
            let startFlush = state.withLock { state -> Bool in
                state.pending.append(Call(work: work, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlush { Task { await self.flush() } }
        }
    }

    private func flush() async {
        while true {
            let batch = state.withLock { state -> [Call] in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let (work, owners) = Self.merge(batch.map(\.work))
            do {
                let results = try await redis.withConnection { connection -> [Result<RedisValue, RedisError>] in
                    var results = [Result<RedisValue, RedisError>](repeating: .failure(.protocolViolation("no reply")), count: work.count)
                    for indices in work.indicesBySlot() {
                        let replies = try connection.runPipelined(indices.map { work[$0] })
                        for (index, reply) in zip(indices, replies) { results[index] = reply }
                    }
                    return results
                }
                for ((calls, merged), result) in zip(owners, results) {
                    guard merged else {
                        batch[calls[0]].continuation.resume(with: result.mapError { $0 })
                        continue
                    }
                    // A merged call's reply is an array with one element per completion, in order.
                    switch result {
                    case .success(let reply):
                        guard let replies = reply.array, replies.count == calls.count else {
                            let error = RedisError.protocolViolation("complete answered \(reply) for \(calls.count) messages")
                            for call in calls { batch[call].continuation.resume(throwing: error) }
                            continue
                        }
                        for (call, reply) in zip(calls, replies) { batch[call].continuation.resume(returning: reply) }
                    case .failure(let error):
                        for call in calls { batch[call].continuation.resume(throwing: error) }
                    }
                }
            } catch {
                for call in batch { call.continuation.resume(throwing: error) }
            }
        }
    }

    /// The script calls to send, and for each the batch indices it answers: a script call answers
    /// its own; one `complete` call answers the completions of one shard (in batch order, up to
    /// `completionsPerCall` per call).
    private static func merge(_ batch: [Work]) -> (calls: [RedisScriptCall], owners: [(indices: [Int], merged: Bool)]) {
        var calls: [RedisScriptCall] = []
        var owners: [(indices: [Int], merged: Bool)] = []
        var byStream: [String: [Int]] = [:]
        var streams: [String] = []
        var completions: [Int: Completion] = [:]
        for (index, work) in batch.enumerated() {
            switch work {
            case .script(let call):
                calls.append(call)
                owners.append(([index], false))
            case .completion(let completion):
                let target = completion.keys.stream + "\n" + completion.group
                if byStream[target] == nil { streams.append(target) }
                byStream[target, default: []].append(index)
                completions[index] = completion
            }
        }
        for stream in streams {
            let indices = byStream[stream]!
            for start in stride(from: 0, to: indices.count, by: completionsPerCall) {
                let chunk = Array(indices[start..<min(start + completionsPerCall, indices.count)])
                let first = completions[chunk[0]]!
                var keys: [any RedisArgumentConvertible] = [first.keys.stream, first.keys.epochs]
                var arguments: [any RedisArgumentConvertible] = [first.group]
                for index in chunk {
                    let c = completions[index]!
                    if let key = c.key { keys.append(c.keys.idempotency(key)) }
                    arguments += [c.streamID, c.id, c.epoch, c.result, c.ttlMillis, c.now, c.key == nil ? "0" : "1"]
                }
                calls.append(RedisScriptCall(QueueScripts.complete, keys: keys, arguments: arguments))
                owners.append((chunk, true))
            }
        }
        return (calls, owners)
    }
}

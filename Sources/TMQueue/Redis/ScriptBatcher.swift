import TMCore
import TMRedis

/// Runs scripts in pipelines: calls that arrive while a round trip is in flight go out together in
/// the next one. Under load, settling N messages costs about one round trip instead of N; when
/// idle, a call goes out at once (no timer, so no added latency).
///
/// Guarantees: every call gets exactly its own reply or error; calls are independent (a batch
/// mixes messages, never two steps of one message, which are sequential by construction); one
/// pipeline holds the calls of one hash slot (one queue shard), so each would go to one Redis
/// Cluster node.
final class ScriptBatcher: Sendable {
    private struct Call {
        let call: RedisScriptCall
        let continuation: CheckedContinuation<RedisValue, Error>
    }

    private struct State {
        var pending: [Call] = []
        var flushing = false
    }

    private let redis: RedisClient
    private let state = Locked(State())

    init(redis: RedisClient) { self.redis = redis }

    func run(_ script: RedisScript, keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) async throws -> RedisValue {
        let call = RedisScriptCall(script, keys: keys, arguments: arguments)
        return try await withCheckedThrowingContinuation { continuation in
            let startFlush = state.withLock { state -> Bool in
                state.pending.append(Call(call: call, continuation: continuation))
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
            let work = batch.map(\.call)
            do {
                let results = try await redis.withConnection { connection -> [Result<RedisValue, RedisError>] in
                    var results = [Result<RedisValue, RedisError>](repeating: .failure(.protocolViolation("no reply")), count: work.count)
                    for indices in work.indicesBySlot() {
                        let replies = try connection.runPipelined(indices.map { work[$0] })
                        for (index, reply) in zip(indices, replies) { results[index] = reply }
                    }
                    return results
                }
                for (call, result) in zip(batch, results) { call.continuation.resume(with: result.mapError { $0 }) }
            } catch {
                for call in batch { call.continuation.resume(throwing: error) }
            }
        }
    }
}

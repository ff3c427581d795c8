import TMCore
import TMRedis

/// Runs scripts in pipelines: calls that arrive while a round trip is in flight go out together in
/// the next one. Under load, settling N messages costs about one round trip instead of N; when
/// idle, a call goes out at once (no timer, so no added latency).
///
/// Guarantees: every call gets exactly its own reply or error; calls are independent (a batch
/// mixes messages, never two steps of one message, which are sequential by construction).
final class ScriptBatcher: Sendable {
    private struct Call {
        let script: RedisScript
        let keys: [RedisArgument]
        let arguments: [RedisArgument]
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
        let keys = keys.map(\.redisArgument)
        let arguments = arguments.map(\.redisArgument)
        return try await withCheckedThrowingContinuation { continuation in
            let startFlush = state.withLock { state -> Bool in
                state.pending.append(Call(script: script, keys: keys, arguments: arguments, continuation: continuation))
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
            let work = batch.map { ($0.script, $0.keys, $0.arguments) }
            do {
                let results = try await redis.withConnection { connection -> [Result<RedisValue, RedisError>] in
                    var results = [Result<RedisValue, RedisError>](repeating: .failure(.protocolViolation("no reply")), count: work.count)
                    // One pipeline per script (EVALSHA needs the script's own hash).
                    for (script, indices) in Dictionary(grouping: work.indices, by: { work[$0].0 }) {
                        let replies = try connection.runPipelined(script, calls: indices.map { (keys: work[$0].1, arguments: work[$0].2) })
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

/// A Lua script run by EVALSHA, loaded on first use.
///
/// Guarantees: the script body is sent once per server (SCRIPT LOAD); after a `SCRIPT FLUSH`, a
/// failover or a restart the NOSCRIPT reply is caught, the script reloaded and the call retried
/// once — callers never see NOSCRIPT. Keys and arguments are passed separately, so scripts stay
/// cluster-safe when their keys share a hash tag (and every key a script touches is one of its
/// declared keys: checked by `RedisClusterTests`).
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// The source with its hash computed once: a connection looks its loaded scripts up on every
    /// call, and hashing a few kilobytes of Lua there cost microseconds a call.
    let key: Key

    public init(_ source: String) {
        self.source = source
        key = Key(source: source, hash: source.hashValue)
    }

    struct Key: Hashable, Sendable {
        let source: String
        let hash: Int
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
        static func == (lhs: Key, rhs: Key) -> Bool { lhs.hash == rhs.hash && lhs.source == rhs.source }
    }
}

extension RedisConnection {
    /// Runs `script` with `keys` and `arguments` (EVALSHA with a NOSCRIPT fallback).
    @discardableResult
    public func run(
        _ script: RedisScript, keys: [any RedisArgumentConvertible] = [], arguments: [any RedisArgumentConvertible] = []
    ) throws -> RedisValue {
        try run(script, keys: keys.map(\.redisArgument), arguments: arguments.map(\.redisArgument))
    }

    /// The same, with arguments already converted (no existential boxes on the way).
    @discardableResult
    public func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) throws -> RedisValue {
        do {
            return try send(RedisCommand(evalsha: try sha(of: script), keys: keys, arguments: arguments))
        } catch let error as RedisError where error.serverCode == "NOSCRIPT" {
            // The server lost its scripts (a restart, SCRIPT FLUSH): load it again, once.
            loadedScripts[script.key] = nil
            return try send(RedisCommand(evalsha: try sha(of: script), keys: keys, arguments: arguments))
        }
    }

    /// Runs `script` once per call in one pipeline (one round trip), results in call order; see
    /// `runPipelined(_:)` for the guarantees.
    public func runPipelined(
        _ script: RedisScript, calls: [(keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible])]
    ) throws -> [Result<RedisValue, RedisError>] {
        try runPipelined(calls.map { RedisScriptCall(script, keys: $0.keys, arguments: $0.arguments) })
    }

    /// Runs the calls (of any scripts) in one pipeline, results in call order; each call's script
    /// error is that call's result. Scripts not loaded yet are loaded first.
    ///
    /// A `SCRIPT FLUSH` (or failover) can land between two commands of a pipeline, so some calls
    /// may run and later ones answer NOSCRIPT. A NOSCRIPT reply means that call did not run: only
    /// those calls are sent again, after reloading — never one that ran (a keyless enqueue sent
    /// twice would be two messages).
    public func runPipelined(_ calls: [RedisScriptCall]) throws -> [Result<RedisValue, RedisError>] {
        var results = [Result<RedisValue, RedisError>?](repeating: nil, count: calls.count)
        var pending = Array(calls.indices)
        for _ in 0..<3 where !pending.isEmpty {
            // (`sha(of:)` is this connection's cache, keyed by the script's precomputed hash.)
            let replies = try pipeline(try pending.map { index in
                let call = calls[index]
                return RedisCommand(evalsha: try sha(of: call.script), keys: call.keys, arguments: call.arguments)
            })
            var notRun: [Int] = []
            for (index, reply) in zip(pending, replies) {
                if case .failure(let error) = reply, error.serverCode == "NOSCRIPT" {
                    notRun.append(index)
                    loadedScripts[calls[index].script.key] = nil
                } else {
                    results[index] = reply
                }
            }
            pending = notRun
        }
        for index in pending { results[index] = .failure(.server(code: "NOSCRIPT", message: "NOSCRIPT script could not be loaded")) }
        return results.map { $0! }
    }

    /// Sends `command` and the script call in one write (one round trip) and returns both replies.
    /// The call runs after the command has answered: a blocked command (`XREAD ... BLOCK`) holds the
    /// connection's later commands until it is served or times out, so `timeout` is how long the
    /// command may block. A call answered NOSCRIPT did not run: it is run again, after reloading.
    ///
    /// The command's error reply does not stop the call (Redis runs it all the same): both replies
    /// come back, so a caller never loses what the call did (a fetch that moved entries to pending)
    /// because the command before it failed. Only a connection error throws.
    public func send(
        _ command: RedisCommand, timeout: Duration?, thenRun call: RedisScriptCall
    ) throws -> (Result<RedisValue, RedisError>, Result<RedisValue, RedisError>) {
        let evalsha = RedisCommand(evalsha: try sha(of: call.script), keys: call.keys, arguments: call.arguments)
        let replies = try pipeline([command, evalsha], timeout: timeout)
        let first = replies[0]
        if case .failure(let error) = replies[1], error.serverCode == "NOSCRIPT" {
            loadedScripts[call.script.key] = nil
            do {
                return (first, .success(try run(call.script, keys: call.keys, arguments: call.arguments)))
            } catch let error as RedisError where !error.isConnectionError {
                return (first, .failure(error))
            }
        }
        return (first, replies[1])
    }

    /// The script's SHA1 on this server, loading it if this connection has not yet.
    private func sha(of script: RedisScript) throws -> String {
        if let cached = loadedScripts[script.key] { return cached }
        guard let loaded = try send("SCRIPT", "LOAD", script.source).string else {
            throw RedisError.unexpectedReply(command: "SCRIPT LOAD", reply: "not a string")
        }
        loadedScripts[script.key] = loaded
        return loaded
    }
}

/// One call of a script in a pipeline: its keys (all in one hash slot, for Redis Cluster) and arguments.
public struct RedisScriptCall: Sendable {
    public let script: RedisScript
    public let keys: [RedisArgument]
    public let arguments: [RedisArgument]

    public init(_ script: RedisScript, keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) {
        self.script = script
        self.keys = keys.map(\.redisArgument)
        self.arguments = arguments.map(\.redisArgument)
    }

    /// The hash slot of the call's keys (nil for a keyless call): calls of one pipeline share it.
    public var slot: Int? { keys.first.map(RedisKeySlot.slot(of:)) }
}

extension Array where Element == RedisScriptCall {
    /// The calls' indices grouped by hash slot (keyless calls join the first group), groups in
    /// order of their first call: one pipeline per group goes to one Redis Cluster node.
    public func indicesBySlot() -> [[Int]] {
        var order: [Int?] = []
        var groups: [Int?: [Int]] = [:]
        for (index, call) in enumerated() {
            let slot = call.slot
            if groups[slot] == nil { order.append(slot) }
            groups[slot, default: []].append(index)
        }
        var result = order.compactMap { $0 == nil ? nil : groups[$0] }
        if let keyless = groups[nil] {
            if result.isEmpty { result.append(keyless) } else { result[0] += keyless }
        }
        return result
    }
}

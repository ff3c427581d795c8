/// A Lua script run by EVALSHA, loaded on first use.
///
/// Guarantees: the script body is sent once per server (SCRIPT LOAD); after a `SCRIPT FLUSH`, a
/// failover or a restart the NOSCRIPT reply is caught, the script reloaded and the call retried
/// once — callers never see NOSCRIPT. Keys and arguments are passed separately, so scripts stay
/// cluster-safe when their keys share a hash tag.
public struct RedisScript: Sendable, Hashable {
    public let source: String

    public init(_ source: String) { self.source = source }
}

extension RedisConnection {
    /// Runs `script` with `keys` and `arguments` (EVALSHA with a NOSCRIPT fallback).
    @discardableResult
    public func run(
        _ script: RedisScript, keys: [any RedisArgumentConvertible] = [], arguments: [any RedisArgumentConvertible] = []
    ) throws -> RedisValue {
        let tail: [any RedisArgumentConvertible] = [keys.count] + keys + arguments
        if let sha = loadedScripts[script.source] {
            do {
                return try send(RedisCommand("EVALSHA", arguments: [sha] + tail))
            } catch let error as RedisError where error.serverCode == "NOSCRIPT" {
                loadedScripts[script.source] = nil
            }
        }
        let loaded = try send("SCRIPT", "LOAD", script.source)
        guard let sha = loaded.string else {
            throw RedisError.unexpectedReply(command: "SCRIPT LOAD", reply: loaded.description)
        }
        loadedScripts[script.source] = sha
        return try send(RedisCommand("EVALSHA", arguments: [sha] + tail))
    }

    /// Runs `script` once per call in one pipeline (one round trip), results in call order. Each
    /// call's script error is that call's result. The script is loaded first if needed, and the
    /// pipeline is sent again if a `SCRIPT FLUSH` slipped in between.
    public func runPipelined(
        _ script: RedisScript, calls: [(keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible])]
    ) throws -> [Result<RedisValue, RedisError>] {
        guard !calls.isEmpty else { return [] }
        for attempt in 0..<2 {
            let sha: String
            if let cached = loadedScripts[script.source], attempt == 0 {
                sha = cached
            } else {
                guard let loaded = try send("SCRIPT", "LOAD", script.source).string else {
                    throw RedisError.unexpectedReply(command: "SCRIPT LOAD", reply: "not a string")
                }
                loadedScripts[script.source] = loaded
                sha = loaded
            }
            let commands = calls.map { call in
                RedisCommand("EVALSHA", arguments: [sha, call.keys.count] + call.keys + call.arguments)
            }
            let results = try pipeline(commands)
            let missing = results.contains { if case .failure(let e) = $0 { return e.serverCode == "NOSCRIPT" } else { return false } }
            // NOSCRIPT means none of the calls ran (the script is absent for all): safe to resend.
            if !missing { return results }
            loadedScripts[script.source] = nil
        }
        throw RedisError.server(code: "NOSCRIPT", message: "script could not be loaded")
    }
}

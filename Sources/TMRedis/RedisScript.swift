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
}

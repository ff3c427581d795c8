import Foundation
import TMCore
import TMRedis

/// What went wrong with a dead-letter operation, naming the input at fault.
public enum DeadLetterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The merge patch is not a JSON object (or not JSON at all).
    case invalidPatch(String)
    /// A dead letter's payload cannot take a merge patch (not a JSON object).
    case payloadNotPatchable(id: String, reason: String)
    /// The patched payload is over the queue's `max_payload_bytes`.
    case patchedPayloadTooLarge(id: String, bytes: Int, limit: Int)
    /// A selector names a different queue's dead letter.
    case wrongQueue(id: String, queue: String)
    case invalidRate(String)

    public var description: String {
        switch self {
        case .invalidPatch(let reason): return "patch: \(reason)"
        case .payloadNotPatchable(let id, let reason): return "dead letter \(id): payload: \(reason); a merge patch needs a JSON object"
        case .patchedPayloadTooLarge(let id, let bytes, let limit):
            return "dead letter \(id): the patched payload is \(bytes) bytes, over the queue's max_payload_bytes of \(limit)"
        case .wrongQueue(let id, let queue): return "id \(id) is a dead letter of another queue, not of '\(queue)'"
        case .invalidRate(let reason): return "rate: \(reason)"
        }
    }
}

/// What a replay did (or, for a dry run, would do) with each selected dead letter.
public struct ReplayReport: Sendable {
    public enum Outcome: String, Sendable, Codable {
        /// Back on the queue with a fresh attempt count; the dead letter is gone.
        case replayed
        /// Not replayed: the idempotency record says the work is queued or done already.
        case skipped
        /// No such dead letter (already replayed or purged, or trimmed by retention).
        case missing
        case wouldReplay = "would_replay"
        case wouldSkip = "would_skip"
    }

    public struct Item: Sendable {
        /// The selector as given (a dead-letter id or a message id).
        public let selector: String
        /// The dead letter as it was before the replay (nil when missing).
        public let deadLetter: DeadLetter?
        public let outcome: Outcome
        /// For a skip: the state of the idempotency record (`queued`, `done`).
        public let skippedBecause: String?
        /// The payload sent (patched, when a patch was given).
        public let sentPayload: [UInt8]?
        /// The new stream entry of a replayed message.
        public let streamID: String?
    }

    public let queue: String
    public let dryRun: Bool
    public let items: [Item]

    /// Outcomes counted by name, e.g. `["replayed": 3, "skipped": 1]`.
    public var counts: [String: Int] {
        items.reduce(into: [:]) { $0[$1.outcome.rawValue, default: 0] += 1 }
    }

    public var replayed: Int { items.filter { $0.outcome == .replayed }.count }
}

/// What a purge removed.
public struct PurgeReport: Sendable {
    public let queue: String
    public let dryRun: Bool
    /// The dead letters removed (or, for a dry run, that would be), with their payloads, so the
    /// operation can be recorded and undone by hand.
    public let purged: [DeadLetter]
    /// Selectors that named no dead letter.
    public let missing: [String]

    public var counts: [String: Int] {
        [dryRun ? "would_purge" : "purged": purged.count, "missing": missing.count].filter { $0.value > 0 }
    }
}

/// The dead letters of one queue, across all its shards: list, inspect, replay, purge, export.
///
/// Guarantees:
/// - a replay re-enqueues the original message id and idempotency key with a fresh attempt count,
///   atomically with removing the dead letter (`QueueScripts.replay`); a message whose key's
///   record says `queued` or `done` is skipped, so replaying finished work never repeats it;
/// - replays are paced to at most `rate` messages per second;
/// - a patch is checked against every selected payload before anything is replayed: either all
///   can be patched or nothing happens;
/// - a dry run reads only; nothing in Redis changes;
/// - the DLQ is read in pages (`pageSize` entries per shard at a time) and merged across shards,
///   so memory holds a page per shard plus what the caller keeps (the matches), never the whole DLQ;
/// - this type touches Redis only; recording who did what is the caller's job (`DeadLetterLog`).
public struct DeadLetterQueue: Sendable {
    public let redis: RedisClient
    public let manifest: QueueManifest
    /// Entries read per XRANGE.
    public var pageSize = 500

    public init(redis: RedisClient, manifest: QueueManifest) {
        self.redis = redis
        self.manifest = manifest
    }

    public var queue: String { manifest.name }

    func keys(_ shard: Int) -> QueueKeys { QueueKeys(queue: manifest.name, shard: shard) }

    // MARK: - Reading

    /// Dead letters dead at or after `since` whose last error or reason contains `errorContains`
    /// (case-insensitive), oldest first; with `limit`, the most recent `limit` of them (only those
    /// are held while the DLQ is read).
    public func list(since: Date? = nil, errorContains: String? = nil, limit: Int? = nil) async throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        try await forEach(since: since, errorContains: errorContains) { letter in
            letters.append(letter)
            if let limit, letters.count >= 2 * max(limit, 1) { letters.removeFirst(letters.count - limit) }
        }
        if let limit, letters.count > limit { letters = Array(letters.suffix(max(limit, 0))) }
        return letters
    }

    /// Calls `body` with each dead letter matching the filters of `list`, oldest first
    /// (`precedes`: by when it was written, then shard, then entry), reading every shard a page at a time.
    public func forEach(
        since: Date? = nil, errorContains: String? = nil, _ body: (DeadLetter) async throws -> Void
    ) async throws {
        let start = since.map { "\(Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)))-0" } ?? "-"
        let needle = errorContains?.lowercased() ?? ""
        var pagers = (0..<manifest.shards).map { ShardPager(shard: $0, next: start) }
        for index in pagers.indices { try await pagers[index].refill(self) }
        while true {
            var next: Int?
            for index in pagers.indices {
                guard let head = pagers[index].head else { continue }
                if let best = next, let current = pagers[best].head, !Self.precedes(head, current) { continue }
                next = index
            }
            guard let index = next else { return }
            let letter = pagers[index].pop()
            if pagers[index].head == nil { try await pagers[index].refill(self) }
            if let since, letter.deadAt < since { continue }
            if !needle.isEmpty, !(letter.error.lowercased().contains(needle) || letter.reason.lowercased().contains(needle)
                || letter.history.contains { $0.error.lowercased().contains(needle) }) {
                continue
            }
            try await body(letter)
        }
    }

    /// The order of `list`: by when each was written to its shard's dead-letter stream (its entry
    /// id's time), then shard, then entry. Not by `deadAt`, the consumer's clock when it decided:
    /// two settles of one shard in flight at once can be written in the other order, and a shard's
    /// stream is read in entry order.
    static func precedes(_ a: DeadLetter, _ b: DeadLetter) -> Bool {
        let (x, y) = (entryOrder(a.streamID), entryOrder(b.streamID))
        return (x.millis, a.shard, x.sequence) < (y.millis, b.shard, y.sequence)
    }

    /// A stream entry id `<millis>-<sequence>` as numbers (an unreadable part reads as 0).
    private static func entryOrder(_ id: String) -> (millis: UInt64, sequence: UInt64) {
        let parts = id.split(separator: "-", maxSplits: 1)
        return (UInt64(parts.first ?? "") ?? 0, parts.count > 1 ? UInt64(parts[1]) ?? 0 : 0)
    }

    /// The dead letter named by `selector`: a dead-letter id (`<queue>.<shard>/<stream id>`, or
    /// `<shard>/<stream id>`) or a message id. Nil when there is none.
    public func find(_ selector: String) async throws -> DeadLetter? {
        try await resolve([selector]).found.first
    }

    /// Every dead letter (filtered like `list`) as JSON lines, oldest first.
    public func export(since: Date? = nil, errorContains: String? = nil) async throws -> [String] {
        var lines: [String] = []
        try await export(since: since, errorContains: errorContains) { lines.append($0) }
        return lines
    }

    /// Every dead letter (filtered like `list`) as JSON lines, oldest first, each handed to `line`
    /// as soon as it is read.
    public func export(since: Date? = nil, errorContains: String? = nil, _ line: (String) async throws -> Void) async throws {
        try await forEach(since: since, errorContains: errorContains) { try await line($0.jsonLine) }
    }

    /// One page of one shard's DLQ: entries from `start` (inclusive, or exclusive with a `(`) to `end`.
    func page(shard: Int, from start: String, to end: String, count: Int) async throws -> [DeadLetter] {
        let reply = try await redis.send("XRANGE", keys(shard).deadLetters, start, end, "COUNT", count)
        return (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let sid = parts[0].string else { return nil }
            return DeadLetter(queue: queue, shard: shard, streamID: sid, fields: parts[1].array ?? [])
        }
    }

    /// Reads the dead letter at one entry id.
    func read(_ id: DeadLetterID) async throws -> DeadLetter? {
        guard id.queue == queue, (0..<manifest.shards).contains(id.shard) else { return nil }
        return try await page(shard: id.shard, from: id.streamID, to: id.streamID, count: 1).first
    }

    /// Maps selectors (dead-letter ids or message ids) to dead letters, in the order given,
    /// without duplicates; selectors that match nothing are returned as missing.
    func resolve(_ selectors: [String]) async throws -> (found: [DeadLetter], pairs: [(String, DeadLetter?)]) {
        // Message ids are looked up in one paged pass over the DLQ, keeping only the matches.
        let messageIDs = Set(selectors.filter { DeadLetterID.parse($0, queue: queue) == nil })
        var byMessageID: [String: [DeadLetter]] = [:]
        if !messageIDs.isEmpty {
            try await forEach { letter in
                if messageIDs.contains(letter.messageID) { byMessageID[letter.messageID, default: []].append(letter) }
            }
        }
        var pairs: [(String, DeadLetter?)] = []
        var seen = Set<String>()
        for selector in selectors {
            var matches: [DeadLetter] = []
            if let id = DeadLetterID.parse(selector, queue: queue) {
                guard id.queue == queue else { throw DeadLetterError.wrongQueue(id: selector, queue: queue) }
                if let letter = try await read(id) { matches = [letter] }
            } else {
                matches = byMessageID[selector] ?? []
            }
            if matches.isEmpty { pairs.append((selector, nil)) }
            for letter in matches where seen.insert(letter.id).inserted { pairs.append((selector, letter)) }
        }
        return (pairs.compactMap(\.1), pairs)
    }

    // MARK: - Replay

    /// Replays the dead letters named by `ids` (dead-letter ids or message ids), at most `rate`
    /// per second (nil: unpaced), each payload merged with `patch` (an RFC 7396 merge patch, a JSON
    /// object) when given. With `dryRun`, reports what would happen and changes nothing.
    public func replay(ids: [String], rate: Double? = nil, patch: String? = nil, dryRun: Bool = false) async throws -> ReplayReport {
        if let rate, !(rate > 0 && rate.isFinite) { throw DeadLetterError.invalidRate("must be a positive number of messages per second") }
        let patchValue = try patch.map(Self.parsePatch)
        let (_, pairs) = try await resolve(ids)

        // Patch everything first: a payload that cannot be patched stops the replay before any
        // message is re-enqueued, rather than halfway through.
        var payloads: [String: [UInt8]] = [:]
        for case (_, let letter?) in pairs {
            payloads[letter.id] = try patchValue.map { try patched(letter, with: $0) } ?? letter.payload
        }

        var items: [ReplayReport.Item] = []
        let pacer = ReplayPacer(rate: dryRun ? nil : rate)
        for (selector, letter) in pairs {
            guard let letter, let payload = payloads[letter.id] else {
                items.append(.init(selector: selector, deadLetter: nil, outcome: .missing, skippedBecause: nil, sentPayload: nil, streamID: nil))
                continue
            }
            if dryRun {
                let state = try await liveState(of: letter)
                items.append(.init(selector: selector, deadLetter: letter, outcome: state == nil ? .wouldReplay : .wouldSkip,
                                   skippedBecause: state, sentPayload: payload, streamID: nil))
                continue
            }
            await pacer.wait()
            items.append(try await replayOne(letter, payload: payload, patched: patchValue != nil, selector: selector))
        }
        return ReplayReport(queue: queue, dryRun: dryRun, items: items)
    }

    private func replayOne(_ letter: DeadLetter, payload: [UInt8], patched: Bool, selector: String) async throws -> ReplayReport.Item {
        let k = keys(letter.shard)
        var redisKeys: [any RedisArgumentConvertible] = [k.stream, k.deadLetters, k.epochs]
        if let key = letter.key { redisKeys.append(k.idempotency(key)) }
        // "" tells the script to send the original payload byte for byte.
        let sent: [UInt8] = patched ? payload : []
        let reply = try await redis.run(QueueScripts.replay, keys: redisKeys, arguments: [
            letter.streamID, sent, nowMillis(), manifest.retention.completed.milliseconds,
        ])
        let parts = reply.array ?? []
        switch parts.first?.string {
        case "replayed":
            return .init(selector: selector, deadLetter: letter, outcome: .replayed, skippedBecause: nil, sentPayload: payload,
                         streamID: parts.count > 2 ? parts[2].string : nil)
        case "skipped":
            return .init(selector: selector, deadLetter: letter, outcome: .skipped, skippedBecause: parts.count > 1 ? parts[1].string : nil,
                         sentPayload: nil, streamID: nil)
        case "missing":
            // Replayed or purged by someone else between our read and now.
            return .init(selector: selector, deadLetter: letter, outcome: .missing, skippedBecause: nil, sentPayload: nil, streamID: nil)
        default:
            throw QueueError.unexpectedScriptReply(reply.description)
        }
    }

    /// The idempotency record's state when it would make the replay script skip (`queued`/`done`).
    private func liveState(of letter: DeadLetter) async throws -> String? {
        guard let key = letter.key else { return nil }
        let reply = try await redis.send("GET", keys(letter.shard).idempotency(key))
        guard let bytes = reply.bytes else { return nil }
        let state = IdempotencyRecord(bytes).state
        return state == "dead" ? nil : (state ?? "unknown")
    }

    static func parsePatch(_ text: String) throws -> JSONValue {
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch { throw DeadLetterError.invalidPatch("\(error)") }
        guard case .object = value else { throw DeadLetterError.invalidPatch("not a JSON object (it is \(value.kindName)); write e.g. '{\"quantity\": 10}'") }
        return value
    }

    func patched(_ letter: DeadLetter, with patch: JSONValue) throws -> [UInt8] {
        let original: JSONValue
        do { original = try JSONValue.parse(letter.payload) } catch {
            throw DeadLetterError.payloadNotPatchable(id: letter.id, reason: "\(error)")
        }
        guard case .object = original else {
            throw DeadLetterError.payloadNotPatchable(id: letter.id, reason: "not a JSON object (it is \(original.kindName))")
        }
        let bytes = Array(original.merging(patch: patch).text.utf8)
        guard bytes.count <= manifest.maxPayloadBytes else {
            throw DeadLetterError.patchedPayloadTooLarge(id: letter.id, bytes: bytes.count, limit: manifest.maxPayloadBytes)
        }
        return bytes
    }

    // MARK: - Purge

    /// Deletes the dead letters named by `ids` (dead-letter ids or message ids).
    public func purge(ids: [String], dryRun: Bool = false) async throws -> PurgeReport {
        let (found, pairs) = try await resolve(ids)
        let missing = pairs.filter { $0.1 == nil }.map(\.0)
        return try await delete(found, missing: missing, dryRun: dryRun)
    }

    /// Deletes the dead letters that died more than `age` ago.
    public func purge(olderThan age: Duration, dryRun: Bool = false) async throws -> PurgeReport {
        let cutoff = Date().addingTimeInterval(-age.seconds)
        var old: [DeadLetter] = []
        try await forEach { if $0.deadAt < cutoff { old.append($0) } }
        return try await delete(old, missing: [], dryRun: dryRun)
    }

    private func delete(_ letters: [DeadLetter], missing: [String], dryRun: Bool) async throws -> PurgeReport {
        guard !dryRun else { return PurgeReport(queue: queue, dryRun: true, purged: letters, missing: missing) }
        var purged: [DeadLetter] = []
        var gone = missing
        for (shard, group) in Dictionary(grouping: letters, by: \.shard).sorted(by: { $0.key < $1.key }) {
            // One XDEL per entry so the report says exactly which ones this purge removed.
            let replies = try await redis.pipeline(group.map { RedisCommand("XDEL", keys(shard).deadLetters, $0.streamID) })
            for (letter, reply) in zip(group, replies) {
                if case .success(let value) = reply, value.int == 1 { purged.append(letter) } else { gone.append(letter.id) }
            }
            // A dead letter carries its fencing epoch in its entry (none is left in the epochs hash).
        }
        return PurgeReport(queue: queue, dryRun: false, purged: purged, missing: gone)
    }
}

/// Spaces starts at least `1/rate` seconds apart; after a slow step it does not catch up with a
/// burst, so the rate is a ceiling, never exceeded over any window.
actor ReplayPacer {
    private let interval: Duration?
    private var next: ContinuousClock.Instant?

    init(rate: Double?) {
        interval = rate.map { .nanoseconds(Int64((1_000_000_000 / $0).rounded(.up))) }
    }

    func wait() async {
        guard let interval else { return }
        let now = ContinuousClock.now
        guard let due = next, due > now else {
            next = max(next ?? now, now) + interval
            return
        }
        next = due + interval
        try? await Task.sleep(until: due, clock: .continuous)
    }
}

/// Reads one shard's DLQ a page at a time, for the merge in `DeadLetterQueue.forEach`.
private struct ShardPager {
    let shard: Int
    var next: String
    var buffer: [DeadLetter] = []
    var position = 0
    var exhausted = false

    init(shard: Int, next: String) {
        self.shard = shard
        self.next = next
    }

    var head: DeadLetter? { position < buffer.count ? buffer[position] : nil }

    mutating func pop() -> DeadLetter {
        defer { position += 1 }
        return buffer[position]
    }

    /// Reads the next page once the current one is used up.
    mutating func refill(_ dlq: DeadLetterQueue) async throws {
        guard head == nil, !exhausted else { return }
        buffer = try await dlq.page(shard: shard, from: next, to: "+", count: dlq.pageSize)
        position = 0
        exhausted = buffer.count < dlq.pageSize
        if let last = buffer.last { next = "(" + last.streamID }
    }
}

import TMRedis

/// Messages to publish together and once, under one key (`QueueProducer.enqueueGroups`).
public struct OutgoingGroup: Sendable {
    /// Names the group: while its record lives (the queue's `retention.completed`), the group is
    /// not enqueued again. A group of one message keyed by its own key is that message's keyed
    /// enqueue, record and all.
    public var key: String
    /// Without a delay or a chosen id (a group's messages are added now, under drawn ids).
    public var messages: [OutgoingMessage]

    public init(key: String, messages: [OutgoingMessage]) {
        self.key = key
        self.messages = messages
    }
}

/// What became of a group.
public enum GroupEnqueueOutcome: Sendable, Equatable {
    /// Its messages were added (on every shard they go to).
    case enqueued
    /// Its record lived on every shard it goes to: nothing was added again.
    case duplicate
}

extension QueueProducer {
    /// Enqueues groups of messages, each whole and once: per shard a group's messages go to, ONE
    /// record under the group's key says it was added (`QueueScripts.enqueueGroups`), so sending a
    /// group again — a publisher that crashed after sending and before noting it sent — adds
    /// nothing, at one command per group instead of a record per message. A group is added whole
    /// or refused whole on a shard (`queueFull` when its messages would take the shard past
    /// `max_length`): a refused group sent again adds only the shards' parts not added before.
    /// One script call per shard for the lot (one pipeline per hash slot); results in group order.
    /// No group overtakes an earlier one of the call: a group refused by its own checks (below)
    /// holds back every later group (`QueueError.heldBack`, nothing of them sent), as one refused
    /// `full` refuses the later groups of its shard.
    ///
    /// Every payload is checked for size and UTF-8, and as strict JSON unless `payloadsAreJSON`:
    /// only for payloads the caller itself wrote with a JSON serializer (the trade-events relay's
    /// come from Postgres `jsonb`), never for input from outside.
    public func enqueueGroups(_ queue: String, _ groups: [OutgoingGroup], payloadsAreJSON: Bool = false) async throws
        -> [Result<GroupEnqueueOutcome, Error>] {
        var failures: [Int: Error] = [:]
        // Per shard, the parts of the groups that go there, in group order.
        var byShard: [Int: [(group: Int, messages: [Prepared])]] = [:]
        let manifest: QueueManifest
        do { manifest = try catalog.manifest(queue) } catch { return groups.map { _ in .failure(error) } }
        let clock = QueueClockReading.now()
        let now = clock.millis
        var ids = MessageIDs(count: groups.reduce(0) { $0 + $1.messages.count })
        // The first group refused by its own checks: the later ones are held back behind it.
        var refused: Int?
        for (index, group) in groups.enumerated() {
            if let refused {
                failures[index] = QueueError.heldBack(queue: queue, behind: groups[refused].key)
                continue
            }
            do {
                guard !group.key.isEmpty, group.key.utf8.count <= 512 else { throw QueueError.invalidKey("group key: must be 1 to 512 bytes") }
                var parts: [Int: [Prepared]] = [:]
                for message in group.messages {
                    guard message.delay == nil, message.id == nil else {
                        throw QueueError.invalidDelay("a group's messages take no delay and no chosen id")
                    }
                    let prepared = try prepare(queue, message, manifest: manifest, clock: clock, ids: &ids, payloadIsJSON: payloadsAreJSON)
                    parts[prepared.shard, default: []].append(prepared)
                }
                for (shard, messages) in parts { byShard[shard, default: []].append((index, messages)) }
            } catch {
                failures[index] = error
                refused = index
            }
        }
        let shards = byShard.keys.sorted()
        let calls = shards.map { shard in
            let call = Self.groupCall(byShard[shard]!, keys: QueueKeys(queue: queue, shard: shard), groups: groups, manifest: manifest, now: now)
            return RedisScriptCall(QueueScripts.enqueueGroups, keys: call.keys, arguments: call.arguments)
        }
        let replies = try await runPerSlot(calls)
        // A group is enqueued when every part was taken, a duplicate when every part was one.
        var added = Set<Int>()
        for (shard, reply) in zip(shards, replies) {
            let parts = byShard[shard]!
            let each = (try? reply.get())?.array
            for (position, part) in parts.enumerated() where failures[part.group] == nil {
                do {
                    let value = try reply.get()
                    guard let each, position < each.count else { throw QueueError.unexpectedScriptReply(value.description) }
                    switch each[position] {
                    case .integer(1): added.insert(part.group)
                    case .integer(0): break  // a duplicate
                    case .array(let refusal) where refusal.first?.string == "full":
                        let backlog = Int(refusal.count > 1 ? refusal[1].string ?? "" : "") ?? 0
                        throw QueueError.queueFull(queue: queue, shard: shard, backlog: backlog, limit: manifest.maxLength)
                    default: throw QueueError.unexpectedScriptReply(value.description)
                    }
                } catch {
                    failures[part.group] = error
                }
            }
        }
        return groups.indices.map { index in
            if let failure = failures[index] { return .failure(failure) }
            return .success(added.contains(index) || groups[index].messages.isEmpty ? .enqueued : .duplicate)
        }
    }

    /// KEYS and ARGV of `QueueScripts.enqueueGroups` for the parts of groups on one shard.
    private static func groupCall(_ parts: [(group: Int, messages: [Prepared])], keys shard: QueueKeys, groups: [OutgoingGroup],
                                  manifest: QueueManifest, now: Int64) -> (keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) {
        var keys: [any RedisArgumentConvertible] = [shard.stream, shard.delayed]
        var arguments: [any RedisArgumentConvertible] = [manifest.maxLength, manifest.retention.completed.milliseconds, now]
        for part in parts {
            keys.append(shard.idempotency(groups[part.group].key))
            arguments.append(part.messages.count)
            for message in part.messages { arguments += [message.id, message.key ?? "", message.payload] }
        }
        return (keys, arguments)
    }
}

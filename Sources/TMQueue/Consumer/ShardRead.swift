import TMCore
import TMRedis

/// One read of a shard's stream for one consumer: the entries delivered to it, their fencing epochs
/// already raised, in ONE round trip whether the stream had a backlog or the consumer had to wait.
///
/// Waiting is a blocking `XREAD` from `cursor` (the group's last delivered id as of the previous
/// read) with the `fetch` script pipelined behind it on the same connection: Redis runs the script
/// once the wait has answered, so a lone message costs one round trip — where a blocking
/// `XREADGROUP` needed a second one to raise its epoch. The wait ends as soon as the stream holds
/// an entry past the cursor, also one added before the wait began; nothing is delivered by the
/// wait itself (a plain `XREAD`), so at-least-once delivery, epochs and fencing are the script's,
/// exactly as for a backlog read. Given a previous read's wake cursor, the wait also ends when the
/// shard's delayed set gets an earlier head (`QueueKeys.wake`), so an idle reader — its wait cut
/// at the head's due time by the caller — promotes its shard on time without a poll.
///
/// Guarantees: every entry returned is in this consumer's pending list at the epoch returned with
/// it (0 only for a foreign entry without an `id` field); `cursor` never moves backwards past an
/// entry the group has not delivered.
struct ShardRead: Sendable {
    /// (stream id, fields, epoch)
    var entries: [(String, [RedisValue], Int64)] = []
    /// Where the group's reading stood after this read; nil when not known.
    var cursor: String?
    /// The shard's `QueueKeys.watched` value read with the entries (asked with `watching`, and
    /// entries read); nil when the key does not exist.
    var watched: String?
    /// The wait's error reply, when it failed but the fetch behind it ran: its entries are here all
    /// the same (they are pending for this consumer now), and the caller backs off.
    var waitError: RedisError?
    /// What the fetch did for the shard's delayed messages (nil: the reply said nothing).
    var promotion: Promotion?
    /// The shard's wake stream's last entry as of the fetch (`QueueKeys.wake`): a wait from it also
    /// ends when the delayed set gets an earlier head after this read. nil: not known.
    var wakeCursor: String?

    /// How late Redis may end a `BLOCK` that timed out: on its next cron tick, 1000/`hz` ms (100 ms
    /// at the default `hz 10`, which the queue's lateness bound assumes).
    static let blockLateness = Duration.milliseconds(100)

    /// The fetch's promotion (`QueueScripts.fetch`): `moved` delayed messages put on the stream;
    /// when `complete`, every one due by `through` (the client's clock when the read was sent, so
    /// never later than the script's run) is on it.
    struct Promotion: Sendable, Equatable {
        var through: Int64
        var moved: Int
        /// False when the call's limit left due messages behind.
        var complete: Bool
        /// The delayed set's earliest due time after the promotion (nil: empty).
        var nextDue: Int64?
    }

    /// Reads up to `count` entries: at once when `wait` is nil, else after waiting up to `wait` for
    /// the stream to hold an entry past `cursor` (not known: one added after the wait began) — or,
    /// given `wakeCursor` (a previous read's), for the wake stream to hold one past it.
    /// `watching`: also reads the shard's watched key, in the same script as the entries.
    static func read(
        _ connection: RedisConnection, keys: QueueKeys, group: String, consumer: String, count: Int, cursor: String?, wait: Duration?,
        wakeCursor: String? = nil, watching: Bool = false
    ) throws -> ShardRead {
        let scriptKeys = watching
            ? [keys.stream, keys.epochs, keys.delayed, keys.wake, keys.watched] : [keys.stream, keys.epochs, keys.delayed, keys.wake]
        // The promotion's clock: read now, so it is never later than the script's run.
        let now = nowMillis()
        let fetch = RedisScriptCall(QueueScripts.fetch, keys: scriptKeys, arguments: [group, consumer, count, now])
        guard let wait else {
            return parse(try connection.run(fetch.script, keys: fetch.keys, arguments: fetch.arguments), cursor: cursor, sentAt: now)
        }
        let waitForMore = wakeCursor.map { wakeCursor in
            RedisCommand("XREAD", "COUNT", 1, "BLOCK", wait.milliseconds, "STREAMS", keys.stream, keys.wake, cursor ?? "$", wakeCursor)
        } ?? RedisCommand("XREAD", "COUNT", 1, "BLOCK", wait.milliseconds, "STREAMS", keys.stream, cursor ?? "$")
        let (waited, fetched) = try connection.send(waitForMore, timeout: wait, thenRun: fetch)
        // The fetch ran whatever the wait answered: its entries are delivered, never dropped.
        var read = parse(try fetched.get(), cursor: cursor, sentAt: now)
        if case .failure(let error) = waited { read.waitError = error }
        return read
    }

    /// The `fetch` script's reply; the old cursor stays when the reply names none. `sentAt`: the
    /// `now` the fetch was sent with.
    static func parse(_ reply: RedisValue, cursor: String?, sentAt: Int64) -> ShardRead {
        let parts = reply.array ?? []
        var read = ShardRead(cursor: (parts.count > 1 ? parts[1].string : nil) ?? cursor)
        for item in parts.first?.array ?? [] {
            guard let fields = item.array, fields.count == 3, let sid = fields[0].string else { continue }
            read.entries.append((sid, fields[1].array ?? [], fields[2].int ?? 0))
        }
        if parts.count > 3, let moved = parts[2].int, moved >= 0 {
            read.promotion = Promotion(through: sentAt, moved: Int(moved), complete: moved < QueueScripts.fetchPromoteLimit, nextDue: parts[3].int)
        }
        if parts.count > 4, let wake = parts[4].string, !wake.isEmpty { read.wakeCursor = wake }
        if parts.count > 5 { read.watched = parts[5].string }
        return read
    }
}

import TMCore
import TMRedis

/// The Lua scripts that make each step of a message's life atomic. Every script touches the keys
/// of one queue shard only (one hash tag), and only keys it declares in KEYS (Redis Cluster routes
/// and checks by declared keys; `RedisClusterTests` watches every key each script touches). Every script that finishes a delivery first checks
/// the delivery's fencing epoch, so a consumer that lost its message (paused past the visibility
/// timeout, reclaimed elsewhere) can no longer ack, retry or dead-letter it.
enum QueueScripts {
    /// Idempotent, bounded enqueue. A chosen message id already live on the shard (queued, delayed or
    /// in flight: it has an epoch entry — a drawn id gets none until its first fetch) is refused, so two
    /// entries can never share one fencing epoch;
    /// only a chosen id is looked up (an id the producer drew — time plus 80 random bits — is new).
    /// The key is checked and recorded by one `SET NX GET` before the other checks, and its record
    /// removed again when the message is then refused: the script is atomic, so the end state is
    /// the same as checking first and recording last, with one command fewer.
    /// Only a chosen id gets an epoch-0 entry (what the `id_in_use` refusal looks up): a drawn id
    /// gets none, as a group's messages get none (`enqueueGroups`) — no chosen id can equal a drawn
    /// one (`MessageIDs.hasDrawnShape`), and the first fetch reads a missing epoch as 0 and raises
    /// it to 1, so the message is fetched, settled and fenced as with the entry. One write (and
    /// its AOF record) fewer per message the producer numbers itself.
    /// A delayed message that becomes the delayed set's head wakes the shard's readers (`park`).
    /// KEYS: stream, delayed, epochs, wake, [idempotency]
    /// ARGV: id, key, payload, now, due, maxLength, idempotencyTTL, failedAttempts, history, enqueuedAt,
    ///       chosenID ("1": the caller chose the id, "0": the producer drew it, hex only)
    /// → {"ok", id, streamID | "delayed"} | {"duplicate", record} | {"full", backlog} | {"id_in_use", id}
    static let enqueue = RedisScript(enqueueLibrary + parkLibrary + """
        local idem = KEYS[5]
        local delay = tonumber(ARGV[5]) - tonumber(ARGV[4])
        if idem then
          -- A delayed message's record must outlive its delay.
          local ttl = ARGV[7]
          if delay > 0 then ttl = tonumber(ARGV[7]) + delay end
          local existing = redis.call('SET', idem, queued_record(ARGV[1], ARGV[11]), 'NX', 'GET', 'PX', ttl)
          if existing then return {'duplicate', existing} end
        end
        if ARGV[11] == '1' and redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
          return refused(idem, {'id_in_use', ARGV[1]})
        end
        local limit = tonumber(ARGV[6])
        if limit > 0 then
          local backlog = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
          if backlog >= limit then return refused(idem, {'full', tostring(backlog)}) end
        end
        local where
        if delay > 0 then
          park(KEYS[2], KEYS[4], ARGV[5], cjson.encode({id = ARGV[1], key = ARGV[2], payload = ARGV[3],
            attempt = ARGV[8], history = ARGV[9], enqueued_at = ARGV[10]}))
          where = 'delayed'
        elseif ARGV[8] == '0' and ARGV[9] == '[]' then
          -- A fresh message: no 'attempt' or 'history' field (their absence reads as 0 and []).
          where = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'key', ARGV[2], 'payload', ARGV[3], 'enqueued_at', ARGV[10])
        else
          where = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'key', ARGV[2], 'payload', ARGV[3],
            'attempt', ARGV[8], 'enqueued_at', ARGV[10], 'history', ARGV[9])
        end
        -- Epoch 0 for a chosen id: live (refused to a later enqueue) until its message is completed
        -- or buried. A drawn id gets none (`enqueueGroups`): no chosen id can equal it.
        if ARGV[11] == '1' then redis.call('HSET', KEYS[3], ARGV[1], '0') end
        return {'ok', ARGV[1], where}
        """)

    /// Shared by the enqueue scripts: the key's record of a queued message (a drawn id is hex, so
    /// it is written as is; a chosen one goes through `cjson`), a refusal that takes the record
    /// recorded by `SET NX GET` back, and the added ids' epochs written 0.
    static let enqueueLibrary = """
        local function queued_record(id, chosen)
          if chosen == '1' then return cjson.encode({id = id, state = 'queued'}) end
          return '{"id":"' .. id .. '","state":"queued"}'
        end
        local function refused(idem, reply)
          if idem then redis.call('DEL', idem) end
          return reply
        end
        -- Epoch 0 for every chosen id added (id, '0' pairs): live until its message is completed or
        -- buried. One HSET per 500 ids: the script is atomic, the end state is one HSET each.
        local function mark_live(epochs, fresh)
          for first = 1, #fresh, 1000 do
            redis.call('HSET', epochs, unpack(fresh, first, math.min(first + 999, #fresh)))
          end
        end

        """

    /// Moves due messages from the delayed set into the stream.
    /// KEYS: stream, delayed. ARGV: now, limit → {moved, nextDue | ""}
    static let promote = RedisScript(promoteLibrary + """
        local moved = promote_due(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]))
        local nxt = redis.call('ZRANGE', KEYS[2], '0', '0', 'WITHSCORES')
        return {moved, nxt[2] or ''}
        """)

    /// Shared by `promote` and `fetch`: moves up to `limit` messages of the delayed set due by
    /// `now` onto the stream, earliest first → how many it moved.
    static let promoteLibrary = """
        local function promote_due(stream, delayed, now, limit)
          local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
          for _, member in ipairs(due) do
            local m = cjson.decode(member)
            redis.call('XADD', stream, '*', 'id', m.id, 'key', m.key, 'payload', m.payload,
              'attempt', m.attempt, 'enqueued_at', m.enqueued_at, 'history', m.history)
            redis.call('ZREM', delayed, member)
          end
          return #due
        end

        """

    /// Shared by the scripts that add to a delayed set (`enqueue`, `enqueueBatch`, `retry`): adds
    /// the member at `due`, and when it is the set's new head — due before every other member —
    /// adds an entry to the shard's wake stream (trimmed to one), which ends the shard's idle
    /// readers' waits: a wait is bounded by the head its fetch saw, so only an earlier head needs
    /// a signal. (A nil `wake`: the caller declared none, and a reader waiting on the shard sees the
    /// new head only when its wait ends, up to `blockTimeout` late — every script here passes one.
    /// Roll-out: binaries from before the wake stream park without it, so until every producer and
    /// consumer of a queue runs this code, run its consumers with `promoteInterval` under 150 ms
    /// (they poll, as before) or accept that lateness.)
    static let parkLibrary = """
        local function park(delayed, wake, due, member)
          redis.call('ZADD', delayed, due, member)
          if wake and redis.call('ZRANK', delayed, member) == 0 then
            redis.call('XADD', wake, 'MAXLEN', '1', '*', 'due', due)
          end
        end

        """

    /// Reads without blocking and raises the epochs in the same step, and says where the group's
    /// reading stands: one round trip per read, whether the consumer had a backlog or waited for
    /// the stream to grow first (`ShardRead`: a blocking `XREAD` from the cursor, this script
    /// pipelined behind it).
    ///
    /// First it promotes the shard's delayed messages due by ARGV[4] (at most `fetchPromoteLimit`),
    /// as `promote` would, so they are read in this same step — and a shard read often needs no
    /// `promote` call of its own (`QueueConsumer.promoteLoop` skips a shard whose fetch covered it
    /// within `promoteInterval`). One ZRANGE of the delayed set's head when nothing is due.
    /// KEYS: stream, epochs[, delayed, wake[, watched]]. ARGV: group, consumer, count[, now (ms)]:
    /// the promotion runs when `now` is given (then KEYS[3] is the delayed set). The delayed set's
    /// head is read at every fetch, whatever the wake stream says: a member can become the head
    /// without a wake entry (a producer from before the wake stream, a promotion lost with a
    /// failover while its wake entry stayed), and only this read bounds how late it is promoted.
    /// (Session 34 skipped it while the wake stream stood and the known head was not due — −6 to −7k
    /// instructions a fetch — and its review found such a member then never promoted: taken out.)
    /// → {{{streamID, fields, epoch}...}, cursor, promoted, nextDue | '', wakeID | ''[, watched value]}
    /// The cursor is the group's last delivered id after the read (the last entry read, else from
    /// `XINFO GROUPS`): the stream holds no entry past it that the group has not delivered, so a
    /// wait from it ends exactly when there is something to read. `promoted`: how many delayed
    /// messages it moved (-1: none asked); under the limit, every one due by `now` is on the stream.
    /// `nextDue`: the delayed set's earliest due time after it; `wakeID`: the wake stream's last
    /// entry ('0-0': none yet), from which a wait sees any earlier head added after this read
    /// (`QueueKeys.wake`). With a fifth key (the shard's
    /// `QueueKeys.watched`), its value (nil when missing) is read in the same atomic step as the
    /// entries, so it is at least as new as any write that finished before they were read. (MGET
    /// of the one key: `INFO commandstats` then tells these reads from the clients' own GETs.)
    /// Its constant arguments to `redis.call` are Lua strings ('0', '1'), never Lua numbers: Redis
    /// 7.0 formats every number passed to `redis.call` with `%.17g` (~1.7k instructions each in
    /// glibc's `__printf_fp`), three a fetch — −6.7k instructions a fetch of one message, measured
    /// (PROFILE, session 35 (redis)). The same in `promote`.
    static let fetch = RedisScript(epochLibrary + promoteLibrary + """
        local woke = ''
        if KEYS[4] then
          local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', '1')[1]
          woke = last and last[1] or '0-0'
        end
        local promoted, head = -1, {}
        if ARGV[4] then
          promoted, head = 0, redis.call('ZRANGE', KEYS[3], '0', '0', 'WITHSCORES')
          if head[2] and tonumber(head[2]) <= tonumber(ARGV[4]) then
            promoted = promote_due(KEYS[1], KEYS[3], ARGV[4], \(fetchPromoteLimit))
            head = redis.call('ZRANGE', KEYS[3], '0', '0', 'WITHSCORES')
          end
        end
        local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
        local entries, ids, at = res and res[1][2] or {}, {}, {}
        if #entries == 0 then
          for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
            local name, last
            for i = 1, #g, 2 do
              if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
            end
            if name == ARGV[1] then return {{}, last, promoted, head[2] or '', woke} end
          end
          return {{}, false, promoted, head[2] or '', woke}
        end
        for n, e in ipairs(entries) do
          for i = 1, #e[2], 2 do
            if e[2][i] == 'id' then
              ids[#ids + 1] = e[2][i + 1]
              at[n] = #ids
              break
            end
          end
        end
        local epochs, out = raise_epochs(KEYS[2], ids), {}
        for n, e in ipairs(entries) do out[n] = {e[1], e[2], at[n] and epochs[at[n]] or 0} end
        if KEYS[5] then return {out, entries[#entries][1], promoted, head[2] or '', woke, redis.call('MGET', KEYS[5])[1]} end
        return {out, entries[#entries][1], promoted, head[2] or '', woke}
        """)

    /// The most delayed messages one `fetch` moves onto the stream: it runs on the read path, so a
    /// large due backlog is left to `promote` (1,000 a call).
    static let fetchPromoteLimit = 100

    /// Raises the fencing epoch of freshly read messages. KEYS: epochs. ARGV: ids → epochs
    static let raiseEpochs = RedisScript(epochLibrary + """
        return raise_epochs(KEYS[1], ARGV)
        """)

    /// Shared by the scripts that raise epochs: one HINCRBY by 1 per id, in order (an id listed twice
    /// rises twice; a missing epoch counts as 0, so a first delivery is at 1). → the new epoch of
    /// each, in order.
    /// (Until session 34: one HMGET and one HSET per 1,000 ids. Measured on Redis 7.0.15, a fetch
    /// cost 12.8k, 16.8k and 23.4k instructions more that way at 1, 2 and 8 messages: each epoch
    /// went back to Redis as a Lua number, which `redis.call` formats with `%.17g`, and the ids were
    /// unpacked into tables twice — an HINCRBY of the text '1' formats nothing.)
    static let epochLibrary = """
        local function raise_epochs(hash, ids)
          local out = {}
          for n = 1, #ids do out[n] = redis.call('HINCRBY', hash, ids[n], '1') end
          return out
        end

        """

    /// Takes over messages idle past the visibility timeout (XAUTOCLAIM from `cursor`, so a long
    /// pending list is walked across calls rather than rescanned from the start), raising their
    /// epochs. A message reclaimed more than maxReclaims times is a poison pill: it is returned
    /// apart, claimed and fenced, and the consumer dead-letters it with `deadLetter` (which declares
    /// its idempotency key). An entry without our fields (it could never be settled, and has no
    /// key) goes to the DLQ here.
    /// KEYS: stream, epochs, dlq
    /// ARGV: group, consumer, minIdle, count, maxReclaims, now, queue, dlqMinID, cursor
    /// → {{streamID, fields, epoch, deliveries}...}, malformedCount, nextCursor, {poison, same shape...}
    static let reclaim = RedisScript("""
        local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[9], 'COUNT', ARGV[4])
        local out, poison, dead = {}, {}, 0
        for _, entry in ipairs(res[2]) do
          if type(entry) == 'table' and type(entry[2]) == 'table' and #entry[2] > 0 then
            local sid, fields = entry[1], entry[2]
            local f = {}
            for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
            local p = redis.call('XPENDING', KEYS[1], ARGV[1], sid, sid, 1)
            local deliveries = (p[1] and p[1][4]) or 1
            if not f.id then
              local message = 'stream entry has no id field: not written by a tm producer'
              local history = {{at = tonumber(ARGV[6]), consumer = ARGV[2], attempt = 1, kind = 'malformed', error = message}}
              redis.call('XACK', KEYS[1], ARGV[1], sid)
              redis.call('XDEL', KEYS[1], sid)
              redis.call('XADD', KEYS[3], '*', 'id', 'foreign-' .. sid, 'key', '', 'payload', f.payload or '',
                'attempt', '0', 'enqueued_at', f.enqueued_at or '0', 'history', cjson.encode(history),
                'reason', 'malformed', 'error', message, 'dead_at', ARGV[6], 'queue', ARGV[7], 'stream_id', sid)
              redis.call('XTRIM', KEYS[3], 'MINID', ARGV[8])
              dead = dead + 1
            elseif deliveries > tonumber(ARGV[5]) + 1 then
              poison[#poison + 1] = {sid, fields, redis.call('HINCRBY', KEYS[2], f.id, 1), deliveries}
            else
              out[#out + 1] = {sid, fields, redis.call('HINCRBY', KEYS[2], f.id, 1), deliveries}
            end
          elseif type(entry) == 'table' then
            redis.call('XACK', KEYS[1], ARGV[1], entry[1])
          end
        end
        return {out, dead, res[1], poison}
        """)

    /// Keeps long handlers' messages from being reclaimed: XCLAIM ... JUSTID to the same consumer
    /// resets the idle time without counting a delivery. Only messages this consumer still owns at
    /// the same epoch are touched. KEYS: stream, epochs. ARGV: group, consumer, (sid, id, epoch)... → {1|0...}
    static let heartbeat = RedisScript("""
        local alive = {}
        for i = 3, #ARGV, 3 do
          local sid, id, epoch = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          local ok = 0
          if redis.call('HGET', KEYS[2], id) == epoch then
            local p = redis.call('XPENDING', KEYS[1], ARGV[1], sid, sid, 1)
            if p[1] and p[1][2] == ARGV[2] then
              redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, sid, 'JUSTID')
              ok = 1
            end
          end
          alive[#alive + 1] = ok
        end
        return alive
        """)

    /// Success, for one message or many of one shard (`ScriptBatcher` merges the completions that
    /// arrive together into one call): each is acked, deleted and its outcome recorded under its
    /// idempotency key, in one step, so a duplicate or a replay of finished work is answered from
    /// the record. Like every settle script it judges each message on its own and refuses it
    /// (`stale`) unless its epoch matches and its entry is still pending, so a re-run after a lost
    /// reply, a message listed twice, or a consumer that lost the message changes nothing.
    /// The epochs are read by one HMGET, and the entries acked by one XACK, deleted by one XDEL
    /// and their epochs by one HDEL per 1,000. A multi-id XACK answers only how many were still
    /// pending; when that is all of them (the usual case) each one is settled. When it is fewer,
    /// the ones that were not pending are told apart by the stream itself: every script that acks
    /// a queue entry deletes it in the same step (complete, retry, deadLetter, reclaim), so an
    /// entry read by a consumer is still in the stream exactly while it is pending — the ones
    /// this XACK found pending are there, the ones settled before are gone. (A message listed
    /// twice counts once: its first listing.)
    /// A keyed message's `done` record comes written by the caller (`completeArguments`) and is
    /// stored only when the message is settled: the script builds no JSON.
    /// A lone message (most calls at 1,000 orders/s) is settled as `retry` and `deadLetter` settle
    /// theirs — its epoch by HGET, then XACK answering 0 refuses it, for one id XACK says exactly
    /// whether it was pending — the same commands as the general path, without its tables (−20k of
    /// Redis 7.0.15's instructions a call, ~18%).
    /// KEYS: stream, epochs, then the idempotency key of each keyed message, in message order
    /// ARGV: group, then per message (`completeArguments`): sid, id, epoch, record ("" = unkeyed), ttl
    /// → one reply per message, in order: "ok" | "stale"
    static let complete = RedisScript("""
        if #ARGV == 6 then
          if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[4] then return {'stale'} end
          if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return {'stale'} end
          if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6]) end
          redis.call('XDEL', KEYS[1], ARGV[2])
          redis.call('HDEL', KEYS[2], ARGV[3])
          return {'ok'}
        end
        local ids = {}
        for i = 3, #ARGV, 5 do ids[#ids + 1] = ARGV[i] end
        local epochs = {}
        for first = 1, #ids, 1000 do
          local got = redis.call('HMGET', KEYS[2], unpack(ids, first, math.min(first + 999, #ids)))
          for j = 1, #got do epochs[first + j - 1] = got[j] end
        end
        -- The candidates: the current epoch, the first listing of its entry.
        local out, k, sids, at, idems, listed = {}, 2, {}, {}, {}, {}
        for i = 2, #ARGV, 5 do
          local n = (i - 2) / 5 + 1
          local sid = ARGV[i]
          if ARGV[i + 3] ~= '' then
            k = k + 1
            idems[n] = KEYS[k]
          end
          if epochs[n] ~= ARGV[i + 2] or listed[sid] then
            out[n] = 'stale'
          else
            listed[sid] = true
            sids[#sids + 1] = sid
            at[#at + 1] = n
            out[n] = 'ok'
          end
        end
        local acked = 0
        for first = 1, #sids, 1000 do
          acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(sids, first, math.min(first + 999, #sids)))
        end
        if acked < #sids then
          -- Some were settled already (no longer pending, so no longer in the stream): change nothing for them.
          local kept, keptAt = {}, {}
          for j, sid in ipairs(sids) do
            if #redis.call('XRANGE', KEYS[1], sid, sid) == 0 then
              out[at[j]] = 'stale'
            else
              kept[#kept + 1] = sid
              keptAt[#keptAt + 1] = at[j]
            end
          end
          sids, at = kept, keptAt
        end
        local settled = {}
        for j, n in ipairs(at) do
          local i = (n - 1) * 5 + 2
          settled[j] = ARGV[i + 1]
          if idems[n] then redis.call('SET', idems[n], ARGV[i + 3], 'PX', ARGV[i + 4]) end
        end
        for first = 1, #sids, 1000 do
          local last = math.min(first + 999, #sids)
          redis.call('XDEL', KEYS[1], unpack(sids, first, last))
          redis.call('HDEL', KEYS[2], unpack(settled, first, last))
        end
        return out
        """)

    /// One message's ARGV of `complete`: its stream id, id, epoch, then — keyed — its `done` record
    /// (`{"id", "state": "done", "at": now, "result"}`, no `result` when it is empty), else "", and
    /// the record's time to live.
    static func completeArguments(streamID: String, id: String, epoch: Int64, keyed: Bool, result: String,
                                  now: Int64, ttlMillis: Int64) -> [any RedisArgumentConvertible] {
        guard keyed else { return [streamID, id, epoch, "", ttlMillis] }
        // Written straight (one buffer, no `JSONValue` tree): the text `JSONValue.object` of these
        // members gives, byte for byte (`SettleTextTests`).
        var record: [UInt8] = []
        record.reserveCapacity(48 + id.utf8.count + result.utf8.count + result.utf8.count / 8)
        record.append(contentsOf: #"{"id":"#.utf8)
        JSONValue.appendString(id, to: &record)
        record.append(contentsOf: #","state":"done","at":"#.utf8)
        record.append(contentsOf: String(now).utf8)
        if !result.isEmpty {
            record.append(contentsOf: #","result":"#.utf8)
            JSONValue.appendString(result, to: &record)
        }
        record.append(UInt8(ascii: "}"))
        return [streamID, id, epoch, String(decoding: record, as: UTF8.self), ttlMillis]
    }

    /// A failed attempt with retries left: ack and delete the entry and park the message, with its
    /// grown history, in the delayed set until its backoff has passed.
    /// A retry that becomes the delayed set's head wakes the shard's readers (`park`).
    /// KEYS: stream, delayed, epochs[, wake]. ARGV: group, sid, id, epoch, due, member → "ok" | "stale"
    static let retry = RedisScript(parkLibrary + """
        if redis.call('HGET', KEYS[3], ARGV[3]) ~= ARGV[4] then return 'stale' end
        -- XACK answers 0 when the entry is no longer pending (settled already): change nothing.
        if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 'stale' end
        redis.call('XDEL', KEYS[1], ARGV[2])
        park(KEYS[2], KEYS[4], ARGV[5], ARGV[6])
        return 'ok'
        """)

    /// No retries left, or a non-retryable failure: move the message to the DLQ with its original
    /// id, key, payload and whole history, atomically with the ack.
    /// KEYS: stream, dlq, epochs, [idempotency]
    /// ARGV: group, sid, id, epoch, key, payload, attempt, enqueuedAt, history, reason, error, now, queue, dlqMinID, ttl
    /// → "ok" | "stale"
    static let deadLetter = RedisScript("""
        if redis.call('HGET', KEYS[3], ARGV[3]) ~= ARGV[4] then return 'stale' end
        -- XACK answers 0 when the entry is no longer pending (settled already): change nothing.
        if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 'stale' end
        redis.call('XDEL', KEYS[1], ARGV[2])
        -- The epoch moves into the dead letter (a replay restores it, so the replay's deliveries
        -- fence above every earlier one): the hash keeps live messages only.
        redis.call('HDEL', KEYS[3], ARGV[3])
        local dead = redis.call('XADD', KEYS[2], '*', 'id', ARGV[3], 'key', ARGV[5], 'payload', ARGV[6],
          'attempt', ARGV[7], 'enqueued_at', ARGV[8], 'history', ARGV[9], 'reason', ARGV[10], 'error', ARGV[11],
          'dead_at', ARGV[12], 'queue', ARGV[13], 'stream_id', ARGV[2], 'epoch', ARGV[4])
        redis.call('XTRIM', KEYS[2], 'MINID', ARGV[14])
        if KEYS[4] then
          redis.call('SET', KEYS[4], cjson.encode({id = ARGV[3], state = 'dead', dead_letter = dead}), 'PX', ARGV[15])
        end
        return 'ok'
        """)

    /// Puts a dead letter back on its queue with a fresh attempt count, keeping its id and key, and
    /// its last fencing epoch (so the replay's deliveries fence above every earlier one).
    /// Skipped when the key's record says the work is queued or done (a replay must never repeat
    /// finished work), or when its id is live on the queue again. The dead letter is removed once replayed.
    /// KEYS: stream, dlq, epochs, [idempotency]. ARGV: dlqID, payload ("" = original), now, ttl
    /// → {"replayed", id, streamID} | {"skipped", state, id} | {"missing"}
    static let replay = RedisScript("""
        local entries = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
        if #entries == 0 then return {'missing'} end
        local f = {}
        local fields = entries[1][2]
        for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
        if KEYS[4] then
          local existing = redis.call('GET', KEYS[4])
          if existing then
            local record = cjson.decode(existing)
            if record.state ~= 'dead' then return {'skipped', record.state, record.id or ''} end
          end
        end
        -- Dead letters written before epochs moved into them left theirs in the hash: no epoch
        -- field means the hash entry is that leftover, not a live message.
        local live = redis.call('HGET', KEYS[3], f.id)
        if live and f.epoch then return {'skipped', 'queued', f.id} end
        redis.call('HSET', KEYS[3], f.id, math.max(tonumber(live or '0'), tonumber(f.epoch or '0')))
        local payload = f.payload
        if ARGV[2] ~= '' then payload = ARGV[2] end
        local sid = redis.call('XADD', KEYS[1], '*', 'id', f.id, 'key', f.key or '', 'payload', payload,
          'attempt', '0', 'enqueued_at', ARGV[3], 'history', '[]')
        if KEYS[4] then
          redis.call('SET', KEYS[4], cjson.encode({id = f.id, state = 'queued', replayed_from = ARGV[1]}), 'PX', ARGV[4])
        end
        redis.call('XDEL', KEYS[2], ARGV[1])
        return {'replayed', f.id, sid}
        """)

    /// Forgets consumers that own nothing and have been silent for `minIdle` (killed processes leave
    /// their names behind; the group would grow by one per crash).
    /// KEYS: stream. ARGV: group, minIdleMs → removed count
    static let pruneConsumers = RedisScript("""
        local removed = 0
        for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
          local info = {}
          for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
          if info.pending == 0 and info.idle > tonumber(ARGV[2]) then
            redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info.name)
            removed = removed + 1
          end
        end
        return removed
        """)
}

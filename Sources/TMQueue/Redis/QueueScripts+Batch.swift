import TMRedis

extension QueueScripts {
    /// Many messages of one shard in one script: each is checked and added exactly as `enqueue`
    /// would (its key's record first, then the backlog against `max_length`, counting the messages
    /// added before it), so a batch keeps idempotency and backpressure message by message. Every
    /// key touched is declared; they all share the shard's hash tag (one Redis Cluster slot).
    /// A chosen message id already live on the shard (or added earlier in the batch) is refused, as
    /// by `enqueue`; the chosen ids' epochs are read in one HMGET per 1,000 messages rather than one
    /// HEXISTS each (nothing else writes them while the script runs, and the batch's own adds are
    /// tracked), and the added chosen ids' epochs are written by one HSET per 500 at the end: the
    /// script runs atomically, so the end state is the same as one HSET per message (a drawn id
    /// gets no epoch entry, as by `enqueue`; a batch of drawn ids writes none). A key is checked and
    /// recorded by one `SET NX GET`, its record taken back if the message is then refused. A
    /// message added to the stream carries `id`, `key`, `payload` and `enqueued_at` only: a fresh
    /// message's `attempt` (0) and `history` ([]) are what their absence reads as (`Envelope`), so
    /// neither is written, carried through the AOF, nor read back by every fetch.
    /// A delayed message that becomes the delayed set's head wakes the shard's readers (`park`).
    /// KEYS: stream, delayed, epochs, wake, then the idempotency key of each keyed message, in message order
    /// ARGV: maxLength, idempotencyTTL, now, then per message: id, key ("" = none), payload, delay ms,
    ///       chosenID ("1" | "0", as for `enqueue`)
    /// → one reply per message: streamID | "delayed" (added: the common answer as a bare string, no
    ///   table for the script to build nor the client to read; the id is the caller's own) |
    ///   {"duplicate", record} | {"full", backlog} | {"id_in_use", id}
    static let enqueueBatch = RedisScript(enqueueLibrary + parkLibrary + """
        local limit, ttl, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local backlog
        if limit > 0 then backlog = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) end
        local chosen, live, added = {}, {}, {}
        for i = 4, #ARGV, 5 do
          if ARGV[i + 4] == '1' then chosen[#chosen + 1] = ARGV[i] end
        end
        for first = 1, #chosen, 1000 do
          local epochs = redis.call('HMGET', KEYS[3], unpack(chosen, first, math.min(first + 999, #chosen)))
          for j = 1, #epochs do
            if epochs[j] then live[chosen[first + j - 1]] = true end
          end
        end
        local out, k, fresh = {}, 4, {}
        for i = 4, #ARGV, 5 do
          local id, key, payload, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
          local idem, existing
          if key ~= '' then
            k = k + 1
            idem = KEYS[k]
            -- A delayed message's record must outlive its delay.
            local px = ARGV[2]
            if delay ~= '0' then px = ttl + tonumber(delay) end
            existing = redis.call('SET', idem, queued_record(id, ARGV[i + 4]), 'NX', 'GET', 'PX', px)
          end
          if existing then
            out[#out + 1] = {'duplicate', existing}
          elseif live[id] or added[id] then
            out[#out + 1] = refused(idem, {'id_in_use', id})
          elseif backlog and backlog >= limit then
            out[#out + 1] = refused(idem, {'full', tostring(backlog)})
          else
            local where
            if delay ~= '0' then
              park(KEYS[2], KEYS[4], now + tonumber(delay), cjson.encode({id = id, key = key, payload = payload,
                attempt = '0', history = '[]', enqueued_at = ARGV[3]}))
              where = 'delayed'
            else
              -- A fresh message: no 'attempt' or 'history' field (read as 0 and []).
              where = redis.call('XADD', KEYS[1], '*', 'id', id, 'key', key, 'payload', payload, 'enqueued_at', ARGV[3])
            end
            added[id] = true
            if ARGV[i + 4] == '1' then
              fresh[#fresh + 1] = id
              fresh[#fresh + 1] = '0'
            end
            if backlog then backlog = backlog + 1 end
            out[#out + 1] = where
          end
        end
        mark_live(KEYS[3], fresh)
        return out
        """)
}

import TMRedis

extension QueueScripts {
    /// Many messages of one shard in one script: each is checked and added exactly as `enqueue`
    /// would (its key's record first, then the backlog against `max_length`, counting the messages
    /// added before it), so a batch keeps idempotency and backpressure message by message. Every
    /// key touched is declared; they all share the shard's hash tag (one Redis Cluster slot).
    /// A message id already live on the shard (or added earlier in the batch) is refused, as by
    /// `enqueue`; the ids' epochs are read in one HMGET per 1,000 messages rather than one HEXISTS
    /// each (nothing else writes them while the script runs, and the batch's own adds are tracked),
    /// and the added ids' epochs are written by one HSET per 500 at the end: the script runs
    /// atomically, so the end state is the same as one HSET per message.
    /// KEYS: stream, delayed, epochs, then the idempotency key of each keyed message, in message order
    /// ARGV: maxLength, idempotencyTTL, now, then per message: id, key ("" = none), payload, delay ms
    /// → one reply per message: {"ok", id, streamID | "delayed"} | {"duplicate", record} | {"full", backlog} | {"id_in_use", id}
    static let enqueueBatch = RedisScript("""
        local limit, ttl, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local backlog
        if limit > 0 then backlog = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) end
        local ids, live, added = {}, {}, {}
        for i = 4, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
        for first = 1, #ids, 1000 do
          local epochs = redis.call('HMGET', KEYS[3], unpack(ids, first, math.min(first + 999, #ids)))
          for j = 1, #epochs do live[first + j - 1] = epochs[j] end
        end
        local out, k, fresh = {}, 3, {}
        for i = 4, #ARGV, 4 do
          local id, key, payload, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], now + tonumber(ARGV[i + 3])
          local n = (i - 4) / 4 + 1
          local idem
          if key ~= '' then
            k = k + 1
            idem = KEYS[k]
          end
          local existing = idem and redis.call('GET', idem)
          if existing then
            out[#out + 1] = {'duplicate', existing}
          elseif live[n] or added[id] then
            out[#out + 1] = {'id_in_use', id}
          elseif backlog and backlog >= limit then
            out[#out + 1] = {'full', tostring(backlog)}
          else
            local where
            if due > now then
              redis.call('ZADD', KEYS[2], due, cjson.encode({id = id, key = key, payload = payload,
                attempt = '0', history = '[]', enqueued_at = ARGV[3]}))
              where = 'delayed'
            else
              where = redis.call('XADD', KEYS[1], '*', 'id', id, 'key', key, 'payload', payload,
                'attempt', '0', 'enqueued_at', ARGV[3], 'history', '[]')
            end
            added[id] = true
            fresh[#fresh + 1] = id
            fresh[#fresh + 1] = 0
            if idem then
              -- A delayed message's record must outlive its delay.
              redis.call('SET', idem, cjson.encode({id = id, state = 'queued'}), 'PX', ttl + math.max(due - now, 0))
            end
            if backlog then backlog = backlog + 1 end
            out[#out + 1] = {'ok', id, where}
          end
        end
        -- Epoch 0 for every id added above: live until its message is completed or buried.
        for first = 1, #fresh, 1000 do
          redis.call('HSET', KEYS[3], unpack(fresh, first, math.min(first + 999, #fresh)))
        end
        return out
        """)
}

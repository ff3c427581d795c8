import TMRedis

extension QueueScripts {
    /// Groups of messages of one shard, each added whole and once (`QueueProducer.enqueueGroups`):
    /// a group is checked and recorded under its ONE key by one `SET NX GET` — a group whose record
    /// lives is answered `duplicate` and adds nothing — then refused whole unless all of its
    /// messages fit under `max_length` (its record taken back; every later group of the call is
    /// refused too, so a smaller one never overtakes it), else every message is added in order. One record per group, not per message: a group re-sent (a relay that crashed between
    /// the publish and marking its rows published) is added once, at one command per group rather
    /// than one per message. The messages keep their own keys in their entries (consumers see them)
    /// but get no record of their own here. Their ids are drawn by the producer (never live), and
    /// NO epoch is written for them: the first fetch reads a missing epoch as 0 and raises it to 1,
    /// so they are fetched, settled and fenced as a message with an epoch-0 entry is. What an
    /// epoch-0 entry else gives — `enqueue` refusing a CHOSEN id that is live — cannot matter for
    /// them: a chosen id never has a drawn id's shape (`MessageIDs.hasDrawnShape`), so none can
    /// equal one. Their entries carry no `attempt` or `history` field (a fresh message's defaults,
    /// as `enqueueBatch` writes them). Every key touched is declared and shares the shard's hash tag.
    /// KEYS: stream, delayed, then the record key of each group, in group order
    /// ARGV: maxLength, recordTTL, now, then per group: its message count, then per message: id, key, payload
    /// → one reply per group: 1 (added) | 0 (a duplicate: its record lives) | {"full", backlog} — the
    ///   common answers as bare integers, which neither the script nor the client builds a table for
    static let enqueueGroups = RedisScript(enqueueLibrary + """
        local limit = tonumber(ARGV[1])
        local backlog
        if limit > 0 then backlog = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) end
        local out, i, full = {}, 4, false
        for g = 3, #KEYS do
          local count, first = tonumber(ARGV[i]), i + 1
          i = first + 3 * count
          local existing = redis.call('SET', KEYS[g], queued_record(ARGV[first], '0'), 'NX', 'GET', 'PX', ARGV[2])
          if existing then
            out[#out + 1] = 0
          elseif backlog and (full or backlog + count > limit) then
            -- Once one group is refused, so are the later ones: none overtakes another.
            full = true
            out[#out + 1] = refused(KEYS[g], {'full', tostring(backlog)})
          else
            for m = first, i - 1, 3 do
              -- Fresh messages: no 'attempt' or 'history' field (read as 0 and []).
              redis.call('XADD', KEYS[1], '*', 'id', ARGV[m], 'key', ARGV[m + 1], 'payload', ARGV[m + 2], 'enqueued_at', ARGV[3])
            end
            if backlog then backlog = backlog + count end
            out[#out + 1] = 1
          end
        end
        return out
        """)
}

import CHiredis

/// Builds hiredis's parsed replies straight into `RedisValue`s, through the reader's object functions
/// (`redisReader.fn`), so no `redisReply` tree is allocated, copied and freed per reply.
///
/// Guarantees:
/// - A reply is built exactly as hiredis reads it: every element in order, nested arrays at their
///   depth, an array complete only when its announced count of elements has arrived. A reply split
///   across socket reads is continued where it stopped (the open arrays are kept between calls).
/// - An error reply at the top is a failure (`RedisError.server`); inside an array (EXEC, script
///   results) it is data, a `.simple` string, as before.
/// - A reader error (protocol, I/O) discards whatever was half built, so a later reply can never
///   be appended to an earlier one's arrays.
///
/// The functions hand hiredis this builder's own address as every "object" (hiredis only checks it
/// is not NULL), so nothing per reply is allocated beyond the values themselves: one `[UInt8]` per
/// bulk string and one array per array reply.
final class RedisReplyBuilder {
    // The builder is used by its connection's one thread, one call at a time, and no access to
    // these overlaps another: the runtime's exclusivity checks (~70 `swift_beginAccess` an order,
    // on every element of every reply) are off for them.
    /// Arrays whose elements are still arriving, outermost first.
    @exclusivity(unchecked) private var open: [(values: [RedisValue], expected: Int)] = []
    /// The last reply completed at the top, until `take()` hands it over.
    @exclusivity(unchecked) private var completed: Result<RedisValue, RedisError>?

    /// Points `reader` at these functions and this builder (for a fresh context's reader).
    func attach(to reader: UnsafeMutablePointer<redisReader>) {
        reader.pointee.fn = Self.functions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
    }

    /// The reply hiredis just finished (`redisGetReply` returned it), leaving the builder empty.
    func take() throws -> Result<RedisValue, RedisError> {
        guard open.isEmpty, let reply = completed else {
            reset()
            throw RedisError.protocolViolation("hiredis reported a reply the builder did not complete")
        }
        completed = nil
        return reply
    }

    /// Drops a half-built reply (after a reader error, or when the context is freed).
    func reset() {
        open.removeAll(keepingCapacity: true)
        completed = nil
    }

    // MARK: - Building

    private func add(_ value: RedisValue) {
        guard !open.isEmpty else {
            completed = .success(value)
            return
        }
        open[open.count - 1].values.append(value)
        closeFilledArrays()
    }

    /// An array whose last element has arrived is an element of the one around it (or the reply).
    private func closeFilledArrays() {
        while let last = open.last, last.values.count == last.expected {
            let filled = open.removeLast()
            if open.isEmpty {
                completed = .success(.array(filled.values))
            } else {
                open[open.count - 1].values.append(.array(filled.values))
            }
        }
    }

    private func string(type: Int32, bytes: UnsafeRawBufferPointer) {
        switch type {
        case REDIS_REPLY_ERROR where open.isEmpty:
            completed = .failure(RedisError.fromReply(String(decoding: bytes, as: UTF8.self)))
        case REDIS_REPLY_ERROR, REDIS_REPLY_STATUS:
            add(.simple(String(decoding: bytes, as: UTF8.self)))
        default:
            add(.bulk(Array(bytes)))
        }
    }

    private func array(count: Int) {
        var values: [RedisValue] = []
        values.reserveCapacity(count)
        open.append((values, count))
        closeFilledArrays()
    }

    // MARK: - hiredis's side

    private static func builder(_ task: UnsafePointer<redisReadTask>?) -> RedisReplyBuilder {
        Unmanaged<RedisReplyBuilder>.fromOpaque(task!.pointee.privdata!).takeUnretainedValue()
    }

    /// hiredis treats a NULL object as out of memory: every object is the builder's address.
    private func token() -> UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// One table for every connection (hiredis keeps only the pointer); never freed.
    private nonisolated(unsafe) static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let table = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        table.initialize(to: redisReplyObjectFunctions(
            createString: { task, str, length in
                let builder = builder(task)
                builder.string(type: task!.pointee.type, bytes: UnsafeRawBufferPointer(start: str, count: length))
                return builder.token()
            },
            createArray: { task, count in
                let builder = builder(task)
                builder.array(count: Int(count))
                return builder.token()
            },
            createInteger: { task, value in
                let builder = builder(task)
                builder.add(.integer(Int64(value)))
                return builder.token()
            },
            createNil: { task in
                let builder = builder(task)
                builder.add(.null)
                return builder.token()
            },
            freeObject: { object in
                // hiredis frees a reply only when it gives up on it (a reader error, or the context
                // freed with a reply pending): what was half built goes with it.
                guard let object else { return }
                Unmanaged<RedisReplyBuilder>.fromOpaque(object).takeUnretainedValue().reset()
            }))
        return table
    }()
}

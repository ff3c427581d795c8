import Foundation
import TMCore

/// The invocation request's line, written and read by hand: the dispatcher writes one per batch
/// and a warm function reads one per batch, and `JSONEncoder`/`JSONDecoder` of a hundred records
/// (each body an escaped string) was a visible share of every tick's cost (alert-bench's profile).
///
/// Guarantees: `encode` writes what `InvocationWire.encoder` writes (sorted keys, slashes
/// unescaped, a nil key left out), byte for byte; `decode` returns exactly what `JSONDecoder` would
/// for the lines it accepts, and hands every other line (unknown or repeated members, `\u` escapes,
/// non-integer numbers, invalid UTF-8, anything malformed) to `JSONDecoder`, so what is accepted,
/// refused and the reason given are unchanged.
enum InvocationRequestWire {
    // MARK: - Writing

    static func encode(_ request: InvocationRequest) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + request.records.reduce(0) { $0 + $1.body.utf8.count + $1.messageID.utf8.count + 160 })
        out += Names.attempt
        writeInteger(Int64(request.attempt), to: &out)
        out += Names.deadline
        writeInteger(request.deadlineMillis, to: &out)
        out += Names.function
        writeString(request.function, to: &out)
        out += Names.invocationID
        writeString(request.invocationID, to: &out)
        out += Names.records
        for (i, record) in request.records.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Names.recordAttempt
            writeInteger(Int64(record.attempt), to: &out)
            out += Names.body
            writeString(record.body, to: &out)
            out += Names.enqueuedAt
            writeInteger(record.enqueuedAtMillis, to: &out)
            out += Names.epoch
            writeInteger(record.epoch, to: &out)
            if let key = record.key {
                out += Names.key
                writeString(key, to: &out)
            }
            out += Names.messageID
            writeString(record.messageID, to: &out)
            out += Names.queue
            writeString(record.queue, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out += Names.end
        return out
    }

    /// The members' names as bytes once (appending a literal's `utf8` view walks it per call).
    private enum Names {
        static let attempt = Array(#"{"attempt":"#.utf8), deadline = Array(#","deadline_ms":"#.utf8)
        static let function = Array(#","function":"#.utf8), invocationID = Array(#","invocation_id":"#.utf8)
        static let records = Array(#","records":["#.utf8), recordAttempt = Array(#"{"attempt":"#.utf8)
        static let body = Array(#","body":"#.utf8), enqueuedAt = Array(#","enqueued_at_ms":"#.utf8), epoch = Array(#","epoch":"#.utf8)
        static let key = Array(#","key":"#.utf8), messageID = Array(#","message_id":"#.utf8), queue = Array(#","queue":"#.utf8)
        static let end = Array("]}".utf8)
    }

    private static func writeInteger(_ value: Int64, to out: inout [UInt8]) {
        out += String(value).utf8
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// JSONEncoder's escaping (with `.withoutEscapingSlashes`): quote, backslash and control
    /// characters; everything else, non-ASCII included, as its UTF-8 bytes. (A plain index loop,
    /// runs copied whole and each escape as single bytes: a tick's body has a quote every few bytes.)
    private static func writeString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var run = 0
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 else {
                    i += 1
                    continue
                }
                if run < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i])) }
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    out.append(UInt8(ascii: "u"))
                    out.append(UInt8(ascii: "0"))
                    out.append(UInt8(ascii: "0"))
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xF)])
                }
                i += 1
                run = i
            }
            if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: - Reading

    /// The request in `bytes`, or nil when this reader does not take the line (then `JSONDecoder`
    /// reads it and gives the verdict).
    static func decode(_ bytes: [UInt8]) -> InvocationRequest? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer)
            return reader.request()
        }
    }

    /// A reader of the request's own shape only: every `return nil` sends the line to JSONDecoder.
    /// White space, bytes, `null` and whole numbers are read by the shared `ByteCursor` (TMCore).
    private struct Reader {
        var cursor: ByteCursor
        var scratch: [UInt8] = []

        init(bytes: UnsafeBufferPointer<UInt8>) { cursor = ByteCursor(bytes) }

        var bytes: UnsafeBufferPointer<UInt8> { cursor.bytes }
        var position: Int {
            get { cursor.position }
            set { cursor.position = newValue }
        }
        mutating func skipSpace() { cursor.skipSpace() }
        mutating func next(_ byte: UInt8) -> Bool { cursor.next(byte) }

        mutating func request() -> InvocationRequest? {
            var attempt: Int?, deadline: Int64?, function: String?, invocationID: String?, records: [InvocationRecord]?
            let complete = object { r, name in
                switch name {
                case "attempt": guard attempt == nil else { return false }; attempt = r.integer().flatMap { Int(exactly: $0) }; return attempt != nil
                case "deadline_ms": guard deadline == nil else { return false }; deadline = r.integer(); return deadline != nil
                case "function": guard function == nil else { return false }; function = r.string(); return function != nil
                case "invocation_id": guard invocationID == nil else { return false }; invocationID = r.string(); return invocationID != nil
                case "records": guard records == nil else { return false }; records = r.recordArray(); return records != nil
                default: return false
                }
            }
            skipSpace()
            guard complete, position == bytes.count, let attempt, let deadline, let function, let invocationID, let records else { return nil }
            return InvocationRequest(invocationID: invocationID, function: function, attempt: attempt, deadlineMillis: deadline, records: records)
        }

        mutating func recordArray() -> [InvocationRecord]? {
            skipSpace()
            guard next(UInt8(ascii: "[")) else { return nil }
            var records: [InvocationRecord] = []
            skipSpace()
            if next(UInt8(ascii: "]")) { return records }
            while true {
                guard let record = record() else { return nil }
                records.append(record)
                skipSpace()
                if next(UInt8(ascii: ",")) { continue }
                return next(UInt8(ascii: "]")) ? records : nil
            }
        }

        mutating func record() -> InvocationRecord? {
            var attempt: Int?, body: String?, enqueuedAt: Int64?, epoch: Int64?, key: String??, messageID: String?, queue: String?
            let complete = object { r, name in
                switch name {
                case "attempt": guard attempt == nil else { return false }; attempt = r.integer().flatMap { Int(exactly: $0) }; return attempt != nil
                case "body": guard body == nil else { return false }; body = r.string(); return body != nil
                case "enqueued_at_ms": guard enqueuedAt == nil else { return false }; enqueuedAt = r.integer(); return enqueuedAt != nil
                case "epoch": guard epoch == nil else { return false }; epoch = r.integer(); return epoch != nil
                case "key":
                    guard key == nil else { return false }
                    r.skipSpace()
                    if r.literalNull() { key = .some(nil); return true }
                    guard let text = r.string() else { return false }
                    key = .some(text)
                    return true
                case "message_id": guard messageID == nil else { return false }; messageID = r.string(); return messageID != nil
                case "queue": guard queue == nil else { return false }; queue = r.string(); return queue != nil
                default: return false
                }
            }
            guard complete, let attempt, let body, let enqueuedAt, let epoch, let messageID, let queue else { return nil }
            return InvocationRecord(messageID: messageID, key: key ?? nil, queue: queue, attempt: attempt, epoch: epoch,
                                    enqueuedAtMillis: enqueuedAt, body: body)
        }

        /// `{ "name": value, ... }`, each value read by `member` (false: not taken).
        mutating func object(_ member: (inout Reader, String) -> Bool) -> Bool {
            skipSpace()
            guard next(UInt8(ascii: "{")) else { return false }
            skipSpace()
            if next(UInt8(ascii: "}")) { return true }
            while true {
                skipSpace()
                guard let name = string() else { return false }
                skipSpace()
                guard next(UInt8(ascii: ":")) else { return false }
                guard member(&self, name) else { return false }
                skipSpace()
                if next(UInt8(ascii: ",")) { continue }
                return next(UInt8(ascii: "}"))
            }
        }

        mutating func literalNull() -> Bool { cursor.literal("null") }

        /// A whole number written plainly (`-`? digits, no leading zero, no fraction or exponent).
        mutating func integer() -> Int64? {
            cursor.skipSpace()
            return cursor.wholeNumber(allowingMinus: true)
        }

        /// A string with the simple escapes; `\u`, raw control characters and invalid UTF-8 are not taken.
        mutating func string() -> String? {
            skipSpace()
            guard next(UInt8(ascii: "\"")) else { return nil }
            var run = position
            var escaped = false
            var ascii = true
            scratch.removeAll(keepingCapacity: true)
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text: String?
                    if escaped {
                        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<position]))
                        text = ascii ? String(decoding: scratch, as: UTF8.self) : String(validating: scratch, as: UTF8.self)
                    } else {
                        let slice = UnsafeBufferPointer(rebasing: bytes[run..<position])
                        text = ascii ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
                    }
                    position += 1
                    return text
                }
                if byte < 0x20 { return nil }
                if byte >= 0x80 { ascii = false }
                guard byte == UInt8(ascii: "\\") else {
                    position += 1
                    continue
                }
                escaped = true
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<position]))
                position += 1
                guard position < bytes.count else { return nil }
                switch bytes[position] {
                case UInt8(ascii: "\""): scratch.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): scratch.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                default: return nil  // \u (surrogates and all) is JSONDecoder's
                }
                position += 1
                run = position
            }
            return nil
        }
    }
}

import CLibpq
import Foundation
import TMCore

// COPY moves rows in bulk without a statement per row (PQgetCopyData / PQputCopyData).
//
// COPY cannot bind parameters: the statement text is sent as is. Callers build any literal in it
// only from typed values (UUIDs via `PostgresArrayText.uuids`, integers), never from user text.

extension PostgresConnection {
    /// Runs `COPY ... TO STDOUT` and hands each data message to `row`, in order: in text format one
    /// row (with its newline), in binary format one tuple (the first message may carry the file
    /// header, the last one the trailer; `PostgresBinaryCopyReader` skips both). The buffer is only
    /// valid during the call. Returns the number of rows the server reports.
    ///
    /// Guarantees: when `row` throws, the rest of the COPY is read and discarded and the error is
    /// rethrown, so the connection stays usable; a server error (bad SQL, a failure mid-stream) is a
    /// `PostgresError` with its SQLSTATE and leaves the connection usable too; a statement that is
    /// not a COPY TO STDOUT is refused (`.client`) after it ran.
    @discardableResult
    public func copyOut(_ sql: String, _ row: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let handle = try liveHandle()
        guard let start = PQexec(handle, sql) else {
            throw PostgresError.connection(Self.libpqMessage(handle) ?? "no result from libpq")
        }
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_OUT else {
            defer { PQclear(start) }
            if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY {
                throw PostgresError.client("copyOut needs a COPY ... TO STDOUT statement")
            }
            if status == PGRES_COPY_IN {
                // Leave the protocol clean: end the unwanted COPY FROM STDIN at once.
                _ = PQputCopyEnd(handle, "copyOut was given a COPY FROM STDIN")
                drainResults(handle)
                throw PostgresError.client("copyOut needs a COPY ... TO STDOUT statement, not FROM STDIN")
            }
            throw error(from: start, handle: handle)
        }
        PQclear(start)
        var failure: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 0)
            if length > 0, let buffer {
                // After the body failed, keep reading to the end so the protocol is back at idle and every
                // buffer is freed (libpq would also swallow the rest on the next command, but leak nothing here).
                if failure == nil {
                    do {
                        try row(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
                    } catch {
                        failure = error
                    }
                }
                PQfreemem(buffer)
                continue
            }
            if length == -2 {
                throw PostgresError.connection("COPY OUT failed: \(Self.libpqMessage(handle) ?? "lost connection")")
            }
            break  // -1: the COPY is complete; its result follows.
        }
        let rows = try finishCopy(handle)
        if let failure { throw failure }
        return rows
    }

    /// The whole output of `COPY ... TO STDOUT` as one byte array (small results; stream big ones
    /// with `copyOut(_:_:)`).
    public func copyOut(_ sql: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try copyOut(sql) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Runs `COPY ... FROM STDIN`; `body` writes the data through the writer (flushed to the server
    /// in large chunks). Returns the number of rows the server stored.
    ///
    /// Guarantees: the COPY is ended either way — when `body` throws, it is aborted (nothing is
    /// stored) and the body's error rethrown; when the server refuses the data (a malformed row, a
    /// constraint), the server's `PostgresError` is thrown; in both cases the connection stays usable
    /// (inside a transaction, the transaction is failed and must be rolled back, as after any error).
    @discardableResult
    public func copyIn(_ sql: String, _ body: (PostgresCopyInWriter) throws -> Void) throws -> Int {
        let handle = try liveHandle()
        guard let start = PQexec(handle, sql) else {
            throw PostgresError.connection(Self.libpqMessage(handle) ?? "no result from libpq")
        }
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_IN else {
            defer { PQclear(start) }
            if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY {
                throw PostgresError.client("copyIn needs a COPY ... FROM STDIN statement")
            }
            if status == PGRES_COPY_OUT {
                while true {
                    var buffer: UnsafeMutablePointer<CChar>?
                    let length = PQgetCopyData(handle, &buffer, 0)
                    if let buffer { PQfreemem(buffer) }
                    if length < 0 { break }
                }
                drainResults(handle)
                throw PostgresError.client("copyIn needs a COPY ... FROM STDIN statement, not TO STDOUT")
            }
            throw error(from: start, handle: handle)
        }
        PQclear(start)
        let writer = PostgresCopyInWriter(handle: handle)
        do {
            try body(writer)
            try writer.flush()
        } catch {
            // Abort: the server discards what it received and answers with an error we drop.
            _ = PQputCopyEnd(handle, "aborted by the client")
            _ = try? finishCopy(handle)
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError.connection("COPY IN could not end: \(Self.libpqMessage(handle) ?? "lost connection")")
        }
        return try finishCopy(handle)
    }

    /// Sends `data` as the whole input of `COPY ... FROM STDIN`.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws -> Int {
        try copyIn(sql) { try $0.write(data) }
    }

    /// Reads the COPY's final result (and anything after it) so the connection is idle again.
    private func finishCopy(_ handle: OpaquePointer) throws -> Int {
        var failure: PostgresError?
        var rows = 0
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            if status == PGRES_COMMAND_OK {
                rows = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
            } else if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                // Cannot happen after the end of the data; never loop on it.
                PQclear(result)
                close()
                throw PostgresError.connection("COPY did not end")
            } else if failure == nil {
                failure = error(from: result, handle: handle)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return rows
    }

    private func drainResults(_ handle: OpaquePointer) {
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                close()
                return
            }
        }
    }
}

/// Writes the data of one `COPY ... FROM STDIN`, buffering it and sending it in chunks of
/// `chunkBytes`. Only valid inside `PostgresConnection.copyIn`'s body.
public final class PostgresCopyInWriter {
    private let handle: OpaquePointer
    /// What is not yet sent; append to it directly (`write` flushes when it is large enough).
    public var buffer: [UInt8] = []
    public let chunkBytes = 1 << 20
    /// Bytes sent so far.
    public private(set) var bytesSent = 0

    init(handle: OpaquePointer) {
        self.handle = handle
        buffer.reserveCapacity(chunkBytes + 4096)
    }

    public func write(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        try flushIfFull()
    }

    public func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        try flushIfFull()
    }

    /// Sends the buffer once it holds at least `chunkBytes`.
    public func flushIfFull() throws {
        if buffer.count >= chunkBytes { try flush() }
    }

    /// Sends whatever is buffered.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        let sent = buffer.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1 else {
            throw PostgresError.connection("COPY IN failed: \(PostgresConnection.libpqMessage(handle) ?? "lost connection")")
        }
        bytesSent += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Text-format COPY data: fields separated by tabs, rows ended by a newline, NULL as `\N`.
public enum PostgresCopyText {
    /// Appends `text` with COPY's text escapes (backslash, tab, newline, carriage return), so any
    /// string — JSON included — arrives as it was.
    public static func appendEscaped(_ text: String, to buffer: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let escaped: UInt8
                switch bytes[i] {
                case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                buffer.append(UInt8(ascii: "\\"))
                buffer.append(escaped)
                start = i + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// `\N`, COPY's NULL.
    public static let null: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "N")]
}

/// A cursor over one message of a binary-format `COPY ... TO STDOUT` (`WITH (FORMAT binary)`):
/// skips the file header and trailer, and reads a tuple's fields in order without copying them.
///
/// Guarantees: never reads past the message (a truncated or malformed message is a `.decoding`
/// error); the decoders are exact (numeric to `FixedDecimal` refuses what it cannot hold).
public struct PostgresBinaryCopyReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    private static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    public init(_ message: UnsafeRawBufferPointer) throws {
        bytes = message
        if message.count >= 19, Self.signature.withUnsafeBytes({ memcmp($0.baseAddress!, message.baseAddress!, 11) == 0 }) {
            offset = 11 + 4  // signature, flags
            let extensionLength = Int(try readInt32())
            guard extensionLength >= 0, offset + extensionLength <= message.count else { throw Self.malformed("header") }
            offset += extensionLength
        }
    }

    /// The number of fields of the next tuple, or nil at the end of the message or at the trailer.
    public mutating func nextTuple() throws -> Int? {
        guard offset < bytes.count else { return nil }
        let count = Int(try readInt16())
        return count < 0 ? nil : count
    }

    /// The next field's bytes (nil for NULL), valid as long as the message.
    public mutating func field() throws -> UnsafeRawBufferPointer? {
        let length = Int(try readInt32())
        if length < 0 { return nil }
        guard offset + length <= bytes.count else { throw Self.malformed("field") }
        defer { offset += length }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length])
    }

    /// The next field, which must not be NULL.
    public mutating func requiredField(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let value = try field() else { throw PostgresError(kind: .decoding, message: "unexpected NULL", column: name) }
        return value
    }

    private mutating func readInt16() throws -> Int16 {
        guard offset + 2 <= bytes.count else { throw Self.malformed("tuple") }
        defer { offset += 2 }
        return Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self))
    }

    private mutating func readInt32() throws -> Int32 {
        guard offset + 4 <= bytes.count else { throw Self.malformed("length") }
        defer { offset += 4 }
        return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    private static func malformed(_ what: String) -> PostgresError {
        PostgresError(kind: .decoding, message: "malformed binary COPY data (\(what))")
    }

    // MARK: Decoders of binary values

    /// `uuid`: 16 bytes.
    public static func uuid(_ value: UnsafeRawBufferPointer) throws -> UUID {
        guard value.count == 16 else { throw PostgresError(kind: .decoding, message: "uuid of \(value.count) bytes") }
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: value) }
        return UUID(uuid: raw)
    }

    /// `int8` (and `timestamptz`, µs since 2000-01-01).
    public static func int64(_ value: UnsafeRawBufferPointer) throws -> Int64 {
        guard value.count == 8 else { throw PostgresError(kind: .decoding, message: "int8 of \(value.count) bytes") }
        return Int64(bigEndian: value.loadUnaligned(as: Int64.self))
    }

    /// `timestamptz` as µs since the Unix epoch.
    public static func timestampMicros(_ value: UnsafeRawBufferPointer) throws -> Int64 {
        try int64(value) + 946_684_800_000_000
    }

    /// `text`, `varchar`: the UTF-8 bytes.
    public static func string(_ value: UnsafeRawBufferPointer) -> String {
        String(decoding: value, as: UTF8.self)
    }

    /// Whether a text value equals `ascii` (no String made).
    public static func equals(_ value: UnsafeRawBufferPointer, _ ascii: StaticString) -> Bool {
        value.count == ascii.utf8CodeUnitCount && memcmp(value.baseAddress!, ascii.utf8Start, value.count) == 0
    }

    /// `numeric` (base-10000 digits) as a `FixedDecimal`, exactly: more than nine places with a
    /// nonzero digit there, NaN, infinity or a magnitude ≥ 10¹⁸ is a `.decoding` error.
    public static func fixedDecimal(_ value: UnsafeRawBufferPointer) throws -> FixedDecimal {
        guard value.count >= 8 else { throw PostgresError(kind: .decoding, message: "numeric of \(value.count) bytes") }
        func word(_ i: Int) -> Int { Int(UInt16(bigEndian: value.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        let digitCount = word(0)
        let weight = Int(Int16(truncatingIfNeeded: word(1)))
        let sign = word(2)
        guard sign == 0 || sign == 0x4000 else { throw PostgresError(kind: .decoding, message: "numeric NaN or infinity") }
        guard value.count == 8 + digitCount * 2, digitCount <= 12 else {
            throw PostgresError(kind: .decoding, message: "numeric out of range for nine places")
        }
        var units: Int128 = 0
        // Digit i is worth 10000^(weight - i); in units of 1e-9 that is 10^(4 (weight - i) + 9).
        for i in 0..<digitCount {
            let digit = Int128(word(4 + i))
            guard digit != 0 else { continue }
            let exponent = 4 * (weight - i) + 9
            if exponent >= 0 {
                guard exponent <= 27 else { throw PostgresError(kind: .decoding, message: "numeric out of range") }
                units += digit * pow10[exponent]
            } else {
                // A digit reaching past the ninth place: exact only when what lies there is zero.
                guard exponent > -4, digit % pow10[-exponent] == 0 else {
                    throw PostgresError(kind: .decoding, message: "numeric with more than nine places")
                }
                units += digit / pow10[-exponent]
            }
        }
        guard units < pow10[27] else { throw PostgresError(kind: .decoding, message: "numeric out of range") }
        return FixedDecimal(units: sign == 0x4000 ? -units : units)
    }

    private static let pow10: [Int128] = (0...30).map { n in (0..<n).reduce(Int128(1)) { acc, _ in acc * 10 } }
}

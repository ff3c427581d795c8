import Foundation
import TMCore

/// Keeps a function's stderr with its invocation: each line is re-emitted on the dispatcher's
/// stderr tagged with the function and invocation id (JSON lines stay JSON, other text is wrapped),
/// and the last lines are kept for the invocation's record.
///
/// Guarantees: at most `limit` bytes of an invocation's stderr are forwarded; past that, lines are
/// counted (`droppedBytes`) and only the kept tail follows them, so a function flooding stderr
/// costs the dispatcher bounded memory (the tail: `tailLimit` bytes) and linear time.
final class FunctionLogs: @unchecked Sendable {
    private let function: String
    private let invocationID: String
    private let forward: Bool
    private let limit: Int
    private var forwardedBytes = 0
    /// Bytes of stderr over `limit`, neither forwarded nor counted against it.
    private(set) var droppedBytes = 0
    /// The latest lines, "\n"-separated, trimmed back to `tailLimit` once twice as long (amortized
    /// linear, no per-line shifting).
    private var tail: [UInt8] = []
    static let tailLimit = 8 * 1024

    init(function: String, invocationID: String, forward: Bool, limit: Int = 1 << 20) {
        self.function = function
        self.invocationID = invocationID
        self.forward = forward
        self.limit = limit
    }

    func line(_ bytes: ArraySlice<UInt8>) {
        keep(bytes)
        // Once over the limit, every later line is dropped too (the log does not resume mid-flood).
        if droppedBytes > 0 || forwardedBytes + bytes.count > limit {
            if droppedBytes == 0, forward {
                emit("{\"level\":\"warning\",\"logger\":\"tm.function.stderr\",\"msg\":\"stderr over \(ByteSizeText.format(limit)): the rest of this invocation's stderr is not forwarded\"}")
            }
            droppedBytes += bytes.count + 1
            return
        }
        forwardedBytes += bytes.count + 1
        if forward { emit(String(decoding: bytes, as: UTF8.self)) }
    }

    private func keep(_ bytes: ArraySlice<UInt8>) {
        if !tail.isEmpty { tail.append(UInt8(ascii: "\n")) }
        tail.append(contentsOf: bytes.suffix(Self.tailLimit))
        if tail.count > 2 * Self.tailLimit { tail.removeFirst(tail.count - Self.tailLimit) }
    }

    private func emit(_ text: String) {
        var tags: [String] = []
        if !text.contains("\"function\":") { tags.append("\"function\":" + Self.quote(function)) }
        if !text.contains("\"invocation_id\":") { tags.append("\"invocation_id\":" + Self.quote(invocationID)) }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let out: String
        if trimmed.hasPrefix("{"), trimmed.hasSuffix("}"), trimmed.count > 2 {
            out = tags.isEmpty ? trimmed : "{" + tags.joined(separator: ",") + "," + trimmed.dropFirst()
        } else {
            // Plain text (a crash's backtrace, a stray print): wrapped so the log stays JSON lines.
            out = "{\"level\":\"info\",\"logger\":\"tm.function.stderr\",\"function\":" + Self.quote(function)
                + ",\"invocation_id\":" + Self.quote(invocationID) + ",\"msg\":" + Self.quote(text) + "}"
        }
        FileHandle.standardError.write(Data((out + "\n").utf8))
    }

    /// The kept tail (whole lines, unless one line is longer than the tail), with a note of what was dropped.
    var text: String {
        var kept = tail.suffix(Self.tailLimit)
        if tail.count > Self.tailLimit, let newline = kept.firstIndex(of: UInt8(ascii: "\n")) { kept = kept[(newline + 1)...] }
        var text = String(decoding: kept, as: UTF8.self)
        if droppedBytes > 0 {
            text += "\n[tm] \(droppedBytes) bytes of stderr over the \(ByteSizeText.format(limit)) limit were not forwarded"
        }
        return text
    }

    static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

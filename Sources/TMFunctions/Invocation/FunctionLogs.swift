import Foundation

/// Keeps a function's stderr with its invocation: each line is re-emitted on the dispatcher's
/// stderr tagged with the function and invocation id (JSON lines stay JSON, other text is wrapped),
/// and the last lines are kept for the invocation's record.
final class FunctionLogs: @unchecked Sendable {
    private let function: String
    private let invocationID: String
    private let forward: Bool
    private var tail: [String] = []
    private var tailBytes = 0
    private static let tailLimit = 8 * 1024

    init(function: String, invocationID: String, forward: Bool) {
        self.function = function
        self.invocationID = invocationID
        self.forward = forward
    }

    func line(_ text: String) {
        tail.append(text)
        tailBytes += text.utf8.count + 1
        while tailBytes > Self.tailLimit, tail.count > 1 { tailBytes -= tail.removeFirst().utf8.count + 1 }
        guard forward else { return }
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

    var text: String { tail.joined(separator: "\n") }

    static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

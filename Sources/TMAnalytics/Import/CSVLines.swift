import Foundation

/// Reads a file line by line in fixed-size chunks, so a file of a million lines is never held
/// whole: at most one chunk and the line being cut out of it are in memory.
///
/// Lines end with `\n` (a `\r` before it is dropped); the last line needs no newline. Line numbers
/// start at 1, as an editor shows them.
struct CSVLines {
    private let handle: FileHandle
    private let chunkSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private(set) var lineNumber = 0

    init(path: String, chunkSize: Int = 1 << 20) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TradeImportError(field: "file", reason: "cannot read \(path)") }
        self.handle = handle
        self.chunkSize = chunkSize
    }

    func close() { try? handle.close() }

    /// The next line's bytes (without its line end), or nil at the end of the file.
    mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                lineNumber += 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                var end = buffer.count
                if buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = buffer[start..<end]
                start = buffer.count
                lineNumber += 1
                return line
            }
            // Keep the unfinished line, drop what was handed out, read on.
            buffer.removeSubrange(0..<start)
            start = 0
            let data = try handle.read(upToCount: chunkSize) ?? Data()
            if data.isEmpty { atEnd = true } else { buffer.append(contentsOf: data) }
        }
    }

    /// The fields of one CSV line (RFC 4180: a field in double quotes may hold commas and `""` for
    /// a quote; line breaks inside a field are not supported). Unquoted fields are trimmed of
    /// spaces. nil when a quote is left open or text follows a closing quote.
    static func fields(_ line: ArraySlice<UInt8>) -> [String]? {
        var fields: [String] = []
        var index = line.startIndex
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ",")
        while true {
            if index < line.endIndex, line[index] == quote {
                var value: [UInt8] = []
                index += 1
                while true {
                    guard index < line.endIndex else { return nil }
                    if line[index] == quote {
                        if index + 1 < line.endIndex, line[index + 1] == quote {
                            value.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    value.append(line[index])
                    index += 1
                }
                fields.append(String(decoding: value, as: UTF8.self))
                guard index == line.endIndex || line[index] == comma else { return nil }
            } else {
                let end = line[index...].firstIndex(of: comma) ?? line.endIndex
                fields.append(String(decoding: line[index..<end], as: UTF8.self).trimmingCharacters(in: .whitespaces))
                index = end
            }
            if index == line.endIndex { return fields }
            index += 1  // the comma
        }
    }
}

import Foundation

/// How a benchmark executable starts and fails: `--help` prints its usage, a bad option value is
/// refused naming the option and the value, and an error (servers unreachable, a variable unset)
/// ends the run with one line on stderr and exit status 1 — never a crash trace.
public enum BenchCommand {
    /// Runs `body` as the executable `name`; `usage` is printed for `--help` or `-h`.
    public static func run(_ name: String, usage: String, _ body: @Sendable () async throws -> Void) async -> Never {
        await value(name, usage: usage, body)
        exit(0)
    }

    /// `body`'s value, with `run`'s start and failure: for a top-level script whose globals (a
    /// server connection) are made before its parts run. `--help` or `-h` prints `usage` and exits.
    public static func value<Value>(_ name: String, usage: String, _ body: () async throws -> Value) async -> Value {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            exit(0)
        }
        do {
            return try await body()
        } catch {
            fail("\(name): \(error)", status: 1)
        }
    }

    /// Ends the run: `message` on stderr, then exit with `status`.
    public static func fail(_ message: String, status: Int32 = 2) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(status)
    }
}

/// The value after `name` on the command line as a `Value`, or `fallback` when the option is absent;
/// a value that does not read as a `Value` ends the run naming the option and the value.
public func option<Value: LosslessStringConvertible>(_ name: String, _ fallback: Value) -> Value {
    let text = option(name, "")
    guard !text.isEmpty else { return fallback }
    guard let value = Value(text) else {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).lastPathComponent
        BenchCommand.fail("\(executable): \(name): '\(text)' is not a valid \(Value.self); try --help")
    }
    return value
}

/// The comma-separated list after `name` (`--rates 1000,5000`), or `fallback` when the option is
/// absent; an item that does not read as a `Value` ends the run naming the option and the item.
public func option<Value: LosslessStringConvertible>(_ name: String, _ fallback: [Value]) -> [Value] {
    let text = option(name, "")
    guard !text.isEmpty else { return fallback }
    return text.split(separator: ",").map { item in
        guard let value = Value(String(item)) else {
            let executable = URL(fileURLWithPath: CommandLine.arguments[0]).lastPathComponent
            BenchCommand.fail("\(executable): \(name): '\(item)' is not a valid \(Value.self); try --help")
        }
        return value
    }
}

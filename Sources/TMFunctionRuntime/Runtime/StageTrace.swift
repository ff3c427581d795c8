import Foundation
import TMCore

/// Wall-clock stamps of where an invocation's time goes, for a benchmark's stage trace: when
/// `TM_STAGE_TRACE` names a directory, each process appends JSON lines to
/// `<directory>/<who>-<pid>.jsonl` (the dispatcher one per invocation, a function one per batch it
/// chose to describe); a reader joins them by invocation and message id (alert-bench `--trace`).
///
/// Off (the variable unset, as in production) it costs one check per call site and writes nothing.
/// Stamps are Unix milliseconds with microseconds, comparable across the processes of one machine.
public enum StageTrace {
    /// The directory traces go to, read once per process.
    public static let directory: String? = ProcessInfo.processInfo.environment["TM_STAGE_TRACE"].flatMap { $0.isEmpty ? nil : $0 }

    public static var isOn: Bool { directory != nil }

    /// Now, in Unix milliseconds.
    public static func now() -> Double { Date().timeIntervalSince1970 * 1000 }

    /// Now when tracing, else 0 (no clock read).
    public static func stamp() -> Double { isOn ? now() : 0 }

    private static let files = Locked<[String: FileHandle]>([:])

    /// Appends one line (a JSON object) to this process's `who` file.
    public static func write(_ who: String, _ json: String) {
        guard let directory else { return }
        files.withLock { files in
            if files[who] == nil {
                let path = "\(directory)/\(who)-\(getpid()).jsonl"
                FileManager.default.createFile(atPath: path, contents: nil)
                files[who] = FileHandle(forWritingAtPath: path)
            }
            files[who]?.write(Data((json + "\n").utf8))
        }
    }

    /// A stamp as JSON text (three decimals: microseconds).
    public static func text(_ millis: Double) -> String { String(format: "%.3f", millis) }
}

import Foundation

/// CPU seconds (user + system) of processes, from `/proc/<pid>/stat`: on a shared machine the CPU a
/// unit of work costs per process is steadier than a wall-clock rate, and says which process bounds it
/// (the cores divided by the CPU per unit is what the path could carry).
public enum ProcessCPU {
    /// (parent pid, utime + stime in seconds) of one process; nil when it is gone.
    public static func stat(_ pid: Int32) -> (parent: Int32, seconds: Double)? {
        guard let fields = statFields("/proc/\(pid)/stat"), let parent = Int32(fields[1]), let seconds = cpuSeconds(fields) else { return nil }
        return (parent, seconds)
    }

    /// The fields of a `stat` file of `/proc` (a process's or a thread's) after its command name,
    /// which may hold spaces and ')': [0] is the state (field 3 of proc(5)), [7] minflt (field 10),
    /// [11] and [12] utime and stime (14 and 15). nil when the file is gone or short.
    public static func statFields(_ path: String) -> [Substring]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 12 ? fields : nil
    }

    /// utime + stime in seconds, from `statFields`.
    public static func cpuSeconds(_ fields: [Substring]) -> Double? {
        guard let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// This process's CPU seconds so far.
    public static var own: Double { stat(getpid())?.seconds ?? 0 }

    /// CPU seconds of every live process, by pid, with what `classify` says each is (nil: left out).
    /// `classify` gets the pid, its parent and its command line.
    public static func sample(_ classify: (_ pid: Int32, _ parent: Int32, _ commandLine: [UInt8]) -> String?) -> [String: Double] {
        var totals: [String: Double] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let (parent, seconds) = stat(pid),
                  let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  let name = classify(pid, parent, Array(command)) else { continue }
            totals[name, default: 0] += seconds
        }
        return totals
    }

    /// The Postgres backends serving `database` (their command line is `postgres: user database …`).
    public static func isPostgresBackend(_ commandLine: [UInt8], database: String) -> Bool {
        commandLine.starts(with: Array("postgres: ".utf8)) && commandLine.firstRange(of: Array(" \(database) ".utf8)) != nil
    }

    /// Redis's own CPU seconds from its `INFO cpu` text (`used_cpu_sys` + `used_cpu_user`).
    public static func redisSeconds(info: String) -> Double {
        info.split(whereSeparator: \.isNewline).reduce(0.0) { total, line in
            let parts = line.split(separator: ":")
            guard parts.count == 2, parts[0] == "used_cpu_sys" || parts[0] == "used_cpu_user" else { return total }
            return total + (Double(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0)
        }
    }
}

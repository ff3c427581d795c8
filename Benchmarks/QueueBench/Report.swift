import Foundation

/// One benchmark row: the figures of each run and their medians.
///
/// Every figure is kept per run (`runs`), so a reader of `bench-results/queue.json` can see the
/// spread on a noisy machine; `medians` is what the tables quote.
struct Measurement: Codable, Sendable {
    /// A stable identifier (`drain-1-in-process`), used to replace the row on the next run.
    var id: String
    /// What was measured, in words.
    var name: String
    var mode: String
    /// How it was run: message count, consumers, concurrency, Redis, ...
    var settings: [String: String]
    var runs: [[String: Double]]
    var medians: [String: Double]

    init(id: String, name: String, mode: String, settings: [String: String], runs: [[String: Double]]) {
        self.id = id
        self.name = name
        self.mode = mode
        self.settings = settings
        self.runs = runs
        var medians: [String: Double] = [:]
        for key in Set(runs.flatMap(\.keys)) {
            medians[key] = Stats.median(runs.compactMap { $0[key] })
        }
        self.medians = medians
    }

    /// "3,940 (3,838 / 3,951 / 3,940)": the median and each run's value.
    func medianAndRuns(_ key: String, _ format: (Double) -> String) -> String {
        let each = runs.compactMap { $0[key] }.map(format).joined(separator: " / ")
        return "\(format(medians[key] ?? .nan)) (\(each))"
    }

    /// Summed over runs (lost and duplicated messages are totals, not medians).
    func total(_ key: String) -> Int { Int(runs.compactMap { $0[key] }.reduce(0, +)) }
}

/// `bench-results/queue.json`: every mode merges its rows in, replacing rows with the same id, so the
/// modes can run one at a time and still leave one file.
struct ReportFile: Codable {
    var date: String
    var host: String
    var cores: Int
    var measurements: [Measurement]

    static func merge(_ new: [Measurement], into path: String) throws {
        let url = URL(fileURLWithPath: path)
        var file = (try? JSONDecoder().decode(ReportFile.self, from: Data(contentsOf: url)))
            ?? ReportFile(date: "", host: "", cores: 0, measurements: [])
        file.date = ISO8601DateFormatter().string(from: Date())
        file.host = ProcessInfo.processInfo.hostName
        file.cores = ProcessInfo.processInfo.activeProcessorCount
        let ids = Set(new.map(\.id))
        file.measurements = file.measurements.filter { !ids.contains($0.id) } + new
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(file).write(to: url)
    }
}

// MARK: - Tables

enum Format {
    static func rate(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: value.rounded())) ?? String(Int(value))
    }

    static func millis(_ value: Double) -> String { value.isFinite ? String(format: "%.2f", value) : "-" }
    static func seconds(_ value: Double) -> String { value.isFinite ? String(format: "%.2f", value) : "-" }
}

/// Prints rows under a header, each column padded to its widest cell.
func printFigures(_ title: String, header: [String], rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[column] - cell.count) + cell
        }.joined(separator: "  ")
    }
    print("")
    print(title)
    print(line(header))
    for row in rows { print(line(row)) }
}

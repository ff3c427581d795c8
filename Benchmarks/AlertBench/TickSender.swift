import BenchFixtures
import BenchSupport
import Foundation
import TMCore
import TMMarketData
import TMQueue
import TMRedis

/// The bench's ticks: background ticks that hit nothing and probe ticks that fire their symbol's
/// probe alert (the layout in main.swift's header). Every tick is observed later than the last
/// (`atMs` from `sequence`): an evaluator skips a tick older than what it saw of the instrument.
struct TickPlan {
    let symbols: Int
    var sequence: Int64

    static func name(_ i: Int) -> String { String(format: "S%04d", i) }

    /// `--probe-rounds` at most: round r's probe alert (ABOVE 600 + 10r) takes the place of one of
    /// the 29 ABOVE 1001..1029 alerts of each symbol, so the alert count and the hit rate stay the same.
    static let maximumRounds = 30

    mutating func tick(_ symbol: Int, _ price: String) -> PriceTick {
        sequence += 1
        return PriceTick(symbol: Self.name(symbol), exchange: "NSE", price: DecimalText.parse(price)!, previousClose: 500, source: "bench", atMs: sequence)
    }

    /// A background tick: 490..510, hits nothing.
    mutating func background(_ i: Int) -> PriceTick { tick(i % symbols, "\(490 + (i * 7919) % 21).\(i % 100)") }

    /// The ticks' JSON is built before the clock starts: the market-data service, not the queue
    /// path, pays it in production. Only `enqueueBatch` is timed.
    static func message(_ tick: PriceTick) -> OutgoingMessage { OutgoingMessage(payload: Array(tick.json.text.utf8)) }

    mutating func drainTicks(_ count: Int) -> [OutgoingMessage] { (0..<count).map { Self.message(background(1_000_000 + $0)) } }

    /// Probes on the first half of the symbols (one tick in 20), background ticks on the other half
    /// (a later tick of the probe's symbol in the same batch would be its latest price). Round r of
    /// `rounds` gives each probe symbol one tick at 600.5 + 10r, which fires that symbol's probe alert
    /// of round r (ABOVE 600 + 10r) and nothing else; round r + 1 starts once every symbol has had
    /// round r. The probe's key is `ProbeKey`.
    mutating func pacedTicks(_ count: Int, rounds: Int = 1) -> (ticks: [(message: OutgoingMessage, probe: String?)], probes: Int) {
        var probes = 0
        let perRound = symbols / 2
        let ticks: [(message: OutgoingMessage, probe: String?)] = (0..<count).map { i in
            if i % 20 == 0 && probes < perRound * rounds {
                let symbol = probes % perRound, round = probes / perRound
                probes += 1
                return (Self.message(tick(symbol, "\(600 + 10 * round).5")), ProbeKey.text(Self.name(symbol), round: round))
            }
            return (Self.message(tick(symbols / 2 + i % (symbols - symbols / 2), "\(490 + (i * 7919) % 21).\(i % 100)")), nil)
        }
        return (ticks, probes)
    }
}

/// Sends the bench's ticks on `market-ticks`, in this process (`--sender inline`, the default) or as
/// a process of its own (`--sender process`): in production market-data enqueues from its own
/// process, and a sender in the dispatcher's process shares its cooperative threads.
enum TickSender {
    static let queue = "market-ticks"

    /// What a paced run did: each probe's enqueue time (wall ms, just before its `enqueueBatch`),
    /// the rate offered, how far the sender fell behind its schedule.
    struct Paced {
        var probeSent: [String: Double] = [:]
        /// Each probe's message id (for the stage trace's join).
        var probeIDs: [String: String] = [:]
        var offered = 0.0
        var maxBehindMillis = 0.0
    }

    /// The messages' ids, in order.
    @discardableResult
    static func send(_ producer: QueueProducer, _ messages: [OutgoingMessage]) async throws -> [String] {
        try await producer.enqueueBatch(queue, messages).map { try $0.get().id }
    }

    /// As fast as it goes, in batches of 1,000; returns the seconds it took.
    static func drain(_ producer: QueueProducer, _ ticks: [OutgoingMessage]) async throws -> Double {
        let start = ContinuousClock.now
        for chunk in stride(from: 0, to: ticks.count, by: 1000) { try await send(producer, Array(ticks[chunk..<min(chunk + 1000, ticks.count)])) }
        return (ContinuousClock.now - start).seconds
    }

    /// At `rate`, in slices of 5 ms (each one `enqueueBatch`), so the sender keeps up with the rate.
    static func paced(_ producer: QueueProducer, _ ticks: [(message: OutgoingMessage, probe: String?)], rate: Double) async throws -> Paced {
        var result = Paced()
        let clock = ContinuousClock()
        let started = clock.now
        var maxBehind = Duration.zero
        var index = 0
        let slice = 0.005
        while index < ticks.count {
            let due = started + .nanoseconds(Int64(Double(index) / rate * 1e9))
            let now = clock.now
            if due > now { try await Task.sleep(until: due, clock: clock) } else { maxBehind = max(maxBehind, now - due) }
            let end = min(ticks.count, index + max(1, Int(rate * slice)))
            let at = wallMillis()
            for item in ticks[index..<end] { if let symbol = item.probe { result.probeSent[symbol] = at } }
            let ids = try await send(producer, ticks[index..<end].map(\.message))
            for (item, id) in zip(ticks[index..<end], ids) { if let symbol = item.probe { result.probeIDs[symbol] = id } }
            index = end
        }
        result.offered = Double(ticks.count) / (clock.now - started).seconds
        result.maxBehindMillis = maxBehind.seconds * 1000
        return result
    }

    // MARK: The sender as a process of its own

    /// `alert-bench --role sender --phase drain|paced --symbols N --probe-rounds K --count N --rate R --sequence S`:
    /// builds its ticks, connects, prints `ready`, waits for a line on stdin, sends, prints the
    /// outcome (`cpu <seconds>` it used sending, then `drain <seconds>`, or `probe <key> <ms> <message id>` lines
    /// then `paced <offered> <behind ms>`) and exits.
    static func child() async throws -> Never {
        let phase = option("--phase", "paced")
        let count = option("--count", 0)
        let rate = option("--rate", Double(5000))
        let rounds = option("--probe-rounds", 1)
        var plan = TickPlan(symbols: option("--symbols", 1000), sequence: option("--sequence", Int64(0)))
        let environment = TMEnvironment.current()
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "alert-bench-sender")
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog.load(environment: environment))
        var out = ""
        func say(_ line: String) {
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        if phase == "drain" {
            let ticks = plan.drainTicks(count)
            say("ready")
            _ = readLine()
            let cpu = ProcessCPU.own
            let seconds = try await drain(producer, ticks)
            out = String(format: "cpu %.6f\ndrain %.6f", ProcessCPU.own - cpu, seconds)
        } else {
            let ticks = plan.pacedTicks(count, rounds: rounds).ticks
            say("ready")
            _ = readLine()
            let cpu = ProcessCPU.own
            let result = try await paced(producer, ticks, rate: rate)
            out += String(format: "cpu %.6f\n", ProcessCPU.own - cpu)
            for (symbol, at) in result.probeSent { out += "probe \(symbol) \(at) \(result.probeIDs[symbol] ?? "-")\n" }
            out += String(format: "paced %.3f %.3f", result.offered, result.maxBehindMillis)
        }
        say(out)
        redis.close()
        exit(0)
    }

    /// The parent's handle on a sender process: started and ready (its ticks built, connected)
    /// before the clock starts. Used by one task at a time (the bench's main flow).
    final class Process: @unchecked Sendable {
        let subprocess: Subprocess
        private var buffer: [UInt8] = []

        init(phase: String, count: Int, rate: Double, symbols: Int, rounds: Int, sequence: Int64, environment: [String: String]) throws {
            let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
            subprocess = try Subprocess(me, ["--role", "sender", "--phase", phase, "--count", String(count), "--rate", String(rate),
                                             "--symbols", String(symbols), "--probe-rounds", String(rounds), "--sequence", String(sequence)],
                                        environment: environment, stdin: .pipe, stdout: .pipe, stderr: .sameAsStderr)  // fd 2 kept: its errors reach ours
            guard try line() == "ready" else { throw AlertBench.BenchFailure("the sender process did not start") }
        }

        var pid: Int32 { subprocess.pid }

        /// The CPU seconds a sender reported for its run (its `cpu` line).
        static func cpu(_ lines: [String]) -> Double {
            lines.first { $0.hasPrefix("cpu ") }.flatMap { Double($0.dropFirst(4)) } ?? 0
        }

        func go() {
            let newline: [UInt8] = [UInt8(ascii: "\n")]
            _ = newline.withUnsafeBytes { write(subprocess.stdinFD, $0.baseAddress!, 1) }
        }

        /// The next line of its stdout (blocking).
        func line() throws -> String {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    defer { buffer.removeSubrange(...newline) }
                    return String(decoding: buffer[..<newline], as: UTF8.self)
                }
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let n = read(subprocess.stdoutFD, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw AlertBench.BenchFailure("the sender process ended early") }
                buffer += chunk[0..<n]
            }
        }

        /// Its outcome lines, up to and including the one starting with `last`; then it is reaped.
        func finish(last: String) async throws -> [String] {
            var lines: [String] = []
            let thread = BlockingThread(name: "sender-reader")
            defer { thread.shutdown() }
            lines = try await thread.run { [self] in
                var lines: [String] = []
                while true {
                    let text = try line()
                    lines.append(text)
                    if text.hasPrefix(last) { return lines }
                }
            }
            _ = subprocess.wait(timeout: .seconds(10))
            return lines
        }
    }
}

/// A probe's key: its symbol, and its round after a `/` from round 1 on (round 0 keeps the bare
/// symbol, the key before `--probe-rounds`). The notification row gives it back from its payload.
enum ProbeKey {
    static func text(_ symbol: String, round: Int) -> String { round == 0 ? symbol : "\(symbol)/\(round)" }

    /// The round of the probe alert with this threshold (ABOVE 600 + 10r); nil for any other.
    static func round(threshold: String) -> Int? {
        guard let number = Double(threshold), number == number.rounded(), number >= 600 else { return nil }
        let value = Int(number)
        return (value - 600) % 10 == 0 ? (value - 600) / 10 : nil
    }
}

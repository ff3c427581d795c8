import ArgumentParser
import Foundation
import TMCore
import TMQueue
import TMRedis

/// `tm enqueue`: puts one message on a queue, idempotently when a key is given.
struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enqueue one message (idempotent with --key).",
        discussion: """
            Exits 0 both when the message was enqueued and when --key named a message enqueued earlier
            (a duplicate: nothing new is added, and the first message's id and state are shown).
            Exits 1 when the queue refused it (unknown queue, payload not JSON or too large, queue full).
            """)

    @Argument(help: "The queue, as named in Queues/<name>.yaml.")
    var queue: String

    @Option(name: .customLong("json"), help: ArgumentHelp("The payload: a JSON document, @file.json, or - for stdin.", valueName: "payload"))
    var payload: String

    @Option(help: "Idempotency key: enqueueing the same key again returns the first message.")
    var key: String?

    @Option(help: ArgumentHelp("Start no earlier than this from now, e.g. 500ms, 30s, 5m.", valueName: "duration"))
    var delay: String?

    @Option(help: "Pick the shard by this value instead of the manifest's shard_by field or the key.")
    var shardKey: String?

    @Option(help: "Output format: text or json.")
    var output: OutputFormat = .text

    enum OutputFormat: String, ExpressibleByArgument { case text, json }

    /// What is printed with `--output json`.
    struct Printed: Codable {
        var queue: String
        var id: String
        var shard: Int
        var duplicate: Bool
        var delayed: Bool
        var streamID: String?
        var state: String?
        var result: String?
    }

    func run() async throws {
        let delayValue: Duration?
        do {
            delayValue = try delay.map(DurationText.parse)
        } catch {
            throw ValidationError("--delay: \(error)")
        }
        let bytes = try readPayload()
        do {
            let system = try await QueueSystem.open(checking: [queue], clientName: "tm-enqueue")
            defer { system.close() }
            let producer = QueueProducer(redis: system.redis, catalog: system.catalog)
            let result = try await producer.enqueue(queue, OutgoingMessage(payload: bytes, key: key, delay: delayValue, shardKey: shardKey))
            report(result)
        } catch let error as ExitCode {
            throw error
        } catch {
            // Queue, manifest and connection errors each say what is wrong; no stack of wrappers.
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func readPayload() throws -> [UInt8] {
        if payload == "-" {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        if payload.hasPrefix("@") {
            let path = String(payload.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("--json \(payload): cannot read \(path)")
            }
            return Array(data)
        }
        return Array(payload.utf8)
    }

    private func report(_ result: EnqueueResult) {
        switch output {
        case .json:
            let printed = Printed(queue: queue, id: result.id, shard: result.shard, duplicate: result.duplicate,
                                  delayed: !result.duplicate && result.streamID == nil, streamID: result.streamID,
                                  state: result.state, result: result.result)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: (try? encoder.encode(printed)) ?? Data(), as: UTF8.self))
        case .text:
            if result.duplicate {
                var line = "duplicate: key '\(key ?? "")' already names message \(result.id) on \(queue) shard \(result.shard)"
                line += " (state: \(result.state ?? "unknown")"
                if let outcome = result.result { line += ", result: \(outcome)" }
                print(line + "); nothing new was enqueued")
            } else if let streamID = result.streamID {
                print("enqueued \(result.id) on \(queue) shard \(result.shard) (stream entry \(streamID))")
            } else {
                print("enqueued \(result.id) on \(queue) shard \(result.shard), delayed: due in \(delay ?? "?")")
            }
        }
    }
}

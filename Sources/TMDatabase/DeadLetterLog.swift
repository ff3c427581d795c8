import Foundation
import TMPostgres

/// The record of operators' actions on dead letters (`dlq_replays`): who replayed or purged what,
/// when, with which patch, and the payloads as they were.
///
/// Guarantees: every value is a bind parameter; the table's rules are checked here first with an
/// error naming the field (an action outside replay / patch-replay / purge, no message ids, a
/// patch without 'patch-replay' or the reverse), so a refused insert never reads as a database fault.
public enum DeadLetterLog {
    public static let actions: Set<String> = ["replay", "patch-replay", "purge"]

    /// An argument the table would refuse, naming it.
    public struct InvalidRecord: Error, CustomStringConvertible, Sendable, Equatable {
        public let field: String
        public let reason: String
        public var description: String { "dlq_replays.\(field): \(reason)" }
    }

    /// One row of the log.
    public struct Entry: Sendable, Equatable {
        public let id: Int64
        public let queue: String
        public let action: String
        public let messageIDs: [String]
        public let operatorName: String
        /// The merge patch as JSON text (only for 'patch-replay').
        public let patch: String?
        /// The payloads before the action, as a JSON array.
        public let originalPayloads: String
        public let dryRun: Bool
        /// Counts by outcome, as a JSON object.
        public let result: String?
        public let reason: String?
        public let at: Date
    }

    /// Inserts one record and returns its id. `originalPayloads` are the payload texts: each is
    /// stored as JSON when it parses, else as a JSON string, so a purge can be undone by hand.
    @discardableResult
    public static func record(
        _ db: PostgresConnection, queue: String, action: String, messageIDs: [String], operator operatorName: String,
        patch: String?, originalPayloads: [String], dryRun: Bool, result: [String: Int], reason: String?
    ) throws -> Int64 {
        guard actions.contains(action) else {
            throw InvalidRecord(field: "action", reason: "'\(action)' is not one of \(actions.sorted().joined(separator: ", "))")
        }
        guard !messageIDs.isEmpty else { throw InvalidRecord(field: "message_ids", reason: "at least one message id is needed") }
        guard (action == "patch-replay") == (patch != nil) else {
            throw InvalidRecord(field: "patch", reason: action == "patch-replay" ? "required for 'patch-replay'" : "only allowed for 'patch-replay'")
        }
        if let patch, (try? JSONSerialization.jsonObject(with: Data(patch.utf8))) as? [String: Any] == nil {
            throw InvalidRecord(field: "patch", reason: "not a JSON object")
        }
        guard !queue.isEmpty else { throw InvalidRecord(field: "queue", reason: "must not be empty") }
        guard !operatorName.isEmpty else { throw InvalidRecord(field: "operator", reason: "must not be empty") }

        // Payloads that are JSON are embedded verbatim (jsonb keeps their numbers exact; a round
        // trip through JSONSerialization would turn prices into Doubles); others become strings.
        let payloadsJSON = "[" + originalPayloads.map { text in
            (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil ? text : jsonString(text)
        }.joined(separator: ",") + "]"
        let ids = String(decoding: try JSONSerialization.data(withJSONObject: messageIDs), as: UTF8.self)
        let counts = String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self)

        let row = try db.query("""
            INSERT INTO dlq_replays (queue, message_ids, operator, action, patch, original_payloads, reason, dry_run, result)
            VALUES (\(queue), ARRAY(SELECT jsonb_array_elements_text(\(ids)::jsonb)), \(operatorName), \(action),
                    \(patch)::jsonb, \(payloadsJSON)::jsonb, \(reason), \(dryRun), \(counts)::jsonb)
            RETURNING id
            """).first
        guard let row else { throw InvalidRecord(field: "id", reason: "the insert returned no row") }
        return try row.decode("id", as: Int64.self)
    }

    /// The most recent records of `queue`, newest first.
    public static func recent(_ db: PostgresConnection, queue: String, limit: Int = 20) throws -> [Entry] {
        let rows = try db.query("""
            SELECT id, queue, action, array_to_json(message_ids)::text AS ids, operator, patch::text AS patch,
                   original_payloads::text AS payloads, dry_run, result::text AS result, reason, at
            FROM dlq_replays WHERE queue = \(queue) ORDER BY at DESC, id DESC LIMIT \(limit)
            """)
        return try rows.map { row in
            let idsText = try row.decode("ids", as: String.self)
            let ids = (try? JSONSerialization.jsonObject(with: Data(idsText.utf8))) as? [String] ?? []
            return Entry(
                id: try row.decode("id"), queue: try row.decode("queue"), action: try row.decode("action"), messageIDs: ids,
                operatorName: try row.decode("operator"), patch: try row.decode("patch"), originalPayloads: try row.decode("payloads"),
                dryRun: try row.decode("dry_run"), result: try row.decode("result"), reason: try row.decode("reason"),
                at: try row.decode("at", as: Date.self))
        }
    }

    static func jsonString(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}

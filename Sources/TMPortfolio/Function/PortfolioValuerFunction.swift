import Foundation
import TMCore
import TMFunctionRuntime
import TMSync

/// The `portfolio-valuer` function (Functions/portfolio-valuer): its records are
/// - `trade-events` messages (a sync's `trade.created`/`trade.updated`, the order path's
///   `order.state`): each names its `user_id` (else its `account_id`, whose user is looked up);
///   the batch's users are revalued once each, however many of their events it holds (an
///   `order.state` change with nothing filled yet changes no portfolio and is skipped);
/// - schedule firings of `portfolio-snapshot` (`{"kind":"snapshot","slot":"<ISO time>"}`, or
///   `"date":"YYYY-MM-DD"`): the snapshot rows of the slot's UTC day — a late retry still writes
///   the day it was fired for.
///
/// Guarantees: a record that cannot be read fails alone and is not retried; a user whose
/// valuation fails fails exactly the records that named them (retried: a revaluation is
/// idempotent); the other users' records succeed.
public struct PortfolioValuerFunction: FunctionHandler {
    let valuer: PortfolioValuer

    public init(valuer: PortfolioValuer) { self.valuer = valuer }

    enum Work: Equatable {
        case user(UUID)
        case account(UUID)
        case snapshot(day: String)
        case skip(String)
    }

    /// What one record asks for.
    static func work(of record: InvocationRecord) throws -> Work {
        guard let body = try? JSONValue.parse(record.body), body.objectFields != nil else { throw RecordRejected("(body): not a JSON object") }
        if let kind = body["kind"] {
            guard kind.stringValue == "snapshot" else { throw RecordRejected("kind: '\(kind.text)' is not a known kind (snapshot)") }
            if let date = body["date"]?.stringValue {
                do { _ = try PortfolioRows.window(day: date) } catch { throw RecordRejected("\(error)") }
                return .snapshot(day: date)
            }
            if let slot = body["slot"]?.stringValue {
                guard let instant = ISO8601DateFormatter().date(from: slot) else { throw RecordRejected("slot: '\(slot)' is not an ISO 8601 time") }
                return .snapshot(day: PortfolioRows.day(of: instant))
            }
            throw RecordRejected("slot: missing (or give date: YYYY-MM-DD)")
        }
        do {
            switch try TradeEventSubject.of(body) {
            case .user(let id): return .user(id)
            case .account(let id): return .account(id)
            case nil: return .skip("skipped: an order state change without a fill")
            }
        } catch { throw RecordRejected(error.description) }
    }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        var failures: [InvocationResult.Failure] = []
        var results: [String: String] = [:]
        var work: [(record: InvocationRecord, work: Work)] = []
        for record in request.records {
            do { work.append((record, try Self.work(of: record))) } catch {
                failures.append(.init(messageID: record.messageID, error: "\(error)", retryable: (error as? RetryClassifying)?.isRetryable ?? true))
            }
        }
        // Accounts to users, in one query for the batch.
        var userOf: [String: UUID] = [:]
        let accounts = work.compactMap { if case .account(let id) = $0.work { id } else { nil } }
        if !accounts.isEmpty {
            do {
                let users = try await valuer.pool.withConnection { try PortfolioRows.users($0, ofAccounts: accounts) }
                for item in work { if case .account(let id) = item.work, let user = users[id] { userOf[item.record.messageID] = user } }
            } catch {
                context.logger.warning("could not look up the accounts' users", metadata: ["error": "\(error)"])
            }
        }
        for item in work {
            switch item.work {
            case .user(let id): userOf[item.record.messageID] = id
            case .skip(let why): results[item.record.messageID] = why
            case .account(let id) where userOf[item.record.messageID] == nil:
                failures.append(.init(messageID: item.record.messageID, error: "account_id: no account \(id.uuidString.lowercased()) (or its user could not be read)",
                                      retryable: true))
            default: break
            }
        }
        let report = await valuer.revalue(users: Array(userOf.values))
        for (message, user) in userOf {
            if let error = report.failed[user] {
                failures.append(.init(messageID: message, error: "revaluing user \(user.uuidString.lowercased()): \(error)", retryable: true))
            } else {
                results[message] = "revalued user \(user.uuidString.lowercased())"
            }
        }
        // Snapshots: each day once for the batch.
        var days: [String: Result<String, any Error>] = [:]
        for item in work {
            guard case .snapshot(let day) = item.work else { continue }
            if days[day] == nil {
                days[day] = await Result {
                    let (snapshot, rows) = try await valuer.snapshot(day: day)
                    guard snapshot.failed.isEmpty else {
                        throw SnapshotIncomplete(day: day, failed: snapshot.failed)
                    }
                    return "snapshot \(day): \(snapshot.revalued.count) user(s), \(rows) row(s)"
                }
            }
            switch days[day]! {
            case .success(let text): results[item.record.messageID] = text
            case .failure(let error):
                failures.append(.init(messageID: item.record.messageID, error: "\(error)", retryable: (error as? RetryClassifying)?.isRetryable ?? true))
            }
        }
        context.logger.info("portfolios revalued", metadata: ["users": "\(report.revalued.count)", "failed": "\(report.failed.count)"])
        return .from(failures: failures, results: results)
    }
}

/// Some users' snapshot rows could not be written; the rerun (a retry) updates the others in place.
struct SnapshotIncomplete: Error, CustomStringConvertible {
    let day: String
    let failed: [UUID: String]
    var description: String {
        let first = failed.sorted { $0.key.uuidString < $1.key.uuidString }.prefix(3).map { "\($0.key.uuidString.lowercased()): \($0.value)" }
        return "snapshot \(day): \(failed.count) user(s) failed (\(first.joined(separator: "; ")))"
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

import Foundation
import TMCore
import TMFunctionRuntime
import TMPostgres
import TMSync

/// The `analytics-refresh` function (Functions/analytics-refresh), on `trade-events`: a sync's
/// `trade.created` / `trade.updated` (they name `user_id`) and the order path's `order.state`
/// (resolved through `account_id` when it names no user; one with nothing filled is skipped) —
/// each user of a batch is refreshed once (`AnalyticsRefresher`: debounced across invocations).
///
/// Guarantees: a record that cannot be read fails alone, not retried; an account with no user (or
/// a lookup that failed) fails its records retryably; a record succeeds only once its user's
/// analytics were recomputed after the event arrived; a failed user fails exactly its records.
public struct AnalyticsRefreshFunction: FunctionHandler {
    public let pool: PostgresPool
    public let refresher: AnalyticsRefresher
    /// Kept free at the end of the invocation's time to report (a user not covered by then fails retryably).
    public var reserve: Duration = .seconds(2)

    public init(pool: PostgresPool, refresher: AnalyticsRefresher) {
        self.pool = pool
        self.refresher = refresher
    }

    enum Subject: Equatable {
        case user(UUID)
        case account(UUID)
        case skip(String)
    }

    /// Whose analytics one record changes.
    static func subject(of record: InvocationRecord) throws -> Subject {
        guard let body = try? JSONValue.parse(record.body), body.objectFields != nil else { throw RecordRejected("(body): not a JSON object") }
        do {
            switch try TradeEventSubject.of(body) {
            case .user(let id): return .user(id)
            case .account(let id): return .account(id)
            case nil: return .skip("skipped: an order state change without a fill")
            }
        } catch { throw RecordRejected(error.description) }
    }

    /// The users of `accounts` (accounts without one are absent).
    static func users(_ pool: PostgresPool, ofAccounts accounts: [UUID]) async throws -> [UUID: UUID] {
        guard !accounts.isEmpty else { return [:] }
        var users: [UUID: UUID] = [:]
        for row in try await pool.query("SELECT id, user_id FROM broker_accounts WHERE id = ANY(\(PostgresArrayText.uuids(accounts))::uuid[])").rows {
            users[try row.decode("id")] = try row.decode("user_id")
        }
        return users
    }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        var failures: [InvocationResult.Failure] = []
        var results: [String: String] = [:]
        var subjects: [(message: String, subject: Subject)] = []
        for record in request.records {
            do { subjects.append((record.messageID, try Self.subject(of: record))) } catch {
                failures.append(.init(messageID: record.messageID, error: "\(error)", retryable: (error as? RetryClassifying)?.isRetryable ?? true))
            }
        }
        let accounts = Array(Set(subjects.compactMap { if case .account(let id) = $0.subject { id } else { nil } }))
        var accountUsers: [UUID: UUID] = [:]
        var lookupError: String?
        do { accountUsers = try await Self.users(pool, ofAccounts: accounts) } catch { lookupError = "\(error)" }
        var userOf: [String: UUID] = [:]
        for (message, subject) in subjects {
            switch subject {
            case .user(let id): userOf[message] = id
            case .skip(let why): results[message] = why
            case .account(let id):
                if let user = accountUsers[id] { userOf[message] = user } else {
                    failures.append(.init(messageID: message, error: "account_id: no account \(id.uuidString.lowercased())\(lookupError.map { " (lookup failed: \($0))" } ?? "")"))
                }
            }
        }
        let outcomes = await refresher.refresh(users: Array(userOf.values), deadline: context.deadline.addingTimeInterval(-reserve.seconds))
        for (message, user) in userOf {
            let name = user.uuidString.lowercased()
            switch outcomes[user] ?? .failed("not refreshed") {
            case .recomputed: results[message] = "recomputed user \(name)"
            case .covered: results[message] = "user \(name) covered by another invocation's recompute"
            case .failed(let why): failures.append(.init(messageID: message, error: "refreshing user \(name): \(why)"))
            }
        }
        let recomputed = outcomes.values.filter { $0 == .recomputed }.count
        context.logger.info("analytics refreshed", metadata: ["users": "\(outcomes.count)", "recomputed": "\(recomputed)"])
        return .from(failures: failures, results: results)
    }
}


import Logging

/// Logs a subject's health only when it changes (working → failing, failing → working), so a broker
/// down for an hour is two log lines, not 3,600.
///
/// Guarantees: the first failure of a subject is logged at warning with its reason; further
/// failures are silent until it works again, which is logged at info; a subject never seen failing
/// is never logged as recovered.
struct StateChangeLog {
    private var failing: [String: String] = [:]

    mutating func note(_ subject: String, failure reason: String?, logger: Logger) {
        switch (failing[subject], reason) {
        case (nil, let reason?):
            failing[subject] = reason
            logger.warning("\(subject) failing", metadata: ["reason": "\(reason)"])
        case (let was?, nil):
            failing[subject] = nil
            logger.info("\(subject) working again", metadata: ["was": "\(was)"])
        default:
            break
        }
    }

    /// What is failing now, by subject.
    var current: [String: String] { failing }
}

import Foundation
import Testing
import TMCron

/// One refused expression: the field and the reason the user is shown.
struct RefusalCase: CustomTestStringConvertible, Sendable {
    let text: String
    let field: String
    let reason: String

    init(_ text: String, _ field: String, _ reason: String) {
        self.text = text
        self.field = field
        self.reason = reason
    }

    var testDescription: String { "'\(text)'" }
}

@Suite struct ParsingTests {
    static let refusedCases: [RefusalCase] = [
        // The cases named in the contract.
        RefusalCase("61 * * * *", "minute", "61 is out of range 0-59"),
        RefusalCase("* * * *", "expression", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        RefusalCase("* * * * * *", "expression", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        RefusalCase("*/0 * * * *", "minute", "step must be at least 1"),
        RefusalCase("5-1 * * * *", "minute", "range 5-1 is reversed (start after end)"),
        RefusalCase("0 0 31 2 *", "day-of-month", "never fires (February has no 31st)"),
        RefusalCase("@every", "expression", "unknown macro '@every' (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"),
        RefusalCase("rate(0 minutes)", "rate", "N must be at least 1"),
        RefusalCase("rate(0 seconds)", "rate", "N must be at least 1"),
        RefusalCase("rate(315360001 seconds)", "rate", "315360001 seconds is longer than 10 years (at most 315360000)"),
        RefusalCase("rate(5 weeks)", "rate", "unknown unit 'weeks' (use second(s), minute(s), hour(s) or day(s))"),
        RefusalCase("0 0 * JANN *", "month", "unknown month name 'JANN'"),
        RefusalCase(",1 * * * *", "minute", "empty item in list ',1'"),
        RefusalCase("", "expression", "empty expression"),
        // Ranges of every field.
        RefusalCase("0 24 * * *", "hour", "24 is out of range 0-23"),
        RefusalCase("0 0 0 * *", "day-of-month", "0 is out of range 1-31"),
        RefusalCase("0 0 32 * *", "day-of-month", "32 is out of range 1-31"),
        RefusalCase("0 0 * 0 *", "month", "0 is out of range 1-12"),
        RefusalCase("0 0 * 13 *", "month", "13 is out of range 1-12"),
        RefusalCase("0 0 * * 8", "day-of-week", "8 is out of range 0-7"),
        RefusalCase("0-60 * * * *", "minute", "60 is out of range 0-59"),
        RefusalCase("99999999999999999999999 * * * *", "minute", "99999999999999999999999 is out of range 0-59"),
        // Names.
        RefusalCase("0 0 * * FRII", "day-of-week", "unknown day name 'FRII'"),
        RefusalCase("0 0 * * FRI-SUN", "day-of-week", "range FRI-SUN is reversed (start after end; use 7 for a Sunday that ends a range)"),
        RefusalCase("0 0 * * 5-0", "day-of-week", "range 5-0 is reversed (start after end; use 7 for a Sunday that ends a range)"),
        RefusalCase("0 0 * * 5-3", "day-of-week", "range 5-3 is reversed (start after end)"),
        RefusalCase("0 0 * DEC-JAN *", "month", "range DEC-JAN is reversed (start after end)"),
        RefusalCase("0 0 * MON *", "month", "unknown month name 'MON'"),
        RefusalCase("0 0 * * JAN", "day-of-week", "unknown day name 'JAN'"),
        RefusalCase("JAN 0 * * *", "minute", "'JAN' is not a number"),
        // Steps and lists.
        RefusalCase("*/90 * * * *", "minute", "step 90 is larger than the field's range 0-59"),
        RefusalCase("0 */24 * * *", "hour", "step 24 is larger than the field's range 0-23"),
        RefusalCase("0 0 * * */7", "day-of-week", "step 7 is larger than the field's range 0-6"),
        RefusalCase("*/ * * * *", "minute", "missing step after '/' in '*/'"),
        RefusalCase("*/x * * * *", "minute", "step 'x' is not a number"),
        RefusalCase("1/2/3 * * * *", "minute", "'1/2/3' has more than one '/'"),
        RefusalCase("1, * * * *", "minute", "empty item in list '1,'"),
        RefusalCase("0 1,,2 * * *", "hour", "empty item in list '1,,2'"),
        RefusalCase("1-2-3 * * * *", "minute", "'1-2-3' is not a value or a range a-b"),
        RefusalCase("-5 * * * *", "minute", "missing value in range"),
        RefusalCase("x * * * *", "minute", "'x' is not a number"),
        RefusalCase("*-5 * * * *", "minute", "'*' is not a number"),
        // Never fires.
        RefusalCase("0 0 30 2 *", "day-of-month", "never fires (February has no 30th)"),
        RefusalCase("0 0 30,31 FEB *", "day-of-month", "never fires (February has no 30th)"),
        RefusalCase("0 0 31 4,6,9,11 *", "day-of-month", "never fires (April, June, September and November have no 31st)"),
        RefusalCase("0 0 31 APR *", "day-of-month", "never fires (April has no 31st)"),
        RefusalCase("0 0 31 2 */2", "day-of-month", "never fires (February has no 31st)"),
        // Macros and rates.
        RefusalCase("@", "expression", "unknown macro '@' (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"),
        RefusalCase("@daily 5", "expression", "unexpected text after @daily"),
        RefusalCase("rate(5)", "rate", "expected rate(N unit) with unit second(s), minute(s), hour(s) or day(s), e.g. rate(5 minutes)"),
        RefusalCase("rate 5 minutes", "rate", "expected rate(N unit) with unit second(s), minute(s), hour(s) or day(s), e.g. rate(5 minutes)"),
        RefusalCase("rate(5 minutes", "rate", "expected rate(N unit) with unit second(s), minute(s), hour(s) or day(s), e.g. rate(5 minutes)"),
        RefusalCase("rate(five minutes)", "rate", "'five' is not a whole number"),
        RefusalCase("rate(-5 minutes)", "rate", "'-5' is not a whole number"),
        RefusalCase("rate(1.5 hours)", "rate", "'1.5' is not a whole number"),
        RefusalCase("rate(5 Weeks)", "rate", "unknown unit 'Weeks' (use second(s), minute(s), hour(s) or day(s))"),
        RefusalCase("rate(3651 days)", "rate", "3651 days is longer than 10 years (at most 3650)"),
        RefusalCase("rate(87601 hours)", "rate", "87601 hours is longer than 10 years (at most 87600)"),
        RefusalCase("   ", "expression", "empty expression"),
    ]

    @Test(arguments: refusedCases) func refused(_ row: RefusalCase) {
        #expect {
            _ = try ScheduleExpression(parsing: row.text)
        } throws: { error in
            guard let error = error as? ScheduleExpressionError else { return false }
            return error.field == row.field && error.reason == row.reason
                && error.expression == row.text.trimmingCharacters(in: .whitespaces)
        }
    }

    /// The message a user reads, in full.
    @Test func errorDescriptionNamesExpressionFieldAndReason() {
        do {
            _ = try ScheduleExpression(parsing: " 61 * * * * ")
            Issue.record("accepted")
        } catch let error as ScheduleExpressionError {
            #expect(error == ScheduleExpressionError(expression: "61 * * * *", field: "minute", reason: "61 is out of range 0-59"))
            #expect(error.description == "'61 * * * *': minute: 61 is out of range 0-59")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    static let acceptedCases = [
        "* * * * *", "0 0 1 1 *", "59 23 31 12 7", "0-59 0-23 1-31 1-12 0-7", "*/1 */1 */1 */1 */1",
        "0 9 * * MON-FRI", "0 9 * * mon-fri", "0 0 * Jan-Dec Sun-Sat", "1,2,3-5,10-20/5 * * * *",
        "0 0 29 2 *", "0 0 31 2 MON", "0 0 30 JAN,FEB *", "*/59 * * * *", "0 */23 * * *", "0 0 */30 * *", "0 0 * */11 *", "0 0 * * */6",
        "0 0 * * 7/1", "0\t9\t*\t*\t*", "  0   9 *  * *  ", "\n@daily\n", "@hourly", "@weekly",
        "rate(1 minute)", "rate(60 minutes)", "rate(24 hours)", "rate(1 day)", "rate(3650 days)", "rate(5256000 minutes)",
        "rate(1 second)", "rate(30 seconds)", "rate(315360000 seconds)",
    ]

    @Test(arguments: acceptedCases) func accepted(_ text: String) throws {
        let expression = try ScheduleExpression(parsing: text)
        #expect(expression.description == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(expression.nextFireTime(after: instant("2026-01-01T00:00:00Z"), in: zone("UTC")) != nil)
    }

    @Test func descriptionIsTheTrimmedText() throws {
        #expect(try ScheduleExpression(parsing: "  0 9 * * MON-FRI\n").description == "0 9 * * MON-FRI")
        #expect("\(try ScheduleExpression(parsing: "rate(5 minutes)"))" == "rate(5 minutes)")
    }

    /// The two spellings of a field match the same minutes.
    @Test(arguments: [
        ("0 0 * * 1-5", "0 0 * * MON-FRI"),
        ("0 0 * 1,7 *", "0 0 * JAN,JUL *"),
        ("0 0 * * 0", "0 0 * * 7"),
        ("5/20 * * * *", "5-59/20 * * * *"),
        ("5/20 * * * *", "5,25,45 * * * *"),
        ("0 9-17/2 * * *", "0 9,11,13,15,17 * * *"),
        ("0 0 * * 5/1", "0 0 * * 5,6"),
        ("@yearly", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("rate(60 minutes)", "rate(1 hour)"),
        ("rate(60 seconds)", "rate(1 minute)"),
        ("rate(300 seconds)", "*/5 * * * *"),
        ("rate(24 hours)", "0 0 * * *"),
    ])
    func equivalentSpellings(_ a: String, _ b: String) throws {
        let after = instant("2026-01-01T00:00:00Z")
        let first = try ScheduleExpression(parsing: a).nextFireTimes(after: after, count: 50, in: zone("UTC"))
        let second = try ScheduleExpression(parsing: b).nextFireTimes(after: after, count: 50, in: zone("UTC"))
        #expect(first == second)
        #expect(first.count == 50)
    }
}

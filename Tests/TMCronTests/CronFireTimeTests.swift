import Foundation
import Testing
import TMCron

/// Fire-time tables for plain cron in UTC: the cases a user writes every day. 2026-01-01 is a Thursday.
@Suite struct CronFireTimeTests {
    static let basicCases: [FireCase] = [
        FireCase("*/15 * * * *", after: "2026-01-01T00:07:00Z",
                 ["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"],
                 "every 15 minutes, on the quarter hour"),
        FireCase("0 9 * * MON-FRI", after: "2026-01-02T10:00:00Z",
                 ["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z", "2026-01-08T09:00:00Z",
                  "2026-01-09T09:00:00Z", "2026-01-12T09:00:00Z"],
                 "weekdays at 09:00, skipping the weekend"),
        FireCase("0 0 1 * *", after: "2026-01-15T12:00:00Z",
                 ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"],
                 "first of every month"),
        FireCase("0 9,12,18 * * *", after: "2026-01-01T10:00:00Z",
                 ["2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T09:00:00Z", "2026-01-02T12:00:00Z"],
                 "a list of hours"),
        FireCase("0 9-17/2 * * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-01T09:00:00Z", "2026-01-01T11:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T15:00:00Z",
                  "2026-01-01T17:00:00Z", "2026-01-02T09:00:00Z"],
                 "a range with a step"),
        FireCase("5/20 * * * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"],
                 "a/n means a-59/n"),
        FireCase("10-30/10,45 * * * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z",
                  "2026-01-01T01:10:00Z"],
                 "a list mixing a stepped range and a value"),
        FireCase("0 0 * JAN,JUL SUN", after: "2026-01-01T00:00:00Z",
                 ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z", "2026-01-25T00:00:00Z",
                  "2026-07-05T00:00:00Z", "2026-07-12T00:00:00Z"],
                 "month and day names: Sundays of January and July"),
        FireCase("0 0 * jan,Jul sun", after: "2026-01-01T00:00:00Z",
                 ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z", "2026-01-25T00:00:00Z",
                  "2026-07-05T00:00:00Z"],
                 "names in any case"),
        FireCase("0 0 * * 7", after: "2026-01-01T00:00:00Z",
                 ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z"],
                 "7 is Sunday"),
        FireCase("0 0 * * 5-7", after: "2026-01-01T00:00:00Z",
                 ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"],
                 "a day range ending in 7 (Friday to Sunday)"),
        FireCase("30 8 * * fri-sat,sun", after: "2026-01-01T00:00:00Z",
                 ["2026-01-02T08:30:00Z", "2026-01-03T08:30:00Z", "2026-01-04T08:30:00Z", "2026-01-09T08:30:00Z"],
                 "a named day range in lower case, and a name in a list"),
        FireCase("30 8 * * 6-7", after: "2026-01-01T00:00:00Z",
                 ["2026-01-03T08:30:00Z", "2026-01-04T08:30:00Z", "2026-01-10T08:30:00Z"],
                 "the weekend as a range ending in 7"),
        FireCase("0 12 * MAR-MAY/2 MON", after: "2026-01-01T00:00:00Z",
                 ["2026-03-02T12:00:00Z", "2026-03-09T12:00:00Z", "2026-03-16T12:00:00Z", "2026-03-23T12:00:00Z",
                  "2026-03-30T12:00:00Z", "2026-05-04T12:00:00Z"],
                 "a stepped month-name range (March, May)"),
        FireCase("* * * * *", after: "2026-01-01T00:00:30Z",
                 ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"],
                 "every minute, from the middle of one"),
        FireCase("59 23 * * *", after: "2026-01-01T23:59:00Z",
                 ["2026-01-02T23:59:00Z"],
                 "strictly after: an instant on a fire time does not return it"),
    ]

    @Test(arguments: basicCases) func basic(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    static let monthEndsCases: [FireCase] = [
        FireCase("0 0 31 * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z",
                  "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z"],
                 "the 31st skips 30-day months and February"),
        FireCase("0 0 30 * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-30T00:00:00Z", "2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"],
                 "the 30th skips February"),
        FireCase("0 0 29 * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-29T00:00:00Z", "2026-03-29T00:00:00Z"],
                 "the 29th skips February in a common year"),
        FireCase("0 0 29 * *", after: "2028-01-30T00:00:00Z",
                 ["2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z"],
                 "the 29th of February in a leap year"),
        FireCase("59 23 31 12 *", after: "2026-06-01T00:00:00Z",
                 ["2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"],
                 "the last minute of the year"),
        FireCase("0 0 * * *", after: "2026-12-31T00:00:00Z",
                 ["2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"],
                 "daily across the year boundary"),
        FireCase("0 0 1 1 *", after: "2026-12-31T23:59:59Z",
                 ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"],
                 "new year, one second before"),
        FireCase("*/20 23,0 * * *", after: "2026-12-31T23:30:00Z",
                 ["2026-12-31T23:40:00Z", "2027-01-01T00:00:00Z", "2027-01-01T00:20:00Z"],
                 "minutes rolling over into the next year"),
        FireCase("0 0 31 2 MON", after: "2026-01-01T00:00:00Z",
                 ["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z", "2026-02-16T00:00:00Z", "2026-02-23T00:00:00Z",
                  "2027-02-01T00:00:00Z"],
                 "31 February with a day-of-week is accepted: the Mondays of February fire"),
    ]

    @Test(arguments: monthEndsCases) func monthEnds(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    static let leapDaysCases: [FireCase] = [
        FireCase("0 12 29 2 *", after: "2026-03-01T00:00:00Z",
                 ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"],
                 "29 February from a common year"),
        FireCase("0 0 29 2 *", after: "2097-01-01T00:00:00Z",
                 ["2104-02-29T00:00:00Z"],
                 "2100 is not a leap year"),
        FireCase("0 0 29 2 *", after: "1997-01-01T00:00:00Z",
                 ["2000-02-29T00:00:00Z", "2004-02-29T00:00:00Z"],
                 "2000 is a leap year (divisible by 400)"),
        FireCase("0 0 29 2 *", in: "Asia/Kolkata", after: "2026-03-01T00:00:00Z",
                 ["2028-02-29T00:00:00+05:30"],
                 "29 February at local midnight"),
        FireCase("0 0 28 2 *", after: "2028-02-27T00:00:00Z",
                 ["2028-02-28T00:00:00Z", "2029-02-28T00:00:00Z"],
                 "28 February every year"),
    ]

    @Test(arguments: leapDaysCases) func leapDays(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    @Test func twentyNineFebruaryInUTCInstants() throws {
        let fire = try ScheduleExpression(parsing: "0 0 29 2 *").nextFireTime(after: instant("2026-03-01T00:00:00Z"), in: zone("Asia/Kolkata"))
        #expect(fire.map(utc) == "2028-02-28T18:30:00Z")
    }

    /// Vixie cron: day-of-month and day-of-week are OR-ed only when both are restricted.
    static let dayRuleCases: [FireCase] = [
        FireCase("0 0 13 * FRI", after: "2026-01-01T00:00:00Z",
                 ["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z",
                  "2026-01-23T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z",
                  "2026-02-20T00:00:00Z"],
                 "13th or Friday: every 13th and every Friday, once on Friday the 13th"),
        FireCase("0 0 * * FRI", after: "2026-01-01T00:00:00Z",
                 ["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-16T00:00:00Z", "2026-01-23T00:00:00Z"],
                 "only Fridays"),
        FireCase("0 0 13 * *", after: "2026-01-01T00:00:00Z",
                 ["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"],
                 "only 13ths"),
        FireCase("0 0 */10 * MON", after: "2026-01-01T00:00:00Z",
                 ["2026-05-11T00:00:00Z", "2026-06-01T00:00:00Z", "2026-08-31T00:00:00Z", "2026-09-21T00:00:00Z"],
                 "a day-of-month starting with * is not restricted: both must match (1st/11th/21st/31st that is a Monday)"),
        FireCase("0 0 1,15 * */2", after: "2026-01-01T00:00:00Z",
                 ["2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00Z"],
                 "a day-of-week starting with * is not restricted: a 1st or 15th that is Sun/Tue/Thu/Sat"),
    ]

    @Test(arguments: dayRuleCases) func dayOfMonthOrDayOfWeek(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    @Test func sundayHasThreeSpellings() throws {
        let after = instant("2026-01-01T00:00:00Z")
        let spellings = ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * sun", "0 0 * * 0,7"]
        let results = try spellings.map { try ScheduleExpression(parsing: $0).nextFireTimes(after: after, count: 10, in: zone("UTC")) }
        for result in results { #expect(result == results[0]) }
        #expect(results[0].allSatisfy { utcWeekday($0) == 1 })
    }

    private func utcWeekday(_ date: Date) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone("UTC")
        return calendar.component(.weekday, from: date)
    }

    @Test func wholeYearOfWeekdaysAtNine() throws {
        // 2026 has 261 weekdays (365 days, 52 weeks + Thursday).
        let fires = try between("0 9 * * MON-FRI", "2025-12-31T23:59:59Z", "2026-12-31T23:59:59Z")
        #expect(fires.count == 261)
        #expect(fires.first == "2026-01-01T09:00:00Z")
        #expect(fires.last == "2026-12-31T09:00:00Z")
    }
}

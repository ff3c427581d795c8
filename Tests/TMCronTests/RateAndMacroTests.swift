import Foundation
import Testing
import TMCron

@Suite struct RateTests {
    static let tableCases: [FireCase] = [
        FireCase("rate(5 minutes)", after: "2026-01-01T00:02:30Z",
                 ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"],
                 "aligned to :00, :05, ..."),
        FireCase("rate(5 minutes)", after: "2026-01-01T00:05:00Z",
                 ["2026-01-01T00:10:00Z"],
                 "strictly after a slot"),
        FireCase("rate(7 minutes)", after: "2026-01-02T00:00:00Z",
                 ["2026-01-02T00:02:00Z", "2026-01-02T00:09:00Z"],
                 "aligned to the epoch, not to the hour or the day"),
        FireCase("rate(1 minute)", after: "2026-01-01T00:00:59Z",
                 ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"],
                 "singular unit"),
        FireCase("rate(1 second)", after: "2026-01-01T00:00:59Z",
                 ["2026-01-01T00:01:00Z", "2026-01-01T00:01:01Z", "2026-01-01T00:01:02Z"],
                 "every second"),
        FireCase("rate(15 seconds)", after: "2026-01-01T00:00:50Z",
                 ["2026-01-01T00:01:00Z", "2026-01-01T00:01:15Z", "2026-01-01T00:01:30Z"],
                 "aligned to the epoch like minutes"),
        FireCase("rate(7 seconds)", after: "2026-01-01T00:01:00Z",
                 ["2026-01-01T00:01:03Z", "2026-01-01T00:01:10Z"],
                 "multiples of 7 s since the epoch, not since the minute"),
        FireCase("rate(2 seconds)", in: "America/New_York", after: "2026-03-08T06:59:59Z",
                 ["2026-03-08T03:00:00-04:00", "2026-03-08T03:00:02-04:00"],
                 "elapsed seconds: daylight saving changes nothing"),
        FireCase("rate(1 hour)", after: "2026-01-01T00:30:00Z",
                 ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"],
                 "on the hour"),
        FireCase("rate(1 hours)", after: "2026-01-01T00:30:00Z",
                 ["2026-01-01T01:00:00Z"],
                 "plural with 1 is accepted"),
        FireCase("rate(5 minute)", after: "2026-01-01T00:00:00Z",
                 ["2026-01-01T00:05:00Z"],
                 "singular with 5 is accepted"),
        FireCase("rate(1 hour)", in: "America/New_York", after: "2026-03-08T05:30:00Z",
                 ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"],
                 "elapsed hours: the wall clock jumps, the rate does not"),
        FireCase("rate(1 hour)", in: "America/New_York", after: "2026-11-01T04:30:00Z",
                 ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"],
                 "elapsed hours through a repeated hour"),
        FireCase("rate(1 hour)", in: "Asia/Kolkata", after: "2026-01-01T00:00:00Z",
                 ["2026-01-01T06:30:00+05:30", "2026-01-01T07:30:00+05:30"],
                 "UTC hours, which are half past in India"),
        FireCase("rate(2 days)", in: "Asia/Kolkata", after: "2026-01-01T00:00:00Z",
                 ["2026-01-03T00:00:00+05:30", "2026-01-05T00:00:00+05:30", "2026-01-07T00:00:00+05:30"],
                 "local midnight on even day numbers (2026-01-01 is day 20454)"),
        FireCase("rate(3 days)", in: "America/New_York", after: "2026-03-06T00:00:00Z",
                 ["2026-03-08T00:00:00-05:00", "2026-03-11T00:00:00-04:00"],
                 "local midnight every 3 days across a spring-forward (2026-03-08 is day 20520 = 3 × 6840)"),
        FireCase("rate(1 day)", in: "America/Havana", after: "2026-03-06T12:00:00Z",
                 ["2026-03-07T00:00:00-05:00", "2026-03-08T01:00:00-04:00", "2026-03-09T00:00:00-04:00"],
                 "a skipped midnight fires at the jump, like cron"),
        FireCase("rate(2 days)", in: "America/Havana", after: "2026-10-30T12:00:00Z",
                 ["2026-11-01T00:00:00-04:00", "2026-11-03T00:00:00-05:00"],
                 "a repeated midnight fires once, at the first"),
        FireCase("RATE( 10 Minutes )", after: "2026-01-01T00:00:00Z",
                 ["2026-01-01T00:10:00Z"],
                 "keyword and unit in any case, spaces inside the parentheses"),
    ]

    @Test(arguments: tableCases) func table(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    @Test(arguments: ["rate(10 seconds)", "rate(7 minutes)", "rate(45 minutes)", "rate(3 hours)"])
    func minutesAndHoursDoNotDependOnTheZone(_ text: String) throws {
        let expression = try ScheduleExpression(parsing: text)
        let after = instant("2026-03-07T22:13:00Z")
        let reference = expression.nextFireTimes(after: after, count: 200, in: zone("UTC"))
        for other in ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Europe/London"] {
            #expect(expression.nextFireTimes(after: after, count: 200, in: zone(other)) == reference, "\(other)")
        }
        let interval = reference[1].timeIntervalSince(reference[0])
        #expect(zip(reference, reference.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == interval })
        #expect(reference.allSatisfy { Int64($0.timeIntervalSince1970) % Int64(interval) == 0 })
    }

    @Test func oneDayIsDailyMidnightInEveryZone() throws {
        let after = instant("2025-12-31T00:00:00Z")
        for zoneID in ["America/New_York", "Europe/London", "America/Havana", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"] {
            let rate = try ScheduleExpression(parsing: "rate(1 day)").nextFireTimes(after: after, count: 400, in: zone(zoneID))
            let cron = try ScheduleExpression(parsing: "0 0 * * *").nextFireTimes(after: after, count: 400, in: zone(zoneID))
            #expect(rate == cron, "\(zoneID)")
        }
    }
}

@Suite struct MacroTests {
    static let tableCases: [FireCase] = [
        FireCase("@yearly", after: "2026-03-01T00:00:00Z", ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"], "January 1st at midnight"),
        FireCase("@annually", after: "2026-03-01T00:00:00Z", ["2027-01-01T00:00:00Z"], "same as @yearly"),
        FireCase("@monthly", after: "2026-01-15T00:00:00Z", ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"], "first of the month"),
        FireCase("@weekly", after: "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"], "Sunday 00:00"),
        FireCase("@daily", after: "2026-01-01T12:00:00Z", ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"], "midnight"),
        FireCase("@midnight", after: "2026-01-01T12:00:00Z", ["2026-01-02T00:00:00Z"], "same as @daily"),
        FireCase("@hourly", after: "2026-01-01T12:30:00Z", ["2026-01-01T13:00:00Z", "2026-01-01T14:00:00Z"], "on the hour"),
        FireCase("@daily", in: "Asia/Kolkata", after: "2026-01-01T12:00:00Z", ["2026-01-02T00:00:00+05:30"], "local midnight"),
        FireCase("@DAILY", after: "2026-01-01T12:00:00Z", ["2026-01-02T00:00:00Z"], "macros in any case"),
        FireCase("@hourly", in: "America/New_York", after: "2026-11-01T04:30:00Z",
                 ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"], "@hourly has a wildcard hour: both 01:00s"),
    ]

    @Test(arguments: tableCases) func table(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    @Test func aMacroKeepsItsTextAsDescription() throws {
        #expect(try ScheduleExpression(parsing: "  @weekly ").description == "@weekly")
    }
}

@Suite struct QueryTests {
    @Test func fireTimesIsExclusiveThenInclusive() throws {
        #expect(try between("0 * * * *", "2026-01-01T01:00:00Z", "2026-01-01T04:00:00Z") == [
            "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z",
        ])
        #expect(try between("0 * * * *", "2026-01-01T00:59:59Z", "2026-01-01T03:59:59Z") == [
            "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z",
        ])
    }

    @Test func fireTimesStopsAtTheLimit() throws {
        #expect(try between("0 * * * *", "2026-01-01T01:00:00Z", "2026-01-02T00:00:00Z", limit: 2) == [
            "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z",
        ])
        #expect(try between("0 * * * *", "2026-01-01T01:00:00Z", "2026-01-02T00:00:00Z", limit: 0).isEmpty)
        #expect(try between("0 * * * *", "2026-01-01T01:00:00Z", "2026-01-02T00:00:00Z", limit: -3).isEmpty)
    }

    @Test func emptyAndReversedWindows() throws {
        #expect(try between("0 * * * *", "2026-01-01T02:00:00Z", "2026-01-01T01:00:00Z").isEmpty)
        #expect(try between("0 * * * *", "2026-01-01T02:00:00Z", "2026-01-01T02:00:00Z").isEmpty)
        #expect(try between("0 * * * *", "2026-01-01T01:00:01Z", "2026-01-01T01:59:59Z").isEmpty)
    }

    @Test func nextFireTimesReturnsExactlyCount() throws {
        let expression = try ScheduleExpression(parsing: "*/5 * * * *")
        let after = instant("2026-01-01T00:00:00Z")
        #expect(expression.nextFireTimes(after: after, count: 12, in: zone("UTC")).count == 12)
        #expect(expression.nextFireTimes(after: after, count: 12, in: zone("UTC")).last.map(utc) == "2026-01-01T01:00:00Z")
        #expect(expression.nextFireTimes(after: after, count: 0, in: zone("UTC")).isEmpty)
        #expect(expression.nextFireTimes(after: after, count: -1, in: zone("UTC")).isEmpty)
        #expect(expression.nextFireTimes(after: after, count: 1, in: zone("UTC")) == [expression.nextFireTime(after: after, in: zone("UTC"))!])
    }

    @Test func fractionalSecondsAreTruncated() throws {
        let expression = try ScheduleExpression(parsing: "0 * * * *")
        let justBefore = instant("2026-01-01T01:00:00Z").addingTimeInterval(-0.25)
        let justAfter = instant("2026-01-01T01:00:00Z").addingTimeInterval(0.75)
        #expect(expression.nextFireTime(after: justBefore, in: zone("UTC")).map(utc) == "2026-01-01T01:00:00Z")
        #expect(expression.nextFireTime(after: justAfter, in: zone("UTC")).map(utc) == "2026-01-01T02:00:00Z")
        let rate = try ScheduleExpression(parsing: "rate(1 hour)")
        #expect(rate.nextFireTime(after: justBefore, in: zone("UTC")).map(utc) == "2026-01-01T01:00:00Z")
    }

    @Test func chainedNextFireTimeAgreesWithTheRangeQueries() throws {
        for text in ["*/7 * * * *", "30 2 * * *", "0 0 13 * FRI", "rate(90 minutes)", "rate(2 days)", "*/30 * * * *"] {
            let expression = try ScheduleExpression(parsing: text)
            let zone = zone("America/New_York")
            let after = instant("2026-03-01T00:00:00Z")
            var chained: [Date] = []
            var cursor = after
            while let next = expression.nextFireTime(after: cursor, in: zone), chained.count < 300 {
                chained.append(next)
                cursor = next
            }
            #expect(expression.nextFireTimes(after: after, count: 300, in: zone) == chained, "\(text)")
            #expect(expression.fireTimes(after: after, through: chained.last!, in: zone, limit: 1000) == chained, "\(text)")
            #expect(chained.allSatisfy { Int64($0.timeIntervalSince1970) % 60 == 0 }, "\(text): whole minutes")
            #expect(zip(chained, chained.dropFirst()).allSatisfy { $0 < $1 }, "\(text): strictly increasing")
        }
    }

    @Test func rareExpressionsAnswerWithinTheHorizonOrNil() throws {
        // 29 February falling on a Sunday or Thursday: 2032, then not until 2052 — beyond the ~10-year search.
        let rare = try ScheduleExpression(parsing: "0 0 29 2 */4")
        #expect(rare.nextFireTime(after: instant("2026-01-01T00:00:00Z"), in: zone("UTC")).map(utc) == "2032-02-29T00:00:00Z")
        #expect(rare.nextFireTime(after: instant("2033-01-01T00:00:00Z"), in: zone("UTC")) == nil)
        #expect(rare.nextFireTime(after: instant("2048-01-01T00:00:00Z"), in: zone("UTC")).map(utc) == "2052-02-29T00:00:00Z")
        #expect(rare.nextFireTimes(after: instant("2033-01-01T00:00:00Z"), count: 3, in: zone("UTC")).isEmpty)
    }

    @Test func datesFarFromTodayWork() throws {
        #expect(try next("0 0 1 1 *", after: "1969-12-31T00:00:00Z", count: 2) == ["1970-01-01T00:00:00Z", "1971-01-01T00:00:00Z"])
        #expect(try next("0 12 * * MON", after: "1960-01-01T00:00:00Z", count: 1) == ["1960-01-04T12:00:00Z"])
        #expect(try next("rate(7 minutes)", after: "1969-12-31T23:50:00Z", count: 2) == ["1969-12-31T23:53:00Z", "1970-01-01T00:00:00Z"])
        #expect(try next("0 0 29 2 *", after: "2399-03-01T00:00:00Z", count: 1) == ["2400-02-29T00:00:00Z"])
    }

    @Test func equalityFollowsTheText() throws {
        #expect(try ScheduleExpression(parsing: " 0 9 * * MON ") == ScheduleExpression(parsing: "0 9 * * MON"))
        #expect(try ScheduleExpression(parsing: "0 9 * * MON") != ScheduleExpression(parsing: "0 9 * * 1"))
        let set: Set<ScheduleExpression> = try [ScheduleExpression(parsing: "@daily"), ScheduleExpression(parsing: "@daily")]
        #expect(set.count == 1)
    }
}

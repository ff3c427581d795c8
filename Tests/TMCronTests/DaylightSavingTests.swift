import Foundation
import Testing
import TMCron

/// Daylight saving, following cronie: a restricted hour fires once per matching wall time (at the jump
/// if the time is skipped, at the first occurrence if it repeats); an hour field starting with `*`
/// fires at every instant whose wall time matches.
///
/// 2026 transitions used: America/New_York spring 03-08 07:00Z (02:00 EST → 03:00 EDT), fall 11-01
/// 06:00Z (02:00 EDT → 01:00 EST); Europe/London spring 03-29 01:00Z (01:00 GMT → 02:00 BST), fall
/// 10-25 01:00Z (02:00 BST → 01:00 GMT); America/Havana jumps at midnight (03-08 00:00 → 01:00,
/// 11-01 01:00 → 00:00); Australia/Lord_Howe shifts by 30 minutes (10-04 02:00 → 02:30, 04-05 02:00 → 01:30).
@Suite(.serialized) struct DaylightSavingTests {
    static let newYork: [FireCase] = [
        // Spring forward: 02:00-02:59 does not exist on 2026-03-08.
        FireCase("30 2 * * *", in: "America/New_York", after: "2026-03-06T12:00:00Z",
                 ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
                 "a skipped time fires once, at the jump"),
        FireCase("*/10 2 * * *", in: "America/New_York", after: "2026-03-07T12:00:00Z",
                 ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T02:10:00-04:00"],
                 "six skipped times collapse into one fire at the jump"),
        FireCase("0 2,3 * * *", in: "America/New_York", after: "2026-03-07T12:00:00Z",
                 ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T03:00:00-04:00"],
                 "a skipped time and the first minute after the jump are one fire"),
        FireCase("*/30 * * * *", in: "America/New_York", after: "2026-03-08T05:45:00Z",
                 ["2026-03-08T01:00:00-05:00", "2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00",
                  "2026-03-08T03:30:00-04:00"],
                 "a wildcard hour: skipped times simply do not occur"),
        FireCase("0 */2 * * *", in: "America/New_York", after: "2026-03-08T04:00:00Z",
                 ["2026-03-08T00:00:00-05:00", "2026-03-08T04:00:00-04:00", "2026-03-08T06:00:00-04:00"],
                 "*/2 in the hour field counts as a wildcard (as in cronie): 02:00 does not occur"),
        FireCase("0 0-23/2 * * *", in: "America/New_York", after: "2026-03-08T04:00:00Z",
                 ["2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"],
                 "0-23/2 is a restricted hour: 02:00 fires at the jump"),
        // Fall back: 01:00-01:59 happens twice on 2026-11-01.
        FireCase("30 1 * * *", in: "America/New_York", after: "2026-10-31T12:00:00Z",
                 ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
                 "a repeated time fires only at its first occurrence"),
        FireCase("30 1 * * *", in: "America/New_York", after: "2026-11-01T06:15:00Z",
                 ["2026-11-02T01:30:00-05:00"],
                 "asked during the second pass, before the second 01:30: still not again"),
        FireCase("*/30 * * * *", in: "America/New_York", after: "2026-11-01T04:45:00Z",
                 ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00",
                  "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"],
                 "a wildcard hour fires in both occurrences"),
        FireCase("0 * * * *", in: "America/New_York", after: "2026-11-01T04:00:00Z",
                 ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"],
                 "hourly keeps going every real hour"),
    ]

    static let london: [FireCase] = [
        // Spring forward: 01:00-01:59 does not exist on 2026-03-29.
        FireCase("30 1 * * *", in: "Europe/London", after: "2026-03-27T12:00:00Z",
                 ["2026-03-28T01:30:00Z", "2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
                 "a skipped time fires once, at the jump"),
        FireCase("0 1,2 * * *", in: "Europe/London", after: "2026-03-28T12:00:00Z",
                 ["2026-03-29T02:00:00+01:00", "2026-03-30T01:00:00+01:00", "2026-03-30T02:00:00+01:00"],
                 "01:00 (skipped) and 02:00 (first after the jump) are one fire"),
        FireCase("*/30 * * * *", in: "Europe/London", after: "2026-03-29T00:15:00Z",
                 ["2026-03-29T00:30:00Z", "2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"],
                 "a wildcard hour: no extra fire in the gap"),
        // Fall back: 01:00-01:59 happens twice on 2026-10-25.
        FireCase("30 1 * * *", in: "Europe/London", after: "2026-10-24T12:00:00Z",
                 ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00Z"],
                 "a repeated time fires only at its first occurrence"),
        FireCase("*/30 * * * *", in: "Europe/London", after: "2026-10-24T23:45:00Z",
                 ["2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:00:00Z",
                  "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"],
                 "a wildcard hour fires in both occurrences"),
    ]

    static let otherZones: [FireCase] = [
        FireCase("0 0 * * *", in: "America/Havana", after: "2026-03-06T12:00:00Z",
                 ["2026-03-07T00:00:00-05:00", "2026-03-08T01:00:00-04:00", "2026-03-09T00:00:00-04:00"],
                 "midnight itself skipped: fires when the clock jumps to 01:00"),
        FireCase("0 0 * * *", in: "America/Havana", after: "2026-10-30T12:00:00Z",
                 ["2026-10-31T00:00:00-04:00", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"],
                 "midnight repeated: only the first"),
        FireCase("15 2 * * *", in: "Australia/Lord_Howe", after: "2026-10-02T00:00:00Z",
                 ["2026-10-03T02:15:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"],
                 "a 30-minute spring-forward"),
        FireCase("*/15 * * * *", in: "Australia/Lord_Howe", after: "2026-10-03T15:00:00Z",
                 ["2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00"],
                 "a 30-minute gap with a wildcard hour"),
        FireCase("45 1 * * *", in: "Australia/Lord_Howe", after: "2026-04-04T00:00:00Z",
                 ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"],
                 "a 30-minute repeat fires once"),
        FireCase("*/15 * * * *", in: "Australia/Lord_Howe", after: "2026-04-04T14:20:00Z",
                 ["2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30",
                  "2026-04-05T01:45:00+10:30", "2026-04-05T02:00:00+10:30"],
                 "a 30-minute repeat with a wildcard hour fires twice"),
    ]

    @Test(arguments: newYork + london + otherZones) func table(_ row: FireCase) throws {
        #expect(try row.actual() == row.expected)
    }

    @Test func theJumpIsTheUTCInstantOfTheTransition() throws {
        let ny = try ScheduleExpression(parsing: "30 2 * * *").nextFireTime(after: instant("2026-03-07T12:00:00Z"), in: zone("America/New_York"))
        #expect(ny.map(utc) == "2026-03-08T07:00:00Z")
        let fall = try ScheduleExpression(parsing: "30 1 * * *").nextFireTime(after: instant("2026-10-31T12:00:00Z"), in: zone("America/New_York"))
        #expect(fall.map(utc) == "2026-11-01T05:30:00Z")
        let london = try ScheduleExpression(parsing: "30 1 * * *").nextFireTime(after: instant("2026-03-28T12:00:00Z"), in: zone("Europe/London"))
        #expect(london.map(utc) == "2026-03-29T01:00:00Z")
    }

    @Test func restrictedHourInTheGapFiresOnceThatDay() throws {
        // The whole local day 2026-03-08 in New York (23 hours).
        #expect(try between("* 2 * * *", "2026-03-08T05:00:00Z", "2026-03-09T04:59:59Z", in: "America/New_York") == ["2026-03-08T03:00:00-04:00"])
        #expect(try between("* 1 * * *", "2026-03-29T00:00:00Z", "2026-03-29T22:59:59Z", in: "Europe/London") == ["2026-03-29T02:00:00+01:00"])
    }

    @Test func restrictedHourInTheRepeatFiresSixtyTimesNotOneTwenty() throws {
        let fires = try between("* 1 * * *", "2026-11-01T04:00:00Z", "2026-11-02T04:59:59Z", in: "America/New_York")
        #expect(fires.count == 60)
        #expect(fires.allSatisfy { $0.hasSuffix("-04:00") })
        #expect(fires.first == "2026-11-01T01:00:00-04:00")
        #expect(fires.last == "2026-11-01T01:59:00-04:00")
    }

    @Test func everyThirtyMinutesAcrossTheGapHasNoExtraAndNoMissingInstant() throws {
        // Local day 2026-03-08 in New York lasts 23 hours: 46 half hours, each exactly 30 real minutes apart.
        let fires = try ScheduleExpression(parsing: "*/30 * * * *").fireTimes(
            after: instant("2026-03-08T04:59:59Z"), through: instant("2026-03-09T03:59:59Z"), in: zone("America/New_York"), limit: 1000
        )
        #expect(fires.count == 46)
        #expect(zip(fires, fires.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == 1800 })
    }

    @Test func everyThirtyMinutesAcrossTheRepeatFiresInBothOccurrences() throws {
        // Local day 2026-11-01 in New York lasts 25 hours: 50 half hours; four of them read 01:xx.
        let zone = zone("America/New_York")
        let fires = try ScheduleExpression(parsing: "*/30 * * * *").fireTimes(
            after: instant("2026-11-01T03:59:59Z"), through: instant("2026-11-02T04:59:59Z"), in: zone, limit: 1000
        )
        #expect(fires.count == 50)
        #expect(zip(fires, fires.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == 1800 })
        let oneOClock = fires.map { local($0, zone) }.filter { $0.hasPrefix("2026-11-01T01:") }
        #expect(oneOClock == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"])

        let londonFires = try between("*/30 * * * *", "2026-10-24T22:59:59Z", "2026-10-25T23:59:59Z", in: "Europe/London")
        #expect(londonFires.count == 50)
        #expect(londonFires.filter { $0.hasPrefix("2026-10-25T01:") }.count == 4)
    }

    @Test func dailyAtTwoFiresExactlyOncePerDayAcrossBothTransitions() throws {
        #expect(try between("0 2 * * *", "2026-03-06T00:00:00Z", "2026-03-11T00:00:00Z", in: "America/New_York") == [
            "2026-03-06T02:00:00-05:00", "2026-03-07T02:00:00-05:00", "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:00:00-04:00", "2026-03-10T02:00:00-04:00",
        ])
        #expect(try between("0 2 * * *", "2026-10-30T00:00:00Z", "2026-11-04T00:00:00Z", in: "America/New_York") == [
            "2026-10-30T02:00:00-04:00", "2026-10-31T02:00:00-04:00", "2026-11-01T02:00:00-05:00",
            "2026-11-02T02:00:00-05:00", "2026-11-03T02:00:00-05:00",
        ])
        #expect(try between("0 2 * * *", "2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z", in: "Europe/London") == [
            "2026-03-27T02:00:00Z", "2026-03-28T02:00:00Z", "2026-03-29T02:00:00+01:00", "2026-03-30T02:00:00+01:00",
        ])
        #expect(try between("0 2 * * *", "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z", in: "Europe/London") == [
            "2026-10-23T02:00:00+01:00", "2026-10-24T02:00:00+01:00", "2026-10-25T02:00:00Z", "2026-10-26T02:00:00Z",
        ])
    }

    /// A daily job at any hour fires exactly once on every local day of the year, in zones with hour,
    /// half-hour and midnight transitions.
    @Test(arguments: ["America/New_York", "Europe/London", "America/Havana", "Australia/Lord_Howe", "Asia/Kolkata"])
    func everyDailyHourFiresOncePerLocalDayAllYear(_ zoneID: String) throws {
        let zone = zone(zoneID)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let start = calendar.date(from: DateComponents(year: 2026, month: 1, day: 1))!
        let end = calendar.date(from: DateComponents(year: 2027, month: 1, day: 1))!
        for hour in [0, 1, 2, 3, 12, 23] {
            let fires = try ScheduleExpression(parsing: "0 \(hour) * * *").fireTimes(
                after: start.addingTimeInterval(-1), through: end.addingTimeInterval(-1), in: zone, limit: 1000
            )
            let days = fires.map { calendar.dateComponents([.year, .month, .day], from: $0) }
            #expect(fires.count == 365, "hour \(hour) in \(zoneID)")
            #expect(Set(days).count == 365, "hour \(hour) in \(zoneID)")
        }
    }

    /// Wildcard-hour schedules keep real-time spacing in every zone, all year.
    @Test(arguments: ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"])
    func everyFifteenMinutesIsEveryFifteenRealMinutesAllYear(_ zoneID: String) throws {
        let fires = try ScheduleExpression(parsing: "*/15 * * * *").fireTimes(
            after: instant("2025-12-31T23:59:59Z"), through: instant("2026-12-31T23:59:59Z"), in: zone(zoneID), limit: 100_000
        )
        #expect(fires.count == 365 * 96)
        #expect(zip(fires, fires.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == 900 })
    }

    @Test func kolkataMarketHours() throws {
        let expression = "*/15 9-15 * * MON-FRI"
        // Monday 2026-01-05, the whole local day.
        let monday = try between(expression, "2026-01-05T00:00:00+05:30", "2026-01-06T00:00:00+05:30", in: "Asia/Kolkata")
        #expect(monday.count == 28)
        #expect(monday.first == "2026-01-05T09:00:00+05:30")
        #expect(monday.last == "2026-01-05T15:45:00+05:30")
        let mondayUTC = try ScheduleExpression(parsing: expression).fireTimes(
            after: instant("2026-01-05T00:00:00+05:30"), through: instant("2026-01-06T00:00:00+05:30"), in: zone("Asia/Kolkata"), limit: 100
        )
        #expect(mondayUTC.first.map(utc) == "2026-01-05T03:30:00Z")
        #expect(mondayUTC.last.map(utc) == "2026-01-05T10:15:00Z")
        // The weekend is quiet; Friday's last slot is followed by Monday's first.
        #expect(try between(expression, "2026-01-03T00:00:00+05:30", "2026-01-05T00:00:00+05:30", in: "Asia/Kolkata").isEmpty)
        #expect(try next(expression, after: "2026-01-09T15:45:00+05:30", count: 1, in: "Asia/Kolkata") == ["2026-01-12T09:00:00+05:30"])
        // A whole week: five days of 28 slots.
        #expect(try between(expression, "2026-01-04T00:00:00+05:30", "2026-01-11T00:00:00+05:30", in: "Asia/Kolkata").count == 140)
    }

    @Test func sameExpressionDifferentZonesFireAtDifferentInstants() throws {
        let expression = try ScheduleExpression(parsing: "0 9 * * *")
        let after = instant("2026-06-01T00:00:00Z")
        #expect(expression.nextFireTime(after: after, in: zone("UTC")).map(utc) == "2026-06-01T09:00:00Z")
        #expect(expression.nextFireTime(after: after, in: zone("Asia/Kolkata")).map(utc) == "2026-06-01T03:30:00Z")
        #expect(expression.nextFireTime(after: after, in: zone("America/New_York")).map(utc) == "2026-06-01T13:00:00Z")
        #expect(expression.nextFireTime(after: after, in: zone("Europe/London")).map(utc) == "2026-06-01T08:00:00Z")
    }
}

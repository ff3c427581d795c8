import Foundation
import Testing
import TMCron

/// Generated expressions checked against a deliberately naive reference: it scans minute by minute,
/// takes wall-clock fields from Foundation's `Calendar`, and states the daylight-saving rules in their
/// plainest form (restricted hour: a matching wall time fires at the first instant the clock shows it
/// or a later time; wildcard hour: fire whenever the clock shows a matching time).
@Suite(.serialized) struct ReferenceTests {
    /// Two days around each transition of 2026 (and quiet days in zones without one).
    static let windows: [(zone: String, center: String)] = [
        ("America/New_York", "2026-03-08T07:00:00Z"), ("America/New_York", "2026-11-01T06:00:00Z"),
        ("Europe/London", "2026-03-29T01:00:00Z"), ("Europe/London", "2026-10-25T01:00:00Z"),
        ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"), ("Australia/Lord_Howe", "2026-10-03T15:30:00Z"),
        ("America/Havana", "2026-03-08T05:00:00Z"), ("America/Havana", "2026-11-01T05:00:00Z"),
        ("America/Santiago", "2026-04-05T03:00:00Z"), ("America/Santiago", "2026-09-06T04:00:00Z"),
        ("Asia/Kolkata", "2026-02-28T18:30:00Z"), ("UTC", "2028-02-29T00:00:00Z"),
    ]

    @Test(arguments: 0..<windows.count) func aroundTransitions(_ index: Int) throws {
        let (zoneID, center) = Self.windows[index]
        let window = MinuteWindow(zone: zone(zoneID), from: instant(center).addingTimeInterval(-86_400), through: instant(center).addingTimeInterval(86_400))
        var generator = SplitMix64(state: 2026 + UInt64(index))
        var compared = 0
        for _ in 0..<20 {
            let generated = GeneratedExpression(using: &generator, dayFieldsUsuallyStar: true)
            let expression: ScheduleExpression
            do {
                expression = try ScheduleExpression(parsing: generated.text)
            } catch {
                #expect(generated.neverFires, "refused '\(generated.text)': \(error)")
                continue
            }
            #expect(!generated.neverFires, "accepted '\(generated.text)', which never fires")
            let expected = window.referenceFires(of: generated)
            let actual = expression.fireTimes(after: window.start, through: window.end, in: window.zone, limit: 10_000)
            #expect(actual == expected, "'\(generated.text)' in \(zoneID) around \(center)")
            // From arbitrary instants too, not only from previous fire times (which are never inside
            // the second pass through a repeated hour).
            for sample in 0..<10 {
                // Most samples within three hours of the transition, where the rules differ.
                let seconds = sample < 20
                    ? 86_400 + Int64.random(in: -10_800..<10_800, using: &generator)
                    : Int64.random(in: 0..<(2 * 86_400 - 3_600), using: &generator)
                let from = window.start.addingTimeInterval(TimeInterval(seconds))
                guard let reference = expected.first(where: { $0 > from }) else { continue }
                #expect(expression.nextFireTime(after: from, in: window.zone) == reference, "'\(generated.text)' after \(utc(from))")
            }
            compared += 1
        }
        #expect(compared > 10)
    }

    /// Four years (with a leap day) at day granularity: the calendar and Vixie's day rule.
    @Test(arguments: ["UTC", "Asia/Kolkata"]) func fourYearsOfDays(_ zoneID: String) throws {
        let zone = zone(zoneID)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let start = calendar.date(from: DateComponents(year: 2027, month: 6, day: 1))!
        var generator = SplitMix64(state: 99)
        var compared = 0
        for _ in 0..<25 {
            let generated = GeneratedExpression(using: &generator, dayFieldsUsuallyStar: false, fewTimesOfDay: true)
            guard let expression = try? ScheduleExpression(parsing: generated.text) else {
                #expect(generated.neverFires, "refused '\(generated.text)'")
                continue
            }
            var expected: [Date] = []
            for dayOffset in 0..<1461 {
                let day = calendar.date(byAdding: .day, value: dayOffset, to: start)!
                let parts = calendar.dateComponents([.month, .day, .weekday], from: day)
                guard generated.matchesDay(month: parts.month!, day: parts.day!, weekday: parts.weekday! - 1) else { continue }
                for hour in generated.hours.sorted() {
                    for minute in generated.minutes.sorted() {
                        expected.append(calendar.date(bySettingHour: hour, minute: minute, second: 0, of: day)!)
                    }
                }
            }
            let end = calendar.date(byAdding: .day, value: 1461, to: start)!.addingTimeInterval(-1)
            let actual = expression.fireTimes(after: start.addingTimeInterval(-1), through: end, in: zone, limit: 100_000)
            #expect(actual == expected, "'\(generated.text)' in \(zoneID)")
            compared += 1
        }
        #expect(compared > 20)
    }
}

/// The minutes of a window in one zone, with the wall-clock fields of every wall minute it can touch.
struct MinuteWindow {
    let zone: TimeZone
    let start: Date
    let end: Date
    /// One day before `start` onwards, so that the highest wall time shown before `start` is known.
    private let instants: [Int64]
    private let walls: [Int64]
    private let firstWall: Int64
    private let fields: [(month: Int, day: Int, weekday: Int, hour: Int, minute: Int)]

    init(zone: TimeZone, from start: Date, through end: Date) {
        self.zone = zone
        self.start = start
        self.end = end
        let first = Int64(start.timeIntervalSince1970) - 86_400
        let last = Int64(end.timeIntervalSince1970)
        instants = Array(stride(from: first, through: last, by: 60))
        walls = instants.map { $0 + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval($0)))) }
        firstWall = walls.min()!
        // Wall fields read through a UTC calendar, so that walls skipped by the zone have fields too.
        var utcCalendar = Calendar(identifier: .gregorian)
        utcCalendar.timeZone = TimeZone(identifier: "UTC")!
        fields = stride(from: firstWall, through: walls.max()!, by: 60).map { wall in
            let parts = utcCalendar.dateComponents([.month, .day, .weekday, .hour, .minute], from: Date(timeIntervalSince1970: TimeInterval(wall)))
            return (parts.month!, parts.day!, parts.weekday! - 1, parts.hour!, parts.minute!)
        }
    }

    private func matches(_ expression: GeneratedExpression, wall: Int64) -> Bool {
        let f = fields[Int((wall - firstWall) / 60)]
        return expression.minutes.contains(f.minute) && expression.hours.contains(f.hour)
            && expression.matchesDay(month: f.month, day: f.day, weekday: f.weekday)
    }

    func referenceFires(of expression: GeneratedExpression) -> [Date] {
        let after = Int64(start.timeIntervalSince1970)
        var fires: [Date] = []
        var highestShown = walls[0]
        for (instant, wall) in zip(instants, walls).dropFirst() {
            let fired: Bool
            if expression.hourIsWildcard {
                fired = matches(expression, wall: wall)
            } else {
                // Every wall minute the clock reaches for the first time at this instant.
                fired = stride(from: highestShown + 60, through: wall, by: 60).contains { matches(expression, wall: $0) }
                highestShown = max(highestShown, wall)
            }
            if fired && instant > after {
                fires.append(Date(timeIntervalSince1970: TimeInterval(instant)))
            }
        }
        return fires
    }
}

/// A random cron expression together with the sets it means, computed while writing it (not parsed).
struct GeneratedExpression {
    var text = ""
    var minutes: Set<Int> = []
    var hours: Set<Int> = []
    var daysOfMonth: Set<Int> = []
    var months: Set<Int> = []
    var weekdays: Set<Int> = []
    var hourIsWildcard = false
    var daysMatchEither = false

    init(using generator: inout SplitMix64, dayFieldsUsuallyStar: Bool, fewTimesOfDay: Bool = false) {
        let starPercent = dayFieldsUsuallyStar ? 70 : 35
        let minute = fewTimesOfDay ? Self.values(0...59, count: 1...2, using: &generator) : Self.field(0...59, star: 20, using: &generator)
        let hour = fewTimesOfDay ? Self.values(0...23, count: 1...2, using: &generator) : Self.field(0...23, star: 35, using: &generator)
        let dom = Self.field(1...31, star: starPercent, using: &generator)
        let month = Self.field(1...12, star: starPercent, names: Self.monthNames, using: &generator)
        let dow = Self.field(0...7, star: starPercent, names: Self.dayNames, using: &generator)
        text = [minute.text, hour.text, dom.text, month.text, dow.text].joined(separator: " ")
        minutes = minute.values
        hours = hour.values
        daysOfMonth = dom.values
        months = month.values
        weekdays = Set(dow.values.map { $0 == 7 ? 0 : $0 })
        hourIsWildcard = hour.text.hasPrefix("*")
        daysMatchEither = !dom.text.hasPrefix("*") && !dow.text.hasPrefix("*")
    }

    func matchesDay(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        let byDay = daysOfMonth.contains(day)
        let byWeekday = weekdays.contains(weekday)
        return daysMatchEither ? (byDay || byWeekday) : (byDay && byWeekday)
    }

    /// True when no chosen day exists in any chosen month and the weekday cannot widen the choice.
    var neverFires: Bool {
        let longest = [1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31]
        return !daysMatchEither && months.allSatisfy { month in daysOfMonth.allSatisfy { $0 > longest[month]! } }
    }

    static let monthNames = ["JAN", "feb", "Mar", "APR", "may", "JUN", "jul", "AUG", "sep", "OCT", "nov", "DEC"]
    static let dayNames = ["sun", "MON", "Tue", "WED", "thu", "FRI", "sat"]

    /// `*`, `*/n`, a value, a range, a stepped range, `a/n`, or a list of those (without `*`).
    static func field(_ range: ClosedRange<Int>, star percent: Int, names: [String]? = nil, using generator: inout SplitMix64) -> (text: String, values: Set<Int>) {
        let top = range.upperBound == 7 ? 6 : range.upperBound  // `*` in day-of-week is 0-6
        if Int.random(in: 0..<100, using: &generator) < percent {
            if Bool.random(using: &generator) { return ("*", Set(range.lowerBound...top)) }
            let step = Int.random(in: 2...min(6, top - range.lowerBound), using: &generator)
            return ("*/\(step)", Set(stride(from: range.lowerBound, through: top, by: step)))
        }
        var texts: [String] = []
        var values: Set<Int> = []
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let item = Self.item(range, names: names, using: &generator)
            texts.append(item.text)
            values.formUnion(item.values)
        }
        return (texts.joined(separator: ","), values)
    }

    private static func item(_ range: ClosedRange<Int>, names: [String]?, using generator: inout SplitMix64) -> (text: String, values: Set<Int>) {
        func spell(_ value: Int) -> String {
            // Names exist for 1-12 and 0-6; 7 (Sunday again) only as a number.
            if let names, Bool.random(using: &generator), value - range.lowerBound < names.count {
                return names[value - range.lowerBound]
            }
            return "\(value)"
        }
        let a = Int.random(in: range, using: &generator)
        switch Int.random(in: 0..<4, using: &generator) {
        case 0:
            return (spell(a), [a])
        case 1:
            let b = Int.random(in: a...range.upperBound, using: &generator)
            return ("\(spell(a))-\(spell(b))", Set(a...b))
        case 2:
            let b = Int.random(in: a...range.upperBound, using: &generator)
            let step = Int.random(in: 1...5, using: &generator)
            return ("\(spell(a))-\(spell(b))/\(step)", Set(stride(from: a, through: b, by: step)))
        default:
            let top = max(a, range.upperBound == 7 ? 6 : range.upperBound)
            let step = Int.random(in: 1...5, using: &generator)
            return ("\(spell(a))/\(step)", Set(stride(from: a, through: top, by: step)))
        }
    }

    static func values(_ range: ClosedRange<Int>, count: ClosedRange<Int>, using generator: inout SplitMix64) -> (text: String, values: Set<Int>) {
        let values = Set((0..<Int.random(in: count, using: &generator)).map { _ in Int.random(in: range, using: &generator) })
        return (values.sorted().map(String.init).joined(separator: ","), values)
    }
}

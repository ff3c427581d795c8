/// A five-field cron expression (or a macro standing for one), matched against wall-clock times.
///
/// Guarantees:
/// - Fields are minute, hour, day-of-month, month, day-of-week, separated by whitespace; each is `*`,
///   a value, a range `a-b`, a list, or a step `*/n`, `a-b/n`, `a/n` (= `a-max/n`). Months and days may
///   be named (`JAN`, `mon`), also in ranges; day-of-week 0 and 7 are both Sunday.
/// - Vixie's day rule: when both day-of-month and day-of-week are restricted (neither starts with `*`),
///   a day matches if either matches; otherwise both must match.
/// - An expression that can never fire (day-of-month beyond every chosen month's length, when the
///   day-of-week cannot widen it) is refused at parse time.
/// - Daylight saving follows cronie: with an hour field that starts with `*` the schedule fires at every
///   instant whose wall time matches (`.everyOccurrence`); otherwise each matching wall time fires once,
///   when the clock first reaches it (`.firstReached`).
struct CronExpression: Hashable, Sendable, WallClockSchedule {
    let minute: CronField
    let hour: CronField
    let dayOfMonth: CronField
    let month: CronField
    let dayOfWeek: CronField

    /// The five fields for each macro.
    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    static let macroNames = "@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"

    /// Parses a macro (`@daily`) or five fields.
    init(parsing text: String) throws(FieldError) {
        if text.hasPrefix("@") {
            let words = text.split(whereSeparator: \.isWhitespace)
            guard let fields = Self.macros[words[0].lowercased()] else {
                throw FieldError(field: "expression", reason: "unknown macro '\(words[0])' (use \(Self.macroNames))")
            }
            guard words.count == 1 else {
                throw FieldError(field: "expression", reason: "unexpected text after \(words[0])")
            }
            try self.init(fields: fields)
        } else {
            try self.init(fields: text)
        }
    }

    /// Parses exactly five whitespace-separated fields.
    private init(fields text: String) throws(FieldError) {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 5 else {
            throw FieldError(
                field: "expression",
                reason: "expected 5 fields (minute hour day-of-month month day-of-week), found \(words.count)"
            )
        }
        minute = try CronField(parsing: words[0], as: .minute)
        hour = try CronField(parsing: words[1], as: .hour)
        dayOfMonth = try CronField(parsing: words[2], as: .dayOfMonth)
        month = try CronField(parsing: words[3], as: .month)
        dayOfWeek = try CronField(parsing: words[4], as: .dayOfWeek)
        if let reason = neverFiresReason {
            throw FieldError(.dayOfMonth, reason)
        }
    }

    /// Vixie cron: either day field matching suffices only when both are restricted.
    var daysMatchEither: Bool { !dayOfMonth.isWildcard && !dayOfWeek.isWildcard }

    var daylightSavingRule: DaylightSavingRule { hour.isWildcard ? .everyOccurrence : .firstReached }

    /// Why the expression can never fire, if it cannot: every chosen day-of-month is past the end of
    /// every chosen month, and the day-of-week does not offer other days.
    private var neverFiresReason: String? {
        guard !daysMatchEither else { return nil }  // every month has every weekday
        let months = month.values.members
        let shortestDay = dayOfMonth.values.minimum ?? 1
        guard months.allSatisfy({ shortestDay > CivilDate.maximumDays(inMonth: $0) }) else { return nil }
        let names = months.map { Self.monthNames[$0 - 1] }
        let subject = names.count == 1 ? "\(names[0]) has" : "\(Self.joined(names)) have"
        return "never fires (\(subject) no \(Self.ordinal(shortestDay)))"
    }

    /// Whether the day `dayNumber` (days since 1970-01-01), which is `date`, is a matching day.
    /// The month has already been checked.
    private func dayMatches(_ dayNumber: Int64, _ date: CivilDate) -> Bool {
        let domMatches = dayOfMonth.values.contains(date.day)
        let dowMatches = dayOfWeek.values.contains(CivilDate.weekday(ofDayNumber: dayNumber))
        return daysMatchEither ? (domMatches || dowMatches) : (domMatches && dowMatches)
    }

    /// The first matching minute of a day at or after `minuteOfDay`, as a minute of the day.
    private func firstTime(atOrAfter minuteOfDay: Int) -> Int? {
        let startHour = minuteOfDay / 60
        if hour.values.contains(startHour), let m = minute.values.first(atOrAfter: minuteOfDay % 60) {
            return startHour * 60 + m
        }
        guard let h = hour.values.first(atOrAfter: startHour + 1), let m = minute.values.minimum else { return nil }
        return h * 60 + m
    }

    /// Day by day, skipping whole months that do not match: at most a few thousand cheap steps for
    /// the rarest expression (29 February), never minute by minute.
    func firstMatch(atOrAfter wall: Int64, before limit: Int64) -> Int64? {
        var dayNumber = floorDiv(wall, secondsPerDay)
        var minuteOfDay = Int((wall - dayNumber * secondsPerDay) / 60)
        while dayNumber * secondsPerDay < limit {
            let date = CivilDate(dayNumber: dayNumber)
            guard month.values.contains(date.month) else {
                dayNumber = date.firstOfNextMonth.dayNumber
                minuteOfDay = 0
                continue
            }
            if dayMatches(dayNumber, date), let time = firstTime(atOrAfter: minuteOfDay) {
                let result = dayNumber * secondsPerDay + Int64(time) * 60
                return result < limit ? result : nil
            }
            dayNumber += 1
            minuteOfDay = 0
        }
        return nil
    }

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ]

    private static func joined(_ words: [String]) -> String {
        words.count <= 1 ? words.joined() : words.dropLast().joined(separator: ", ") + " and " + words.last!
    }

    private static func ordinal(_ n: Int) -> String {
        let suffix: String
        switch (n % 10, n % 100) {
        case (1, let t) where t != 11: suffix = "st"
        case (2, let t) where t != 12: suffix = "nd"
        case (3, let t) where t != 13: suffix = "rd"
        default: suffix = "th"
        }
        return "\(n)\(suffix)"
    }
}

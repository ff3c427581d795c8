import Foundation
import Testing
import TestSupport
@testable import TMScheduler

/// `tm schedules` as an operator runs it.
@Suite struct ScheduleCLITests {
    struct FireTime: Decodable { var local: String; var utc: String; var unix: Int64 }

    @Test func nextPrintsDaylightSavingCorrectInstants() async throws {
        try await withScheduler { world in
            let arguments = ["schedules", "next", "30 2 * * *", "--tz", "America/New_York", "--from", "2026-03-07T00:00:00Z", "-n", "3"]
            let text = try await world.tm(arguments)
            #expect(text.status == 0, "\(text.output)")
            // 8 March 2026: clocks jump from 02:00 to 03:00 in New York; the 02:30 job fires once, at the jump.
            #expect(text.output.split(separator: "\n") == ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"])

            let json = try await world.tm(arguments + ["--json"])
            #expect(json.status == 0, "\(json.output)")
            let times = try JSONDecoder().decode([FireTime].self, from: Data(json.output.utf8))
            #expect(times.map(\.utc) == ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"])
            #expect(times.first?.unix == 1_772_868_600)
        }
    }

    @Test func nextRefusesABadExpressionOrZoneWithTheReason() async throws {
        try await withScheduler { world in
            let badMinute = try await world.tm(["schedules", "next", "61 * * * *"])
            #expect(badMinute.status != 0)
            #expect(badMinute.output.contains("expression") && badMinute.output.contains("61"), "\(badMinute.output)")
            let badZone = try await world.tm(["schedules", "next", "@daily", "--tz", "Moon/Base"])
            #expect(badZone.status != 0)
            #expect(badZone.output.contains("--tz") && badZone.output.contains("Moon/Base"), "\(badZone.output)")
            let badFrom = try await world.tm(["schedules", "next", "@daily", "--from", "yesterday"])
            #expect(badFrom.status != 0 && badFrom.output.contains("--from"), "\(badFrom.output)")
        }
    }

    struct FireReport: Decodable { var outcome: String; var slot: String; var message_id: String? }

    /// Two `tm schedules fire` of one slot at once: exactly one reports `fired`, the other
    /// `already-fired` with the same message, whatever the interleaving. The slot is given with
    /// `--at`, so both fire the same slot by construction, not by landing in one wall-clock second.
    @Test func fireTwiceInOneSecondFiresOnce() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let name = try world.addSchedule(expression: "@yearly", queue: queue)
            let slots = (0..<4).map { "2026-0\($0 + 1)-15T10:00:0\($0)Z" }
            for slot in slots {
                async let first = world.tm(["schedules", "fire", name, "--at", slot, "--json"])
                async let second = world.tm(["schedules", "fire", name, "--at", slot, "--json"])
                let results = try await [first, second]
                #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.output))")
                let reports = try results.map { try JSONDecoder().decode(FireReport.self, from: Data($0.output.utf8)) }
                #expect(reports.allSatisfy { $0.slot == slot })
                #expect(reports.map(\.outcome).sorted() == ["already-fired", "fired"], "\(reports)")
                #expect(reports[0].message_id != nil && reports[0].message_id == reports[1].message_id)
            }
            let firings = try await world.firings(name)
            #expect(firings.map { Slot.iso8601($0.slot, in: .gmt) } == slots)
            #expect(firings.allSatisfy { $0.trigger == .manual && $0.state == .enqueued })
            #expect(try await world.enqueuedSlots(queue).sorted() == slots)
        }
    }

    struct BackfillReport: Decodable { var slots: Int; var fired: Int; var already_fired: Int }

    @Test func backfillFiresEachSlotOnce() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let name = try world.addSchedule(expression: "*/5 * * * *", queue: queue)
            let hourAgo = (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600 - 3600
            let (from, to) = (Slot.iso8601(Date(timeIntervalSince1970: hourAgo), in: .gmt), Slot.iso8601(Date(timeIntervalSince1970: hourAgo + 45 * 60), in: .gmt))

            let first = try await world.tm(["schedules", "backfill", name, "--from", from, "--to", to, "--json"])
            #expect(first.status == 0, "\(first.output)")
            let report = try JSONDecoder().decode(BackfillReport.self, from: Data(first.output.utf8))
            #expect((report.slots, report.fired, report.already_fired) == (10, 10, 0))

            let again = try await world.tm(["schedules", "backfill", name, "--from", from, "--to", to])
            #expect(again.status == 0, "\(again.output)")
            #expect(again.output.contains("0 fired, 10 already fired"), "\(again.output)")

            let firings = try await world.firings(name)
            #expect(firings.count == 10 && firings.allSatisfy { $0.trigger == .backfill && $0.state == .enqueued })
            #expect(Slot.iso8601(firings.first!.slot, in: .gmt) == from && Slot.iso8601(firings.last!.slot, in: .gmt) == to)
            #expect(try await world.enqueuedSlots(queue).sorted() == firings.map { Slot.iso8601($0.slot, in: .gmt) })

            let future = try await world.tm(["schedules", "backfill", name, "--from", from, "--to", "2999-01-01T00:00:00Z"])
            #expect(future.status != 0 && future.output.contains("--to"), "\(future.output)")
            let unknown = try await world.tm(["schedules", "backfill", "nope", "--from", from, "--to", to])
            #expect(unknown.status != 0 && unknown.output.contains("no schedule 'nope'"), "\(unknown.output)")
        }
    }

    @Test func listShowsNextTimesLastSlotLeaderAndWhyNotFiring() async throws {
        try await withScheduler { world in
            let queue = try world.addQueue()
            let good = try world.addSchedule(expression: "30 2 * * *", queue: queue, settings: "timezone: Asia/Kolkata")
            let broken = try world.addSchedule(expression: "@hourly", queue: "no-such-queue")
            let off = try world.addSchedule(expression: "@hourly", queue: queue, settings: "enabled: false")
            await #expect(try world.tm(["schedules", "fire", good]).status == 0)

            let listed = try await world.tm(["schedules", "--json"])
            #expect(listed.status == 0, "\(listed.output)")
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let status = try decoder.decode(SchedulerStatus.self, from: Data(listed.output.utf8))
            #expect(status.leader == nil)
            let byName = Dictionary(uniqueKeysWithValues: status.schedules.map { ($0.name, $0) })
            let shown = try #require(byName[good])
            #expect(shown.timezone == "Asia/Kolkata" && shown.queue == queue && shown.target == "queue:\(queue)")
            #expect(shown.next.count == 3 && shown.next.allSatisfy { $0.local.hasSuffix("T02:30:00+05:30") && $0.utc.hasSuffix("T21:00:00Z") })
            #expect(shown.lastFiring?.state == "enqueued" && shown.lastFiring?.trigger == "manual")
            #expect(shown.notFiring?.contains("no scheduler is leading") == true)
            #expect(byName[broken]?.notFiring?.contains("no queue 'no-such-queue'") == true)
            #expect(byName[off]?.notFiring?.contains("disabled") == true)

            let scheduler = try world.startScheduler()
            try await eventually("a leader") { try await world.leader() != nil }
            let text = try await world.tm(["schedules"])
            #expect(text.status == 0)
            #expect(text.output.contains("leader: ") && text.output.contains(":\(scheduler.pid) (fencing token"), "\(text.output)")
            #expect(text.output.contains("NOT FIRING: target queue:no-such-queue"), "\(text.output)")
            #expect(text.output.contains("status      disabled (enabled: false)") && !text.output.contains("NOT FIRING: disabled"), "\(text.output)")
            scheduler.terminate()
        }
    }
}

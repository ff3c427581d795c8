import Foundation
import Testing
import TMQueue
import TestSupport
import TMCron
@testable import TMScheduler

@Suite struct ScheduleManifestTests {
    func parse(_ text: String, file: String = "Schedules/nightly.yaml") throws -> ScheduleManifest {
        try ScheduleCatalog.parse(text, file: file)
    }

    @Test func parsesEveryField() throws {
        let manifest = try parse("""
            name: nightly
            description: The nightly run.
            expression: "30 2 * * *"
            timezone: Asia/Kolkata
            target: {queue: analytics}
            payload:
              run: nightly
              at: "{{slot}}"
              local: "{{slot_local}}"
              unix: "{{slot_unix}}"
              name: "{{schedule}} @ {{ slot }}"
              count: 3
              ratio: 0.25
              dry: false
              none: null
              quoted: "7"
              list: [1, "{{slot_unix}}"]
              nested: {ok: true}
            jitter: 30s
            misfire: catch-up
            catch_up_limit: 4
            misfire_grace: 5m
            overlap: buffer-one
            enabled: false
            """)
        #expect(manifest.name == "nightly" && manifest.description == "The nightly run.")
        #expect(manifest.times.description == "30 2 * * *")
        #expect(manifest.times.timeZone.identifier == "Asia/Kolkata")
        #expect(manifest.target == .queue("analytics"))
        #expect(manifest.jitter == .seconds(30))
        #expect(manifest.misfire == .catchUp(limit: 4))
        #expect(manifest.misfireGrace == .seconds(300))
        #expect(manifest.overlap == .bufferOne)
        #expect(manifest.enabled == false)

        // 2026-11-22T02:00:00Z is 07:30 in Kolkata.
        let slot = Date(timeIntervalSince1970: 1_795_312_800)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(manifest.message(for: slot))) as? [String: Any])
        #expect(json["run"] as? String == "nightly")
        #expect(json["at"] as? String == "2026-11-22T02:00:00Z")
        #expect(json["local"] as? String == "2026-11-22T07:30:00+05:30")
        #expect(json["unix"] as? String == "1795312800")
        #expect(json["name"] as? String == "nightly @ 2026-11-22T02:00:00Z")
        #expect((json["count"] as? NSNumber)?.intValue == 3)
        #expect((json["ratio"] as? NSNumber)?.decimalValue == Decimal(string: "0.25"))
        #expect(json["dry"] as? Bool == false)
        #expect(json["none"] is NSNull)
        #expect(json["quoted"] as? String == "7")
        #expect((json["list"] as? [Any])?.count == 2)
        #expect((json["nested"] as? [String: Any])?["ok"] as? Bool == true)
        // Keys keep the manifest's order.
        #expect(String(decoding: manifest.message(for: slot), as: UTF8.self).hasPrefix(#"{"run":"nightly","at":"#))
    }

    @Test func defaultsWhenSilent() throws {
        let manifest = try parse("name: nightly\nexpression: '@daily'\ntarget: {function: analytics-batch}")
        #expect(manifest.times.timeZone.secondsFromGMT() == 0)
        #expect(manifest.target == .function("analytics-batch"))
        #expect(manifest.misfire == .fireOnce && manifest.misfireGrace == .seconds(60))
        #expect(manifest.overlap == .allow && manifest.enabled && manifest.jitter == .zero)
        let slot = Date(timeIntervalSince1970: 1_795_312_800)
        #expect(String(decoding: manifest.message(for: slot), as: UTF8.self) == #"{"schedule":"nightly","slot":"2026-11-22T02:00:00Z"}"#)
    }

    @Test func expressionsAreUnited() throws {
        let manifest = try parse("""
            name: nightly
            expressions: ["0 2 * * *", "30 2 * * *", "0 2 * * *"]
            target: {queue: q}
            """)
        let start = Date(timeIntervalSince1970: 1_795_305_600)  // 2026-11-22T00:00:00Z
        let times = manifest.times.next(4, after: start).map { Slot.iso8601($0, in: .gmt) }
        #expect(times == ["2026-11-22T02:00:00Z", "2026-11-22T02:30:00Z", "2026-11-23T02:00:00Z", "2026-11-23T02:30:00Z"])
        let window = manifest.times.times(after: start, through: start.addingTimeInterval(86_400), limit: 10)
        #expect(window.count == 2)
    }

    @Test(arguments: [
        ("expression: '@daily'\ntarget: {queue: q}", "name", "required"),
        ("name: other\nexpression: '@daily'\ntarget: {queue: q}", "name", "does not match the file name"),
        ("name: Nightly\nexpression: '@daily'\ntarget: {queue: q}", "name", "lowercase"),
        ("name: nightly\ntarget: {queue: q}", "expression", "required"),
        ("name: nightly\nexpression: '@daily'\nexpressions: ['@daily']\ntarget: {queue: q}", "expression", "not both"),
        ("name: nightly\nexpressions: []\ntarget: {queue: q}", "expressions", "at least one"),
        ("name: nightly\nexpression: '61 * * * *'\ntarget: {queue: q}", "expression", "61"),
        ("name: nightly\nexpressions: ['@daily', 'every day']\ntarget: {queue: q}", "expressions[1]", "every day"),
        ("name: nightly\nexpression: '@daily'\ntimezone: Mars/Olympus\ntarget: {queue: q}", "timezone", "IANA"),
        ("name: nightly\nexpression: '@daily'\ntimezone: EST\ntarget: {queue: q}", "timezone", "IANA"),
        ("name: nightly\nexpression: '@daily'", "target", "required"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q, function: f}", "target", "not both"),
        ("name: nightly\nexpression: '@daily'\ntarget: {}", "target", "exactly one"),
        ("name: nightly\nexpression: '@daily'\ntarget: {lambda: f}", "target.lambda", "unknown field"),
        ("name: nightly\nexpression: '@daily'\ntarget: queue", "target", "mapping"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\npayload: [1]", "payload", "mapping"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\npayload: {at: '{{slots}}'}", "payload.at", "unknown placeholder {{slots}}"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\npayload: {at: '{{slot'}", "payload.at", "never closed"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\npayload: {n: .inf}", "payload.n", "not a JSON number"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\njitter: lots", "jitter", "not a duration"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\nmisfire: retry", "misfire", "not one of skip, fire-once, catch-up"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\nmisfire: catch-up", "catch_up_limit", "required"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\ncatch_up_limit: 2", "catch_up_limit", "only meaningful"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\nmisfire: catch-up\ncatch_up_limit: 0", "catch_up_limit", "out of range"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\nmisfire_grace: 0s", "misfire_grace", "below the minimum"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\noverlap: queue", "overlap", "not one of skip, buffer-one, allow"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\nenabled: maybe", "enabled", "not true or false"),
        ("name: nightly\nexpression: '@daily'\ntarget: {queue: q}\ntimezon: UTC", "timezon", "unknown field"),
        ("- just a list", "(document)", "mapping of fields"),
        ("name: [nightly", "(document)", "not valid YAML"),
    ])
    func refusesBadValues(text: String, field: String, reason: String) throws {
        do {
            _ = try parse(text)
            Issue.record("accepted: \(text)")
        } catch let error as ScheduleManifestError {
            #expect(error.file == "Schedules/nightly.yaml")
            #expect(error.field == field, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    @Test func jitterIsDeterministicAndBounded() throws {
        let slots = (0..<200).map { Slot(schedule: "sync", instant: Date(timeIntervalSince1970: 1_795_312_800 + Double($0) * 300), timeZone: .gmt) }
        let delays = slots.map { $0.jitter(maximum: .seconds(30)) }
        #expect(delays == slots.map { $0.jitter(maximum: .seconds(30)) })
        #expect(delays.allSatisfy { $0 >= .zero && $0 < .seconds(30) })
        #expect(Set(delays).count > 150, "spread across the window")
        #expect(slots[0].jitter(maximum: .zero) == .zero)
        #expect(slots[0].key == "schedule:sync:2026-11-22T02:00:00Z")
    }

    @Test func catalogLoadsAFolderAndResolvesTargets() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedules-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("Functions/echo"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "name: echo\n".write(to: directory.appendingPathComponent("Functions/echo/function.yaml"), atomically: true, encoding: .utf8)
        try "name: a\nexpression: '@hourly'\ntarget: {queue: orders}".write(to: directory.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "name: b\nexpression: '@hourly'\ntarget: {function: echo}".write(to: directory.appendingPathComponent("b.yml"), atomically: true, encoding: .utf8)
        let catalog = try ScheduleCatalog.load(directory: directory)
        #expect(catalog.schedules.map(\.name) == ["a", "b"])
        #expect(throws: ScheduleManifestError.self) { try catalog.schedule("c") }

        let queues = QueueTargetResolver(catalog: try QueueCatalog([QueueManifest(name: "orders")]))
        #expect(try queues.queue(for: .queue("orders")).name == "orders")
        #expect(throws: ScheduleTargetError.self) { try queues.queue(for: .queue("nope")) }
        #expect(throws: ScheduleTargetError.self) { try queues.queue(for: .function("echo")) }

        struct NoSuchFunction: Error {}
        let functions = FunctionTargetResolver(queues: queues) { name in
            guard name == "echo" else { throw NoSuchFunction() }
            return QueueManifest(name: "fn:\(name)")
        }
        #expect(try functions.queue(for: .function("echo")).name == "fn:echo")
        #expect(try functions.queue(for: .queue("orders")).name == "orders")
        do {
            _ = try functions.queue(for: .function("missing"))
            Issue.record("resolved a function that is not deployed")
        } catch let error as ScheduleTargetError {
            #expect(error.reason.contains("not deployed"))
        }
    }
}

@Suite struct DuePlanTests {
    let times = ScheduleTimes([try! ScheduleExpression(parsing: "rate(10 seconds)")], timeZone: .gmt)
    let start = Date(timeIntervalSince1970: 1_795_312_800)

    func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    @Test func onTimeAndLateWithinGraceFire() {
        // Slots 10, 20, 30; now 35, grace 60s: a failover's late slots simply fire.
        let plan = DuePlan.make(times, after: start, now: at(35), grace: .seconds(60), policy: .skip)
        #expect(plan.fire == [10, 20, 30].map { .init(slot: at($0), trigger: .schedule) })
        #expect(plan.skipped.isEmpty && plan.missed == 0)
    }

    @Test func misfirePolicies() {
        // Slots 10...50 and now 52, grace 5s: 10-40 are missed, 50 is on time.
        let now = at(52)
        let skip = DuePlan.make(times, after: start, now: now, grace: .seconds(5), policy: .skip)
        #expect(skip.skipped == [10, 20, 30, 40].map(at) && skip.missed == 4)
        #expect(skip.fire == [.init(slot: at(50), trigger: .schedule)])

        let once = DuePlan.make(times, after: start, now: now, grace: .seconds(5), policy: .fireOnce)
        #expect(once.skipped == [10, 20, 30].map(at))
        #expect(once.fire == [.init(slot: at(40), trigger: .catchUp), .init(slot: at(50), trigger: .schedule)])

        let catchUp = DuePlan.make(times, after: start, now: now, grace: .seconds(5), policy: .catchUp(limit: 2))
        #expect(catchUp.skipped == [10, 20].map(at))
        #expect(catchUp.fire == [.init(slot: at(30), trigger: .catchUp), .init(slot: at(40), trigger: .catchUp), .init(slot: at(50), trigger: .schedule)])

        let more = DuePlan.make(times, after: start, now: now, grace: .seconds(5), policy: .catchUp(limit: 10))
        #expect(more.skipped.isEmpty && more.fire.count == 5)
    }

    @Test func aLongDowntimeRecordsOnlyTheMostRecentMissedSlots() {
        // A day of 10-second slots: 8640 missed, the last 1000 recorded, the latest one fires.
        let plan = DuePlan.make(times, after: start, now: at(86_400 + 2), grace: .seconds(1), policy: .fireOnce)
        #expect(plan.missed == 8640)
        #expect(plan.skipped.count == 1000 && plan.skipped.last == at(86_390))
        #expect(plan.fire == [.init(slot: at(86_400), trigger: .catchUp)])
    }
}

/// The schedules the product ships, as `tm schedule run` loads them.
@Suite struct ShippedSchedulesTests {
    let catalog = try! ScheduleCatalog.load(directory: TestServers.repositoryRoot.appendingPathComponent("Schedules"))

    @Test func everyShippedScheduleLoadsWithItsTarget() throws {
        #expect(catalog.schedules.map(\.name) == ["alerts-sweep", "analytics-nightly", "broker-sync", "notifications-sweep", "portfolio-snapshot", "reconcile", "reconcile-eod"])
        #expect(try catalog.schedule("broker-sync").target == .function("sync-trigger"))
        #expect(try catalog.schedule("alerts-sweep").target == .function("alert-evaluator"))
        let nightly = try catalog.schedule("analytics-nightly")
        #expect(nightly.target == .function("analytics-batch") && nightly.overlap == .skip)
    }

    /// A schedule whose function is not built yet would log "not firing" every minute: it ships
    /// disabled, and every enabled one targets a function that has a manifest in `Functions/`.
    @Test func onlySchedulesWhoseFunctionExistsShipEnabled() throws {
        let functions = TestServers.repositoryRoot.appendingPathComponent("Functions")
        for schedule in catalog.schedules {
            guard case .function(let name) = schedule.target else { continue }
            let deployed = FileManager.default.fileExists(atPath: functions.appendingPathComponent("\(name)/function.yaml").path)
            #expect(schedule.enabled == deployed, "\(schedule.name) targets \(name) (deployed: \(deployed)) but enabled is \(schedule.enabled)")
        }
        #expect(catalog.schedules.filter(\.enabled).map(\.name) == ["alerts-sweep", "analytics-nightly", "broker-sync", "notifications-sweep", "portfolio-snapshot"])
    }

    @Test func reconcileFiresEveryQuarterHourOfIndianMarketHoursOnWeekdaysPlusEndOfDay() throws {
        // Monday 23 November 2026, Asia/Kolkata (UTC+05:30): 00:00 local is 18:30Z the day before.
        let monday = Date(timeIntervalSince1970: 1_795_372_200)
        let week = monday.addingTimeInterval(7 * 86_400)
        let zone = TimeZone(identifier: "Asia/Kolkata")!
        let intraday = try catalog.schedule("reconcile").times.times(after: monday, through: week, limit: 1000)
        #expect(intraday.count == 5 * 26, "09:15 ... 15:30 every 15 minutes, Monday to Friday")
        let local = intraday.map { Slot.iso8601($0, in: zone) }
        #expect(local.first == "2026-11-23T09:15:00+05:30" && local[25] == "2026-11-23T15:30:00+05:30")
        #expect(local.last == "2026-11-27T15:30:00+05:30")

        let endOfDay = try catalog.schedule("reconcile-eod")
        #expect(endOfDay.times.times(after: monday, through: week, limit: 10).map { Slot.iso8601($0, in: zone) }.first == "2026-11-23T15:45:00+05:30")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(endOfDay.message(for: monday))) as? [String: Any])
        #expect(body["kind"] as? String == "end-of-day")
    }
}

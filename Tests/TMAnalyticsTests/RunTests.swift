import Foundation
import Logging
import Testing
import TestSupport
import TMAnalytics
import TMCore
import TMFunctionRuntime
import TMPostgres
import TMQueue
import TMRedis

/// The nightly run's orchestration on real Postgres and Redis, with the recomputation counted
/// (`CountingRecomputer`) so a user recomputed twice shows: one run per slot, every user once
/// across chunks and consumers, a crash mid-chunk resumed without the finished users, the run
/// done exactly when its last user is.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RunTests {
    static let slot = "2026-12-05T02:00:00Z"

    /// A slot fired twice — at the same time from two starters, and again after its run finished —
    /// is one run, fanned out once; another night's slot while it runs is recorded skipped; a
    /// manual request while it runs is refused.
    @Test func aNightlySlotFiredTwiceIsOneRun() async throws {
        let f = try await RunFixture(users: 7)
        let nightly = AnalyticsRunRequest(kind: .nightly, slot: Self.slot)
        async let first = f.starter(chunkUsers: 3).start(nightly)
        async let second = f.starter(chunkUsers: 3).start(nightly)
        let outcomes = try await [first, second]
        let started = outcomes.compactMap { if case .started(let run) = $0 { run } else { nil } }
        let existing = outcomes.compactMap { if case .existing(let run) = $0 { run } else { nil } }
        #expect(started.count == 1 && existing.count == 1, "one start, one finding it: \(outcomes)")
        let run = try #require(started.first)
        #expect(existing.first?.id == run.id)
        #expect(run.usersTotal == 7 && run.chunksTotal == 3 && run.state == .running)
        #expect(try await f.runs(slot: Self.slot) == 1)
        #expect(try await f.queuedMessages() == 3, "one message per chunk, not per firing")

        // Another night while this one runs: skipped (recorded, nobody recomputed); a manual run: refused.
        let tomorrow = try await f.starter(chunkUsers: 3).start(AnalyticsRunRequest(kind: .nightly, slot: "2026-12-06T02:00:00Z"))
        guard case .skipped(let skipped?, let running) = tomorrow else { Issue.record("not skipped: \(tomorrow)"); return }
        #expect(running.id == run.id && skipped.state == .skipped && skipped.usersTotal == 0)
        guard case .skipped(nil, _) = try await f.starter(chunkUsers: 3).start(AnalyticsRunRequest(kind: .manual)) else {
            Issue.record("a manual run started while the nightly runs"); return
        }

        // The run finishes; the slot fires once more (a late redelivery): still the one run, nothing queued.
        let counter = CountingRecomputer()
        let worker = AnalyticsChunkWorker(pool: f.pool, recomputer: counter, batchUsers: 2)
        for chunk in 0..<3 { _ = try await worker.process(run: run.id, chunk: chunk, fence: nil) }
        #expect(try await f.run(run.id).state == .done)
        let before = try await f.queuedMessages()
        guard case .existing(let again) = try await f.starter(chunkUsers: 3).start(nightly) else { Issue.record("the slot started a second run"); return }
        #expect(again.id == run.id && again.state == .done)
        #expect(try await f.runs(slot: Self.slot) == 1)
        #expect(try await f.queuedMessages() == before)
        await f.cleanUp()
    }

    /// Two consumers share the chunks of a run on the queue; every user is recomputed exactly
    /// once, with the run's id; the run is done with every figure adding up.
    @Test func theFanOutCoversEveryUserExactlyOnce() async throws {
        let f = try await RunFixture(users: 23)
        let counter = CountingRecomputer()
        let function = AnalyticsBatchFunction(starter: f.starter(chunkUsers: 5), worker: AnalyticsChunkWorker(pool: f.pool, recomputer: counter, batchUsers: 2))
        let consumers = try [f.consumer(function), f.consumer(function)]
        let running = consumers.map { consumer in Task { try await consumer.run() } }

        // The schedule's firing, as the dispatcher hands it over from fn:analytics-batch.
        let request = InvocationRequest(
            invocationID: "i1", function: "analytics-batch", attempt: 1, deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
            records: [InvocationRecord(messageID: "m1", queue: "fn:analytics-batch", attempt: 1, epoch: 1, enqueuedAtMillis: 0,
                                       body: #"{"run":"nightly","slot":"\#(Self.slot)","overlap":"skip"}"#)])
        let result = await function.handle(request, context: FunctionContext(request: request, logger: Logger(label: "test")))
        #expect(result.status == .ok && result.results?["m1"]?.contains("23 user(s) in 5 chunk(s)") == true, "\(result)")
        let runID: UUID = try await f.pool.query("SELECT id FROM analytics_runs").rows[0].decode("id")

        try await eventually("the run done") { try await f.run(runID).state == .done }
        for consumer in consumers { consumer.stop() }
        for task in running { try await task.value }
        #expect(Set(counter.counts.withLock { $0.keys }) == Set(f.users))
        #expect(f.users.allSatisfy { counter.count($0) == 1 }, "each user once: \(counter.counts.withLock { $0.values.sorted() })")
        #expect(counter.runIDs.withLock { $0 } == [runID], "results carry the run id")
        let run = try await f.run(runID)
        #expect(run.usersDone == 23 && run.chunksDone == 5 && run.fills == 230 && run.finishedAt != nil && run.error == nil)
        #expect(try await f.recomputations(runID).values.allSatisfy { $0 == 1 })
        let progress = AnalyticsRunProgress(run: run, now: Date())
        #expect(progress.fraction == 1 && progress.etaSeconds == nil)
        await f.cleanUp()
    }

    /// A chunk's worker dies after recording two of its batches; the chunk's redelivery (a newer
    /// epoch) recomputes only the users not recorded — the finished ones exactly once — and only
    /// then is the run done. While it is down, status shows the partial progress and an ETA.
    @Test func aCrashMidRunResumesWithoutRecomputingFinishedUsers() async throws {
        let f = try await RunFixture(users: 12)
        guard case .started(let run) = try await f.starter(chunkUsers: 6).start(AnalyticsRunRequest(kind: .manual)) else {
            Issue.record("not started"); return
        }
        let counter = CountingRecomputer()
        let worker = AnalyticsChunkWorker(pool: f.pool, recomputer: counter, batchUsers: 2)
        let first = try await worker.process(run: run.id, chunk: 0, fence: MessageFence(queue: f.queue.name, messageID: "c0", epoch: 1))
        #expect(first.recomputed == 6 && !first.finishedRun)
        #expect(try await f.run(run.id).state == .running, "one chunk of two done: the run is not")

        // Chunk 1: two batches recorded, the third hangs — then the process is gone.
        counter.blockAfter.withLock { $0 = 10 }
        let fence1 = MessageFence(queue: f.queue.name, messageID: "c1", epoch: 1)
        let crashed = Task { try await worker.process(run: run.id, chunk: 1, fence: fence1) }
        try await eventually("two batches of chunk 1 recorded") { try await f.run(run.id).usersDone == 10 }
        try await eventually("the third batch started") { counter.counts.withLock { $0.values.reduce(0, +) } == 12 }
        crashed.cancel()
        _ = await crashed.result
        let down = try await f.run(run.id)
        #expect(down.state == .running && down.usersDone == 10 && down.chunksDone == 1)
        let progress = AnalyticsRunProgress(run: down, now: Date())
        #expect(progress.etaSeconds != nil && progress.lines.contains { $0.hasPrefix("users: 10 / 12 done") })
        let pending = try await f.pool.withConnection { try AnalyticsRunStore.pendingUsers($0, run: run.id, chunk: 1) }
        #expect(pending.count == 2)

        // The redelivery.
        counter.blockAfter.withLock { $0 = nil }
        let resumed = try await worker.process(run: run.id, chunk: 1, fence: MessageFence(queue: f.queue.name, messageID: "c1", epoch: 2))
        #expect(resumed.recomputed == 2 && resumed.alreadyDone == 4 && resumed.finishedRun)
        let finishedBeforeCrash = Set(f.users).subtracting(pending)
        #expect(finishedBeforeCrash.allSatisfy { counter.count($0) == 1 }, "finished users recomputed once: \(counter.counts.withLock { $0.values.sorted() })")
        #expect(pending.allSatisfy { counter.count($0) == 2 }, "only the interrupted batch twice")
        let recomputations = try await f.recomputations(run.id)
        #expect(finishedBeforeCrash.allSatisfy { recomputations[$0] == 1 } && pending.allSatisfy { recomputations[$0] == 2 })
        let done = try await f.run(run.id)
        #expect(done.state == .done && done.usersDone == 12 && done.chunksDone == 2)

        // The old delivery, paused rather than dead, cannot record anything now (its fence is stale).
        await #expect(throws: (any Error).self) {
            try await f.pool.transaction(fencedBy: fence1) { try AnalyticsRunStore.markDone($0, run: run.id, users: pending, fills: 1) }
        }
        #expect(try await f.run(run.id).usersDone == 12)
        await f.cleanUp()
    }

    /// A run whose chunks were lost (dead-lettered) makes no progress; the next start fails it as
    /// stalled instead of skipping every later night behind it. A run making progress is not stalled.
    @Test func aStalledRunDoesNotBlockLaterNights() async throws {
        let f = try await RunFixture(users: 3)
        guard case .started(let stuck) = try await f.starter(chunkUsers: 3).start(AnalyticsRunRequest(kind: .nightly, slot: Self.slot)) else {
            Issue.record("not started"); return
        }
        try await f.pool.execute("UPDATE analytics_runs SET updated_at = now() - interval '59 minutes' WHERE id = \(stuck.id)")
        guard case .skipped = try await f.starter(chunkUsers: 3).start(AnalyticsRunRequest(kind: .nightly, slot: "2026-12-06T02:00:00Z")) else {
            Issue.record("a run with recent progress was not waited for"); return
        }
        try await f.pool.execute("UPDATE analytics_runs SET updated_at = now() - interval '61 minutes' WHERE id = \(stuck.id)")
        guard case .started(let next) = try await f.starter(chunkUsers: 3).start(AnalyticsRunRequest(kind: .nightly, slot: "2026-12-07T02:00:00Z")) else {
            Issue.record("a stalled run blocked the next night"); return
        }
        let failed = try await f.run(stuck.id)
        #expect(failed.state == .failed && failed.error?.hasPrefix("stalled: no progress since ") == true && failed.finishedAt != nil)
        #expect(next.state == .running && next.usersTotal == 3)
        await f.cleanUp()
    }

    /// Status figures: rate from the run's life, ETA at that rate, the bar capped, plain lines and JSON.
    @Test func statusFigures() throws {
        let start = Date(timeIntervalSince1970: 1_764_900_000)
        var run = AnalyticsRun(id: UUID(), kind: .nightly, slot: Self.slot, state: .running, usersTotal: 1000, usersDone: 250, chunksTotal: 4,
                               chunksDone: 1, fills: 250_000, startedAt: start, updatedAt: start, finishedAt: nil, error: nil)
        let progress = AnalyticsRunProgress(run: run, now: start.addingTimeInterval(50))
        #expect(progress.usersPerSecond == 5 && progress.fillsPerSecond == 5000 && progress.etaSeconds == 150)
        #expect(progress.bar(width: 20) == "[#####...............]  25.0%")
        #expect(progress.lines[1] == "users: 250 / 1000 done (25.0%); chunks: 1 / 4; fills: 250000")
        #expect(progress.lines[3] == "rate: 5.0 users/s, 5000 fills/s; ETA 2m30s")
        #expect(progress.json["eta_seconds"] == .number("150.000") && progress.json["users_done"] == .number("250"))

        run.usersDone = 0
        run.fills = 0
        let early = AnalyticsRunProgress(run: run, now: start.addingTimeInterval(5))
        #expect(early.usersPerSecond == nil && early.etaSeconds == nil && early.json["eta_seconds"] == .null)
        #expect(early.lines[3] == "rate: - (no user done yet); ETA unknown")

        run.usersDone = 1000
        run.state = .done
        run.finishedAt = start.addingTimeInterval(100)
        let done = AnalyticsRunProgress(run: run, now: start.addingTimeInterval(9999))
        #expect(done.usersPerSecond == 10 && done.etaSeconds == nil && done.bar(width: 10) == "[##########] 100.0%")
    }

    /// A record that cannot be read names the field and the reason, and is not retried.
    @Test func badRecordsNameTheFieldAndTheReason() async throws {
        let cases: [(String, String)] = [
            ("[1]", "(body): not a JSON object"),
            (#"{"run":"weekly"}"#, "run: 'weekly' is not a kind of run (nightly, manual)"),
            (#"{"run":"nightly"}"#, "slot: missing"),
            (#"{"run":"nightly","slot":"tonight"}"#, "slot: 'tonight' is not an ISO 8601 time"),
            (#"{"run":"manual","overlap":"buffer-one"}"#, "overlap: 'buffer-one' is not a policy a run follows (skip, allow)"),
            (#"{"run_id":"x","chunk":0}"#, "run_id: 'x' is not a UUID"),
            (#"{"run_id":"\#(UUID().uuidString)","chunk":-1}"#, "chunk: '-1' is not a chunk number"),
        ]
        let f = try await RunFixture(users: 0)
        let function = AnalyticsBatchFunction(starter: f.starter(chunkUsers: 5), worker: AnalyticsChunkWorker(pool: f.pool, recomputer: CountingRecomputer()))
        let request = InvocationRequest(
            invocationID: "i", function: "analytics-batch", attempt: 1, deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
            records: (cases.map(\.0) + [#"{"run_id":"\#(UUID().uuidString)","chunk":0}"#]).enumerated().map {
                InvocationRecord(messageID: "m\($0.offset)", queue: f.queue.name, attempt: 1, epoch: 1, enqueuedAtMillis: 0, body: $0.element)
            })
        let result = await function.handle(request, context: FunctionContext(request: request, logger: Logger(label: "test")))
        let failures = Dictionary(uniqueKeysWithValues: (result.failures ?? []).map { ($0.messageID, $0) })
        for (index, (_, reason)) in cases.enumerated() {
            #expect(failures["m\(index)"]?.error.hasPrefix(reason) == true && failures["m\(index)"]?.retryable == false, "\(failures["m\(index)"]?.error ?? "ok")")
        }
        #expect(failures["m\(cases.count)"]?.error.contains("no analytics run") == true && failures["m\(cases.count)"]?.retryable == false)
        await f.cleanUp()
    }
}

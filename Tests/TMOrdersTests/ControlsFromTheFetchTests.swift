import Foundation
import Testing
import TestSupport
import TMCore
import TMOrders
import TMQueue
import TMRedis
import TMRisk

/// A trading-state change is effective from the next message (`ResidentState`'s rule) when the
/// order-worker takes the announced version from its fetch: a message fetched after the command
/// returned is refused without a Redis read of its own; one that waited behind its account's
/// earlier message reads the announcement itself; a missing watched key falls back to the read.
/// The limits poll is off (an hour), so only the per-message check can apply a change here.
@Suite(.serialized) struct ControlsFromTheFetchTests {
    /// A worker over a scratch `orders`-shaped queue whose resident state counts its reads of the
    /// announcement (`GET tm:{trading-controls}:announced`, or the record-then-read script).
    struct Worker {
        let manifest: QueueManifest
        let producer: QueueProducer
        let reads = Locked(0)
        /// Checks that threw (`TradingStateUnchecked`: the message deferred, nothing sent).
        let failures = Locked(0)
        /// Loads running: a load's own read of the announcement is not a message's.
        let loading = Locked(0)
        /// Holds the message keyed "slow" after its check (`checkBeforeMessage`) until opened.
        let gate = Locked(false)
        let loaded = Locked<Set<Int>>([])
        let worker: OrderWorker
        let running: Task<Void, any Error>
        let redis: RedisClient

        /// `announced`: the queue announcers raise (default: this worker's).
        /// `maxDeliveries`: attempts before a message is dead-lettered (a deferral uses none);
        /// `announceFirst`: an announcement before the worker starts.
        /// `retryPauses`: the pauses between in-place tries of a failed check.
        init(_ h: PlacementHarness, announced: String? = nil, maxDeliveries: Int = 100, announceFirst: AnnounceFirst = .nothing,
             retryPauses: [Duration] = ResidentState.checkRetryPauses) async throws {
            var scratch = try ResidentWorkerTests.ordersManifest()
            scratch.maxDeliveries = maxDeliveries
            let manifest = scratch
            switch announceFirst {
            case .nothing: break
            case .globalOnly: try await TradingControls.announce(h.redis, shards: 0, queue: manifest.name)
            case .everyShard: try await TradingControls.announce(h.redis, shards: manifest.shards, queue: manifest.name)
            }
            var counted = h.redis.configuration
            let (reads, loading, failures) = (self.reads, self.loading, self.failures)
            counted.roundTripObserver = { commands in
                if loading.current > 0 { return }
                // A GET of the announcement, or the script that records the shard count and reads it.
                let gets = commands.filter { command in
                    command.arguments.contains { String(decoding: $0.bytes, as: UTF8.self) == TradingControls.announcementKey }
                }.count
                if gets > 0 { reads.withLock { $0 += gets } }
            }
            redis = try await RedisClient(configuration: counted, name: "counted")
            let gate = self.gate
            let state = try ResidentState(pool: h.pool, redis: redis, announcedQueue: announced ?? manifest.name, checkRetryPauses: retryPauses)
            var settings = OrderWorker.Settings()
            settings.refreshInterval = .seconds(3600)
            let loaded = self.loaded
            worker = OrderWorker(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL),
                                 placer: h.placer(routes: state.routes, risk: state.risk), outbox: nil, settings: settings,
                                 prepare: { shards in
                                     loading.withLock { $0 += 1 }
                                     defer { loading.withLock { $0 -= 1 } }
                                     try await state.load(shards: shards, of: manifest)
                                     loaded.withLock { $0.formUnion(shards) }
                                 }, refresh: { await state.refresh() }, beforeMessage: { [gate] in
                                     do { try await state.checkBeforeMessage() } catch {
                                         failures.withLock { $0 += 1 }
                                         throw error
                                     }
                                     // A message keyed "slow" is held after its check until the gate opens.
                                     if ResidentState.handling?.key == "slow" {
                                         while !gate.current { try await Task.sleep(for: .milliseconds(5)) }
                                     }
                                 })
            self.manifest = manifest
            producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([manifest]))
            let worker = self.worker
            running = Task { try await worker.run() }
        }

        func enqueue(_ payload: [UInt8], key: String) async throws {
            _ = try await producer.enqueue(manifest.name, OutgoingMessage(payload: payload, key: key))
        }

        /// `tm orders halt|reduce|resume` for this worker's queue: committed, then announced.
        func set(_ h: PlacementHarness, _ state: TradingState) async throws {
            _ = try TradingControls.set(h.db, scope: .global, state: state, reason: "test", by: "test")
            try await TradingControls.announce(h.redis, shards: manifest.shards, queue: manifest.name)
        }

        /// Entries still on the shards' streams (a settled message is deleted).
        func unsettled(_ h: PlacementHarness) async throws -> Int {
            var total = 0
            for shard in 0..<manifest.shards { total += Int(try await h.redis.send("XLEN", QueueKeys(queue: manifest.name, shard: shard).stream).int ?? 0) }
            return total
        }

        /// Entries fetched by the worker and not settled.
        func pending(_ h: PlacementHarness) async throws -> Int {
            var total = 0
            for shard in 0..<manifest.shards {
                let reply = try await h.redis.send("XPENDING", QueueKeys(queue: manifest.name, shard: shard).stream, QueueConsumer.group)
                total += Int(reply.array?.first?.int ?? 0)
            }
            return total
        }

        /// Every shard loaded and a first order placed and settled: nothing in flight, no lane busy.
        func warmUp(_ h: PlacementHarness) async throws {
            try await eventually("every shard loaded", within: .seconds(60)) { loaded.withLock { $0.count } == manifest.shards }
            try await enqueue(h.place(.kite, key: "warm-up", price: "1380"), key: "warm-up")
            try await eventually("the warm-up order accepted", within: .seconds(60)) { (try? h.state(key: "warm-up")) == "ACCEPTED" }
            try await eventually("the warm-up order settled", within: .seconds(30)) { (try? await unsettled(h)) == 0 }
        }

        func stop() {
            worker.stop()
            running.cancel()
        }
    }

    /// What is announced before the worker starts: nothing; the global value only (the shards'
    /// keys missing, for the worker to seed); every shard's key (none seeded: only the load records
    /// the shard count).
    enum AnnounceFirst { case nothing, globalOnly, everyShard }

    /// Runs `body` with a fresh harness and a worker whose warm-up order is settled. The global
    /// announcement keys (`tm:{trading-controls}:*`) a test may delete or set are put back after
    /// it, so the tests pass in any order.
    func withWarmWorker(announced: String? = nil, maxDeliveries: Int = 100, announceFirst: AnnounceFirst = .nothing,
                        retryPauses: [Duration] = ResidentState.checkRetryPauses,
                        _ body: (PlacementHarness, Worker) async throws -> Void) async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try await ControlsAnnounceTests.restoringGlobalKeys(h.redis) {
            try h.synced()
            let w = try await Worker(h, announced: announced, maxDeliveries: maxDeliveries, announceFirst: announceFirst, retryPauses: retryPauses)
            defer { w.stop() }
            try await w.warmUp(h)
            try await body(h, w)
        }
    }

    func refused(_ h: PlacementHarness, key: String) async throws {
        try await eventually("\(key) to be refused", within: .seconds(60)) { (try? h.state(key: key)) == "RISK_REJECTED" }
        #expect(try h.row(key: key).decode("reject_code", as: String?.self) == "TRADING_HALTED")
    }

    func accepted(_ h: PlacementHarness, key: String) async throws {
        try await eventually("\(key) to be decided", within: .seconds(60)) { ((try? h.state(key: key)) ?? "SUBMITTING") != "SUBMITTING" }
        let code = try h.row(key: key).decode("reject_code", as: String?.self)
        #expect(try h.state(key: key) == "ACCEPTED", "\(code ?? "-")")
    }

    /// (a) A halt that returned before the message's fetch refuses it, the version taken from the
    /// fetch (no read of the announcement); (d) a resume is applied the same way. Before any
    /// announcement on this queue, the worker's own seeding of the watched keys spares the read too.
    @Test func aChangeReturnedBeforeTheFetchAppliesWithoutAReadOfItsOwn() async throws {
        // The global value exists (the warm-up's seeding has one to give), the shards' keys not.
        try await withWarmWorker(announceFirst: .globalOnly) { h, w in
            w.reads.withLock { $0 = 0 }
            try await w.enqueue(h.place(.kite, key: "before-any-change", price: "1379"), key: "before-any-change")
            try await accepted(h, key: "before-any-change")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            try await w.set(h, .halted)
            try await w.enqueue(h.place(.kite, key: "after-halt", price: "1381"), key: "after-halt")
            try await refused(h, key: "after-halt")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }

            try await w.set(h, .active)
            try await w.enqueue(h.place(.kite, key: "after-resume", price: "1382"), key: "after-resume")
            try await accepted(h, key: "after-resume")
            #expect(w.reads.current == 0, "the fetch's watched value stood in for the announcement's read")
        }
    }

    /// (b) A message fetched before the halt returned, which then waited behind its account's
    /// earlier order (held after its check until the halt is announced), is refused: its fetch's
    /// value is stale, so it reads the announcement.
    @Test func aMessageThatWaitedBehindItsAccountAfterAHaltIsRefused() async throws {
        try await withWarmWorker { h, w in
            try await w.enqueue(h.place(.kite, key: "slow", price: "1383"), key: "slow")
            try await w.enqueue(h.place(.kite, key: "behind", price: "1384"), key: "behind")
            // Both fetched (pending for the worker) while the first one is held.
            try await eventually("both fetched", within: .seconds(30)) { (try? await w.pending(h)) == 2 }
            try await w.set(h, .halted)
            w.gate.withLock { $0 = true }
            try await refused(h, key: "behind")
            try await accepted(h, key: "slow")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            #expect(w.reads.current > 0)
        }
    }

    /// Runs a lone message after a resume, so the worker has seen the announced value.
    func seeCurrentValue(_ h: PlacementHarness, _ w: Worker, key: String, price: String) async throws {
        try await w.set(h, .active)
        try await w.enqueue(h.place(.kite, key: key, price: price), key: key)
        try await accepted(h, key: key)
        try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
    }

    /// The announcement's counter lost alone (the watched keys still at the value the worker saw):
    /// the next halt still reaches the keys with a new value, and the next lone message is refused.
    @Test func aHaltAfterTheCounterWasLostAloneRefusesTheNextLoneMessage() async throws {
        try await withWarmWorker { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-counter-lost", price: "1386")
            try await h.redis.send("DEL", TradingControls.counterKey)
            try await w.set(h, .halted)
            try await w.enqueue(h.place(.kite, key: "after-counter-lost", price: "1387"), key: "after-counter-lost")
            try await refused(h, key: "after-counter-lost")
        }
    }

    /// Redis lost everything and the counter comes back to the n the worker saw last: the halt's
    /// value still differs from the worker's (the nonce), and the next lone message is refused.
    @Test func aHaltAfterRedisLostEverythingRefusesEvenAtTheSameNumber() async throws {
        try await withWarmWorker { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-all-lost", price: "1388")
            let seen = try #require(try await TradingControls.announcedVersion(h.redis))
            let n = try #require(Int64(seen.prefix { $0 != ":" }))
            let watched = (0..<w.manifest.shards).map { QueueKeys(queue: w.manifest.name, shard: $0).watched }
            try await h.redis.send(RedisCommand("DEL", arguments: watched + [TradingControls.announcementKey]))
            try await h.redis.send("SET", TradingControls.counterKey, n - 1)
            try await w.set(h, .halted)
            let halted = try #require(try await TradingControls.announcedVersion(h.redis))
            #expect(halted.hasPrefix("\(n):") && halted != seen)
            try await w.enqueue(h.place(.kite, key: "after-all-lost", price: "1389"), key: "after-all-lost")
            try await refused(h, key: "after-all-lost")
        }
    }

    /// The announcement cannot be read (here: a key of the wrong type answers an error): the
    /// message fails (nothing sent) rather than going ahead with the limits it had, and is
    /// deferred — with one delivery allowed, its failed checks use none up; once a halt is
    /// announced its retry is refused.
    @Test func aFailedReadOfTheAnnouncementDefersTheMessage() async throws {
        try await withWarmWorker(maxDeliveries: 1) { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-failed-read", price: "1390")
            let watched = (0..<w.manifest.shards).map { QueueKeys(queue: w.manifest.name, shard: $0).watched }
            try await h.redis.send(RedisCommand("DEL", arguments: watched + [TradingControls.announcementKey]))
            try await h.redis.send("HSET", TradingControls.announcementKey, "not", "a value")
            w.failures.withLock { $0 = 0 }
            try await w.enqueue(h.place(.kite, key: "read-failed", price: "1391"), key: "read-failed")
            try await eventually("the check failed twice (deferred, not dead-lettered)", within: .seconds(30)) { w.failures.current >= 2 }
            try await h.redis.send("DEL", TradingControls.announcementKey)
            try await w.set(h, .halted)
            try await refused(h, key: "read-failed")
        }
    }

    /// A blip: the announcement cannot be read at the message's first check and can at a later
    /// in-place try. The message is checked in place, still holding its account's turn — never
    /// deferred (a deferral would let the account's next message go first) — and the halt is applied.
    /// (Tries every 5 ms for up to 20 s, so the blip surely ends within them: no race with the clock.)
    @Test func aBlipIsRiddenOutInPlaceWithoutADeferral() async throws {
        try await withWarmWorker(retryPauses: Array(repeating: .milliseconds(5), count: 4000)) { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-blip", price: "1386")
            let watched = (0..<w.manifest.shards).map { QueueKeys(queue: w.manifest.name, shard: $0).watched }
            try await h.redis.send(RedisCommand("DEL", arguments: watched + [TradingControls.announcementKey]))
            try await h.redis.send("HSET", TradingControls.announcementKey, "not", "a value")
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            w.failures.withLock { $0 = 0 }
            w.reads.withLock { $0 = 0 }
            try await w.enqueue(h.place(.kite, key: "after-blip", price: "1387"), key: "after-blip")
            // The first try and the first in-place retry failed: the blip ends.
            try await eventually("two failed tries", within: .seconds(30)) { w.reads.current >= 2 }
            try await h.redis.send("DEL", TradingControls.announcementKey)
            try await TradingControls.announce(h.redis, shards: w.manifest.shards, queue: w.manifest.name)
            try await refused(h, key: "after-blip")
            #expect(w.failures.current == 0, "the check was deferred")
        }
    }

    /// A changed announcement asks for the limits again and they cannot be read (their version's
    /// table is away): the message is deferred, never checked under the emergency limits that do
    /// not know the halt; once the table is back its retry is refused.
    @Test func aFailedLimitsReadAfterAChangeDefersTheMessage() async throws {
        try await withWarmWorker { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-limits-fail", price: "1397")
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            try h.db.execute("ALTER TABLE trading_controls_version RENAME TO trading_controls_version_away")
            var renamed = true
            defer { if renamed { _ = try? h.db.execute("ALTER TABLE trading_controls_version_away RENAME TO trading_controls_version") } }
            try await TradingControls.announce(h.redis, shards: w.manifest.shards, queue: w.manifest.name)
            w.failures.withLock { $0 = 0 }
            try await w.enqueue(h.place(.kite, key: "limits-failed", price: "1398"), key: "limits-failed")
            try await eventually("the check failed", within: .seconds(30)) { w.failures.current > 0 }
            try h.db.execute("ALTER TABLE trading_controls_version_away RENAME TO trading_controls_version")
            renamed = false
            try await refused(h, key: "limits-failed")
        }
    }

    /// Redis lost its data (the watched keys and the recorded shard count): the worker's next
    /// message seeds its shard's key again — and records the count again first, so a later halt
    /// from an announcer whose manifest says no shards (a limit sweep's, a small `tm` host's)
    /// still raises the seeded key, and the next lone message is refused.
    @Test func aShardSeededAfterADataLossIsRaisedByASmallerAnnouncer() async throws {
        try await withWarmWorker { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-data-loss", price: "1399")
            let watched = (0..<w.manifest.shards).map { QueueKeys(queue: w.manifest.name, shard: $0).watched }
            try await h.redis.send(RedisCommand("DEL", arguments: watched + [TradingControls.shardsKey(w.manifest.name)]))
            // A resume announced to no shard, then a message that seeds its shard with it.
            try await TradingControls.announce(h.redis, shards: 0, queue: w.manifest.name)
            try await w.enqueue(h.place(.kite, key: "seeds-after-loss", price: "1400"), key: "seeds-after-loss")
            try await accepted(h, key: "seeds-after-loss")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            let shard = QueueKeys.shard(for: h.accounts[.kite]!.uuidString.lowercased(), shards: w.manifest.shards)
            #expect(try await h.redis.send("GET", watched[shard]).string != nil, "the shard was seeded")
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            try await TradingControls.announce(h.redis, shards: 0, queue: w.manifest.name)
            try await w.enqueue(h.place(.kite, key: "after-loss-halt", price: "1401"), key: "after-loss-halt")
            try await refused(h, key: "after-loss-halt")
        }
    }

    /// Nothing announced since Redis lost its data, then an old `tm`'s halt (committed, then an
    /// INCR of the announcement: a plain counter): the message whose fetch found no watched key
    /// has the worker announce a new unique value in its place (seeding its shard with it) and is
    /// refused; an old announcer's next INCR fails (so it says the workers apply its change
    /// within a second, which their limits poll keeps).
    @Test func anOldAnnouncersCounterIsReplacedByANewValue() async throws {
        try await withWarmWorker { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-old-tm", price: "1392")
            let watched = (0..<w.manifest.shards).map { QueueKeys(queue: w.manifest.name, shard: $0).watched }
            try await h.redis.send(RedisCommand("DEL", arguments: watched + [TradingControls.announcementKey]))
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            // The old tm's counter, far above this version's counter: the new value's n goes above it.
            let counter = Int(try await h.redis.send("GET", TradingControls.counterKey).string ?? "") ?? 0
            try await h.redis.send("SET", TradingControls.announcementKey, String(counter + 1000))
            _ = try await h.redis.send("INCR", TradingControls.announcementKey)
            try await w.enqueue(h.place(.kite, key: "after-old-halt", price: "1402"), key: "after-old-halt")
            try await refused(h, key: "after-old-halt")
            let value = try #require(try await TradingControls.announcedVersion(h.redis))
            #expect(Int(value) == nil && value.contains(":"), "\(value)")
            #expect(ControlsAnnounceTests.number(value) > Int64(counter + 1001), "\(value)")
            let shard = QueueKeys.shard(for: h.accounts[.kite]!.uuidString.lowercased(), shards: w.manifest.shards)
            #expect(try await h.redis.send("GET", watched[shard]).string == value)
            await #expect(throws: (any Error).self) { _ = try await h.redis.send("INCR", TradingControls.announcementKey) }
        }
    }

    /// An announcer whose manifest says fewer shards than the worker consumes (here: none up to
    /// the account's) still raises the account's shard: the worker recorded its count.
    @Test func anAnnouncerWithFewerShardsStillReachesTheWorkersHighShard() async throws {
        // Every key announced before the worker starts: none is seeded, only the load records.
        try await withWarmWorker(announceFirst: .everyShard) { h, w in
            try await seeCurrentValue(h, w, key: "seen-before-few-shards", price: "1393")
            let shard = QueueKeys.shard(for: h.accounts[.kite]!.uuidString.lowercased(), shards: w.manifest.shards)
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            try await TradingControls.announce(h.redis, shards: shard, queue: w.manifest.name)
            try await w.enqueue(h.place(.kite, key: "after-few-shards", price: "1394"), key: "after-few-shards")
            try await refused(h, key: "after-few-shards")
        }
    }

    /// A worker whose queue is not the one announcers raise never trusts its fetched value (nor
    /// seeds it): announcements on another queue still reach its next message through the read,
    /// although its own shards' keys hold a value (raised once, then never again).
    @Test func aQueueAnnouncersDoNotRaiseAlwaysReadsTheAnnouncement() async throws {
        let other = "orders-" + TestServers.uniqueName("other").lowercased().replacingOccurrences(of: "_", with: "-")
        try await withWarmWorker(announced: other, announceFirst: .everyShard) { h, w in
            try await w.enqueue(h.place(.kite, key: "before-other-halt", price: "1395"), key: "before-other-halt")
            try await accepted(h, key: "before-other-halt")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            try await TradingControls.announce(h.redis, shards: 1, queue: other)
            try await w.enqueue(h.place(.kite, key: "after-other-halt", price: "1396"), key: "after-other-halt")
            try await refused(h, key: "after-other-halt")
        }
    }

    /// The announcement lost with Redis's data (the key missing) after the worker saw a value, and
    /// a halt committed but not announced: a message that reads the announcement itself (its queue
    /// is not the one announcers raise) takes the missing value as a change, re-reads the limits
    /// and is refused — not waved through until the limits poll.
    @Test func anAnnouncementLostWithRedisDataIsAChangeForTheNextRead() async throws {
        let other = "orders-" + TestServers.uniqueName("lost").lowercased().replacingOccurrences(of: "_", with: "-")
        try await withWarmWorker(announced: other, announceFirst: .everyShard) { h, w in
            try await TradingControls.announce(h.redis, shards: 1, queue: other)
            try await w.enqueue(h.place(.kite, key: "before-lost-value", price: "1397"), key: "before-lost-value")
            try await accepted(h, key: "before-lost-value")
            try await eventually("settled", within: .seconds(30)) { (try? await w.unsettled(h)) == 0 }
            _ = try TradingControls.set(h.db, scope: .global, state: .halted, reason: "test", by: "test")
            try await h.redis.send("DEL", TradingControls.announcementKey)
            try await w.enqueue(h.place(.kite, key: "after-lost-value", price: "1398"), key: "after-lost-value")
            try await refused(h, key: "after-lost-value")
        }
    }

    /// (c) The watched keys gone (Redis restarted, never announced): the message reads the
    /// announcement itself and is refused all the same.
    @Test func aMissingWatchedKeyFallsBackToTheAnnouncementsRead() async throws {
        try await withWarmWorker { h, w in
            w.reads.withLock { $0 = 0 }
            try await w.set(h, .halted)
            for shard in 0..<w.manifest.shards { try await h.redis.send("DEL", QueueKeys(queue: w.manifest.name, shard: shard).watched) }
            try await w.enqueue(h.place(.kite, key: "no-watched-key", price: "1385"), key: "no-watched-key")
            try await refused(h, key: "no-watched-key")
            #expect(w.reads.current > 0)
        }
    }
}

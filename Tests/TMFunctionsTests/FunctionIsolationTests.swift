import Foundation
import Testing
import TestSupport
import TMFunctionRuntime
import TMFunctions

/// A function process gets an allow-listed environment (the secret key only when its manifest
/// declares it), and its output is capped: a function printing 100 MB fails its invocation while
/// the invoking process's memory stays bounded.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FunctionIsolationTests {
    let harness = TestFunctionHarness()

    /// The dispatcher's environment in these tests: the secrets, a stranger's credential, an env
    /// file holding the key (as `.tm/env` does), and ordinary configuration.
    func dispatcherEnvironment(envFile: String) -> [String: String] {
        var base = ProcessInfo.processInfo.environment
        base["TM_SECRET_KEY"] = "current-key-for-the-test"
        base["TM_SECRET_KEYS_PREVIOUS"] = "previous-key-for-the-test"
        base["AWS_SECRET_ACCESS_KEY"] = "not-for-functions"
        base["TM_REDIS_URL"] = "redis://127.0.0.1:1/0"
        base["TM_ENV_FILE"] = envFile
        return base
    }

    func seen(_ outcome: InvocationOutcome) throws -> [String: String] {
        let text = try #require(outcome.result?.results?["m1"], "\(outcome.kind) \(outcome.reason ?? "")")
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
    }

    @Test func theSecretKeyReachesOnlyAFunctionThatDeclaresIt() async throws {
        defer { harness.cleanUp() }
        let envFile = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("env")).path
        try "TM_SECRET_KEY=key-from-the-env-file\nTM_DATABASE_URL=postgres://from-the-file/db\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: envFile) }
        let base = dispatcherEnvironment(envFile: envFile)

        // Undeclared: neither in its environment nor through the env file; configuration passes.
        let plain = ColdInvoker(harness.launch(harness.manifest { $0.environment["TEST_MODE"] = "environment" }, base: base))
        let env = try seen(await plain.invoke(harness.request(["{}"])))
        #expect(env["TM_SECRET_KEY"] == nil)
        #expect(env["TM_SECRET_KEYS_PREVIOUS"] == nil)
        #expect(env["AWS_SECRET_ACCESS_KEY"] == nil, "nothing outside the allow-list passes")
        #expect(env["TM_REDIS_URL"] == "redis://127.0.0.1:1/0", "configuration passes")
        #expect(env["PATH"] == base["PATH"])
        #expect(env["TEST_MODE"] == "environment", "the manifest's environment passes")
        #expect(env["TM_ENV_FILE"] == "/dev/null")
        let configuration = try seen(await plain.invoke(harness.request([#"{"mode":"configuration"}"#])))
        #expect(configuration["TM_SECRET_KEY"] == nil, "the env file is not read behind the allow-list's back")
        #expect(configuration["TM_REDIS_URL"] == "redis://127.0.0.1:1/0")

        // Declared: exactly the secrets listed, cold and warm.
        let declared = harness.manifest { $0.environment["TEST_MODE"] = "environment"; $0.secrets = ["TM_SECRET_KEY"] }
        let cold = try seen(await ColdInvoker(harness.launch(declared, base: base)).invoke(harness.request(["{}"])))
        #expect(cold["TM_SECRET_KEY"] == "current-key-for-the-test")
        #expect(cold["TM_SECRET_KEYS_PREVIOUS"] == nil, "only the secrets listed")
        var warmManifest = declared
        warmManifest.warm = true
        let pool = WarmPool(harness.launch(warmManifest, base: base))
        let warm = try seen(await pool.invoke(harness.request(["{}"])))
        await pool.shutdown()
        #expect(warm["TM_SECRET_KEY"] == "current-key-for-the-test")
        #expect(warm["AWS_SECRET_ACCESS_KEY"] == nil)
    }

    @Test func theManifestReaderRefusesSecretsItDoesNotKnow() throws {
        let file = "Functions/fn/function.yaml"
        let manifest = try FunctionCatalog.parse("name: fn\nsecrets: [TM_SECRET_KEY, TM_SECRET_KEYS_PREVIOUS]\nmax_output: 2MiB\n", file: file)
        #expect(manifest.secrets == ["TM_SECRET_KEY", "TM_SECRET_KEYS_PREVIOUS"])
        #expect(manifest.maxOutput == 2 << 20)
        #expect(try FunctionCatalog.parse("name: fn\n", file: file).maxOutput == 1 << 20, "1 MiB by default")
        let refused: [(String, String)] = [
            ("secrets: [TM_SECRET_KEY, AWS_SECRET_ACCESS_KEY]",
             "Functions/fn/function.yaml: secrets[1]: 'AWS_SECRET_ACCESS_KEY' is not a secret the dispatcher holds (known: TM_FCM_ACCESS_TOKEN, TM_SECRET_KEY, TM_SECRET_KEYS_PREVIOUS, TM_SMTP_PASSWORD, TM_SMTP_USERNAME, "
             + "TM_TWILIO_ACCOUNT_SID, TM_TWILIO_AUTH_TOKEN)"),
            ("secrets: [TM_SECRET_KEY, TM_SECRET_KEY]", "Functions/fn/function.yaml: secrets[1]: 'TM_SECRET_KEY' is listed twice"),
            ("secrets: TM_SECRET_KEY", "Functions/fn/function.yaml: secrets: expected a list of values"),
            ("max_output: 12", "Functions/fn/function.yaml: max_output: 12 is out of range (1 KiB...256 MiB)"),
            ("max_output: lots", "Functions/fn/function.yaml: max_output: 'lots' is not a size (use e.g. 65536, 512KiB, 1MiB)"),
        ]
        for (line, message) in refused {
            #expect(throws: FunctionManifestError.self, "\(line)") { try FunctionCatalog.parse("name: fn\n\(line)\n", file: file) }
            do { _ = try FunctionCatalog.parse("name: fn\n\(line)\n", file: file) } catch { #expect("\(error)" == message) }
        }
    }

    @Test func aFunctionFloodingStdoutFailsAsGarbageAndTheInvokerStaysSmall() async throws {
        defer { harness.cleanUp() }
        let tool = try InvokeTool(harness: harness)
        defer { tool.cleanUp() }
        let baseline = try tool.invoke(#"{"mode":"echo"}"#)
        #expect(baseline.status == 0, "\(baseline.output)")
        let flood = try tool.invoke(#"{"mode":"flood_stdout","bytes":100000000}"#)
        print("tm invoke peak RSS: echo \(baseline.peakKiB / 1024) MiB, 100 MB on stdout \(flood.peakKiB / 1024) MiB")
        #expect(flood.status == 1)
        #expect(flood.output.contains(": garbage in "), "\(flood.output.suffix(500))")
        #expect(flood.output.contains("output over 1 MiB"), "\(flood.output.suffix(500))")
        #expect(flood.peakKiB - baseline.peakKiB < 40 * 1024, "the invoking process's memory stays bounded")

        // The reason is what the message is retried and dead-lettered with.
        let outcome = await ColdInvoker(harness.launch(harness.manifest { $0.timeout = .seconds(120) }))
            .invoke(harness.request([#"{"mode":"flood_stdout","bytes":100000000}"#]))
        #expect(outcome.kind == .garbage)
        #expect(outcome.failure(of: "m1")?.error == "garbage: output over 1 MiB")
    }

    @Test func aFunctionFloodingStderrSucceedsWithItsLogsCappedAndTheInvokerStaysSmall() async throws {
        defer { harness.cleanUp() }
        let tool = try InvokeTool(harness: harness)
        defer { tool.cleanUp() }
        let baseline = try tool.invoke(#"{"mode":"echo"}"#)
        let flood = try tool.invoke(#"{"mode":"flood_stderr","bytes":100000000}"#)
        print("tm invoke peak RSS: echo \(baseline.peakKiB / 1024) MiB, 100 MB on stderr \(flood.peakKiB / 1024) MiB; forwarded \(flood.output.utf8.count) bytes")
        #expect(flood.status == 0, "logs never fail an invocation: \(flood.output.suffix(500))")
        #expect(flood.output.utf8.count < 4 << 20, "about 1 MiB of the function's stderr is forwarded, not 100 MB")
        #expect(flood.peakKiB - baseline.peakKiB < 40 * 1024)

        // A generous timeout: this asserts on the outcome, not on how fast 100 MB is read.
        let outcome = await ColdInvoker(harness.launch(harness.manifest { $0.timeout = .seconds(120) }))
            .invoke(harness.request([#"{"mode":"flood_stderr","bytes":100000000}"#]))
        #expect(outcome.kind == .ok)
        #expect(outcome.droppedLogBytes > 90_000_000)
        #expect(outcome.logTail.utf8.count < 16 * 1024, "the record keeps a tail, not the flood")
        #expect(outcome.logTail.contains("bytes of stderr over the 1 MiB limit were not forwarded"))
    }

    @Test func aWarmProcessThatFloodsIsReplaced() async throws {
        defer { harness.cleanUp() }
        let pool = WarmPool(harness.launch(harness.manifest { $0.warm = true; $0.maxOutput = 64 << 10; $0.timeout = .seconds(60) }))
        #expect(await pool.invoke(harness.request([#"{"mode":"echo"}"#])).kind == .ok)
        let stdout = await pool.invoke(harness.request([#"{"mode":"flood_stdout","bytes":10000000}"#]))
        #expect(stdout.kind == .garbage)
        #expect(stdout.reason == "output over 64 KiB")
        let after = await pool.invoke(harness.request([#"{"mode":"echo"}"#]))
        #expect(after.kind == .ok)
        #expect(after.cold, "a new process after the flood")
        let stderr = await pool.invoke(harness.request([#"{"mode":"flood_stderr","bytes":10000000}"#]))
        #expect(stderr.kind == .ok)
        #expect(await pool.invoke(harness.request([#"{"mode":"echo"}"#])).cold, "a stderr flood replaces the process too")
        await pool.shutdown()
        #expect(pool.spawned == 3)
    }
}

/// `tm invoke` of one test function in a layout of its own, run as a child whose peak RSS is read
/// from `wait4` (the invoking process measured from outside, whatever else this test process does).
struct InvokeTool {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("invoke"))
    let environment: [String: String]
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    init(harness: TestFunctionHarness) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("Queues"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("Functions/flood"), withIntermediateDirectories: true)
        try "name: flood\nexecutable: test-function\ntimeout: 120s\nkill_grace: 1s\n"
            .write(to: root.appendingPathComponent("Functions/flood/function.yaml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_QUEUES_DIR"] = root.appendingPathComponent("Queues").path
        environment["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        self.environment = environment
    }

    func invoke(_ event: String) throws -> (status: Int32, output: String, peakKiB: Int) {
        let eventFile = root.appendingPathComponent("event.json").path
        let outputFile = root.appendingPathComponent("output.txt").path
        try event.write(toFile: eventFile, atomically: true, encoding: .utf8)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments: [String] = [tm, "invoke", "flood", "--event", eventFile]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, tm, &actions, nil, argv, envp)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
        // ru_maxrss (KiB) covers tm and the function processes it waited for: the function keeps at
        // most a 1 MiB block, so growth here is the invoker's.
        return (exited, output, usage.ru_maxrss)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: root) }
}

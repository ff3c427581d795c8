// rate-limit-probe: takes calls from a shared rate limit as fast as it may, for a while, and prints
// the Redis server's time of every grant (one per line), so a test can run several of these at
// once and check the limit held in every window.
//
//   rate-limit-probe --redis URL --name BUDGET --limit N --window-ms W --duration-ms D
import Foundation
import TMBrokers
import TMRedis

func option(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

guard let url = option("--redis"), let name = option("--name"), let limit = option("--limit").flatMap(Int.init),
      let window = option("--window-ms").flatMap(Int64.init), let duration = option("--duration-ms").flatMap(Int64.init) else {
    FileHandle.standardError.write(Data("usage: rate-limit-probe --redis URL --name B --limit N --window-ms W --duration-ms D\n".utf8))
    exit(2)
}
let redis = try await RedisClient(configuration: RedisConfiguration(url: url))
let limiter = RateLimiter(redis: redis)
let limits = [RateLimit(limit, per: .milliseconds(window))]
let end = ContinuousClock.now + .milliseconds(duration)
var grants: [Int64] = []
while ContinuousClock.now < end {
    switch try await limiter.tryAcquire(name, limits: limits) {
    case .granted(let at): grants.append(at)
    case .wait(let wait): try await Task.sleep(for: min(wait, .milliseconds(20)))
    }
}
print(grants.map(String.init).joined(separator: "\n"))
redis.close()

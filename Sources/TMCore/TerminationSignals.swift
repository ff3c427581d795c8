import Dispatch
import Foundation

/// Turns SIGTERM and SIGINT into a call of `handler`, for long-running services (dispatcher,
/// scheduler) that must stop gracefully: finish what is running, release leases, then exit.
///
/// The signals are blocked from their default action and delivered through a dispatch source, so
/// the handler is ordinary Swift code, not an async-signal-unsafe C handler. A second signal while
/// stopping exits at once (an operator pressing Ctrl-C twice means it).
public enum TerminationSignals {
    private static let sources = Locked<[any DispatchSourceSignal]>([])
    private static let received = Locked(0)

    public static func install(_ handler: @escaping @Sendable (Int32) -> Void) {
        var installed: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let count = received.withLock { $0 += 1; return $0 }
                if count > 1 { exit(128 + number) }
                handler(number)
            }
            source.resume()
            installed.append(source)
        }
        sources.withLock { $0 += installed }
    }
}

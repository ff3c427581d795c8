import Foundation
import Testing
import TestSupport

/// `tm order-worker --task-executor`: anything but `resuming` or `pool` is refused by name, before the
/// worker touches a queue.
@Suite(.serialized) struct OrderWorkerCommandTests {
    @Test func anUnknownTaskExecutorIsRefusedByName() async throws {
        let h = try await IntakeHarness()
        let result = try await OrdersCLITests().run(h, ["order-worker", "--task-executor", "threads", "--queue", h.queue])
        #expect(result.status != 0)
        #expect(result.output.contains("--task-executor: 'threads' is neither 'resuming' nor 'pool'"), "\(result.output)")
    }
}

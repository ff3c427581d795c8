import TMQueue

/// Copies a message of a shared queue into each subscribing function's subscription queue.
///
/// Guarantees: each copy is an idempotent enqueue keyed by the message's key (or its id), so a
/// redelivered router message never makes a second copy; the original is acknowledged only after
/// every copy exists (a failure retries the whole routing, and the copies already made dedupe).
enum SubscriptionRouter {
    static func route(_ delivery: Delivery, to subscribers: [FunctionManifest], producer: QueueProducer) async throws {
        let key = delivery.key ?? "msg:\(delivery.id)"
        for function in subscribers {
            let queue = "\(delivery.queue)@\(function.name)"
            try await producer.enqueue(queue, OutgoingMessage(payload: delivery.payload, key: key))
        }
    }
}

import TMCore

extension ResumingThreadExecutor {
    /// Whether the calling task prefers this executor (a test's handler asking where it was put).
    public static var isPreferredByCurrentTask: Bool {
        withUnsafeCurrentTask { $0?.unownedTaskExecutor == shared.asUnownedTaskExecutor() }
    }
}

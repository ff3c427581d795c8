/// Says what is wrong with a decoded document in one line naming the field path
/// (`order.quantity: expected Decimal`), for errors that reach operators and dead letters.
public enum DecodingErrorText {
    /// `root` names the whole document when the path is empty, e.g. "(payload)".
    public static func describe(_ error: DecodingError, root: String) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return text.isEmpty ? root : text
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent == root ? "" : parent + ".")\(key.stringValue): required field is missing"
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type): \(context.debugDescription)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), found null"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

import Foundation

/// Array literals for binding a list as one parameter (`= ANY($1::uuid[])`,
/// `unnest($1::uuid[], $2::numeric[])`): one bind instead of a statement per element.
public enum PostgresArrayText {
    /// `{id,id,...}` in the given order (an `unnest` beside another array pairs them by position).
    public static func uuids<S: Sequence<UUID>>(_ ids: S) -> String {
        "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
    }
}

import TMCore

/// RFC 7396 merge patches on `JSONValue` (TMCore), for `tm dlq replay --patch`.
extension JSONValue {
    /// Applies an RFC 7396 JSON merge patch: members of `patch` replace those of `self`, `null`
    /// removes a member, nested objects merge, anything else (arrays included) replaces wholesale.
    public func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members: [(key: String, value: JSONValue)]
        if case .object(let existing) = self { members = existing } else { members = [] }
        for (key, value) in patchMembers {
            let index = members.lastIndex { $0.key == key }
            if value == .null {
                members.removeAll { $0.key == key }
            } else if let index {
                members[index].value = members[index].value.merging(patch: value)
            } else {
                members.append((key, JSONValue.null.merging(patch: value)))
            }
        }
        return .object(members)
    }
}

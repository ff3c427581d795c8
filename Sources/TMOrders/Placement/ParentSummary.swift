import Foundation

/// A split order as its children stand: the parent's state is theirs, summed.
///
/// Rules: any child whose outcome is unknown (SUBMITTING, UNKNOWN) → UNKNOWN; all refused →
/// REJECTED; all filled → FILLED; something filled → PARTIALLY_FILLED; otherwise ACCEPTED while a
/// child works. A state the parent cannot move to from where it is yields nil (left as it is).
struct ParentSummary {
    var state: OrderState?
    var filled: Decimal
    var average: Decimal?
    var text: String

    init(parent: OrderRecord, children: [OrderRecord]) {
        let states = children.map(\.state)
        filled = children.reduce(0) { $0 + $1.filledQuantity }
        let value = children.reduce(Decimal(0)) { $0 + $1.filledQuantity * ($1.averagePrice ?? 0) }
        average = filled > 0 ? value / filled : nil
        var target: OrderState
        if states.contains(where: { $0 == .submitting || $0 == .unknown || $0 == .received || $0 == .routed }) {
            target = .unknown
        } else if !states.isEmpty && states.allSatisfy({ $0 == .rejected }) {
            target = .rejected
        } else if filled == parent.quantity {
            target = .filled
        } else if filled > 0 {
            target = states.allSatisfy(\.isTerminal) ? .cancelled : .partiallyFilled
        } else if states.contains(where: \.isWorking) {
            target = .accepted
        } else {
            target = .cancelled
        }
        if target != parent.state && !parent.state.canMove(to: target) {
            // e.g. SUBMITTING cannot become CANCELLED directly: it was accepted first.
            target = parent.state.canMove(to: .accepted) && OrderState.accepted.canMove(to: target) ? .accepted : parent.state
        }
        state = target == parent.state && filled == parent.filledQuantity ? nil : target
        let counts = Dictionary(grouping: states, by: \.rawValue).map { "\($0.value.count) \($0.key)" }.sorted()
        text = "\(children.count) children: " + counts.joined(separator: ", ")
    }
}

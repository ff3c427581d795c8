import Foundation

/// An order's life, in one place: every state and every move between them (`orders.state`).
///
/// Guarantees: `canMove(to:)` is the only legal set of transitions — a terminal state never moves;
/// nothing reaches SUBMITTING but from ROUTED (or UNKNOWN, after a look-up found nothing); a fill
/// state is reached only from one the broker acknowledged. Writers check it before every update.
public enum OrderState: String, Sendable, Codable, CaseIterable {
    /// Taken from the queue, not yet checked.
    case received = "RECEIVED"
    /// Refused by the pre-trade risk engine; never sent.
    case riskRejected = "RISK_REJECTED"
    /// Risk passed, a broker chosen; SUBMITTING is committed before the broker call.
    case routed = "ROUTED"
    /// The broker call is (or may be) in flight: look up by client id before sending again.
    case submitting = "SUBMITTING"
    case accepted = "ACCEPTED"
    case partiallyFilled = "PARTIALLY_FILLED"
    case filled = "FILLED"
    case cancelled = "CANCELLED"
    /// The broker refused it.
    case rejected = "REJECTED"
    /// The broker may have it: a timeout, a 5xx, an unreadable answer. Resolved by a look-up.
    case unknown = "UNKNOWN"
    case expired = "EXPIRED"

    public var isTerminal: Bool {
        switch self {
        case .riskRejected, .filled, .cancelled, .rejected, .expired: return true
        default: return false
        }
    }

    /// Working at a broker (can still fill or be cancelled there).
    public var isWorking: Bool { self == .accepted || self == .partiallyFilled }

    /// The states this one may move to.
    public var next: Set<OrderState> {
        switch self {
        case .received: return [.riskRejected, .routed, .cancelled]
        case .routed: return [.submitting, .cancelled]
        case .submitting: return [.accepted, .rejected, .unknown, .partiallyFilled, .filled]
        // A look-up resolves an UNKNOWN: found (any broker state) or not found (sent again).
        case .unknown: return [.submitting, .accepted, .rejected, .partiallyFilled, .filled, .cancelled, .expired]
        case .accepted: return [.partiallyFilled, .filled, .cancelled, .expired]
        case .partiallyFilled: return [.partiallyFilled, .filled, .cancelled, .expired]
        case .riskRejected, .filled, .cancelled, .rejected, .expired: return []
        }
    }

    public func canMove(to state: OrderState) -> Bool { next.contains(state) }
}

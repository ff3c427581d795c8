import TMOrders
import Testing

/// The order state machine: the moves the exactly-once path relies on, and none other.
@Suite struct OrderStateTests {
    @Test func terminalStatesNeverMove() {
        for state in OrderState.allCases where state.isTerminal {
            #expect(state.next.isEmpty, "\(state) moved")
        }
    }

    @Test func onlyARoutedOrALookedUpOrderIsSubmitted() {
        let submitters = OrderState.allCases.filter { $0.canMove(to: .submitting) }
        #expect(Set(submitters) == [.routed, .unknown])
    }

    @Test func fillsFollowAnAcknowledgement() {
        for state in OrderState.allCases where state.canMove(to: .filled) || state.canMove(to: .partiallyFilled) {
            #expect([.submitting, .unknown, .accepted, .partiallyFilled].contains(state), "\(state) filled unacknowledged")
        }
    }

    @Test func riskRejectionOnlyBeforeRouting() {
        #expect(OrderState.allCases.filter { $0.canMove(to: .riskRejected) } == [.received])
    }

    @Test func everyStateIsReachableFromReceived() {
        var seen: Set<OrderState> = [.received]
        var frontier: [OrderState] = [.received]
        while let state = frontier.popLast() {
            for next in state.next where seen.insert(next).inserted { frontier.append(next) }
        }
        #expect(seen == Set(OrderState.allCases))
    }
}

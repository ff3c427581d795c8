import TMCore

/// How much of each fill's fee has been charged to matched slices so far, so the shares of one
/// fill's fee sum exactly to it whichever roles (closing, then opening a lot) the fill plays.
///
/// A slice of `q` out of a fill of `Q` with fee `F` is charged `round(F × done/Q) − charged`, where
/// `done` is the quantity of the fill matched so far including this slice and `charged` what its
/// earlier slices were charged: each share is within 10⁻⁹ of its exact `F × q/Q` (the only
/// rounding in matching, half away from zero), and the slice that exhausts the fill (done = Q) takes
/// exactly the remainder, so the shares add up to `F` to the last digit.
struct FeeLedger {
    private var quantity: [Int128] = []
    private var fee: [Int128] = []
    private var doneQuantity: [Int128] = []
    private var charged: [Int128] = []

    init(capacity: Int) {
        quantity.reserveCapacity(capacity)
        fee.reserveCapacity(capacity)
        doneQuantity.reserveCapacity(capacity)
        charged.reserveCapacity(capacity)
    }

    /// Registers the next fill (in matching order); returns its index.
    @inline(__always) mutating func append(quantity q: Int128, fee f: Int128) -> Int32 {
        quantity.append(q)
        fee.append(f)
        doneQuantity.append(0)
        charged.append(0)
        return Int32(quantity.count - 1)
    }

    /// The share of fill `index`'s fee a slice of `slice` of its quantity carries (nine-place units).
    @inline(__always) mutating func share(of index: Int32, slice: Int128) -> Int128 {
        let i = Int(index)
        let done = doneQuantity[i] + slice
        // The slice that exhausts the fill takes the remainder (and needs no division).
        let target = done == quantity[i] ? fee[i] : ExactAmount.roundedQuotient(ExactAmount.product(fee[i], done), quantity[i])
        let share = target - charged[i]
        doneQuantity[i] = done
        charged[i] = target
        return share
    }

    /// What is still to be charged of fill `index`'s fee (the fees of open lots).
    func uncharged(_ index: Int32) -> Int128 { fee[Int(index)] - charged[Int(index)] }
}

/// One open lot: the unmatched rest of a fill.
struct OpenLot {
    var remaining: Int128
    let price: Int128
    let fill: Int32
    let openMicros: Int64
    let openDay: Int32
}

/// What one fill closed: the sum of its slices.
struct ClosedSlices {
    /// Quantity closed (0: the fill only opened).
    var quantity: Int128 = 0
    /// Σ (exit − entry) × slice, negated for shorts, at eighteen places.
    var gross: Int128 = 0
    /// `gross` minus every slice's prorated entry and exit fee, at eighteen places.
    var net: Int128 = 0
    /// The oldest slice's lot (FIFO: the first matched).
    var oldestOpenMicros: Int64 = 0
    var oldestOpenDay: Int32 = 0
}

/// One user's position in one instrument (symbol and exchange, across all the user's accounts)
/// as a FIFO queue of open lots, all long or all short.
struct InstrumentBook {
    let key: InstrumentKeyIndex
    private(set) var lots: [OpenLot] = []
    /// Index of the oldest lot still open in `lots`.
    private(set) var head = 0
    /// Whether the open lots are long (bought); meaningless when none is open.
    private(set) var long = true
    private(set) var lastPrice: Int128 = 0
    private(set) var fills = 0

    init(key: InstrumentKeyIndex) { self.key = key }

    var isFlat: Bool { head == lots.count }
    var openLots: ArraySlice<OpenLot> { lots[head...] }

    /// Applies a fill: it closes the oldest open lots of the other side first (FIFO), slice by
    /// slice; what it does not close opens a lot (a fill larger than the position flips it).
    @inline(__always)
    mutating func apply(fill: Int32, buy: Bool, quantity: Int128, price: Int128, micros: Int64, day: Int32,
                        fees: inout FeeLedger) -> ClosedSlices {
        var closed = ClosedSlices()
        var remaining = quantity
        fills += 1
        lastPrice = price
        if head < lots.count, long != buy {
            while remaining > 0, head < lots.count {
                let i = head  // FIFO: the oldest open lot first
                let lot = lots[i]
                let slice = min(remaining, lot.remaining)
                if closed.quantity == 0 {
                    closed.oldestOpenMicros = lot.openMicros
                    closed.oldestOpenDay = lot.openDay
                }
                // (exit − entry) × qty for a long lot; the negative for a short one.
                let move = long ? price - lot.price : lot.price - price
                let gross = ExactAmount.product(move, slice)
                let fee = fees.share(of: lot.fill, slice: slice) + fees.share(of: fill, slice: slice)
                closed.gross = ExactAmount.sum(closed.gross, gross)
                closed.net = ExactAmount.sum(closed.net, gross - ExactAmount.wide(fee))
                closed.quantity += slice
                remaining -= slice
                lots[i].remaining -= slice
                if lots[i].remaining == 0 { head += 1 }
            }
            if head == lots.count {
                lots.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 32, head * 2 >= lots.count {
                lots.removeFirst(head)
                head = 0
            }
        }
        if remaining > 0 {
            if head == lots.count { long = buy }
            lots.append(OpenLot(remaining: remaining, price: price, fill: fill, openMicros: micros, openDay: day))
        }
        return closed
    }
}

/// Indexes of an instrument's symbol and zone in the computation's tables.
struct InstrumentKeyIndex {
    let symbol: Int32
    let zone: Int32
    let exchange: String
    let symbolName: String
}

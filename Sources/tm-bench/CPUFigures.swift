// The order path's per-message CPU work, without servers: JSON read and written, an order command
// parsed, a broker answer read. Each figure is one operation on a message shaped like the ones the
// order worker handles per order, so a rewrite of a parser or writer can be compared old vs new.
import Foundation
import TMCore
import TMHTTP
import TMOrders

/// Messages shaped like the order path's (an `orders` command, a Kite answer, a risk decision).
enum CPUSamples {
    static let command = OrderCommand.place(PlaceOrder(
        idempotencyKey: "bench-7f3a9c2e-0001-4b7d-9a55-000000012345", accountID: UUID(uuidString: "6F1C2B3A-9D8E-4F70-A1B2-C3D4E5F60718")!,
        symbol: "RELIANCE", exchange: "NSE", side: .buy, quantity: 10, type: .limit, limitPrice: Decimal(string: "2451.35")!))
    static let commandBytes = Array(command.json.text.utf8)
    static let kiteAnswer = Array(#"{"status":"success","data":{"order_id":"151220000000123"}}"#.utf8)
    /// A risk decision and route as the placer stores them (jsonb columns), with nested checks.
    static let decision: JSONValue = [
        "decision": "accept", "engine": "risk-v3",
        "checks": [
            ["name": "max_order_value", "limit": .number("1000000"), "value": .number("24513.50"), "passed": true],
            ["name": "max_position", "limit": .number("5000"), "value": .number("10"), "passed": true],
            ["name": "daily_loss", "limit": .number("250000.00"), "value": .number("-1520.75"), "passed": true],
            ["name": "restricted_symbols", "passed": true, "note": nil],
        ],
        "route": ["broker": "kite", "account": "6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f60718", "lot": .number("1"), "reason": "sole candidate"],
    ]
    static let decisionBytes = Array(decision.text.utf8)
    /// A string every escape rule applies to (quote, backslash, named and numeric controls, non-ASCII).
    static let escaped: JSONValue = .string("line \"one\"\\\n\ttab\u{01}\u{1F} café 東京 🚀 end")
    static let escapedBytes = Array(escaped.text.utf8)
    /// broker-sim's answer headers as libcurl hands them over, one line at a time.
    static let headerLines: [[UInt8]] = [
        "HTTP/1.1 200 OK\r\n", "Content-Type: application/json\r\n", "Content-Length: 57\r\n", "Connection: keep-alive\r\n",
        "Date: Sun, 06 Dec 2026 01:50:00 GMT\r\n", "\r\n",
    ].map { Array($0.utf8) }
}

/// CPU-only figures (no servers): what `tm-bench --only cpu` prints.
func cpuFigures(count: Int) async throws -> [Figure] {
    var figures: [Figure] = []
    var sink = 0
    figures.append(try await measure("json parse order command", operations: count) {
        sink &+= try JSONValue.parse(CPUSamples.commandBytes).objectFields?.count ?? 0
    })
    figures.append(try await measure("json parse risk decision", operations: count) {
        sink &+= try JSONValue.parse(CPUSamples.decisionBytes).objectFields?.count ?? 0
    })
    figures.append(try await measure("json parse kite answer", operations: count) {
        sink &+= try JSONValue.parse(CPUSamples.kiteAnswer).objectFields?.count ?? 0
    })
    figures.append(try await measure("json parse escaped string", operations: count) {
        sink &+= try JSONValue.parse(CPUSamples.escapedBytes).stringValue?.utf8.count ?? 0
    })
    figures.append(try await measure("json validate risk decision", operations: count) {
        try JSONValue.validate(CPUSamples.decisionBytes)
    })
    let commandJSON = CPUSamples.command.json
    figures.append(try await measure("json text order command", operations: count) { sink &+= commandJSON.text.utf8.count })
    figures.append(try await measure("json text risk decision", operations: count) { sink &+= CPUSamples.decision.text.utf8.count })
    figures.append(try await measure("json text escaped string", operations: count) { sink &+= CPUSamples.escaped.text.utf8.count })
    figures.append(try await measure("order command parse (bytes)", operations: count) {
        if case .place(let order) = try OrderCommand.parse(CPUSamples.commandBytes) { sink &+= order.symbol.utf8.count }
    })
    figures.append(try await measure("order command json text", operations: count) { sink &+= CPUSamples.command.json.text.utf8.count })
    figures.append(try await measure("http header block (6 lines)", operations: count) {
        for line in CPUSamples.headerLines {
            if case .field(let name, _) = line.withUnsafeBytes({ HTTPHeaderLine.read($0, afterHeader: true) }) { sink &+= name.utf8.count }
        }
    })
    let body = Data(CPUSamples.kiteAnswer)
    figures.append(try await measure("json parse kite answer in place", operations: count) {
        sink &+= try body.withUnsafeBytes { try JSONValue.parse(utf8: $0) }.objectFields?.count ?? 0
    })
    if sink == 42 { print("") }  // keeps the results live
    return figures
}

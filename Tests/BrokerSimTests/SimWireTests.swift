import Foundation
@testable import TMBrokerSim
import TMCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The simulator's server as a client's bytes reach it: a request split across TCP segments
/// (inside the head's terminator, the body sent later), pipelined requests, keep-alive and
/// `Connection: close`, over a raw socket so the test decides where the bytes break; and the cheap
/// paths of a Kite placement (routing, path segments, form body, the order-id answer) answering
/// exactly as the operations they replace.
@Suite("broker-sim wire and its cheap paths") struct SimWireTests {
    static let key = "wire_key", token = "wire_token"
    static let form = "exchange=NSE&tradingsymbol=INFY&transaction_type=BUY&quantity=1&product=CNC&order_type=MARKET&validity=DAY&tag=wire-1"

    static func simulator() throws -> BrokerSimulator {
        var configuration = BrokerSimulator.Configuration()
        configuration.rateLimits.enabled = false
        let simulator = try BrokerSimulator(configuration: configuration)
        simulator.exchange.upsertAccount(.kite, SimCredentials(apiKey: key, apiSecret: "s", accessToken: token))
        return simulator
    }

    /// A Kite placement's head (with its Content-Length) and its body, as a client writes them.
    static func placement(tag: String = "wire-1", connection: String? = nil, lowercaseNames: Bool = false) -> (head: String, body: String) {
        let body = form.replacingOccurrences(of: "tag=wire-1", with: "tag=\(tag)")
        var lines = ["POST /kite/orders/regular HTTP/1.1", "Host: 127.0.0.1", "X-Kite-Version: 3", "Authorization: token \(key):\(token)",
                     "Content-Type: application/x-www-form-urlencoded", "Content-Length: \(body.utf8.count)"]
        if let connection { lines.append("Connection: \(connection)") }
        if lowercaseNames { lines = [lines[0]] + lines.dropFirst().map { line in
            let colon = line.firstIndex(of: ":")!
            return line[..<colon].lowercased() + line[colon...]
        } }
        return (lines.joined(separator: "\r\n") + "\r\n\r\n", body)
    }

    // MARK: The wire

    /// A request whose Content-Length is not one run of digits (letters, a sign, two that differ) is
    /// refused 400 and nothing is placed: read as 0, its body would be taken for the next request.
    @Test func aContentLengthThatIsNotOneRunOfDigitsIsRefused() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        let (head, body) = Self.placement()
        let length = "Content-Length: \(body.utf8.count)\r\n"
        for bad in ["Content-Length: abc\r\n", "Content-Length: -1\r\n", "Content-Length: +\(body.utf8.count)\r\n",
                    length + "Content-Length: \(body.utf8.count + 1)\r\n", "Content-Length: \r\n"] {
            let client = try RawClient(port: simulator.port)
            try client.send(Array((head.replacingOccurrences(of: length, with: bad) + body).utf8))
            let response = try client.readResponse()
            #expect(response.status == 400, "\(bad)")
            #expect(response.body.contains("invalid Content-Length"), "\(bad)")
        }
        #expect(simulator.exchange.orders(.kite, apiKey: Self.key).isEmpty)
        // The same length twice is one length.
        let client = try RawClient(port: simulator.port)
        try client.send(Array((head.replacingOccurrences(of: length, with: length + length) + body).utf8))
        #expect(try client.readResponse().status == 200)
    }

    /// A head over 64 KiB is refused 431 even when it arrives whole in one read.
    @Test func aHeadOverTheLimitIsRefusedEvenWhenItArrivesWhole() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        let client = try RawClient(port: simulator.port)
        let (head, body) = Self.placement()
        let padding = "X-Padding: " + String(repeating: "p", count: 70 * 1024) + "\r\n"
        try client.send(Array((head.replacingOccurrences(of: "Host: 127.0.0.1\r\n", with: "Host: 127.0.0.1\r\n" + padding) + body).utf8))
        #expect(try client.readResponse().status == 431)
        #expect(simulator.exchange.orders(.kite, apiKey: Self.key).isEmpty)
    }

    /// Percent-decoding takes two hex digits exactly (no sign); a `%` without them stays as written.
    @Test func percentDecodingTakesTwoHexDigitsOnly() {
        #expect(FormFields.decode("%41%62+c") == "Ab c")
        #expect(FormFields.decode("%+1") == "% 1", "the % stays; the + is a space as anywhere")
        #expect(FormFields.decode("%-1%4") == "%-1%4")
        #expect(FormFields.decode("%zz%") == "%zz%")
    }

    @Test func aRequestSplitInsideItsHeadTerminatorAndBeforeItsBodyIsAnswered() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        let client = try RawClient(port: simulator.port)
        let (head, body) = Self.placement()
        let bytes = Array((head + body).utf8)
        let terminator = head.utf8.count - 4
        // Pieces: inside the request line, between CR LF and CR LF of the terminator, the head's last
        // byte, then the body in two.
        for piece in [bytes[0..<7], bytes[7..<terminator + 2], bytes[terminator + 2..<terminator + 3], bytes[terminator + 3..<head.utf8.count],
                      bytes[head.utf8.count..<head.utf8.count + 10], bytes[(head.utf8.count + 10)...]] {
            try client.send(Array(piece))
            usleep(20_000)  // let each piece arrive on its own (the outcome must not depend on it)
        }
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body == #"{"status":"success","data":{"order_id":"240000000000001"}}"#)
        #expect(simulator.exchange.orders(.kite, apiKey: Self.key).map(\.clientOrderID) == ["wire-1"])
        #expect(response.header("Connection") == "keep-alive")
    }

    @Test func pipelinedRequestsAreAnsweredInOrderOnOneConnection() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        let client = try RawClient(port: simulator.port)
        var bytes = ""
        for tag in ["p-1", "p-2", "p-3"] {
            let (head, body) = Self.placement(tag: tag, lowercaseNames: tag == "p-2")
            bytes += head + body
        }
        bytes += "GET /admin/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        try client.send(Array(bytes.utf8))  // all four in one write
        let answers = try (0..<4).map { _ in try client.readResponse() }
        #expect(answers.map(\.status) == [200, 200, 200, 200])
        #expect(answers.prefix(3).map(\.body) == (1...3).map { #"{"status":"success","data":{"order_id":"24000000000000\#($0)"}}"# })
        #expect(simulator.exchange.orders(.kite, apiKey: Self.key).map(\.clientOrderID) == ["p-1", "p-2", "p-3"])
        // And the connection still serves a request sent afterwards.
        let (head, body) = Self.placement(tag: "p-4")
        try client.send(Array((head + body).utf8))
        #expect(try client.readResponse().status == 200)
        #expect(simulator.exchange.orders(.kite, apiKey: Self.key).count == 4)
    }

    @Test func connectionCloseIsAnsweredThenTheConnectionCloses() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        let client = try RawClient(port: simulator.port)
        let (head, body) = Self.placement(connection: "close")
        let (second, secondBody) = Self.placement(tag: "never")
        try client.send(Array((head + body + second + secondBody).utf8))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("connection") == "close")
        #expect(try client.readToEnd().isEmpty)  // the pipelined request after `close` is not served
        #expect(simulator.exchange.orders(.kite, apiKey: Self.key).map(\.clientOrderID) == ["wire-1"])
    }

    @Test func responsesCarryTheHandlersHeadersInOrderAndTheBodysLength() throws {
        let simulator = try Self.simulator()
        defer { simulator.stop() }
        simulator.exchange.upsertAccount(.kite, SimCredentials(apiKey: "other", apiSecret: "s", accessToken: "t"))
        let client = try RawClient(port: simulator.port)
        // A 429 from the fault plan: Kite's body and its Retry-After, then the server's own headers.
        _ = simulator.faults.add(FaultRule(id: "", broker: .kite, burst429: 1))
        let (head, body) = Self.placement()
        try client.send(Array((head + body).utf8))
        let refused = try client.readResponse()
        #expect(refused.status == 429)
        #expect(refused.statusLine == "HTTP/1.1 429 Too Many Requests")
        #expect(refused.headers.map(\.name) == ["Content-Type", "Retry-After", "Content-Length", "Connection"])
        #expect(refused.header("Content-Length") == String(refused.body.utf8.count))
        #expect(refused.body.contains("NetworkException"))
    }

    // MARK: Cheap paths answer as the operations they replace

    @Test func routingSplitsThePathAsSplitWould() {
        let paths = ["/kite/orders/regular", "/kite", "/kite/", "kite/orders", "//kite//orders/", "/", "", "///", "/alpaca-data/v2/stocks",
                     "/kite/orders/ré/ü", "/ké/x", "/a\u{301}/b", "/k/\u{301}x"]
        for path in paths {
            let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
            let expected = segments.first.map { (String($0), segments.count > 1 ? String(segments[1]) : "") }
            let got = SimulatorRouter.firstSegment(path).map { (String($0.first), String($0.rest)) }
            #expect(got?.0 == expected?.0 && got?.1 == expected?.1, "\(path)")
            #expect(pathSegments(path) == path.split(separator: "/", omittingEmptySubsequences: true).map { FormFields.decode(String($0)) }, "\(path)")
        }
        #expect(pathSegments("/orders/a%20b/c+d") == ["orders", "a b", "c d"])
    }

    @Test func formBodiesParseAsTheirTextWould() {
        let bodies: [[UInt8]] = [Array(Self.form.utf8), Array("a=1&&b=%41+c&=x&d".utf8), Array("name=%E2%82%AC&ü=é+%C3%BC".utf8),
                                 [0x61, 0x3D, 0xFF, 0x26, 0x62, 0x3D, 0x32], []]
        for body in bodies {
            let fast = FormFields(body: Data(body)).pairs
            let text = FormFields(encoded: String(decoding: body, as: UTF8.self)).pairs
            #expect(fast.map(\.name) == text.map(\.name))
            #expect(fast.map(\.value) == text.map(\.value))
        }
    }

    @Test func theOrderIDAnswerIsTheJSONEnvelopesBytes() {
        for id in ["240000000000001", "7", "", "a\"b", "ab-12", "1/2"] {
            let fast = KiteFormat.orderIDAnswer(id)
            let envelope = KiteFormat.success(["order_id": .string(id)])
            #expect(fast.status == envelope.status)
            #expect(fast.headers.map(\.name) == envelope.headers.map(\.name) && fast.headers.map(\.value) == envelope.headers.map(\.value))
            #expect(fast.body == envelope.body, "\(id)")
        }
    }

    @Test func headerNamesCompareAsCaseInsensitiveCompareDoes() {
        let names = ["Content-Length", "content-length", "CONTENT-LENGTH", "Content-Lengt", "Content_Length", "Straße", "STRASSE", "strasse",
                     "É", "é", "", "x"]
        for a in names {
            for b in names {
                #expect(ASCIIText.equalsIgnoringCase(a, b) == (a.caseInsensitiveCompare(b) == .orderedSame), "\(a) \(b)")
            }
        }
    }

    /// The head terminator's search, fed one byte per read (every split of CR LF CR LF across reads),
    /// then two pipelined heads in one read: found exactly when its last byte arrives, at its start.
    @Test func theHeadTerminatorIsFoundWhereverTheReadsSplitIt() {
        let head = Array("POST /orders/regular HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n".utf8)
        let terminator = head.count - 4
        var buffer = HTTPServer.RequestBuffer()
        for (index, byte) in head.enumerated() {
            buffer.bytes.append(byte)
            let found = HTTPServer.headEnd(&buffer)
            #expect(found == (index == head.count - 1 ? terminator : nil), "after byte \(index)")
        }
        let second = Array("GET /a HTTP/1.1\r\n\r\n".utf8)
        buffer = HTTPServer.RequestBuffer()
        buffer.bytes = head + Array("abc".utf8) + second
        #expect(HTTPServer.headEnd(&buffer) == terminator)
        buffer.consume(head.count + 3)
        #expect(HTTPServer.headEnd(&buffer) == second.count - 4, "the next head is searched from its own start")
    }
}

/// A blocking TCP client whose writes go out as they are made (TCP_NODELAY) and whose reads give
/// up after 10 s (a server that never answers fails the test instead of hanging it).
private final class RawClient {
    struct Response {
        let statusLine: String
        let headers: [(name: String, value: String)]
        let body: String
        var status: Int { Int(statusLine.split(separator: " ")[1]) ?? 0 }
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    struct Failure: Error { let what: String }

    private let fd: Int32
    private var pending: [UInt8] = []

    init(port: UInt16) throws {
        fd = try LoopbackSocket.connect(port: port)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        guard LoopbackSocket.sendAll(fd, Data(bytes)) else { throw Failure(what: "send") }
    }

    /// One response: status line, headers, and a body of its Content-Length.
    func readResponse() throws -> Response {
        while true {
            if let end = pending.indices.dropLast(3).first(where: { pending[$0..<$0 + 4].elementsEqual([13, 10, 13, 10]) }) {
                let lines = String(decoding: pending[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
                let headers = lines.dropFirst().map { line -> (name: String, value: String) in
                    let colon = line.firstIndex(of: ":")!
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                let length = Int(headers.first { $0.name.lowercased() == "content-length" }?.value ?? "0") ?? 0
                while pending.count < end + 4 + length { try receive() }
                let body = String(decoding: pending[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                pending.removeFirst(end + 4 + length)
                return Response(statusLine: lines[0], headers: headers, body: body)
            }
            try receive()
        }
    }

    /// Everything until the server closes the connection.
    func readToEnd() throws -> [UInt8] {
        while (try? receive()) != nil {}
        defer { pending = [] }
        return pending
    }

    private func receive() throws {
        guard LoopbackSocket.receive(fd, into: &pending) else { throw Failure(what: "receive (closed or 10 s without a byte)") }
    }
}

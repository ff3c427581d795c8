import Foundation
import Testing
import TMFunctionRuntime

/// The invocation request's hand-written line (`InvocationRequest.encodedLine`, `init(line:)`)
/// says and reads exactly what `JSONEncoder`/`JSONDecoder` did: a warm function built before it
/// and a dispatcher built after it (or the other way round) still understand each other, and what
/// was refused is still refused.
@Suite struct InvocationWireTests {
    static let awkward = [
        #"{"symbol":"S0001","exchange":"NSE","price":"490.5","source":"bench","at_ms":1}"#,
        "", "plain", "quote \" backslash \\ slash / done", "lines\nand\r\ttabs\u{08}\u{0C}",
        "controls \u{01}\u{1F}\u{7F}", "ünïcødé ₹ 𝄞 emoji 😀", #"{"nested":"{\"a\":\"b\\\\c\"}"}"#,
    ]

    static func request(bodies: [String]) -> InvocationRequest {
        InvocationRequest(
            invocationID: "0c6f1e2a-4b1d-4a43-9d38-3b2f0e6f5d11", function: "alert-evaluator", attempt: 3, deadlineMillis: 1_764_900_000_123,
            records: bodies.enumerated().map { i, body in
                InvocationRecord(messageID: "m-\(i)/\"\(body.prefix(3))", key: i % 2 == 0 ? nil : "key \(body.suffix(2))", queue: "market-ticks",
                                 attempt: i + 1, epoch: Int64(i) * 1_000_000_007, enqueuedAtMillis: -Int64(i), body: body)
            })
    }

    static func decoded(_ line: [UInt8]) throws -> InvocationRequest {
        try JSONDecoder().decode(InvocationRequest.self, from: Data(line))
    }

    /// Both readers give the same request, or both refuse the line.
    static func readAlike(_ line: [UInt8]) -> Bool {
        switch (try? decoded(line), try? InvocationRequest(line: line)) {
        case (nil, nil): return true
        case (let a?, let b?): return a == b
        default: return false
        }
    }

    @Test func theLineIsWhatJSONEncoderWrote() throws {
        for request in [Self.request(bodies: Self.awkward), Self.request(bodies: []), Self.request(bodies: ["{}"])] {
            var expected = Array(try InvocationWire.encoder.encode(request))
            expected.append(UInt8(ascii: "\n"))
            let line = try request.encodedLine()
            #expect(line == expected, "\(String(decoding: line, as: UTF8.self))")
            #expect(try InvocationRequest(line: line) == request)
        }
    }

    @Test func validLinesReadAsJSONDecoderReadsThem() throws {
        let escapedU = #"{"attempt":1,"deadline_ms":5,"function":"f","invocation_id":"i","records":[{"attempt":1,"body":"\u00e9\ud834\udd1e","enqueued_at_ms":0,"epoch":1,"message_id":"m","queue":"q"}]}"#
        let lines = [
            // members in another order, white space, an explicit null key, an unknown member, \/ escapes
            #" { "records" : [ { "queue":"q", "message_id":"m\/1", "key":null, "epoch":2, "enqueued_at_ms":0, "body":"{\"a\":1}", "attempt":1 } ], "invocation_id":"i", "function":"f", "deadline_ms":9, "attempt":1 } "#,
            #"{"attempt":1,"deadline_ms":5,"function":"f","invocation_id":"i","records":[],"extra":{"x":[1,2]}}"#,
            escapedU,
        ]
        for line in lines {
            let bytes = Array(line.utf8)
            #expect(try InvocationRequest(line: bytes) == (try Self.decoded(bytes)), "\(line)")
        }
        // Numbers this reader leaves to JSONDecoder, whatever JSONDecoder makes of them.
        for number in ["1e3", "1.0", "-0", "01", "9223372036854775807"] {
            let line = #"{"attempt":1,"deadline_ms":5,"function":"f","invocation_id":"i","records":[{"attempt":1,"body":"x","enqueued_at_ms":"# + number
                + #","epoch":1,"message_id":"m","queue":"q"}]}"#
            #expect(Self.readAlike(Array(line.utf8)), "\(number)")
        }
    }

    @Test func invalidLinesAreRefusedAsBefore() throws {
        let good = String(decoding: try Self.request(bodies: ["{}"]).encodedLine(), as: UTF8.self)
        var lines = [
            "", "{", "[]", "null",
            good.replacingOccurrences(of: #""body":"{}""#, with: "\"body\":\"a\u{01}b\""),  // a raw control character
            good.replacingOccurrences(of: #""epoch":0"#, with: #""epoch":"0""#),
            good.replacingOccurrences(of: #""epoch":0"#, with: #""epoch":99999999999999999999"#),
            good.replacingOccurrences(of: #""epoch":0,"#, with: ""),  // a member missing
            good.replacingOccurrences(of: #""body":"{}""#, with: #""body":"\x""#),  // a bad escape
            good + "x",
        ]
        lines.append(String(decoding: Array(good.utf8).prefix(40), as: UTF8.self))
        for line in lines {
            #expect(throws: (any Error).self, "\(line)") { try Self.decoded(Array(line.utf8)) }
            #expect(throws: (any Error).self, "\(line)") { try InvocationRequest(line: Array(line.utf8)) }
        }
        // Invalid UTF-8 inside a body, and a truncated multi-byte character.
        var invalidUTF8 = Array(good.utf8)
        let body = Array(#""body":"{"#.utf8)
        let at = (0...(invalidUTF8.count - body.count)).first { Array(invalidUTF8[$0..<$0 + body.count]) == body }! + body.count
        invalidUTF8.insert(0xFF, at: at)
        #expect(Self.readAlike(invalidUTF8))
        invalidUTF8[at] = 0xE2
        #expect(Self.readAlike(invalidUTF8))
    }
}

import Foundation
import Testing
@testable import TMFunctionRuntime

/// A plain ok (`{"status":"ok"}`, what most batches answer) is written and read without the JSON
/// encoder and decoder since session 18: the same bytes as the encoder, the same verdict as the
/// decoder, and every other line still goes through them.
@Suite struct DispatchResultLineTests {
    @Test func aPlainOkIsWrittenAsTheEncoderWritesIt() throws {
        var expected = Array(try InvocationWire.encoder.encode(InvocationResult.ok()))
        expected.append(UInt8(ascii: "\n"))
        #expect(try InvocationResult.ok().encodedLine() == expected)
    }

    @Test func aPlainOkIsReadAsTheDecoderReadsIt() throws {
        for line in [#"{"status":"ok"}"#, " \t{\"status\":\"ok\"}\r\n", #"{ "status" : "ok" }"#] {
            #expect(try InvocationResult.parse(Array(line.utf8)) == JSONDecoder().decode(InvocationResult.self, from: Data(line.utf8)))
        }
    }

    /// Lines that only look like a plain ok keep what they say, or are refused with a reason.
    @Test func linesThatAreNotAPlainOkAreReadInFull() throws {
        let withResults = #"{"status":"ok","results":{"m-1":"kept"}}"#
        #expect(try InvocationResult.parse(Array(withResults.utf8)) == .ok(results: ["m-1": "kept"]))
        let failed = #"{"status":"error","error":"boom","retryable":false}"#
        #expect(try InvocationResult.parse(Array(failed.utf8)) == .failed("boom", retryable: false))
        let kept = InvocationResult.ok(results: ["m-1": "kept"])
        #expect(try kept.encodedLine() == Array(try InvocationWire.encoder.encode(kept)) + [UInt8(ascii: "\n")])
        #expect(try InvocationResult.parse(try kept.encodedLine()) == kept)
        #expect(throws: UnparsableResult.self) { try InvocationResult.parse(Array(#"{"status":"ok"} trailing"#.utf8)) }
        #expect(throws: UnparsableResult.self) { try InvocationResult.parse(Array(#"{"status":"ok""#.utf8)) }
    }
}

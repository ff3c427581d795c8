import Foundation
import Testing
import TMCore
@testable import TMMarketData

/// The evaluator's hand-written tick reader (`PriceTickWire`) reads the wire form exactly as the
/// generic reader does, and leaves every other spelling — and every refusal — to it.
@Suite struct PriceTickWireTests {
    static func line(price: String = #""490.5""#, close: String? = #""500""#, at: String = "1764900000000", extra: String = "") -> [UInt8] {
        var text = #"{"symbol":"S0001","exchange":"NSE","price":"# + price
        if let close { text += #","previous_close":"# + close }
        text += #","source":"bench","at_ms":"# + at + extra + "}"
        return Array(text.utf8)
    }

    @Test func theWireFormReadsAsTheGenericReaderReadsIt() throws {
        let written = PriceTick(symbol: "INFY", exchange: "NSE", price: DecimalText.parse("1402.50")!, previousClose: DecimalText.parse("1390")!,
                                source: "kite", atMs: 1_764_900_000_000)
        let wire = Array(written.json.text.utf8)
        #expect(PriceTickWire.read(wire) == written, "the common form is taken by hand")
        var lines = [Self.line(), Self.line(close: nil), Self.line(at: "0"), Self.line(price: #""0.000000001""#), Self.line(price: #""123456789012345678""#),
                     Self.line(price: #""0.5""#, close: #""99999.123456789""#),
                     Array(#" { "at_ms" : 5 , "source":"m", "price":"7", "exchange":"BSE", "symbol":"X" } "#.utf8)]
        for places in 0...9 { lines.append(Self.line(price: "\"42" + (places == 0 ? "" : "." + String(repeating: "0", count: places - 1) + "7") + "\"")) }
        for bytes in lines {
            let fast = try #require(PriceTickWire.read(bytes), "\(String(decoding: bytes, as: UTF8.self))")
            #expect(fast == (try PriceTick.decodeGeneric(bytes)), "\(String(decoding: bytes, as: UTF8.self))")
            #expect(try PriceTick.decode(bytes) == fast)
        }
    }

    @Test func everyOtherSpellingAndEveryRefusalIsTheGenericReaders() throws {
        let lines = [
            // left to the generic reader, which reads them
            Self.line(price: #""1.5e2""#), Self.line(price: #""0490.5""#), Self.line(price: #""1234567890123456789""#), Self.line(at: "1.0e3"),
            Array(#"{"symbol":"\u0053","exchange":"NSE","price":"1","source":"m","at_ms":1}"#.utf8),
            Array(#"{"symbol":"Ü","exchange":"NSE","price":"1","source":"m","at_ms":1}"#.utf8),
            Self.line(extra: #","note":"x""#), Self.line(extra: #","price":"1""#),
            // refused
            Self.line(price: #""0""#), Self.line(price: #""0.0""#), Self.line(price: #""-5""#), Self.line(price: #""5.""#), Self.line(price: #"".5""#),
            Self.line(price: "5"), Self.line(close: #""0""#), Self.line(close: "null"), Self.line(at: "-1"), Self.line(at: "99999999999999999999"),
            Array(#"{"symbol":"","exchange":"NSE","price":"1","source":"m","at_ms":1}"#.utf8), Array("[]".utf8), Array("{".utf8), Self.line() + [0x78],
        ]
        for bytes in lines {
            let text = String(decoding: bytes, as: UTF8.self)
            switch (Result { try PriceTick.decodeGeneric(bytes) }, Result { try PriceTick.decode(bytes) }) {
            case (.success(let generic), .success(let decoded)): #expect(generic == decoded, "\(text)")
            case (.failure(let generic), .failure(let decoded)): #expect("\(generic)" == "\(decoded)", "\(text)")
            default: Issue.record("read differently: \(text)")
            }
        }
    }
}

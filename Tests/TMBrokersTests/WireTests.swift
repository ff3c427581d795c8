import Foundation
@testable import TMBrokers
import TMCore
import TMCrypto
import TMHTTP
import Testing

@Suite struct DecimalTextTests {
    @Test func numbersStayExactFromJSONToDecimal() throws {
        let json = try JSONValue.parse(#"{"big": 12345678901234.12345678, "a": 0.1, "b": 0.2, "s": "0.30", "e": 1e-7, "neg": -42.5}"#)
        let fields = try JSONFields(json, context: "test")
        #expect(json["big"] == .number("12345678901234.12345678"))
        let big = try fields.decimal("big")
        #expect(big == decimal("12345678901234.12345678"))
        #expect(DecimalText.plain(big) == "12345678901234.12345678")
        // Through Double this would be 0.30000000000000004.
        #expect(try fields.decimal("a") + fields.decimal("b") == decimal("0.3"))
        #expect(try fields.decimal("a") + fields.decimal("b") == fields.decimal("s"))
        #expect(try fields.decimal("e") == decimal("0.0000001"))
        #expect(try fields.decimal("neg") == decimal("-42.5"))
    }

    @Test func onlyWholeLiteralsParse() {
        for bad in ["", "12abc", "1,5", "NaN", "inf", ".5", "5.", "--1", "1e", "0x10", " 1", "1 "] {
            #expect(DecimalText.parse(bad) == nil, "\(bad) must not parse")
        }
        #expect(DecimalText.parse("007.50") == decimal("7.5"))
        #expect(DecimalText.plain(decimal("1500.05")) == "1500.05")
    }

    @Test func requestBodiesKeepDecimalLiterals() throws {
        let value = JSONValue.object([("price", .decimal(decimal("12345678901234.12345678"))), ("qty", .decimal(decimal("0.1") + decimal("0.2")))])
        #expect(value.text == #"{"price":12345678901234.12345678,"qty":0.3}"#)
        #expect(try JSONValue.parse(value.text) == value)
    }
}

/// Broker objects read field by field (the JSON grammar itself is TMCore's, tested with the queue).
@Suite struct JSONFieldsTests {
    @Test func fieldErrorsNameTheFieldNotTheValue() throws {
        let fields = try JSONFields(JSONValue.parse(#"{"price":"12x","qty":"secret-ish"}"#), context: "kite order")
        do {
            _ = try fields.decimal("price")
            Issue.record("expected an error")
        } catch {
            #expect(error == .invalidResponse(reason: "kite order: field 'price' is not a decimal number"))
        }
        #expect(throws: BrokerError.invalidResponse(reason: "kite order: field 'missing' is missing")) { try fields.text("missing") }
        #expect(try fields.optionalDecimal("absent") == nil)
    }
}

@Suite struct WireTimeTests {
    @Test func indianTimesAreISTToUTC() {
        #expect(WireTime.indianLocal("2026-11-20 09:15:02") == utc(2026, 11, 20, 3, 45, 2))
        #expect(WireTime.indianLocal("03-Aug-2017 15:03:42") == utc(2017, 8, 3, 9, 33, 42))
        #expect(WireTime.indianLocal("2024-03-01 01:00:00") == utc(2024, 2, 29, 19, 30, 0))  // across a leap day
        for bad in ["2026-11-20T09:15:02", "2026-13-01 00:00:00", "2026-02-30 00:00:00", "2026-11-20 24:00:00", "20-Foo-2026 10:00:00", ""] {
            #expect(WireTime.indianLocal(bad) == nil, "\(bad)")
        }
    }

    @Test func rfc3339WithFractionsAndOffsets() throws {
        let micros = try #require(WireTime.rfc3339("2021-05-10T14:01:04.650275Z"))
        #expect(abs(micros.timeIntervalSince(utc(2021, 5, 10, 14, 1, 4, fraction: 0.650275))) < 1e-6)
        let nanos = try #require(WireTime.rfc3339("2019-11-20T06:49:45.214827487Z"))
        #expect(abs(nanos.timeIntervalSince(utc(2019, 11, 20, 6, 49, 45, fraction: 0.214827487))) < 1e-6)
        #expect(WireTime.rfc3339("2026-11-20T09:15:02-05:00") == utc(2026, 11, 20, 14, 15, 2))
        #expect(WireTime.rfc3339("2026-11-20T09:15:02+05:30") == utc(2026, 11, 20, 3, 45, 2))
        for bad in ["2026-11-20T09:15:02", "2026-11-20 09:15:02", "2026-11-20T09:15:02.Z", "2026-11-20T09:15:02+0530"] {
            #expect(WireTime.rfc3339(bad) == nil, "\(bad)")
        }
    }

    @Test func epochMilliseconds() {
        #expect(WireTime.epochMilliseconds("1499827319559") == Date(timeIntervalSince1970: 1_499_827_319.559))
        #expect(WireTime.epochMilliseconds("-1") == nil)
        #expect(WireTime.milliseconds(Date(timeIntervalSince1970: 1_499_827_319.559)) == 1_499_827_319_559)
    }
}

@Suite struct ClientOrderIDTests {
    @Test func deterministicAndFitsEveryBroker() {
        for broker in BrokerKind.allCases {
            let id = ClientOrderID.derive(idempotencyKey: "order:7f3a", for: broker)
            #expect(id == ClientOrderID.derive(idempotencyKey: "order:7f3a", for: broker))
            #expect(id != ClientOrderID.derive(idempotencyKey: "order:7f3b", for: broker))
            #expect(id.count == min(43, ClientOrderID.maxLength(for: broker)))
            #expect(ClientOrderID.isValid(id, for: broker))
            #expect(id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
        #expect(ClientOrderID.derive(idempotencyKey: "k", for: .kite).count == 20)
        #expect(ClientOrderID.derive(idempotencyKey: "k", for: .binance).count == 36)
        // Kite's 20 characters are the tail of Binance's 36: one digest, cut to each rule.
        #expect(ClientOrderID.derive(idempotencyKey: "k", for: .binance).hasSuffix(ClientOrderID.derive(idempotencyKey: "k", for: .kite)))
    }

    @Test func isTheBase62OfTheDigest() {
        // Pinned value: the derivation must never change, or redelivered orders would get new ids.
        let expected = ClientOrderID.derive(idempotencyKey: "pinned", for: .alpaca)
        #expect(expected == "nwLxvQYxWAYp7j0uT2RfEy9Awr6YeEqKMZvge79TeDE")
        #expect(ClientOrderID.derive(idempotencyKey: "order:7f3a", for: .kite) == "SpuJxwyzIq0RljfZXDbR")
        #expect(expected.count == 43)
        let digest = SHA256Digest.hash("tm.client-order-id.v1\npinned")
        // Reconstruct the number from the base62 digits and compare with the digest bytes.
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var number = [UInt8](repeating: 0, count: 32)
        for character in expected {
            var carry = alphabet.firstIndex(of: character)!
            for index in number.indices.reversed() {
                let value = Int(number[index]) * 62 + carry
                number[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
        }
        #expect(number == digest)
    }

    @Test func validityRules() {
        #expect(ClientOrderID.isValid(String(repeating: "a", count: 20), for: .kite))
        #expect(!ClientOrderID.isValid(String(repeating: "a", count: 21), for: .kite))
        #expect(ClientOrderID.isValid(String(repeating: "a", count: 36), for: .binance))
        #expect(!ClientOrderID.isValid(String(repeating: "a", count: 37), for: .binance))
        #expect(ClientOrderID.isValid(String(repeating: "a", count: 128), for: .alpaca))
        #expect(!ClientOrderID.isValid("has space", for: .alpaca))
        #expect(!ClientOrderID.isValid("", for: .upstox))
        #expect(ClientOrderID.isValid("a-b_C9", for: .binance))
    }
}

@Suite struct ConfigurationTests {
    @Test func endpointsFromTheEnvironment() throws {
        let defaults = try BrokerEndpoints.fromEnvironment(TMEnvironment(process: [:], envFile: nil))
        #expect(defaults == .production)
        #expect(defaults.kite == "https://api.kite.trade")
        #expect(defaults.upstoxOrders == "https://api-hft.upstox.com")
        #expect(defaults.alpaca == "https://paper-api.alpaca.markets")
        let custom = try BrokerEndpoints.fromEnvironment(TMEnvironment(process: [
            "TM_KITE_BASE_URL": "http://127.0.0.1:9000/kite/", "TM_BINANCE_BASE_URL": "https://testnet.binance.vision",
            "TM_UPSTOX_ORDER_BASE_URL": "http://h:1/upstox",
        ], envFile: nil))
        #expect(custom.kite == "http://127.0.0.1:9000/kite")
        #expect(custom.binance == "https://testnet.binance.vision")
        #expect(custom.upstoxOrders == "http://h:1/upstox")
        #expect(custom.upstox == "https://api.upstox.com")
        #expect(throws: ConfigurationError.self) {
            try BrokerEndpoints.fromEnvironment(TMEnvironment(process: ["TM_ALPACA_BASE_URL": "ftp://x"], envFile: nil))
        }
    }

    @Test func simulatorEndpoints() {
        let sim = BrokerEndpoints.simulator(port: 7400)
        #expect(sim.kite == "http://127.0.0.1:7400/kite")
        #expect(sim.upstox == "http://127.0.0.1:7400/upstox")
        #expect(sim.upstoxOrders == "http://127.0.0.1:7400/upstox")
        #expect(sim.alpaca == "http://127.0.0.1:7400/alpaca")
        #expect(sim.binance == "http://127.0.0.1:7400/binance")
    }

    @Test func timeouts() throws {
        #expect(BrokerTimeouts() == BrokerTimeouts(connect: .seconds(3), total: .seconds(10)))
        let custom = try BrokerTimeouts.fromEnvironment(TMEnvironment(process: ["TM_BROKER_TIMEOUT": "2s", "TM_BROKER_CONNECT_TIMEOUT": "500ms"],
                                                                      envFile: nil))
        #expect(custom == BrokerTimeouts(connect: .milliseconds(500), total: .seconds(2)))
        #expect(throws: ConfigurationError.self) {
            try BrokerTimeouts.fromEnvironment(TMEnvironment(process: ["TM_BROKER_TIMEOUT": "10"], envFile: nil))
        }
    }

    @Test func factoryMakesEachBroker() throws {
        let http = try BrokerAdapters.makeHTTPClient(lanes: 1, proxy: .none)
        defer { http.shutdown() }
        for kind in BrokerKind.allCases {
            #expect(BrokerAdapters.make(kind, endpoints: .production, http: http).broker == kind)
        }
    }
}

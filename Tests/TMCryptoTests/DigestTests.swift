import Testing
import TMCrypto

/// Known-answer tests: RFC 4231 (HMAC-SHA256), FIPS 180-2 (SHA-256), Binance's published signature.
@Suite struct DigestTests {
    struct RFC4231Case: Sendable, CustomTestStringConvertible {
        let number: Int
        let key: [UInt8]
        let data: [UInt8]
        let expected: String  // hex; case 5 is truncated to 128 bits
        var testDescription: String { "RFC 4231 case \(number)" }
    }

    static let rfc4231: [RFC4231Case] = [
        .init(number: 1, key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
              expected: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        .init(number: 2, key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
              expected: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        .init(number: 3, key: [UInt8](repeating: 0xaa, count: 20), data: [UInt8](repeating: 0xdd, count: 50),
              expected: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        .init(number: 4, key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
              expected: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        .init(number: 5, key: [UInt8](repeating: 0x0c, count: 20), data: Array("Test With Truncation".utf8),
              expected: "a3b6167473100ee06e0c796c2955552b"),
        .init(number: 6, key: [UInt8](repeating: 0xaa, count: 131),
              data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
              expected: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        .init(number: 7, key: [UInt8](repeating: 0xaa, count: 131),
              data: Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
              expected: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test(arguments: rfc4231)
    func hmacRFC4231(_ c: RFC4231Case) {
        let mac = HMACSHA256.authenticate(message: c.data, key: c.key)
        #expect(mac.count == 32)
        // Truncated outputs (case 5) compare the leading bytes only, as the RFC specifies.
        let expected = Hex.decode(c.expected)!
        #expect(Array(mac.prefix(expected.count)) == expected)
        #expect(HMACSHA256.isValid(mac: mac, message: c.data, key: c.key))
    }

    @Test func hmacRejectsWrongMAC() {
        var mac = HMACSHA256.authenticate(message: [1, 2, 3], key: [4, 5, 6])
        mac[31] ^= 1
        #expect(!HMACSHA256.isValid(mac: mac, message: [1, 2, 3], key: [4, 5, 6]))
        #expect(!HMACSHA256.isValid(mac: Array(mac.prefix(16)), message: [1, 2, 3], key: [4, 5, 6]))
    }

    @Test func hmacEmptyKeyAndMessage() {
        // RFC 2104 with empty key and message; value cross-checked with `openssl dgst -hmac ''`.
        #expect(HMACSHA256.hex(message: [], key: []) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func binanceSignatureExample() {
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        #expect(HMACSHA256.hex(message: query, key: secret) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    }

    @Test func sha256FIPSVectors() {
        #expect(SHA256Digest.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Digest.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Digest.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256Digest.hash([UInt8]()).count == 32)
    }

    @Test func randomBytes() throws {
        for n in [0, 1, 12, 32, 1000] {
            #expect(try SecureRandom.bytes(count: n).count == n)
        }
        let a = try SecureRandom.bytes(count: 32)
        let b = try SecureRandom.bytes(count: 32)
        #expect(a != b)
        let t = try SecureRandom.hexToken()
        #expect(t.count == 32 && Hex.decode(t) != nil)
        #expect(try SecureRandom.hexToken() != t)
    }

    @Test func encodings() {
        #expect(Hex.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Base64.encode(Array("hello".utf8)) == "aGVsbG8=")
        #expect(Base64.decode(" aGVsbG8=\n") == Array("hello".utf8))
        #expect(Base64.decode("not base64!") == nil)
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(Base64URL.decode(encoded) == bytes)
        }
        #expect(Base64URL.decode("ab+c") == nil)
        #expect(Base64URL.decode("abcde") == nil)
    }
}

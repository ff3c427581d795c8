import Testing
import TMCore

/// `JSONValue.validate` (the queue producer's payload check) must refuse exactly what `parse`
/// refuses, with the same reason and byte offset, and accept exactly what it accepts.
@Suite struct JSONValidateTests {
    static let texts = [
        #"{"a":[1,2,]}"#, #"{"a":1,}"#, "[1] // note", "{'a':1}", "NaN", "", " ", "01", "-", "1.", "1e", "1e+",
        #""abc"#, "\"a\u{01}b\"", #""\x""#, #""\u12""#, #""\ud800\udbff""#, "[1 2]", "{\"a\" 1}", "{\"a\":1 \"b\":2}",
        "tru", "nul", "[", "{", "[[[]]", "{}x", #"{"a":1}"#, #"[1,-2.5e+3,"x\n\u00e9\ud83d\ude00",true,false,null,{}]"#,
        "  {\"i\" : 1 , \"ts\":[ ] }  ", #""é""#, "0", "-0.0E-0",
    ]

    @Test func validateAgreesWithParse() {
        for text in Self.texts {
            let bytes = Array(text.utf8)
            var parseError: JSONValue.ParseError?
            var validateError: JSONValue.ParseError?
            do { _ = try JSONValue.parse(bytes) } catch { parseError = error as? JSONValue.ParseError }
            do { try JSONValue.validate(bytes) } catch { validateError = error as? JSONValue.ParseError }
            #expect(parseError?.description == validateError?.description, "\(text)")
        }
    }

    @Test func nestingIsBoundedTheSame() {
        let deep = Array(String(repeating: "[", count: 600).utf8) + Array(String(repeating: "]", count: 600).utf8)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.validate(deep) }
    }
}

import FirmchainCore
import Testing
import TestSupport
@testable import Signing

/// RFC 7512 URIs: the examples of §3, percent-decoding, and malformed input.
@Suite("RFC 7512 pkcs11: URIs")
struct PKCS11URITests {
    @Test("the empty URI matches everything")
    func empty() throws {
        let u = try PKCS11URI(parsing: "pkcs11:")
        #expect(u.token == nil && u.object == nil && u.id == nil && u.type == nil)
        #expect(u.description == "pkcs11:")
    }

    @Test("RFC 7512 §3 examples parse to the attributes they spell")
    func rfcExamples() throws {
        var u = try PKCS11URI(parsing: "pkcs11:object=my-pubkey;type=public")
        #expect(u.object == "my-pubkey" && u.type == .publicKey)

        u = try PKCS11URI(parsing: "pkcs11:object=my-key;type=private?pin-source=file:/etc/token")
        #expect(u.object == "my-key" && u.type == .privateKey && u.pinSource == "file:/etc/token")

        u = try PKCS11URI(parsing: "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin")
        #expect(u.token == "The Software PKCS#11 Softtoken")
        #expect(u.manufacturer == "Snake Oil, Inc.")
        #expect(u.model == "1.0")
        #expect(u.type == .certificate)
        #expect(u.id == [0x69, 0x95, 0x3E, 0x5C, 0xF4, 0xBD, 0xEC, 0x91])
        #expect(u.serial == "")
        #expect(u.pinSource == "file:/etc/token_pin")

        u = try PKCS11URI(parsing: "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11")
        #expect(u.moduleName == "mypkcs11")

        u = try PKCS11URI(parsing: "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1")
        #expect(u.modulePath == "/mnt/libmypkcs11.so.1")

        u = try PKCS11URI(parsing: "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin")
        #expect(u.pinValue == "the-pin")
        #expect(!u.description.contains("the-pin"), "pin-value never appears in the printable form")

        u = try PKCS11URI(parsing: "pkcs11:slot-description=Sun%20Metaslot")
        #expect(u.slotDescription == "Sun Metaslot")

        u = try PKCS11URI(parsing: "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23")
        #expect(u.libraryManufacturer == "Snake Oil, Inc.")
        #expect(u.libraryDescription == "Soft Token Library")
        #expect(u.libraryVersion?.major == 1 && u.libraryVersion?.minor == 23)

        u = try PKCS11URI(parsing: "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%08;object=%00a%00b%00c?pin-source=file:/etc/token_pin")
        #expect(u.token == "My token% created by Joe")
        #expect(u.libraryVersion?.major == 3 && u.libraryVersion?.minor == 0)
        #expect(u.id == [0x01, 0x02, 0x03, 0xBA, 0xDD, 0xEF, 0x08])
        #expect(u.object == "\u{0}a\u{0}b\u{0}c")

        u = try PKCS11URI(parsing: "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert")
        #expect(u.token == "A name with a substring %;")

        u = try PKCS11URI(parsing: "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert")
        #expect(u.token == "Name with a small A with acute: á")

        u = try PKCS11URI(parsing: "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b")
        #expect(u.vendorPathAttributes.map(\.name) == ["vendor-aaa"])
        #expect(u.vendorQueryAttributes.map(\.value) == ["value-b"])
    }

    @Test("printing and re-parsing gives the same URI", arguments: [
        "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=a%3Bb%3Fc;id=%00%FF;type=private?module-path=/usr/lib/x.so&pin-source=file:/tmp/p%26q",
        "pkcs11:serial=;slot-id=42;library-version=2.7",
    ])
    func roundTrip(_ text: String) throws {
        let u = try PKCS11URI(parsing: text)
        #expect(try PKCS11URI(parsing: u.description) == u)
    }

    @Test("malformed URIs are refused with signing.uri-malformed", arguments: [
        "pkcs12:token=x",                 // wrong scheme
        "token=x",                        // no scheme
        "pkcs11:token=a%2",               // truncated percent-encoding
        "pkcs11:token=a%zz",              // not hex
        "pkcs11:token=a b",               // space must be encoded
        "pkcs11:token=a;token=b",         // repeated attribute
        "pkcs11:token",                   // no '='
        "pkcs11:token=a;;object=b",       // empty attribute
        "pkcs11:=x",                      // empty name
        "pkcs11:type=key",                // bad type
        "pkcs11:slot-id=12a",             // not decimal
        "pkcs11:slot-id=",                // empty number
        "pkcs11:library-version=1.2.3",   // bad version
        "pkcs11:library-version=a",
        "pkcs11:object=%C3%28",           // invalid UTF-8 in a text attribute
        "pkcs11:object=a?",               // empty query
        "pkcs11:object=a?pin-source=x&pin-source=y", // repeated query attribute
        "pkcs11:pin-source=file:/x",      // query attribute in the path
        "pkcs11:object=a?token=b",        // path attribute in the query
        "pkcs11:object=a/b",              // '/' is not allowed in the path
        "pkcs11:object=a?module-path=/x&",// trailing '&'
    ])
    func malformed(_ text: String) {
        #expect {
            _ = try PKCS11URI(parsing: text)
        } throws: { ($0 as? FirmchainError)?.code.id == "signing.uri-malformed" }
    }

    @Test("the scheme name is case-insensitive (RFC 3986 §3.1)")
    func schemeCase() throws {
        #expect(try PKCS11URI(parsing: "PKCS11:object=x").object == "x")
    }

    @Test("random bytes after the scheme never crash the parser")
    func fuzz() {
        var rng = SeededGenerator(seed: 7512)
        let alphabet = Array("abz=;?&%/:0fF-_ \u{7f}".utf8) + [0xC3, 0xA1, 0x00]
        for _ in 0..<5000 {
            let n = Int(rng.next() % 24)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let text = "pkcs11:" + String(decoding: bytes, as: UTF8.self)
            if let u = try? PKCS11URI(parsing: text) {
                // Whatever parses must print to something that parses to the same thing.
                #expect((try? PKCS11URI(parsing: u.description)) == u, "\(text)")
            }
        }
    }
}

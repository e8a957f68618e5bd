import Encryption
import FirmchainCore
import Foundation
import Testing
import TestSupport

@Suite("CMS export checked by openssl cms")
struct CMSExportTests {
    /// CLIKeys plus self-signed certificates: `a.crt` (P-256, key a.key), `r.crt` (RSA-3072),
    /// `p384.crt` (a curve CMS export refuses).
    func keys() throws -> CLIKeys {
        let k = try CLIKeys()
        expectOK(try runProcess("openssl", ["req", "-x509", "-new", "-key", k.path("a.key"), "-subj", "/CN=hw-a", "-days", "30", "-out", k.path("a.crt")]))
        expectOK(try runProcess("openssl", ["req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", k.path("r.key"), "-subj", "/CN=partner",
                                            "-days", "30", "-out", k.path("r.crt")]))
        expectOK(try runProcess("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-nodes",
                                            "-keyout", k.path("p384.key"), "-subj", "/CN=p384", "-days", "30", "-out", k.path("p384.crt")]))
        return k
    }

    @Test("openssl cms -decrypt opens the export for the EC P-256 and the RSA recipient; it is AuthEnvelopedData with AES-256-GCM, a SHA-256 KDF and OAEP-SHA-256")
    func opensslDecryptsBothRecipients() throws {
        let k = try keys()
        let r = try k.firmchain(["encrypt", "--json", "--format", "cms", "--in", k.path("fw.bin"), "--out", k.path("fw.cms"),
                                 "--recipient", k.path("a.crt"), "--recipient", k.path("r.crt")])
        expectOK(r)
        for (cert, key) in [("a.crt", "a.key"), ("r.crt", "r.key")] {
            expectOK(try runProcess("openssl", ["cms", "-decrypt", "-inform", "DER", "-in", k.path("fw.cms"), "-recip", k.path(cert),
                                                "-inkey", k.path(key), "-out", k.path("out/\(cert).bin")]))
            #expect(try FileIO.read(k.path("out/\(cert).bin")) == k.plaintext)
        }
        let printed = try runProcess("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", k.path("fw.cms")]).out
        #expect(printed.contains("id-smime-ct-authEnvelopedData"))
        #expect(printed.contains("aes-256-gcm"))
        #expect(printed.contains("dhSinglePass-stdDH-sha256kdf-scheme"))
        #expect(printed.contains("rsaesOaep"))
        let doc = try JSONReader().parse(Array(r.stdout))
        #expect(doc["format"]?.stringValue == "cms")
        #expect(doc["plaintext"]?["sha256"]?.stringValue == DigestCalculator.sha256Hex(k.plaintext))
        #expect(doc["recipients"]?.arrayValue?.compactMap { $0["algorithm"]?.stringValue } == ["ECDH-SHA256-KDF+A256KW", "RSA-OAEP-SHA256"])
    }

    @Test("the RSA recipient uses SHA-256 for OAEP and MGF1, not OpenSSL's SHA-1 default")
    func oaepParameters() throws {
        let k = try keys()
        expectOK(try k.firmchain(["encrypt", "--format", "cms", "--in", k.path("fw.bin"), "--out", k.path("fw.cms"), "--recipient", k.path("r.crt")]))
        let asn1 = try runProcess("openssl", ["asn1parse", "-inform", "DER", "-in", k.path("fw.cms")]).out
        let afterOAEP = asn1.components(separatedBy: "rsaesOaep").dropFirst().first ?? ""
        let oids = afterOAEP.split(separator: "\n").prefix(14).filter { $0.contains("OBJECT") }.map { $0.split(separator: ":").last.map(String.init) ?? "" }
        #expect(oids.prefix(3) == ["sha256", "mgf1", "sha256"], "\(oids)")
    }

    @Test("a certificate that is neither P-256 nor RSA is refused (exit 3) and nothing is written")
    func unsupportedRecipient() throws {
        let k = try keys()
        let r = try k.firmchain(["encrypt", "--format", "cms", "--in", k.path("fw.bin"), "--out", k.path("out/fw.cms"),
                                 "--recipient", k.path("a.crt"), "--recipient", k.path("p384.crt")])
        #expect(r.status == 3)
        #expect(r.err.contains("[encryption.cms-recipient-unsupported]") && r.err.contains("recipient 2"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a CMS export OpenSSL cannot write (the output file hits its size limit) is encryption.backend-failed quoting OpenSSL, and nothing is left at --out")
    func backendFails() throws {
        let k = try keys()
        // SIGXFSZ ignored by the shell stays ignored across exec: OpenSSL's write gets EFBIG.
        let r = try runProcess("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"", TestEnv.firmchain, "encrypt", "--format", "cms",
                                           "--in", k.path("fw.bin"), "--out", k.path("out/fw.cms"), "--recipient", k.path("a.crt")])
        #expect(r.status == 70, "\(r.err)")
        #expect(r.err.hasPrefix("firmchain: error: \(k.path("out/fw.cms")): OpenSSL could not write the CMS message")
                && r.err.hasSuffix(" [encryption.backend-failed]\n"), "\(r.err)")
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a certificate works as a COSE recipient too (its subject key)")
    func certificateAsCOSERecipient() throws {
        let k = try keys()
        expectOK(try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"), "--recipient", k.path("a.crt")]))
        expectOK(try k.firmchain(["decrypt", "--in", k.path("fw.enc"), "--key", k.path("a.key"), "--out", k.path("out/fw.bin")]))
        #expect(try FileIO.read(k.path("out/fw.bin")) == k.plaintext)
    }
}

import Export
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

/// CMS SignedData and certificates made through `Signer`, checked by openssl.
@Suite("CMS SignedData and certificates made through a Signer")
struct CMSAndCertificateTests {
    static let fixture = Result { try ExportFixture("export-cms") }

    func openssl(_ args: [String]) throws -> ProcessResult { try runProcess("openssl", args) }

    @Test("a self-signed CA and a signing certificate verify with openssl, with the key usages the distributors check")
    func certificatesVerify() throws {
        let f = try Self.fixture.get()
        let (leafKey, _) = try f.softwareKey(.ecdsaP256, name: "leaf-cert")
        let leaf = try f.write("leaf.pem", Array(try f.certificate(for: leafKey, name: "Exports").utf8))
        let r = try openssl(["verify", "-CAfile", f.caFile, "-purpose", "smimesign", leaf])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let text = try openssl(["x509", "-in", leaf, "-noout", "-text"]).out
        #expect(text.contains("Digital Signature"))
        #expect(text.contains("E-mail Protection") && text.contains("Code Signing"))
        #expect(text.contains("CA:FALSE"))
        let caText = try openssl(["x509", "-in", f.caFile, "-noout", "-text"]).out
        #expect(caText.contains("CA:TRUE") && caText.contains("Certificate Sign"))
    }

    @Test("a certificate cannot name an issuer certificate of another key")
    func issuerMismatch() throws {
        let f = try Self.fixture.get()
        let other = try SoftwareSigner(generating: .ecdsaP256)
        let error = #expect(throws: FirmchainError.self) {
            _ = try Certificates.issue(.init(subject: "CN=x", subjectKey: other.publicKey, purpose: .signing, notBefore: f.now),
                                       issuer: other, issuerCertificate: f.caPEM)
        }
        #expect(error?.code == .exportCertificateInvalid && error?.reason.hasPrefix("the issuer certificate is not for the issuer key") == true,
                "\(String(describing: error))")
    }

    @Test("detached and attached SignedData by P-256 and RSA software keys verify with openssl cms, and fail on a changed content",
          arguments: [KeyType.ecdsaP256, .rsa])
    func cmsVerifies(type: KeyType) throws {
        let f = try Self.fixture.get()
        let (key, _) = try f.softwareKey(type, name: "cms-\(type.rawValue)")
        let cert = try f.certificate(for: key, name: "CMS \(type.rawValue)")
        let content = Array("the content signed\n".utf8)
        let contentFile = try f.write("content-\(type.rawValue)", content)
        let detached = try CMSSignedData.sign(content, signer: key, options: .init(certificate: cert, signingTime: f.now))
        let detachedFile = try f.write("detached-\(type.rawValue).der", detached)
        var r = try openssl(["cms", "-verify", "-binary", "-inform", "DER", "-in", detachedFile, "-content", contentFile,
                             "-CAfile", f.caFile, "-out", "/dev/null"])
        #expect(r.status == 0, "\(r.err)")
        let changed = try f.write("changed-\(type.rawValue)", flipped(content, at: 3))
        r = try openssl(["cms", "-verify", "-binary", "-inform", "DER", "-in", detachedFile, "-content", changed, "-CAfile", f.caFile, "-out", "/dev/null"])
        #expect(r.status != 0)

        let attached = try CMSSignedData.sign(content, signer: key, options: .init(certificate: cert, signingTime: f.now, detached: false))
        let attachedFile = try f.write("attached-\(type.rawValue).der", attached)
        let outFile = f.directory.file("out-\(type.rawValue)")
        r = try openssl(["cms", "-verify", "-binary", "-inform", "DER", "-in", attachedFile, "-CAfile", f.caFile, "-out", outFile])
        #expect(r.status == 0, "\(r.err)")
        #expect(try FileIO.read(outFile) == content)
    }

    @Test("SignedData and certificates signed by SoftHSM keys (P-256 and RSA-3072) verify with openssl", arguments: ["ecdsa-p256", "rsa-3072"])
    func tokenKeys(type: String) throws {
        let f = try Self.fixture.get()
        let token = try SoftHSMTestToken.shared()
        let signer = try Signers.open(token.key(type)!.uri, options: ExportFixture.tokenOptions)
        // The token key as a CA and as a signing key.
        let tokenCA = try Certificates.issue(.init(subject: "CN=Token CA \(type)", subjectKey: signer.publicKey, purpose: .ca, notBefore: f.now),
                                             issuer: signer, issuerCertificate: nil)
        let tokenCAFile = try f.write("token-ca-\(type).pem", Array(tokenCA.utf8))
        var r = try openssl(["verify", "-CAfile", tokenCAFile, tokenCAFile])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let cert = try f.certificate(for: signer, name: "Token \(type)")
        let content = Array("token content".utf8)
        let contentFile = try f.write("token-content-\(type)", content)
        let cms = try CMSSignedData.sign(content, signer: signer, options: .init(certificate: cert, signingTime: f.now))
        let cmsFile = try f.write("token-\(type).der", cms)
        r = try openssl(["cms", "-verify", "-binary", "-inform", "DER", "-in", cmsFile, "-content", contentFile, "-CAfile", f.caFile, "-out", "/dev/null"])
        #expect(r.status == 0, "\(r.err)")
    }

    @Test("firmchain keys certify issues a CA and a signing certificate that openssl verify accepts")
    func certifyCommand() throws {
        let f = try Self.fixture.get()
        let (caKey, caKeyFile) = try f.softwareKey(.ecdsaP256, name: "cli-ca")
        let (_, leafKeyFile) = try f.softwareKey(.rsa, name: "cli-leaf")
        _ = caKey
        let caCert = f.directory.file("cli-ca.pem"), leafCert = f.directory.file("cli-leaf.pem")
        var r = try runProcess(TestEnv.firmchain, ["keys", "certify", "--key", caKeyFile, "--self-signed", "--subject", "CN=CLI CA,O=Firmchain", "--out", caCert])
        #expect(r.status == 0, "\(r.err)")
        r = try runProcess(TestEnv.firmchain, ["keys", "certify", "--key", leafKeyFile, "--issuer-key", caKeyFile, "--issuer-cert", caCert,
                                               "--subject", "CN=CLI leaf", "--out", leafCert])
        #expect(r.status == 0, "\(r.err)")
        r = try openssl(["verify", "-CAfile", caCert, "-purpose", "smimesign", leafCert])
        #expect(r.status == 0, "\(r.out)\(r.err)")
    }
}

import Export
import FirmchainCore
import Foundation
import Pipeline
import Release
import Signing
import TestSupport

/// A release built by the real pipeline runner, with a small PKI made by Firmchain itself: a
/// software CA and signing certificates for software keys and SoftHSM keys. Keys are generated
/// at run time.
final class ExportFixture: @unchecked Sendable {
    let directory: TemporaryDirectory
    let built: ReleaseBuilder.Built
    /// The released target's bytes (`fw.bin`).
    let targetBytes: [UInt8]
    /// The CA key and certificate (PEM text and file).
    let ca: SoftwareSigner
    let caPEM: String
    let caFile: String
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    init(_ name: String) throws {
        directory = try TemporaryDirectory(name)
        built = try ReleaseBuilder(directory: directory.path, now: now).build()
        let verified = try built.release.verifyRepository(trustedRoot: built.trustedRoot, now: now)
        let file = verified.repository.allTargets["fw.bin"]!
        targetBytes = try FileIO.read(built.release.repository.targetPath(name: "fw.bin", hash: file.hashes["sha256"]!))
        ca = try SoftwareSigner(generating: .ecdsaP256, description: "ca")
        caPEM = try Certificates.issue(.init(subject: "CN=Firmchain Test CA,O=Firmchain", subjectKey: ca.publicKey, purpose: .ca,
                                             notBefore: now.addingTimeInterval(-86400)), issuer: ca, issuerCertificate: nil)
        caFile = directory.file("ca.pem")
        try AtomicFile.write(Array(caPEM.utf8), to: caFile)
    }

    /// A signing certificate for `signer`, issued by the CA.
    func certificate(for signer: any Signer, name: String) throws -> String {
        try Certificates.issue(.init(subject: "CN=\(name),O=Firmchain", subjectKey: signer.publicKey, purpose: .signing,
                                     notBefore: now.addingTimeInterval(-86400)), issuer: ca, issuerCertificate: caPEM)
    }

    /// Writes `text` to a file in the fixture's directory and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory.file(name)
        try AtomicFile.write(bytes, to: path)
        return path
    }

    /// A new software key, its private PEM written to a file; returns (signer, key file).
    func softwareKey(_ type: KeyType, name: String) throws -> (SoftwareSigner, String) {
        let signer = try SoftwareSigner(generating: type, description: name)
        let file = try write(name + ".key.pem", Array(try signer.privateKeyPEM(encryptedWith: nil).utf8))
        return (signer, file)
    }

    /// The release's verified target.
    func target() throws -> ReleaseTarget {
        try ReleaseTarget.load(release: built.release, name: "fw.bin", trustedRoot: built.trustedRoot, now: now)
    }

    /// SoftHSM options with the test PIN.
    static var tokenOptions: SignerOptions { SignerOptions(pin: { _ in Secret(string: SoftHSMTestToken.pin) }) }
}

/// `bytes` with the byte at `index` flipped.
func flipped(_ bytes: [UInt8], at index: Int) -> [UInt8] {
    var b = bytes
    b[index] ^= 0x01
    return b
}

/// The offset of `needle` in `haystack`, after `from`.
func offset(of needle: [UInt8], in haystack: [UInt8], from: Int = 0) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    var i = from
    while i + needle.count <= haystack.count {
        if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
        i += 1
    }
    return nil
}

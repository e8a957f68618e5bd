import ArgumentParser
import Export
import FirmchainCore
import Foundation
import Signing

extension KeysCommand {
    struct Certify: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "certify",
            abstract: "Issue an X.509 certificate for a key (a token key or a PEM key), signed through a Signer.",
            discussion: """
                With --issuer-key and --issuer-cert: a signing certificate for --key (digitalSignature; EKU emailProtection and codeSigning, which RAUC and SWUpdate check). With --self-signed: a CA certificate for --key, signed by itself. Signatures are made by the keys where they live (PKCS#11 or PEM); no OpenSSL engine is involved. See Docs/exports.md.

                Example:
                  firmchain keys certify --key 'pkcs11:token=release;object=ca' \\
                      --self-signed --subject 'CN=Release CA,O=Example' --out ca.pem
                  firmchain keys certify --key 'pkcs11:token=release;object=export' \\
                      --issuer-key 'pkcs11:token=release;object=ca' --issuer-cert ca.pem \\
                      --subject 'CN=Exports,O=Example' --out export.pem
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions

        @Option(help: ArgumentHelp("The key to certify: a pkcs11: URI or a PEM key file (public or private).", valueName: "URI|FILE"))
        var key: String

        @Option(help: ArgumentHelp("The issuing CA's key.", valueName: "URI|FILE")) var issuerKey: String?
        @Option(help: ArgumentHelp("The issuing CA's certificate (PEM).", valueName: "CA.pem")) var issuerCert: String?
        @Flag(help: "Issue a self-signed CA certificate for --key.") var selfSigned = false
        @Option(help: ArgumentHelp("The subject, as CN=…,O=…,OU=…,C=….", valueName: "DN")) var subject: String
        @Option(help: "Validity in days.") var days = 3650
        @Option(help: ArgumentHelp("Start of validity (YYYY-MM-DDTHH:MM:SSZ; default: now).", valueName: "TIME")) var notBefore: String?
        @Option(help: ArgumentHelp("Where to write the certificate (PEM).", valueName: "CERT.pem")) var out: String

        func validate() throws {
            if selfSigned == (issuerKey != nil) { throw ValidationError("give either --self-signed or --issuer-key with --issuer-cert") }
            if (issuerKey == nil) != (issuerCert == nil) { throw ValidationError("--issuer-key and --issuer-cert go together") }
        }

        func run() throws {
            let options = access.signerOptions()
            let start: Date
            if let notBefore {
                guard let d = UTCTimestamp.date(from: notBefore) else { throw ValidationError("--not-before is not YYYY-MM-DDTHH:MM:SSZ") }
                start = d
            } else {
                // A few minutes back, so a verifier whose clock is slightly behind accepts it at once.
                start = Date().addingTimeInterval(-300)
            }
            let pem: String
            if selfSigned {
                let signer = try Signers.open(key, options: options)
                pem = try Certificates.issue(.init(subject: subject, subjectKey: signer.publicKey, purpose: .ca, notBefore: start, days: days),
                                             issuer: signer, issuerCertificate: nil)
            } else if let issuerKey, let issuerCert {
                let subjectKey = try Signers.publicKey(of: key, options: options)
                let issuer = try Signers.open(issuerKey, options: options)
                let caText = String(decoding: try FileIO.read(issuerCert, limit: 1 << 20), as: UTF8.self)
                pem = try Certificates.issue(.init(subject: subject, subjectKey: subjectKey, purpose: .signing, notBefore: start, days: days),
                                             issuer: issuer, issuerCertificate: caText)
            } else {
                throw ValidationError("give either --self-signed or --issuer-key with --issuer-cert")
            }
            try AtomicFile.write(Array(pem.utf8), to: out)
            output.emit(text: "wrote \(selfSigned ? "CA" : "signing") certificate for \(subject) to \(out)",
                        json: .object(["path": .string(out), "subject": .string(subject), "purpose": .string(selfSigned ? "ca" : "signing")]))
        }
    }
}

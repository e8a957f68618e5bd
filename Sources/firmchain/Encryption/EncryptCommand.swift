import ArgumentParser
import Encryption
import FirmchainCore
import Signing

/// `firmchain encrypt`: a payload encrypted once for every recipient (COSE_Encrypt, SUIT profile).
struct EncryptCommand: FirmchainCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt a file once for several recipients: P-256 public keys and pre-shared group keys.",
        discussion: """
            COSE (default): writes OUT (AES-GCM ciphertext followed by its 16-byte tag) and OUT.cose (the COSE_Encrypt structure of the SUIT firmware-encryption profile, with the ciphertext detached). P-256 recipients get ECDH-ES+A256KW (HKDF-SHA-256, "SUIT Payload Encryption"); kek:FILE recipients get A256KW or A128KW by the key's length. Streams in constant memory; nothing appears at OUT unless the whole encryption succeeded.

            --add-to adds recipients to an existing payload without re-encrypting it: --key must open it (any current recipient's key), and the ciphertext is checked against its tag first. Only OUT.cose changes.

            CMS (--format cms): writes OUT, a DER CMS AuthEnvelopedData with AES-256-GCM that `openssl cms -decrypt` opens; each --recipient is an X.509 certificate (PEM or DER) for an EC P-256 key (ECDH, SHA-256 KDF, AES key wrap) or an RSA key (RSA-OAEP with SHA-256).

            A recipient is a PEM public key, a PEM certificate, a pkcs11: URI (its public key) or kek:FILE (16/32 raw bytes or 32/64 hex digits; its key id is the file name without extension). See Docs/encryption.md.

            Example:
              firmchain encrypt --in fw.bin --recipient hw-a.pub.pem \\
                  --recipient kek:Keys/fleet-eu.kek --out stage/fw.bin
              firmchain encrypt --add-to stage/fw.bin --key kek:Keys/fleet-eu.kek \\
                  --recipient hw-c.pub.pem
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var access: KeyAccessOptions

    @Option(name: .customLong("in"), help: ArgumentHelp("The plaintext file.", valueName: "FILE"))
    var input: String?

    @Option(name: .customLong("recipient"), help: ArgumentHelp("A recipient: PUB.pem, CERT.pem, pkcs11:URI or kek:FILE (repeat for more).", valueName: "KEY"))
    var recipients: [String] = []

    @Option(name: .long, help: ArgumentHelp("Where to write the ciphertext (OUT.cose beside it).", valueName: "OUT"))
    var out: String?

    @Option(name: .long, help: "Output format: cose, or cms (AuthEnvelopedData for openssl cms; recipients are X.509 certificates).")
    var format: EncryptionFormat = .cose

    @Option(name: .long, help: "Content algorithm: A256GCM or A128GCM.")
    var contentAlgorithm: ContentAlgorithm = .a256gcm

    @Option(name: .long, help: "Key wrap for P-256 recipients: A256KW or A128KW.")
    var keyWrap: KeyWrapAlgorithm = .a256kw

    @Option(name: .long, help: ArgumentHelp("Add the recipients to this encrypted payload (its structure is PAYLOAD.cose).", valueName: "PAYLOAD"))
    var addTo: String?

    @Option(name: .long, help: ArgumentHelp("With --add-to: a key that opens the payload (PEM, pkcs11:URI or kek:FILE).", valueName: "KEY"))
    var key: String?

    func validate() throws {
        if recipients.isEmpty { throw ValidationError("give at least one --recipient") }
        if format == .cms && (addTo != nil || contentAlgorithm != .a256gcm) {
            throw ValidationError("--format cms is AES-256-GCM and takes no --add-to")
        }
        if addTo != nil {
            if key == nil { throw ValidationError("--add-to needs --key, a key that opens the payload") }
            if input != nil || out != nil { throw ValidationError("--add-to takes no --in or --out") }
        } else if input == nil || out == nil {
            throw ValidationError("give --in and --out (or --add-to)")
        }
    }

    func run() throws {
        let options = access.signerOptions()
        if format == .cms, addTo == nil, let input, let out {
            let certificates = try self.recipients.map { try RecipientCertificate(file: $0) }
            let d = try CMSExport.encrypt(file: input, recipients: certificates, to: out)
            var doc = d.json.objectValue ?? [:]
            doc["paths"] = .array([.string(out)])
            output.emit(text: "wrote \(out): CMS AuthEnvelopedData, A256GCM, \(d.recipients.count) recipient(s) (\(d.recipients.map(\.algorithm).joined(separator: ", ")))",
                        json: .object(doc))
            return
        }
        let recipients = try self.recipients.map { try RecipientSpec.recipient($0, keyWrap: keyWrap, options: options) }
        let encryptionOptions = EncryptionOptions(contentAlgorithm: contentAlgorithm, progress: progress)
        let descriptor: EncryptionDescriptor
        let written: String
        if let addTo, let key {
            let unlock = try RecipientSpec.decryptionKey(key, options: options)
            descriptor = try Encryptor.addRecipients(recipients, ciphertext: addTo, structure: addTo + ".cose",
                                                     unlockingWith: unlock, options: encryptionOptions)
            written = addTo + ".cose"
        } else if let input, let out {
            logger.info("encrypting \(input) for \(recipients.count) recipient(s)")
            switch format {
            case .cose:
                descriptor = try Encryptor(recipients: recipients, options: encryptionOptions)
                    .encrypt(file: input, ciphertextTo: out, structureTo: out + ".cose")
                written = "\(out) and \(out).cose"
            case .cms:
                throw FirmchainError(.internal, "the CMS export is handled above")
            }
        } else {
            throw FirmchainError(.internal, "validate() let an incomplete command line through")
        }
        var doc = descriptor.json.objectValue ?? [:]
        doc["paths"] = .array(written.components(separatedBy: " and ").map { .string($0) })
        output.emit(
            text: "wrote \(written): \(descriptor.contentAlgorithm.rawValue), \(descriptor.recipients.count) recipient(s) (\(descriptor.recipients.map(\.algorithm).joined(separator: ", "))), plaintext sha256 \(descriptor.plaintext.sha256)",
            json: .object(doc))
    }
}

extension EncryptionFormat: ExpressibleByArgument {}
extension ContentAlgorithm: ExpressibleByArgument {}
extension KeyWrapAlgorithm: ExpressibleByArgument {}

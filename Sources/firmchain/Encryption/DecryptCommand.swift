import ArgumentParser
import Encryption
import FirmchainCore
import Signing

/// `firmchain decrypt`: a COSE_Encrypt payload opened with one recipient's key.
struct DecryptCommand: FirmchainCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a payload encrypted by firmchain encrypt (or any COSE_Encrypt of the SUIT profile) with one recipient's key.",
        discussion: """
            IN is the ciphertext and IN.cose its structure (or --cose PATH); when no structure file exists, IN is a COSE_Encrypt with the ciphertext attached. The key is a PEM P-256 private key, a pkcs11: URI (ECDH inside the token) or kek:FILE.

            The plaintext goes to a temporary file beside OUT (mode 0600) and is renamed to OUT only after the AES-GCM tag verifies (and, with --expect-length/--expect-sha256, only when the plaintext is the manifest's); on any failure nothing is left at OUT. A changed ciphertext, tag or header exits 1 (encryption.authentication-failed); a key that is not a recipient exits 3 (encryption.no-matching-recipient).

            The token PIN comes from FIRMCHAIN_PKCS11_PIN, the URI's pin-source, or a prompt on a terminal.

            Example:
              firmchain decrypt --in stage/fw.bin --key hw-a.key.pem --out fw.bin
              firmchain decrypt --in stage/fw.bin \\
                  --key 'pkcs11:token=device;object=hw-a' --out fw.bin
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var access: KeyAccessOptions

    @Option(name: .customLong("in"), help: ArgumentHelp("The ciphertext file (or a structure with the ciphertext attached).", valueName: "FILE"))
    var input: String

    @Option(name: .long, help: ArgumentHelp("The COSE structure (default: IN.cose when it exists).", valueName: "FILE"))
    var cose: String?

    @Option(name: .long, help: ArgumentHelp("The decryption key: a PEM private key, a pkcs11: URI or kek:FILE.", valueName: "KEY"))
    var key: String

    @Option(name: .long, help: ArgumentHelp("Where to write the plaintext (only once the tag verifies).", valueName: "FILE"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Refuse the plaintext unless its SHA-256 is this (e.g. the manifest's).", valueName: "HEX"))
    var expectSha256: String?

    @Option(name: .long, help: ArgumentHelp("Refuse the plaintext unless it has this many bytes.", valueName: "N"))
    var expectLength: Int64?

    func validate() throws {
        if let h = expectSha256, h.count != 64 || Hex.decode(h) == nil { throw ValidationError("--expect-sha256 takes 64 hex digits") }
        if (expectSha256 == nil) != (expectLength == nil) { throw ValidationError("--expect-sha256 and --expect-length go together (both are in the manifest)") }
    }

    func run() throws {
        let structurePath: String
        let ciphertextPath: String?
        if let cose {
            (structurePath, ciphertextPath) = (cose, input)
        } else if FileIO.exists(input + ".cose") {
            (structurePath, ciphertextPath) = (input + ".cose", input)
        } else {
            (structurePath, ciphertextPath) = (input, nil)
        }
        let limit = ciphertextPath == nil ? Decryptor.maxAttachedCiphertextLength + 4096 : Decryptor.maxStructureLength
        let structure = try FileIO.read(structurePath, limit: limit)
        let key = try RecipientSpec.decryptionKey(key, options: access.signerOptions())
        let result: DecryptionResult
        do {
            result = try Decryptor.decrypt(structure: structure, ciphertext: ciphertextPath, key: key, to: out,
                                           expectedPlaintext: expectLength.flatMap { n in expectSha256.map { FileDigest(sha256: $0, length: n) } },
                                           options: EncryptionOptions(progress: progress))
        } catch let e as FirmchainError where e.path == nil {
            throw e.about(structurePath)
        }
        output.emit(
            text: "wrote \(out): \(result.plaintext.length) bytes, sha256 \(result.plaintext.sha256) (tag verified; recipient \(result.recipientAlgorithm)\(result.recipientKeyID.map { " kid " + $0 } ?? ""))",
            json: .object([
                "path": .string(out), "plaintext": result.plaintext.json, "content_algorithm": .string(result.contentAlgorithm.rawValue),
                "recipient": .object(["key_id": result.recipientKeyID.map { .string($0) } ?? .null,
                                      "algorithm": .string(result.recipientAlgorithm.description)]),
            ]))
    }
}

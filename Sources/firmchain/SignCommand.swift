import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Signing

/// `firmchain sign`: a raw signature over a file with a token key or a PEM key.
struct SignCommand: FirmchainCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a file with a PKCS#11 key (pkcs11: URI) or a PEM private key; write the bare signature.",
        discussion: """
            The signature is verified with the key's public key before it is written. ECDSA signatures are DER unless --encoding raw (r||s). RSA keys sign with RSA-PSS (SHA-256, MGF1-SHA-256, salt 32); Ed25519 signs the whole file.

            The token PIN comes from FIRMCHAIN_PKCS11_PIN, the URI's pin-source, or a prompt on a terminal; a PEM passphrase from --passphrase-file, FIRMCHAIN_KEY_PASSPHRASE or a prompt. Never from the command line.

            Example:
              export FIRMCHAIN_PKCS11_PIN   # set beforehand, e.g. by the CI secret store
              firmchain sign --key 'pkcs11:token=release;object=targets' \\
                  --in targets.json --out targets.sig
              firmchain sign --key dev-key.pem --in image.bin --out image.sig \\
                  --encoding raw
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var access: KeyAccessOptions
    @OptionGroup var custody: CustodyLedgerOptions

    @Option(name: .long, help: ArgumentHelp("A pkcs11: URI (RFC 7512) or a PEM private key file.", valueName: "URI|FILE"))
    var key: String

    @Option(name: .customLong("in"), help: ArgumentHelp("The file to sign.", valueName: "FILE"))
    var input: String

    @Option(name: .long, help: ArgumentHelp("Where to write the signature (atomically).", valueName: "SIG"))
    var out: String

    @Option(name: .long, help: "ECDSA signature encoding: der or raw (r||s).")
    var encoding: SignatureEncoding = .der

    @Option(name: .long, help: "Signature algorithm (default: the only one the key type allows).")
    var algorithm: SignatureAlgorithm?

    @Option(name: .long, help: ArgumentHelp("Benchmark: sign the file N times and report signatures per second.", valueName: "N"))
    var count: Int = 1

    @Option(name: .long, help: ArgumentHelp("Benchmark: sign from T threads at once through one signer.", valueName: "T"))
    var threads: Int = 1

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if threads < 1 || threads > 64 { throw ValidationError("--threads must be between 1 and 64") }
    }

    func run() throws {
        try custody.check()
        let message = try FileIO.read(input, limit: 1 << 30)
        let signer = try Signers.open(key, options: access.signerOptions())
        let algorithm = self.algorithm ?? signer.supportedAlgorithms[0]
        logger.info("signing \(input) with \(signer.keyDescription) (\(algorithm.rawValue))")

        let start = DispatchTime.now().uptimeNanoseconds
        var signature = try signer.sign(message, algorithm: algorithm, encoding: encoding)
        if count > 1 {
            signature = try Self.repeatSigning(signer, message: message, algorithm: algorithm, encoding: encoding,
                                               count: count - 1, threads: threads) ?? signature
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        // The signature is written but not yet in place while its ledger entry is appended: when
        // the ledger cannot take the entry, no signature appears either (nothing unrecorded).
        let writer = try AtomicFileWriter(path: out)
        try writer.write(signature)
        do {
            try custody.record(.signed([LedgerSubject(name: input, sha256: DigestCalculator.sha256Hex(message))], by: signer.publicKey, purpose: "sign"),
                               now: Date())
        } catch {
            writer.abort()
            throw error
        }
        try writer.commit()

        var doc: [String: JSONValue] = [
            "path": .string(out), "key": .string(signer.keyDescription), "algorithm": .string(algorithm.rawValue),
            "tuf_scheme": .string(algorithm.tufScheme), "encoding": .string(encoding.rawValue),
            "length": .int(signature.count), "signature_hex": .string(Hex.encode(signature)),
        ]
        var text = "wrote \(signature.count)-byte \(algorithm.rawValue) signature to \(out)"
        if count > 1 {
            let rate = Double(count) / seconds
            doc["benchmark"] = ["count": .int(count), "threads": .int(threads),
                                "signatures_per_second": .int(Int(rate.rounded()))]
            text += String(format: "\n%d signatures on %d thread(s) in %.3f s: %.0f signatures/s (each verified)", count, threads, seconds, rate)
        }
        output.emit(text: text, json: .object(doc))
    }

    /// Signs `count` more times from `threads` threads; returns one of the signatures.
    private static func repeatSigning(_ signer: any Signer, message: [UInt8], algorithm: SignatureAlgorithm,
                                      encoding: SignatureEncoding, count: Int, threads: Int) throws -> [UInt8]? {
        let lock = NSLock()
        nonisolated(unsafe) var firstError: Error?
        nonisolated(unsafe) var last: [UInt8]?
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let share = count / threads + (t < count % threads ? 1 : 0)
            for _ in 0..<share {
                do {
                    let s = try signer.sign(message, algorithm: algorithm, encoding: encoding)
                    if t == 0 { lock.lock(); last = s; lock.unlock() }
                } catch {
                    lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
                    return
                }
            }
        }
        if let firstError { throw firstError }
        return last
    }
}

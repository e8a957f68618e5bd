import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Record: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an in-toto link for a step that ran (DSSE) and add it to the ledger.",
            discussion: """
                Materials and products are paths relative to OUT (a directory stands for every \
                file below it). An input outside OUT is given as NAME=PATH and recorded as NAME \
                (by convention inputs/<basename>). Arguments after -- are recorded as the command. \
                With --run the command is run too, like in-toto-run: materials are hashed before it, \
                products after it, its exit status is recorded, and a failing command leaves no link \
                (custody.step-failed).

                Example:
                  firmchain custody record --out OUT --step manifest --key builder.pem \\
                      --material build/deltas --material inputs/fw-1.1.0.bin=fw-1.1.0.bin \\
                      --product repository/targets --product .staging \\
                      -- firmchain repo add-target …
                  firmchain custody record --out OUT --step sign --key release.pem --run \\
                      --material repository --material .staging --product repository \\
                      -- firmchain repo publish --out OUT --key targets.pem \\
                      --key snapshot.pem --key timestamp.pem
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "The step name (as in the layout).") var step: String
        @Option(help: ArgumentHelp("The functionary's key.", valueName: "URI|FILE")) var key: String
        @Option(help: ArgumentHelp("A material: PATH in OUT, or NAME=PATH for a file outside OUT (repeatable).", valueName: "PATH|NAME=PATH"))
        var material: [String] = []
        @Option(help: ArgumentHelp("A product: PATH in OUT (repeatable).", valueName: "PATH")) var product: [String] = []
        @Option(help: ArgumentHelp("NAME=VALUE recorded in the link's environment (never a secret; repeatable).", valueName: "NAME=VALUE"))
        var environment: [String] = []
        @Flag(name: .customLong("run"), help: "Run the command: hash materials, run it, then hash products.") var runCommand = false
        @Argument(parsing: .postTerminator, help: "The command the step ran (or runs, with --run).") var command: [String] = []

        func validate() throws {
            do { try CustodyPolicy.validateStepName(step) } catch let e as FirmchainError { throw ValidationError(e.reason) }
            if runCommand && command.isEmpty { throw ValidationError("--run needs a command after --") }
            for e in environment { _ = try CustodyCommand.split(e, "--environment") }
        }

        /// Refuses an environment entry whose name says it is a secret, or whose value is the
        /// PIN or passphrase this process was given: a link is public, signed evidence.
        static func checkEnvironment(_ entries: [(String, String)]) throws {
            let secrets = ["FIRMCHAIN_PKCS11_PIN", "FIRMCHAIN_KEY_PASSPHRASE"].compactMap { ProcessInfo.processInfo.environment[$0] }.filter { !$0.isEmpty }
            for (name, value) in entries where CustodyStore.isSecretName(name) || secrets.contains(where: { value.contains($0) }) {
                throw FirmchainError(.custodySecretInEnvironment,
                                     "--environment \(name)=… would sign a secret into the link; links are public evidence (the value is not shown)")
            }
        }

        func run() throws {
            let now = Date()
            try Self.checkEnvironment(try environment.map { try CustodyCommand.split($0, "--environment") })
            try CustodyStore(out: out).requireLayout()
            var materials = [String: ArtifactDigests]()
            for m in material {
                if let eq = m.firstIndex(of: "=") {
                    let (name, path) = (String(m[..<eq]), String(m[m.index(after: eq)...]))
                    let a = try Artifacts.hash(file: path, as: name, progress: progress)
                    materials[a.name] = a.digests
                } else {
                    for (k, v) in try Artifacts.hash([m], in: out, progress: progress) { materials[k] = v }
                }
            }
            var byproducts = [String: JSONValue]()
            if runCommand {
                let status = try Self.execute(command)
                byproducts["return-value"] = .int(status)
                guard status == 0 else {
                    throw FirmchainError(.custodyStepFailed, "the command of step \(step) exited with \(status); no link was written")
                }
            }
            let products = try Artifacts.hash(product, in: out, progress: progress)
            var env = [String: JSONValue]()
            for e in environment { let (k, v) = try CustodyCommand.split(e, "--environment"); env[k] = .string(v) }
            let link = InTotoLink(name: step, materials: materials, products: products, byproducts: byproducts, command: command, environment: env)
            let signer = try Signers.open(key, options: keyAccess.signerOptions())
            let signed = try CustodyStore(out: out).record(link, signer: signer, now: now)
            output.emit(text: "wrote custody/\(signed.fileName): \(materials.count) material(s), \(products.count) product(s), signed by \(signed.keyid.prefix(8))",
                        json: ["link": .string("custody/" + signed.fileName), "keyid": .string(signed.keyid),
                               "materials": .int(materials.count), "products": .int(products.count)])
        }

        /// Runs argv with the same stdin, stdout, stderr and environment; returns its exit status.
        static func execute(_ argv: [String]) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = argv
            do { try p.run() } catch {
                throw FirmchainError(.custodyStepFailed, "cannot run \(argv[0]): \(error.localizedDescription)")
            }
            p.waitUntilExit()
            return p.terminationReason == .exit ? p.terminationStatus : 128 + p.terminationStatus
        }
    }
}

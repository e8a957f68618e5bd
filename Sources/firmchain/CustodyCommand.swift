import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

/// Options of the commands that perform key operations (`keys generate`, `sign`): where to
/// record them in the custody ledger.
struct CustodyLedgerOptions: ParsableArguments {
    @Option(name: .customLong("custody"),
            help: ArgumentHelp("Record this key operation in the ledger of this release directory (OUT/custody/ledger.jsonl).", valueName: "OUT"))
    var out: String?

    /// Appends `record` when `--custody` was given.
    func record(_ record: @autoclosure () -> LedgerRecord, now: Date) throws {
        guard let out else { return }
        let store = CustodyStore(out: out)
        try FileIO.makeDirectories(store.directory)
        try store.ledger.append(record(), now: now)
    }
}

/// `firmchain custody`: chain-of-custody evidence — in-toto layout and links (DSSE), SLSA
/// provenance, the hash-chained ledger — and their verification.
struct CustodyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "custody",
        abstract: "Record and verify chain-of-custody evidence: in-toto layout and links, SLSA provenance, the ledger.",
        discussion: """
            Evidence lives in OUT/custody (see Docs/custody.md). Auditors can check it with
            in-toto-verify, run in OUT:
              in-toto-verify --layout custody/root.layout --link-dir custody --verification-keys keys/owner.pub.pem

            Example:
              firmchain custody layout --out OUT --owner-key owner.pem --functionary delta=builder.pem \\
                  --functionary manifest=builder.pem --functionary sign=release.pem --functionary publish=release.pem
              firmchain custody record --out OUT --step delta --key builder.pem \\
                  --material inputs/fw-1.0.0.bin=fw-1.0.0.bin --material inputs/fw-1.1.0.bin=fw-1.1.0.bin \\
                  --product build/deltas -- firmchain delta create --old fw-1.0.0.bin --new fw-1.1.0.bin --out OUT/build/deltas/fw.bsdiff
              firmchain custody checkpoint --out OUT --key release.pem
              firmchain custody verify OUT
              firmchain custody trace OUT/repository/targets/3f2a….fw-1.1.0.bin
            """,
        subcommands: [Layout.self, Record.self, Log.self, Checkpoint.self, Provenance.self, Verify.self, Trace.self]
    )

    /// Splits `STEP=VALUE`.
    static func split(_ s: String, _ option: String) throws -> (String, String) {
        guard let eq = s.firstIndex(of: "="), eq != s.startIndex, s.index(after: eq) != s.endIndex else {
            throw ValidationError("\(option) takes STEP=VALUE, got \"\(s)\"")
        }
        return (String(s[..<eq]), String(s[s.index(after: eq)...]))
    }

    struct Layout: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the owner-signed in-toto layout of the standard release chain (delta, manifest, sign, publish).",
            discussion: """
                Compiles the standard pipeline steps (Docs/custody.md) with the given functionaries
                into OUT/custody/root.layout, signed by every --owner-key, and writes the owners'
                public keys to OUT/keys/owner.pub.pem (owner-2.pub.pem, …).

                Example:
                  firmchain custody layout --out OUT --owner-key 'pkcs11:token=owner;object=layout' \\
                      --functionary delta=keys/builder.pub.pem --functionary manifest=keys/builder.pub.pem \\
                      --functionary sign=keys/release.pub.pem --functionary publish=keys/release.pub.pem --expires-days 90
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: ArgumentHelp("An owner key that signs the layout (repeatable).", valueName: "URI|FILE")) var ownerKey: [String]
        @Option(help: ArgumentHelp("STEP=KEY: a functionary of a step (public or private key file, or pkcs11: URI; repeatable).", valueName: "STEP=KEY"))
        var functionary: [String]
        @Option(help: ArgumentHelp("STEP=N: links a step needs from distinct functionaries (default 1).", valueName: "STEP=N")) var threshold: [String] = []
        @Flag(help: "No delta step (a first release without earlier versions).") var noDeltas = false
        @Option(help: "Days until the layout expires.") var expiresDays: Int = 365
        @Option(help: "Layout format: metablock (default) or dsse.") var format: String = "metablock"

        func validate() throws {
            if ownerKey.isEmpty { throw ValidationError("give at least one --owner-key") }
            if expiresDays < 1 { throw ValidationError("--expires-days must be positive") }
            if LayoutFormat(rawValue: format) == nil { throw ValidationError("--format must be metablock or dsse") }
            for f in functionary { _ = try CustodyCommand.split(f, "--functionary") }
            for t in threshold { guard Int(try CustodyCommand.split(t, "--threshold").1) != nil else { throw ValidationError("--threshold takes STEP=N") } }
        }

        func run() throws {
            let now = Date()
            let options = keyAccess.signerOptions()
            var functionaries = [String: [PublicKey]]()
            for f in functionary {
                let (step, ref) = try CustodyCommand.split(f, "--functionary")
                functionaries[step, default: []].append(try Signers.publicKey(of: ref, options: options))
            }
            var thresholds = [String: Int]()
            for t in threshold { let (s, n) = try CustodyCommand.split(t, "--threshold"); thresholds[s] = Int(n)! }
            let registry = StepRegistry.standard
            let kinds = (noDeltas ? [] : [DeltaStep.kind]) + [ManifestStep.kind, SignStep.kind, PublishStep.kind]
            let steps = try kinds.compactMap { try registry.type($0)?.init(options: StepOptions()) }
            let policy = try PipelineRunner.custodyPolicy(steps: steps, functionaries: functionaries, thresholds: thresholds,
                                                          expires: now.addingTimeInterval(TimeInterval(expiresDays) * 86_400))
            let owners = try ownerKey.map { try Signers.open($0, options: options) }
            let release = ReleaseDirectory(out)
            let store = release.custody
            let (signed, keyFiles) = try release.writeLayout(policy, owners: owners, format: LayoutFormat(rawValue: format) ?? .metablock, now: now)
            output.emit(text: "wrote \(store.layoutPath) (\(signed.layout.steps.map(\.name).joined(separator: " → ")), expires \(UTCTimestamp.string(from: signed.layout.expires))) and \(keyFiles.joined(separator: ", "))",
                        json: ["layout": .string(store.layoutPath), "steps": .array(signed.layout.steps.map { .string($0.name) }),
                               "expires": .string(UTCTimestamp.string(from: signed.layout.expires)), "owner_keys": .array(keyFiles.map { .string($0) })])
        }
    }

    struct Record: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an in-toto link for a step that ran (DSSE) and add it to the ledger.",
            discussion: """
                Materials and products are paths relative to OUT (a directory stands for every
                file below it). An input outside OUT is given as NAME=PATH and recorded as NAME
                (by convention inputs/<basename>). Arguments after -- are recorded as the command.
                With --run the command is run too, like in-toto-run: materials are hashed before it,
                products after it, its exit status is recorded, and a failing command leaves no link
                (custody.step-failed).

                Example:
                  firmchain custody record --out OUT --step manifest --key builder.pem \\
                      --material build/deltas --material inputs/fw-1.1.0.bin=fw-1.1.0.bin \\
                      --product repository/targets --product .staging -- firmchain repo add-target …
                  firmchain custody record --out OUT --step sign --key release.pem --run \\
                      --material repository --material .staging --product repository \\
                      -- firmchain repo publish --out OUT --key targets.pem --key snapshot.pem --key timestamp.pem
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

        func run() throws {
            let now = Date()
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

    struct Log: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append one action to the ledger (for actions Firmchain did not perform itself).",
            discussion: """
                The actor is the keyid of --actor-key (a public key is enough). Subjects are files,
                recorded by their sha256.

                Example:
                  firmchain custody log --out OUT --action release.approve --actor-key keys/officer.pub.pem \\
                      --subject OUT/repository/metadata/timestamp.json
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "The action, a dotted name such as release.approve.") var action: String
        @Option(help: ArgumentHelp("The key of whoever acted.", valueName: "URI|FILE")) var actorKey: String
        @Option(help: ArgumentHelp("A file the action is about (repeatable).", valueName: "FILE")) var subject: [String] = []
        @Option(help: "How many identical entries to append (for load tests).") var count: Int = 1

        func validate() throws {
            guard !action.isEmpty, action.utf8.count <= 64, action.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }) else {
                throw ValidationError("--action must be 1-64 letters, digits, '-', '_' or '.'")
            }
            if count < 1 { throw ValidationError("--count must be at least 1") }
        }

        func run() throws {
            let key = try Signers.publicKey(of: actorKey, options: keyAccess.signerOptions())
            let subjects = try subject.map { LedgerSubject(name: $0, sha256: try DigestCalculator.file($0).sha256!) }
            let ledger = CustodyStore(out: out).ledger
            try FileIO.makeDirectories(CustodyStore(out: out).directory)
            var last: LedgerEntry?
            for _ in 0..<count {
                last = try ledger.append(LedgerRecord(action: action, actor: key.keyid, subjects: subjects), now: Date())
            }
            output.emit(text: "appended \(action) as ledger entry #\(last!.seq)", json: ["seq": .int(last!.seq), "action": .string(action)])
        }
    }

    struct Checkpoint: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a ledger checkpoint (run at the end of every run).",
            discussion: """
                Example:
                  firmchain custody checkpoint --out OUT --key 'pkcs11:token=release;object=publish'
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: ArgumentHelp("The key that signs the checkpoint (a functionary or owner key).", valueName: "URI|FILE")) var key: String

        func run() throws {
            let signer = try Signers.open(key, options: keyAccess.signerOptions())
            let store = CustodyStore(out: out)
            try FileIO.makeDirectories(store.directory)
            let cp = try store.ledger.checkpoint(signer: signer, now: Date())
            output.emit(text: "signed ledger checkpoint #\(cp.seq) covering \(cp.seq - 1) entr\(cp.seq == 2 ? "y" : "ies")",
                        json: ["seq": .int(cp.seq), "keyid": .string(cp.record.actor)])
        }
    }

    struct Provenance: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign SLSA Provenance v1 statements for every target of the current TUF targets metadata.",
            discussion: """
                Each target gets one in-toto Statement v1 in a DSSE envelope, appended to
                OUT/custody/provenance.intoto.jsonl. Dependencies are the chain's inputs, byproducts
                the link files.

                Example:
                  firmchain custody provenance --out OUT --key release.pem --builder-id https://ci.example.com/runners/7
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: ArgumentHelp("The signing key.", valueName: "URI|FILE")) var key: String
        @Option(help: "builder.id: the CI system or host that ran the release.") var builderId: String
        @Option(help: "runDetails.metadata.invocationId.") var invocationId: String?

        func run() throws {
            let now = Date()
            let release = ReleaseDirectory(out)
            let targets = try release.repository.current().targets.signed.targets
            let subjects = targets.sorted(by: { $0.key < $1.key }).map { name, t in
                LedgerSubject(name: name, digests: t.hashes.filter { $0.key == "sha256" || $0.key == "sha512" })
            }
            let signer = try Signers.open(key, options: keyAccess.signerOptions())
            let count = try release.appendProvenance(
                targets: subjects,
                run: .init(builderID: builderId, builderVersion: ["firmchain": FirmchainCore.Firmchain.version], invocationID: invocationId, finishedOn: now),
                signer: signer, now: now)
            output.emit(text: "appended \(count) provenance statement(s) to \(release.custody.provenancePath)",
                        json: ["statements": .int(count), "path": .string(release.custody.provenancePath)])
        }
    }

    struct Verify: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a release's custody evidence: layout, links, delivered files, ledger chain and checkpoints, provenance.",
            discussion: """
                Prints a numbered list of checks; exits 1 if any fails. Owner keys default to
                DIR/keys/owner.pub.pem (and owner-N.pub.pem): pass --owner-key from a trusted
                place, or the check only proves that DIR agrees with itself.

                Example:
                  firmchain custody verify OUT --owner-key Keys/owner.pub.pem
                  firmchain custody verify OUT --json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The release directory.") var dir: String
        @Option(help: ArgumentHelp("A trusted owner public key (repeatable).", valueName: "PUB.pem")) var ownerKey: [String] = []
        @Flag(help: "Fail on warnings too (a torn ledger line, entries not yet covered by a checkpoint).") var strict = false

        func run() throws {
            guard FileIO.exists(dir + "/custody") else {
                throw FirmchainError(.custodyNoEvidence, "no custody directory", path: dir + "/custody")
            }
            var paths = ownerKey
            var fromDir = false
            if paths.isEmpty {
                fromDir = true
                paths = ReleaseDirectory(dir).ownerKeyPaths()
            }
            let keys = try paths.map { p -> PublicKey in
                do { return try PublicKey(pem: String(decoding: try FileIO.read(p, limit: 1 << 16), as: UTF8.self)) } catch let e as FirmchainError {
                    throw e.about(p)
                }
            }
            var report = CustodyVerifier(ownerKeys: keys, now: Date()).verify(out: dir).report
            if fromDir { report.trust.append("note: owner keys taken from \(dir)/keys; pass --owner-key to check against keys you trust") }
            let ok = strict ? report.passedStrictly : report.passed
            output.emit(text: report.text(verdict: "custody evidence"), json: report.json)
            if !ok { throw ExitCode(ErrorCategory.verificationFailed.exitCode) }
        }
    }

    struct Trace: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where an artefact came from: the steps back to the inputs, the ledger entries, the provenance.",
            discussion: """
                FILE is hashed; a 64-digit hex string is taken as its sha256. The release directory
                is found by walking up from FILE to a directory with custody/, or given with --release.
                Exits 1 (custody.unknown-artifact) when no evidence names the artefact.

                Example:
                  firmchain custody trace OUT/repository/targets/3f2a….fw-1.1.0.bin
                  firmchain custody trace --release OUT 3f2a… --json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A file, or the sha256 of one.") var artifact: String
        @Option(help: "The release directory (default: found from FILE, else the current directory).") var release: String?

        func run() throws {
            let isHash = artifact.utf8.count == 64 && Hex.decode(artifact) != nil && !FileIO.exists(artifact)
            let sha256 = isHash ? artifact.lowercased() : try DigestCalculator.file(artifact, progress: progress).sha256!
            let out = release ?? (isHash ? "." : Self.releaseDirectory(containing: artifact) ?? ".")
            let store = CustodyStore(out: out)
            guard FileIO.exists(store.directory) else {
                throw FirmchainError(.custodyNoEvidence, "no custody directory (give --release OUT)", path: store.directory)
            }
            let statements = ((try? store.provenance()) ?? []).compactMap { try? ProvenanceStatement(envelope: $0) }
            let trace = CustodyTrace.trace(sha256: sha256, links: store.linksInStepOrder(), ledger: (try? store.ledger.entries()) ?? [], provenance: statements)
            guard trace.isKnown else {
                throw FirmchainError(.custodyUnknownArtifact, "no link, ledger entry or provenance statement names sha256 \(sha256)", path: isHash ? nil : artifact)
            }
            output.emit(text: trace.text, json: trace.json)
        }

        /// The nearest directory above `file` that has a `custody/` directory.
        static func releaseDirectory(containing file: String) -> String? {
            var url = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent()
            while url.path != "/" {
                if FileIO.exists(url.appendingPathComponent("custody").path) { return url.path }
                url.deleteLastPathComponent()
            }
            return nil
        }
    }
}

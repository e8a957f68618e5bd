import Custody
import FirmchainCore
import Foundation
import Release
import ReleasePolicy
import Repository
import Signing

/// Builds a complete release — TUF metadata and targets, deltas, custody (layout, links,
/// provenance, ledger with its checkpoint) and key files — through the real pipeline runner,
/// with fresh software keys, in a directory of the caller's, in a fraction of a second. Tests
/// and the tamper suite start from it; nothing in it is mocked.
///
/// ```swift
/// let built = try ReleaseBuilder(directory: tmp).build()
/// let tuf = RepositoryVerifier(store: built.release.repository, now: built.now).verify(trustedRoot: built.trustedRoot)
/// let custody = CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(out: built.release.path)
/// ```
public struct ReleaseBuilder {
    /// Where the keys, images, policy, pipeline and release (`OUT`) go.
    public var directory: String
    /// The reference time of the run.
    public var now: Date
    /// The size of the sample image and how many earlier versions get deltas.
    public var imageSize = 32 * 1024, bases = 2
    /// The steps of the pipeline, in order.
    public var steps = ["delta", "manifest", "sign", "publish"]
    /// The step kinds the pipeline may name.
    public var registry = StepRegistry.standard
    /// Lay the images out as a build tree does, `1.0.0/Image`, `1.1.0/Image`, … (one basename for all).
    public var buildTreeLayout = false
    /// Options of steps by kind, as YAML flow mappings (`["encrypt": "{recipients: [k.pub.pem]}"]`).
    public var stepOptions: [String: String] = [:]
    /// More top-level sections of the policy, as YAML text (`encryption: …`).
    public var policyExtra = ""
    /// The policy's hardware classes; the release is for the first.
    public var hardwareClasses = ["board-a"]
    /// The release's target name (`release.name`).
    public var targetName = "fw.bin"
    /// More Ed25519 key files to make beside the role keys (`keys/NAME.pem`, in `keyFiles`).
    public var extraKeys: [String] = []

    /// A builder writing under `directory`, at `now`.
    public init(directory: String, now: Date = Date()) {
        self.directory = directory
        self.now = now
    }

    /// What `build` made, and the trust a verifier needs from outside the release.
    public struct Built {
        /// `OUT`.
        public var release: ReleaseDirectory
        /// `1.root.json` as published, to trust from outside.
        public var trustedRoot: [UInt8]
        /// The owner's public key (the layout's signer).
        public var ownerKey: PublicKey
        /// The private key files by name (`root`, `targets`, `snapshot`, `timestamp`, `owner`, `build`).
        public var keyFiles: [String: String]
        /// The pipeline and policy files.
        public var pipeline: String, policy: String
        /// The run's summary.
        public var result: PipelineResult
        /// The reference time it was built at.
        public var now: Date

        /// The whole release read into memory: mutate `files.files` and verify with
        /// `CustodyVerifier.verify(files:)` and `RepositoryVerifier(source: InMemorySource(release:))`,
        /// hundreds of times, without touching the disk.
        public func inMemory() throws -> InMemoryReleaseFiles { try InMemoryReleaseFiles(copying: release.path) }

        /// Edits the pipeline to release the next version of a built release (1.3.0, version number
        /// 4, a new image beside the old one, `steps` appended as YAML lines), for tests that extend
        /// a release. Runs nothing.
        public func prepareNextVersion(appending steps: String = "") throws {
            var pipeline = String(decoding: try FileIO.read(self.pipeline), as: UTF8.self)
            guard let line = pipeline.split(separator: "\n").first(where: { $0.contains("image: ") && !$0.contains("{") }) else {
                throw FirmchainError(.internal, "the pipeline names no release image", path: self.pipeline)
            }
            let image = line.replacingOccurrences(of: "image: ", with: "").trimmingCharacters(in: .whitespaces)
            try AtomicFile.write(Array("release 1.3.0".utf8) + (try FileIO.read(image)), to: image + ".next")
            pipeline = pipeline.replacingOccurrences(of: "image: \(image)\n", with: "image: \(image).next\n")
                .replacingOccurrences(of: "version: 1.2.0\n", with: "version: 1.3.0\n")
                .replacingOccurrences(of: "version_number: 3", with: "version_number: 4") + steps
            try AtomicFile.write(Array(pipeline.utf8), to: self.pipeline)
        }
    }

    /// Makes the keys, images, policy and pipeline, runs the pipeline, and returns the release.
    public func build() throws -> Built {
        try FileIO.makeDirectories(directory + "/keys")
        var keyFiles = [String: String]()
        var owner: PublicKey?
        for name in ["root", "targets", "snapshot", "timestamp", "owner", "build"] + extraKeys {
            let signer = try SoftwareSigner(generating: .ed25519, description: name)
            let file = directory + "/keys/\(name).pem"
            try AtomicFile.write(Array(try signer.privateKeyPEM(encryptedWith: nil).utf8), to: file, mode: 0o600)
            keyFiles[name] = file
            if name == "owner" { owner = signer.publicKey }
        }
        // Firmware-shaped images: a base and versions that each change a few regions.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var image = (0..<imageSize).map { _ -> UInt8 in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        var versions = [String]()
        for v in 0...bases {
            let file = buildTreeLayout ? directory + "/1.\(v).0/Image" : directory + "/fw-1.\(v).0.bin"
            if buildTreeLayout { try FileIO.makeDirectories(directory + "/1.\(v).0") }
            try AtomicFile.write(image, to: file)
            versions.append(file)
            for i in stride(from: 64 * (v + 1), to: image.count, by: 4093) { image[i] &+= 1 }
        }
        let policyFile = directory + "/policy.yml", pipelineFile = directory + "/release.yml"
        let functionary: (String) -> String = { step in ["sign": keyFiles["targets"]!, "publish": keyFiles["timestamp"]!][step] ?? keyFiles["build"]! }
        let policyText = """
            schema: 1
            name: built-release
            owner: {keys: ["\(keyFiles["owner"]!)"]}
            roles:
              root: {keys: ["\(keyFiles["root"]!)"], expiry_days: 365}
              targets: {keys: ["\(keyFiles["targets"]!)"], expiry_days: 90}
              snapshot: {keys: ["\(keyFiles["snapshot"]!)"], expiry_days: 7}
              timestamp: {keys: ["\(keyFiles["timestamp"]!)"], expiry_hours: 24}
            algorithms: {allowed: [ed25519]}
            functionaries:
            \(steps.map { "  \($0): [\"\(functionary($0))\"]" }.joined(separator: "\n"))
            hardware_classes: {\(hardwareClasses.map { "\($0): {description: a board}" }.joined(separator: ", "))}
            \(policyExtra)
            """
        let pipelineText = """
            schema: 1
            name: built-release
            policy: \(policyFile)
            output: \(directory)/OUT
            release:
              image: \(versions[bases])
              name: \(targetName)
              version: 1.\(bases).0
              version_number: \(bases + 1)
              hardware: [board-a]
            \(bases == 0 ? "" : "  bases:\n" + versions.dropLast().enumerated().map { "    - {image: \($0.element), version: 1.\($0.offset).0}" }.joined(separator: "\n"))
            steps:
            \(steps.map { "  - \($0):" + (stepOptions[$0].map { " " + $0 } ?? "") }.joined(separator: "\n"))
            """
        try AtomicFile.write(Array(policyText.utf8), to: policyFile)
        try AtomicFile.write(Array(pipelineText.utf8), to: pipelineFile)
        let spec = try PipelineSpec(contentsOf: pipelineFile, registry: registry)
        let policy = try Policy(contentsOf: policyFile)
        let result = try PipelineRunner(spec: spec, policy: policy).run(RunOptions(signerOptions: SignerOptions(), now: now))
        let release = ReleaseDirectory(spec.output)
        guard let owner else { throw FirmchainError(.internal, "no owner key was made") }
        return Built(release: release, trustedRoot: try FileIO.read(release.repository.metadataDirectory + "/1.root.json"),
                     ownerKey: owner, keyFiles: keyFiles, pipeline: pipelineFile, policy: policyFile, result: result, now: now)
    }
}

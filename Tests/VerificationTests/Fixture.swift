import Custody
import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Repository
import Signing
import TestSupport
import Verification

/// A good release made by the real pipeline runner (`ReleaseBuilder`), held in memory, with
/// the trust a verifier gets from outside it and the private keys an attacker with access to
/// them would use (generated at run time, never committed).
final class Fixture: @unchecked Sendable {
    let directory: TemporaryDirectory
    let built: ReleaseBuilder.Built
    let good: InMemoryReleaseFiles
    let policy: Policy
    /// fw-1.0.0.bin and fw-1.1.0.bin, the bases of the two deltas.
    let bases: [[UInt8]]
    /// The release's signers by name: root, targets, snapshot, timestamp, owner, build.
    let signers: [String: SoftwareSigner]

    /// With `encrypted`, the pipeline has an encrypt step for a P-256 device key
    /// (`recipients/device.pub.pem`) and a group key (`recipients/fleet.kek`), and the policy
    /// requires every target encrypted for both.
    init(_ name: String = "verify", encrypted: Bool = false) throws {
        let directory = try TemporaryDirectory(name)
        self.directory = directory
        var builder = ReleaseBuilder(directory: directory.path)
        if encrypted {
            try FileIO.makeDirectories(directory.path + "/recipients")
            let device = directory.path + "/recipients/device.pub.pem", kek = directory.path + "/recipients/fleet.kek"
            try AtomicFile.write(Array(try SoftwareSigner(generating: .ecdsaP256).publicKey.pem.utf8), to: device)
            try AtomicFile.write((0..<32).map { _ in UInt8.random(in: 0...255) }, to: kek, mode: 0o600)
            builder.steps = ["delta", "encrypt", "manifest", "sign", "publish"]
            builder.stepOptions = ["encrypt": "{recipients: [\"\(device)\", \"kek:\(kek)\"]}"]
            builder.policyExtra = "encryption: {targets: [full, delta], recipients: [\"\(device)\", \"kek:fleet\"]}"
        }
        let built = try builder.build()
        self.built = built
        good = try built.inMemory()
        policy = try Policy(contentsOf: built.policy)
        bases = try (0..<2).map { try FileIO.read(directory.path + "/fw-1.\($0).0.bin") }
        var s = [String: SoftwareSigner]()
        for (name, file) in built.keyFiles { s[name] = try SoftwareSigner(pemFile: file, passphrase: { nil }) }
        signers = s
    }

    var trustedRoot: [UInt8] { built.trustedRoot }

    func trust(previous: DeviceState? = nil, policy: Policy?? = nil, owners: [PublicKey]? = nil, root: [UInt8]? = nil) -> ReleaseTrust {
        ReleaseTrust(trustedRoot: root ?? built.trustedRoot, trustedRootName: "trusted/1.root.json", ownerKeys: owners ?? [built.ownerKey],
                     policy: policy ?? self.policy, previous: previous)
    }

    func verify(_ files: InMemoryReleaseFiles, trust: ReleaseTrust? = nil, at: Date? = nil, bases: [[UInt8]]? = nil) -> ReleaseVerification {
        ReleaseVerifier(trust: trust ?? self.trust(), now: at ?? built.now, baseImages: bases ?? self.bases).verify(files: files)
    }

    // MARK: Re-signing, as an attacker holding some keys would

    func metadata<T: SignedMetadata>(_ type: T.Type, _ files: InMemoryReleaseFiles, _ name: String) throws -> Metadata<T> {
        try Metadata<T>(bytes: files.files["repository/metadata/" + name]!, path: name)
    }

    /// Signatures by `names` (any key, role or not), over the canonical signed bytes.
    func sign<T: SignedMetadata>(_ md: inout Metadata<T>, _ names: [String]) throws {
        let message = try md.signedBytes()
        md.signatures = try names.map { n in
            let s = signers[n]!
            return TUFSignature(keyid: s.publicKey.keyid, sig: Hex.encode(try s.sign(message, algorithm: .ed25519)))
        }
    }

    func put<T: SignedMetadata>(_ md: Metadata<T>, _ name: String, into files: inout InMemoryReleaseFiles) {
        files.files["repository/metadata/" + name] = md.fileBytes()
    }

    /// The snapshot and timestamp re-signed by their own keys over `files`' current targets
    /// (versions kept), so only what the caller changed differs.
    func resignSnapshotAndTimestamp(_ files: inout InMemoryReleaseFiles, snapshotVersion: Int64? = nil,
                                    mutateSnapshot: (inout Snapshot) -> Void = { _ in }, mutateTimestamp: (inout Timestamp) -> Void = { _ in }) throws {
        var ts = try metadata(Timestamp.self, files, "timestamp.json")
        var snap = try metadata(Snapshot.self, files, "\(ts.signed.snapshot.version).snapshot.json")
        mutateSnapshot(&snap.signed)
        try sign(&snap, ["snapshot"])
        let name = "\(snap.signed.version).snapshot.json"
        put(snap, name, into: &files)
        let bytes = snap.fileBytes()
        ts.signed.meta["snapshot.json"] = MetaFile(version: snap.signed.version, length: Int64(bytes.count), hashes: ["sha256": DigestCalculator.sha256Hex(bytes)])
        mutateTimestamp(&ts.signed)
        try sign(&ts, ["timestamp"])
        put(ts, "timestamp.json", into: &files)
    }

    /// The targets (version kept) changed by `change` and re-signed by the targets key.
    func resignTargets(_ files: inout InMemoryReleaseFiles, _ change: (inout Targets) throws -> Void) throws {
        var t = try metadata(Targets.self, files, "1.targets.json")
        try change(&t.signed)
        try sign(&t, ["targets"])
        put(t, "1.targets.json", into: &files)
    }

    /// `custom.firmware` of target `name`, changed by `change`.
    func changeFirmware(_ targets: inout Targets, _ name: String, _ change: (inout FirmwareInfo) throws -> Void) throws {
        var fw = try FirmwareInfo(custom: targets.targets[name]!.custom)!
        try change(&fw)
        targets.targets[name]!.custom = [FirmwareInfo.customKey: fw.json]
    }

    /// A new root version `version`, changed by `change` and signed by `signers`.
    func nextRoot(_ files: InMemoryReleaseFiles, version: Int64 = 2, signers names: [String] = ["root"], _ change: (inout Root) -> Void) throws -> Metadata<Root> {
        var root = try metadata(Root.self, files, "1.root.json")
        root.signed.common.version = version
        change(&root.signed)
        try sign(&root, names)
        return root
    }

    /// The link of `step`, as its file name and parsed link.
    func link(_ files: InMemoryReleaseFiles, _ step: String) throws -> (path: String, link: SignedLink) {
        let path = files.files.keys.sorted().first { $0.hasPrefix("custody/\(step).") && $0.hasSuffix(".link") }!
        return (path, try SignedLink(bytes: files.files[path]!, path: path))
    }

    /// Ledger lines (without their newlines).
    func ledgerLines(_ files: InMemoryReleaseFiles) -> [[UInt8]] {
        files.files["custody/ledger.jsonl"]!.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    func setLedger(_ lines: [[UInt8]], in files: inout InMemoryReleaseFiles) {
        files.files["custody/ledger.jsonl"] = lines.flatMap { $0 + [0x0A] }
    }
}

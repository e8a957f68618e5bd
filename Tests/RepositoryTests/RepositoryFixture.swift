import FirmchainCore
import Foundation
import Repository
import Signing
import TestSupport

/// A repository built by Firmchain with software keys: root and targets Ed25519, snapshot and
/// timestamp ECDSA P-256, two firmware targets (a full image and a delta), published once.
struct RepositoryFixture {
    let dir: TemporaryDirectory
    let store: RepositoryStore
    let signers: [String: any Signer]
    let now: Date

    static let reference = Date(timeIntervalSince1970: 1_800_000_000)

    init(now: Date = RepositoryFixture.reference, roleKeyTypes: [String: KeyType]? = nil) throws {
        dir = try TemporaryDirectory("firmchain-repo")
        store = RepositoryStore(directory: dir.file("OUT"))
        self.now = now
        let types = roleKeyTypes ?? ["root": .ed25519, "targets": .ed25519, "snapshot": .ecdsaP256, "timestamp": .ecdsaP256]
        var signers = [String: any Signer]()
        for role in TopLevelRole.allCases.map(\.rawValue) { signers[role] = try SoftwareSigner(generating: types[role]!, description: "\(role) test key") }
        self.signers = signers
        _ = try store.initialize(roles: RoleTable { RoleAssignment(keys: [signers[$0.rawValue]!.publicKey]) }, signers: Array(signers.values),
                                 expiry: ExpiryPolicy(), now: now)
        var rng = SeededGenerator(seed: 11)
        let image = dir.file("fw-1.2.0.bin"), patch = dir.file("fw-1.2.0-from-1.1.0.bsdiff")
        try Data(rng.bytes(70_000)).write(to: URL(fileURLWithPath: image))
        try Data(rng.bytes(3_000)).write(to: URL(fileURLWithPath: patch))
        let imageSHA = try DigestCalculator.file(image).sha256!
        let full = FirmwareInfo(version: "1.2.0", versionNumber: 10200, hardwareIDs: ["acme-gw-v2"], kind: .full, priority: .high,
                                rollout: .init(canaryGroupSize: 50, soakHours: 24))
        let delta = FirmwareInfo(version: "1.2.0", versionNumber: 10200, hardwareIDs: ["acme-gw-v2"], kind: .delta,
                                 delta: .init(baseName: "fw-1.1.0.bin", baseVersion: "1.1.0", baseSHA256: String(repeating: "ab", count: 32),
                                              resultName: "fw-1.2.0.bin", resultSHA256: imageSHA, resultLength: 70_000))
        _ = try store.addTarget(file: image, name: "fw-1.2.0.bin", custom: [FirmwareInfo.customKey: full.json])
        _ = try store.addTarget(file: patch, name: "deltas/fw-1.2.0-from-1.1.0.bsdiff", custom: [FirmwareInfo.customKey: delta.json])
        try store.publish(signers: Array(signers.values), expiry: ExpiryPolicy(), now: now)
    }

    var rootPath: String { store.metadataDirectory + "/1.root.json" }
    var repositoryPath: String { dir.file("OUT/repository") }

    /// Runs python-tuf's ngclient against the repository; returns its JSON answer.
    func pythonTUF(now: Date? = nil, state: String? = nil) throws -> JSONValue {
        let downloads = try TemporaryDirectory("tuf-downloads")
        var env = [String: String]()
        if let state { env["FIRMCHAIN_TUF_STATE"] = state }
        let script = TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path
        let r = try runProcess(TestEnv.python, [script, repositoryPath, rootPath, downloads.path], environment: env)
        guard let line = r.out.split(separator: "\n").last else {
            throw FirmchainError(.internal, "python-tuf printed nothing (run `make setup`): \(r.err)")
        }
        return try JSONReader().parse(Array(line.utf8))
    }

    /// Firmchain's own verifier at `now`.
    func verify(at time: Date? = nil) throws -> RepositoryVerification {
        try RepositoryVerifier(store: store, now: time ?? now).verify(trustedRoot: try FileIO.read(rootPath))
    }
}

import Custody
import Delta
import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport
import Verification

/// One tampered copy of the good release (or of the trust it is verified with), the artefact
/// type it attacks, and the check ids that must reject it (at least one of them must fail; for
/// a structured attack it is one id).
struct Mutation {
    var type: String
    var name: String
    var expected: Set<String>
    var files: InMemoryReleaseFiles
    var trust: ReleaseTrust?
    var at: Date?
    var bases: [[UInt8]]?
}

@Suite("The release verifier fails closed: every tampered release is refused with its expected check id")
struct TamperTests {
    /// The artefact type of a release file, for counting.
    static func type(of path: String) -> String {
        if path.hasPrefix("repository/metadata/") {
            if path.hasSuffix("root.json") { return "tuf-root" }
            if path.hasSuffix("timestamp.json") { return "tuf-timestamp" }
            if path.hasSuffix("snapshot.json") { return "tuf-snapshot" }
            return "tuf-targets"
        }
        if path.hasPrefix("repository/targets/deltas/") { return "delta-copy" }
        if path.hasPrefix("repository/targets/") { return "image-copy" }
        if path.hasSuffix(".layout") { return "layout" }
        if path.hasSuffix(".link") { return "link" }
        if path.hasSuffix(".intoto.jsonl") { return "provenance" }
        if path.hasSuffix("ledger.jsonl") { return "ledger" }
        if path.hasSuffix("checkpoint.json") { return "ledger-checkpoint" }
        if path.hasPrefix("keys/") { return "key-file" }
        if path.hasPrefix("build/") { return "build-product" }
        return "other"
    }

    /// The checks that must refuse any byte change of a file of this path.
    static func expectedForBytes(_ path: String) -> Set<String> {
        switch type(of: path) {
        case "tuf-root": return ["release.repository.roots"]
        case "tuf-timestamp": return ["repo.timestamp.read", "repo.timestamp.signatures"]
        case "tuf-snapshot": return ["repo.snapshot.hashes"]
        case "tuf-targets": return ["repo.targets.read", "repo.targets.signatures"]
        case "image-copy", "delta-copy": return ["repo.target"]
        case "layout": return ["custody.layout.read", "custody.layout.signatures"]
        case "link": return ["custody.links.threshold"]
        case "provenance": return ["custody.provenance", "custody.provenance.present"]
        case "ledger": return ["custody.ledger.format", "custody.ledger.sequence", "custody.ledger.chain", "custody.ledger.checkpoints",
                               "custody.ledger.anchor", "custody.ledger.sealed"]
        case "ledger-checkpoint": return ["custody.ledger.anchor"]
        case "key-file": return ["release.keys", "custody.inspections"]
        case "build-product": return ["custody.inspections"]
        default: return []
        }
    }

    /// Bit flips, truncations and extensions of every file of the release (report/ aside: it is
    /// for people and no signature covers it).
    static func byteMutations(_ fx: Fixture) -> [Mutation] {
        var rng = SeededGenerator(seed: 21)
        var out = [Mutation]()
        for path in fx.good.files.keys.sorted() where !path.hasPrefix("report/") {
            let bytes = fx.good.files[path]!
            let expected = expectedForBytes(path)
            func add(_ what: String, _ b: [UInt8]) {
                var f = fx.good
                f.files[path] = b
                out.append(Mutation(type: type(of: path), name: "\(what) of \(path)", expected: expected, files: f))
            }
            for _ in 0..<3 where !bytes.isEmpty {
                var b = bytes
                let i = Int(rng.next() % UInt64(b.count))
                var bit = UInt8(1 << (rng.next() % 8))
                // An ASCII case flip leaves a hex value equal (hex is read case-blind): not tampering.
                if bit == 0x20, (b[i] | 0x20) >= 0x61, (b[i] | 0x20) <= 0x7A { bit = 0x01 }
                b[i] ^= bit
                add("bit \(bit) flipped at \(i)", b)
            }
            add("truncation to nothing", [])
            if bytes.count > 1 { add("truncation to half", Array(bytes.prefix(bytes.count / 2))) }
            add("extension", bytes + Array("x".utf8))
        }
        return out
    }

    /// Deleted, swapped and renamed targets and copies; unlisted extra files and links.
    static func fileMutations(_ fx: Fixture) -> [Mutation] {
        var out = [Mutation]()
        let good = fx.good
        let copies = good.files.keys.filter { $0.hasPrefix("repository/targets/") }.sorted()
        for c in copies {
            var f = good
            f.files[c] = nil
            out.append(Mutation(type: type(of: c), name: "deleted \(c)", expected: ["repo.target"], files: f))
            var r = good
            let dir = (c as NSString).deletingLastPathComponent, base = (c as NSString).lastPathComponent
            r.files[c] = nil
            r.files[dir + "/" + String(repeating: "0", count: 64) + base.drop { $0 != "." }] = good.files[c]
            out.append(Mutation(type: type(of: c), name: "renamed \(c) to another hash", expected: ["repo.target", "release.repository.unlisted"], files: r))
        }
        for (a, b) in zip(copies, copies.dropFirst()) where good.files[a] != good.files[b] {
            var f = good
            f.files[a] = good.files[b]
            f.files[b] = good.files[a]
            out.append(Mutation(type: type(of: a), name: "swapped \(a) and \(b)", expected: ["repo.target"], files: f))
        }
        // Unlisted extra files in repository/.
        let image = copies.first { !$0.contains("/deltas/") }!
        let planted: [(String, [UInt8])] = [
            ("repository/targets/evil.bin", Array("malware".utf8)),
            ("repository/targets/" + String(repeating: "ab", count: 32) + ".fw.bin", good.files[image]!),
            ("repository/targets/deltas/fw.bin.from-0.9.0.bsdiff", Array("BSDIFF40".utf8)),
            ("repository/targets/sub/dir/fw.bin", Array("x".utf8)),
            ("repository/metadata/evil.json", Array("{}".utf8)),
            ("repository/metadata/7.snapshot.json", good.files["repository/metadata/1.snapshot.json"]!),
            ("repository/metadata/3.targets.json", good.files["repository/metadata/1.targets.json"]!),
            ("repository/metadata/01.root.json", good.files["repository/metadata/1.root.json"]!),
            ("repository/README", Array("hello".utf8)),
        ]
        for (path, bytes) in planted {
            var f = good
            f.files[path] = bytes
            out.append(Mutation(type: "repository-layout", name: "unlisted \(path)", expected: ["release.repository.unlisted"], files: f))
        }
        // Links: an extra copy under a foreign name, a link of a step the layout does not have,
        // a deleted link.
        let links = good.files.keys.filter { $0.hasSuffix(".link") }.sorted()
        for l in links {
            var extra = good
            extra.files["custody/" + ((l as NSString).lastPathComponent.split(separator: ".").first!) + ".deadbeef.link"] = good.files[l]
            out.append(Mutation(type: "link", name: "extra link beside \(l)", expected: ["custody.links.exact"], files: extra))
            var gone = good
            gone.files[l] = nil
            out.append(Mutation(type: "link", name: "deleted \(l)", expected: ["custody.links.threshold", "custody.links.exact"], files: gone))
        }
        var foreign = good
        foreign.files["custody/release.12345678.link"] = good.files[links[0]]
        out.append(Mutation(type: "link", name: "a link for a step the layout does not name", expected: ["custody.links.exact"], files: foreign))
        var note = good
        note.files["custody/notes.txt"] = Array("trust me".utf8)
        out.append(Mutation(type: "link", name: "an unknown file in custody/", expected: ["custody.links.exact"], files: note))
        // Deleted evidence and metadata.
        let deletions: [(String, String, Set<String>)] = [
            ("custody/provenance.intoto.jsonl", "provenance", ["custody.provenance.present"]),
            ("custody/root.layout", "layout", ["custody.layout.read"]),
            ("custody/ledger.jsonl", "ledger", ["custody.ledger.exists"]),
            ("custody/ledger.checkpoint.json", "ledger-checkpoint", ["custody.ledger.anchor"]),
            ("repository/metadata/timestamp.json", "tuf-timestamp", ["repo.timestamp.read"]),
            ("repository/metadata/1.snapshot.json", "tuf-snapshot", ["repo.snapshot.read"]),
            ("repository/metadata/1.targets.json", "tuf-targets", ["repo.targets.read"]),
            ("repository/metadata/1.root.json", "tuf-root", ["release.repository.roots"]),
            ("keys/owner.pub.pem", "key-file", ["release.keys"]),
        ]
        for (path, t, expected) in deletions {
            var f = good
            f.files[path] = nil
            out.append(Mutation(type: t, name: "deleted \(path)", expected: expected, files: f))
        }
        // A private key dropped into keys/.
        var leak = good
        // Empty PEM markers (no key material), spelled in two parts so that no committed file reads as a key.
        let label = "PRIVATE" + " KEY"
        leak.files["keys/targets.pem"] = Array("-----BEGIN \(label)-----\n-----END \(label)-----\n".utf8)
        out.append(Mutation(type: "key-file", name: "a private key file in keys/", expected: ["release.keys"], files: leak))
        return out
    }

    /// Ledger entries removed, reordered, forged and appended.
    static func ledgerMutations(_ fx: Fixture) throws -> [Mutation] {
        var out = [Mutation]()
        let lines = fx.ledgerLines(fx.good)
        func add(_ name: String, _ expected: Set<String>, _ ls: [[UInt8]]) {
            var f = fx.good
            fx.setLedger(ls, in: &f)
            out.append(Mutation(type: "ledger", name: name, expected: expected, files: f))
        }
        for i in [0, lines.count / 2, lines.count - 2] {
            var ls = lines
            ls.remove(at: i)
            add("entry \(i + 1) removed", ["custody.ledger.sequence"], ls)
        }
        for i in [0, lines.count / 2] {
            var ls = lines
            ls.swapAt(i, i + 1)
            add("entries \(i + 1) and \(i + 2) reordered", ["custody.ledger.sequence"], ls)
        }
        // Forged: an entry's actor rewritten and every later prev re-chained (the checkpoint
        // after it no longer verifies).
        for i in [1, lines.count / 2] {
            var ls = lines
            var entry = try JSONReader().parse(ls[i]).objectValue!
            entry["actor"] = .string(String(repeating: "e", count: 64))
            ls[i] = JSONEncoding.standard(.object(entry), indent: 0)
            for j in (i + 1)..<ls.count {
                var e = try JSONReader().parse(ls[j]).objectValue!
                e["prev"] = .string(DigestCalculator.sha256Hex(ls[j - 1]))
                ls[j] = JSONEncoding.standard(.object(e), indent: 0)
            }
            add("entry \(i + 1) forged and the chain re-linked", ["custody.ledger.checkpoints", "custody.ledger.format", "custody.ledger.anchor"], ls)
        }
        // Appended: well-formed, chained entries after the last checkpoint (issue 21: accepted
        // by every checker before).
        let dir = try TemporaryDirectory("ledger-append")
        for n in 1...2 {
            try AtomicFile.write(fx.good.files["custody/ledger.jsonl"]!, to: dir.path + "/ledger.jsonl")
            let ledger = Ledger(path: dir.path + "/ledger.jsonl", checkpointPath: dir.path + "/cp.json")
            for k in 0..<n {
                _ = try ledger.append(LedgerRecord(action: "step.sign", actor: fx.signers["build"]!.publicKey.keyid,
                                                   subjects: [LedgerSubject(name: "evil-\(k).bin", sha256: String(repeating: "0", count: 64))]), now: fx.built.now)
            }
            var f = fx.good
            f.files["custody/ledger.jsonl"] = try FileIO.read(dir.path + "/ledger.jsonl")
            out.append(Mutation(type: "ledger", name: "\(n) well-formed entr\(n == 1 ? "y" : "ies") appended after the checkpoint",
                                expected: ["custody.ledger.sealed"], files: f))
        }
        // Appended with a checkpoint of the attacker's own key.
        try AtomicFile.write(fx.good.files["custody/ledger.jsonl"]!, to: dir.path + "/ledger.jsonl")
        try? FileManager.default.removeItem(atPath: dir.path + "/cp.json")
        let ledger = Ledger(path: dir.path + "/ledger.jsonl", checkpointPath: dir.path + "/cp.json")
        _ = try ledger.append(LedgerRecord(action: "step.sign", actor: "attacker"), now: fx.built.now)
        _ = try ledger.checkpoint(signer: try SoftwareSigner(generating: .ed25519), now: fx.built.now)
        var f = fx.good
        f.files["custody/ledger.jsonl"] = try FileIO.read(dir.path + "/ledger.jsonl")
        f.files["custody/ledger.checkpoint.json"] = try FileIO.read(dir.path + "/cp.json")
        out.append(Mutation(type: "ledger", name: "entries appended and sealed by a foreign key", expected: ["custody.ledger.checkpoints"], files: f))
        return out
    }

    /// Attacks that re-sign metadata or evidence with keys an attacker may hold, and stale or
    /// rolled-back states.
    static func signedMutations(_ fx: Fixture) throws -> [Mutation] {
        var out = [Mutation]()
        let good = fx.good
        func add(_ type: String, _ name: String, _ expected: Set<String>, _ f: InMemoryReleaseFiles, trust: ReleaseTrust? = nil, at: Date? = nil,
                 bases: [[UInt8]]? = nil) {
            out.append(Mutation(type: type, name: name, expected: expected, files: f, trust: trust, at: at, bases: bases))
        }
        let ts = try fx.metadata(Timestamp.self, good, "timestamp.json")

        // Timestamp: expired, frozen, unsigned, signed by a foreign or wrong key, signatures duplicated.
        var f = good
        try fx.resignSnapshotAndTimestamp(&f, mutateTimestamp: { $0.common.expires = fx.built.now.addingTimeInterval(-60) })
        add("tuf-timestamp", "expired timestamp (re-signed)", ["repo.timestamp.expiry"], f)
        add("tuf-timestamp", "reference time past the timestamp's expiry (freeze)", ["repo.timestamp.expiry"], good, at: ts.signed.expires.addingTimeInterval(60))
        add("tuf-timestamp", "reference time a year later (everything expired)", ["repo.root.expiry"], good, at: fx.built.now.addingTimeInterval(400 * 86_400))
        for signer in [[], ["snapshot"], ["targets"], ["owner"]] as [[String]] {
            var md = ts
            try fx.sign(&md, signer)
            var g = good
            fx.put(md, "timestamp.json", into: &g)
            add("tuf-timestamp", "timestamp signed by \(signer.isEmpty ? "nobody" : signer[0]) (below threshold)", ["repo.timestamp.signatures"], g)
        }
        // Snapshot: an older snapshot with newer targets (mix and match), expired, wrong version.
        var newer = good
        try fx.resignTargets(&newer) { $0.common.version = 2 }
        add("tuf-targets", "targets v2 under the snapshot that lists v1 (mix and match)", ["repo.targets.version"], newer)
        var moved = good
        moved.files["repository/metadata/2.targets.json"] = newer.files["repository/metadata/1.targets.json"]
        add("tuf-targets", "new targets v2 beside an old snapshot that lists v1", ["release.repository.unlisted"], moved)
        var bumped = good
        bumped.files["repository/metadata/2.targets.json"] = newer.files["repository/metadata/1.targets.json"]
        try fx.resignSnapshotAndTimestamp(&bumped, mutateSnapshot: { $0.meta["targets.json"] = MetaFile(version: 2) })
        bumped.files["repository/metadata/1.targets.json"] = nil
        add("tuf-snapshot", "snapshot re-signed by its key for targets v2 (the old targets copy gone)", ["custody.inspections"], bumped)
        f = good
        try fx.resignSnapshotAndTimestamp(&f, mutateSnapshot: { $0.common.expires = fx.built.now.addingTimeInterval(-1) })
        add("tuf-snapshot", "expired snapshot (re-signed)", ["repo.snapshot.expiry"], f)
        f = good
        try fx.resignSnapshotAndTimestamp(&f, mutateTimestamp: { $0.meta["snapshot.json"]!.hashes = ["sha256": String(repeating: "1", count: 64)] })
        add("tuf-snapshot", "timestamp names another snapshot hash", ["repo.snapshot.hashes"], f)
        var wrongKey = good
        var snap2 = try fx.metadata(Snapshot.self, good, "1.snapshot.json")
        try fx.sign(&snap2, ["timestamp"])
        let bytes = snap2.fileBytes()
        fx.put(snap2, "1.snapshot.json", into: &wrongKey)
        var ts2 = ts
        ts2.signed.meta["snapshot.json"] = MetaFile(version: 1, length: Int64(bytes.count), hashes: ["sha256": DigestCalculator.sha256Hex(bytes)])
        try fx.sign(&ts2, ["timestamp"])
        fx.put(ts2, "timestamp.json", into: &wrongKey)
        add("tuf-snapshot", "snapshot signed by the timestamp key", ["repo.snapshot.signatures"], wrongKey)
        // Targets: expired; signed by the wrong key; wrong hardware id; downgrade; encryption declared.
        f = good
        try fx.resignTargets(&f) { $0.common.expires = fx.built.now.addingTimeInterval(-1) }
        add("tuf-targets", "expired targets (re-signed)", ["repo.targets.expiry"], f)
        var t = try fx.metadata(Targets.self, good, "1.targets.json")
        try fx.sign(&t, ["snapshot"])
        f = good
        fx.put(t, "1.targets.json", into: &f)
        add("tuf-targets", "targets signed by the snapshot key", ["repo.targets.signatures"], f)
        for hw in ["board-b", "", "board-a\u{7}"] {
            f = good
            try fx.resignTargets(&f) { try fx.changeFirmware(&$0, "fw.bin") { $0.hardwareIDs = [hw] } }
            add("tuf-targets", "hardware id \"\(hw)\" on fw.bin", hw == "board-b" ? ["release.targets.hardware"] : ["release.targets.custom"], f)
        }
        f = good
        try fx.resignTargets(&f) { t in for name in Array(t.targets.keys) { try fx.changeFirmware(&t, name) { $0.hardwareIDs = ["board-b"] } } }
        add("tuf-targets", "every target for a hardware class the policy does not have", ["release.targets.hardware"], f)
        f = good
        try fx.resignTargets(&f) { try fx.changeFirmware(&$0, "fw.bin") { $0.priority = .critical } }
        var strictPolicy = fx.policy
        strictPolicy.priorityClasses = [.low, .medium]
        add("tuf-targets", "a priority the policy does not allow", ["release.targets.hardware"], f, trust: fx.trust(policy: strictPolicy))
        f = good
        try fx.resignTargets(&f) { $0.targets["fw.bin"]!.custom = nil }
        add("tuf-targets", "fw.bin without firmware fields", ["release.targets.custom"], f)
        f = good
        try fx.resignTargets(&f) { try fx.changeFirmware(&$0, "fw.bin") { $0.versionNumber = 2 } }
        add("tuf-targets", "fw.bin's version number lowered below its deltas'", ["release.targets.custom"], f)
        let previous = DeviceState(versions: TrustedVersions(root: 1, timestamp: 1, snapshot: 1, snapshotMeta: ["targets.json": 1]), released: ["fw.bin": 4])
        add("tuf-targets", "downgrade: fw.bin #3 after #4 was released", ["release.targets.rollback"], good, trust: fx.trust(previous: previous))
        let dropped = DeviceState(versions: previous.versions, released: ["fw.bin": 3, "fw-old.bin": 1])
        add("tuf-targets", "a released image no longer listed", ["release.targets.rollback"], good, trust: fx.trust(previous: dropped))
        f = good
        try fx.resignTargets(&f) { t in
            try fx.changeFirmware(&t, "fw.bin") { $0.encryption = .init(plaintextSHA256: String(repeating: "0", count: 64), plaintextLength: 1, descriptor: ["format": "cose"]) }
        }
        add("tuf-targets", "a target declaring an encrypted payload (not verifiable yet: fails closed)", ["release.encryption"], f)
        // Rollback against a previous state.
        for (name, state, id) in [
            ("timestamp", TrustedVersions(root: 1, timestamp: 5, snapshot: 1, snapshotMeta: [:]), "repo.timestamp.rollback"),
            ("snapshot named", TrustedVersions(root: 1, timestamp: 1, snapshot: 4, snapshotMeta: [:]), "repo.timestamp.rollback"),
            ("targets", TrustedVersions(root: 1, timestamp: 1, snapshot: 1, snapshotMeta: ["targets.json": 3]), "repo.snapshot.rollback"),
            ("root", TrustedVersions(root: 2, timestamp: 1, snapshot: 1, snapshotMeta: [:]), "repo.root.rollback"),
        ] {
            add("trusted-state", "rolled back \(name) version against the previous state", [id], good, trust: fx.trust(previous: DeviceState(versions: state)))
        }
        // Roots: a new root signed by a foreign key, one with a revoked timestamp key, duplicated signatures.
        let foreign = try SoftwareSigner(generating: .ed25519)
        var r2 = try fx.nextRoot(good) { _ in }
        r2.signatures = [TUFSignature(keyid: foreign.publicKey.keyid, sig: Hex.encode(try foreign.sign(try r2.signedBytes(), algorithm: .ed25519)))]
        f = good
        fx.put(r2, "2.root.json", into: &f)
        add("tuf-root", "2.root.json signed by a foreign key", ["repo.root.chain"], f)
        // The timestamp key revoked (compromised) by a list the new root pins.
        let tsKey = fx.signers["timestamp"]!.publicKey.keyid
        var list = Metadata(signed: RevocationList(common: CommonFields(version: 1, expires: fx.built.now.addingTimeInterval(86_400 * 30)),
                                                   revoked: [Revocation(keyid: tsKey, reason: .compromised, time: fx.built.now.addingTimeInterval(-3600))]))
        try fx.sign(&list, ["root"])
        let pin: JSONValue = ["version": 1, "sha256": .string(DigestCalculator.sha256Hex(try list.signedBytes()))]
        let revokedRoot = try fx.nextRoot(good) { $0.unrecognized[KeyLifecycleFields.revocations] = pin }
        f = good
        fx.put(revokedRoot, "2.root.json", into: &f)
        f.files["keys/revocations.json"] = list.fileBytes()
        add("tuf-timestamp", "timestamp signed by a key the revocation list revokes", ["repo.timestamp.signatures"], f)
        var unpinned = f
        unpinned.files["keys/revocations.json"] = nil
        add("revocations", "the pinned revocation list deleted", ["keys.revocations"], unpinned)
        var staleList = list
        staleList.signed.common.version = 2
        try fx.sign(&staleList, ["root"])
        var other = f
        other.files["keys/revocations.json"] = staleList.fileBytes()
        add("revocations", "another revocation list than the one the root pins", ["keys.revocations"], other)
        // The build key (delta and manifest functionary) revoked: its links no longer count.
        let buildKey = fx.signers["build"]!.publicKey.keyid
        var buildList = Metadata(signed: RevocationList(common: CommonFields(version: 1, expires: fx.built.now.addingTimeInterval(86_400 * 30)),
                                                        revoked: [Revocation(keyid: buildKey, reason: .compromised, time: fx.built.now)]))
        try fx.sign(&buildList, ["root"])
        let buildPin: JSONValue = ["version": 1, "sha256": .string(DigestCalculator.sha256Hex(try buildList.signedBytes()))]
        f = good
        fx.put(try fx.nextRoot(good) { $0.unrecognized[KeyLifecycleFields.revocations] = buildPin }, "2.root.json", into: &f)
        f.files["keys/revocations.json"] = buildList.fileBytes()
        add("link", "links signed by a revoked functionary key", ["custody.links.threshold"], f)
        // Threshold 2 for timestamp (a second key added), the one signature listed twice.
        let second = try SoftwareSigner(generating: .ed25519)
        let twoOf = try fx.nextRoot(good) { root in
            root.keys[TUFKey(second.publicKey).keyid] = TUFKey(second.publicKey)
            root.roles.timestamp = RoleKeys(keyids: root.roles.timestamp.keyids + [TUFKey(second.publicKey).keyid], threshold: 2)
        }
        f = good
        fx.put(twoOf, "2.root.json", into: &f)
        var dup = ts
        try fx.sign(&dup, ["timestamp", "timestamp"])
        fx.put(dup, "timestamp.json", into: &f)
        add("tuf-timestamp", "one timestamp signature duplicated to meet a threshold of 2", ["repo.timestamp.signatures"], f)
        var dupRoot = try fx.nextRoot(good) { $0.roles.root = RoleKeys(keyids: $0.roles.root.keyids + [TUFKey(second.publicKey).keyid], threshold: 2)
            $0.keys[TUFKey(second.publicKey).keyid] = TUFKey(second.publicKey) }
        try fx.sign(&dupRoot, ["root", "root"])
        f = good
        fx.put(dupRoot, "2.root.json", into: &f)
        add("tuf-root", "a root of threshold 2 signed twice by one key", ["repo.root.chain"], f)
        f = good
        fx.put(try fx.nextRoot(good, version: 3) { _ in }, "2.root.json", into: &f)
        add("tuf-root", "2.root.json that says version 3", ["repo.root.chain"], f)
        // A trusted root that is not the release's (a replaced repository).
        var otherRoot = try fx.metadata(Root.self, good, "1.root.json")
        let k = TUFKey(foreign.publicKey)
        otherRoot.signed.keys[k.keyid] = k
        otherRoot.signed.roles.root = RoleKeys(keyids: [k.keyid], threshold: 1)
        otherRoot.signatures = [TUFSignature(keyid: k.keyid, sig: Hex.encode(try foreign.sign(try otherRoot.signedBytes(), algorithm: .ed25519)))]
        f = good
        fx.put(otherRoot, "1.root.json", into: &f)
        add("tuf-root", "the release's 1.root.json replaced by another root", ["release.repository.roots"], f)

        // Deltas: one that reproduces the wrong image, one for another base, bases not given.
        let deltaName = "deltas/fw.bin.from-1.0.0.bsdiff"
        let image = good.files.first { $0.key.hasPrefix("repository/targets/") && $0.key.hasSuffix(".fw.bin") }!.value
        for (what, base, new) in [("reproduces fw-1.1.0 instead of fw.bin", fx.bases[0], fx.bases[1]), ("was made from fw-1.1.0, not its named base", fx.bases[1], image)] {
            let patch = try Delta.create(old: base, new: new)
            f = good
            let oldEntry = try fx.metadata(Targets.self, good, "1.targets.json").signed.targets[deltaName]!
            for h in oldEntry.hashes.values { f.files["repository/targets/" + InMemorySource.targetKey(name: deltaName, hash: h)] = nil }
            let d = DigestCalculator.bytes(patch, algorithms: [.sha256, .sha512])
            for h in d.hex.values { f.files["repository/targets/" + InMemorySource.targetKey(name: deltaName, hash: h)] = patch }
            try fx.resignTargets(&f) { t in
                t.targets[deltaName]!.length = Int64(patch.count)
                t.targets[deltaName]!.hashes = ["sha256": d.hex[.sha256]!, "sha512": d.hex[.sha512]!]
            }
            add("delta-copy", "a delta that \(what) (re-signed targets)", ["release.delta"], f)
        }
        f = good
        try fx.resignTargets(&f) { t in try fx.changeFirmware(&t, deltaName) { $0.delta!.resultSHA256 = String(repeating: "5", count: 64) } }
        add("delta-copy", "a delta whose stated result is another image", ["release.targets.custom"], f)
        // Without its base a delta cannot be applied: a warning, which --strict refuses.
        add("delta-copy", "a delta verified without its base", ["release.delta"], good, bases: [])

        // Custody: a product swapped in a re-signed link; the owner key replaced inside the release.
        let (path, publish) = try fx.link(good, "publish")
        var swapped = publish.link
        let imageCopy = swapped.products.keys.sorted().first { $0.hasPrefix("repository/targets/") && !$0.contains("deltas") }!
        let deltaCopy = swapped.products.keys.sorted().first { $0.hasPrefix("repository/targets/deltas/") }!
        (swapped.products[imageCopy], swapped.products[deltaCopy]) = (swapped.products[deltaCopy], swapped.products[imageCopy])
        f = good
        f.files[path] = try swapped.signed(by: fx.signers["timestamp"]!).envelope.fileBytes
        add("link", "two products swapped in the publish link (re-signed by its functionary)", ["custody.products"], f)
        var removed = publish.link
        removed.products[imageCopy] = nil
        f = good
        f.files[path] = try removed.signed(by: fx.signers["timestamp"]!).envelope.fileBytes
        add("link", "a released copy missing from the publish link's products", ["custody.products"], f)
        let attacker = try SoftwareSigner(generating: .ed25519)
        let layout = try SignedLayout(bytes: good.files["custody/root.layout"]!, path: "custody/root.layout").layout
        f = good
        f.files["custody/root.layout"] = try layout.signed(by: [attacker]).fileBytes
        f.files["keys/owner.pub.pem"] = Array(attacker.publicKey.pem.utf8)
        add("layout", "the owner key replaced inside the release and the layout re-signed by it", ["custody.layout.signatures"], f)
        f = good
        f.files["keys/owner.pub.pem"] = Array(attacker.publicKey.pem.utf8)
        add("key-file", "keys/owner.pub.pem replaced", ["release.keys"], f)
        f = good
        f.files["keys/timestamp.pub.pem"] = Array(attacker.publicKey.pem.utf8)
        add("key-file", "keys/timestamp.pub.pem replaced", ["release.keys"], f)
        // Provenance re-signed by a foreign key, or about other bytes.
        f = good
        let statement = ProvenanceStatement(subjects: [LedgerSubject(name: "fw.bin", sha256: String(repeating: "7", count: 64))],
                                            builderID: "https://firmchain.dev/pipeline/built-release")
        f.files["custody/provenance.intoto.jsonl"] = try statement.signed(by: [fx.signers["timestamp"]!]).fileBytes
        add("provenance", "provenance about other bytes (signed by a functionary)", ["custody.provenance.present"], f)

        // Trust given wrongly: a foreign owner key, no owner key, a policy the release breaks.
        add("trust", "a foreign owner key", ["custody.layout.signatures"], good, trust: fx.trust(owners: [attacker.publicKey]))
        add("trust", "no owner key", ["custody.layout.signatures"], good, trust: fx.trust(owners: []))
        var p = fx.policy
        p.allowedAlgorithms = [.ecdsaP256SHA256]
        add("policy", "a policy that does not allow Ed25519", ["policy.algorithms"], good, trust: fx.trust(policy: p))
        p = fx.policy
        p.maximumKeyAgeDays = 1
        add("policy", "keys older than the policy allows", ["policy.key-age"], good, trust: fx.trust(policy: p), at: fx.built.now.addingTimeInterval(86_401))
        p = fx.policy
        p.functionaries["test"] = ["k.pem"]
        add("policy", "a policy that requires a test step", ["policy.steps"], good, trust: fx.trust(policy: p))
        p = fx.policy
        p.roles.timestamp.threshold = 2
        add("policy", "a policy that asks a timestamp threshold of 2", ["policy.thresholds"], good, trust: fx.trust(policy: p))
        return out
    }

    @Test("at least 200 distinct mutations across every artefact type are each refused with the expected check id (0 false accepts), in memory and on disk alike")
    func tamperSuite() throws {
        let fx = try Fixture("verify-tamper")
        let mutations = Self.byteMutations(fx) + Self.fileMutations(fx) + (try Self.ledgerMutations(fx)) + (try Self.signedMutations(fx))
        var counts = [String: Int](), accepted = [String](), wrongReason = [String](), differ = [String]()
        var seen = Set<String>()
        // The good release as the pipeline wrote it, on disk; each mutation changes only the files
        // it differs in there too, and is undone after its verdict.
        let out = fx.built.release.path
        func write(_ path: String, _ bytes: [UInt8]) throws {
            try FileIO.makeDirectories((out + "/" + path as NSString).deletingLastPathComponent)
            try Data(bytes).write(to: URL(fileURLWithPath: out + "/" + path))
        }
        for m in mutations {
            #expect(seen.insert(m.name).inserted, "mutation named twice: \(m.name)")
            let verifier = ReleaseVerifier(trust: m.trust ?? fx.trust(), now: m.at ?? fx.built.now, baseImages: m.bases ?? fx.bases)
            let v = verifier.verify(files: m.files)
            let changed = m.files.files.filter { fx.good.files[$0.key] != $0.value }
            let removed = fx.good.files.keys.filter { m.files.files[$0] == nil }
            for (path, bytes) in changed { try write(path, bytes) }
            for path in removed { try FileManager.default.removeItem(atPath: out + "/" + path) }
            let disk = verifier.verify(out: out)
            for path in changed.keys {
                if let original = fx.good.files[path] { try write(path, original) } else { try FileManager.default.removeItem(atPath: out + "/" + path) }
            }
            for path in removed { try write(path, fx.good.files[path]!) }
            let d = disk.report.checks.map { "\($0.id) \($0.status)" }, mem = v.report.checks.map { "\($0.id) \($0.status)" }
            if d != mem { differ.append("\(m.name): on disk \(Set(d).subtracting(mem).sorted()), in memory \(Set(mem).subtracting(d).sorted())") }
            // As a CI gate runs it (--strict): a failed check, or a warning, refuses the release.
            let refusedBy = Set(v.report.checks.filter { $0.status == .failed || $0.status == .warning }.map(\.id))
            counts[m.type, default: 0] += 1
            if v.report.passedStrictly {
                accepted.append(m.name)
            } else if refusedBy.isDisjoint(with: m.expected) {
                wrongReason.append("\(m.name): expected \(m.expected.sorted()), refused by \(refusedBy.sorted())")
            }
        }
        #expect(accepted.isEmpty, "accepted: \(accepted)")
        #expect(wrongReason.isEmpty, "refused for another reason:\n\(wrongReason.joined(separator: "\n"))")
        #expect(differ.isEmpty, "another verdict on disk than in memory:\n\(differ.joined(separator: "\n"))")
        // The release on disk is whole again.
        #expect(ReleaseVerifier(trust: fx.trust(), now: fx.built.now, baseImages: fx.bases).verify(out: out).report.passedStrictly)
        #expect(mutations.count >= 200)
        let table = counts.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }.joined(separator: "\n")
        print("tamper suite: \(mutations.count) mutations, \(accepted.count) accepted, \(wrongReason.count) refused for another reason, \(differ.count) judged otherwise on disk\n\(table)")
        for t in ["tuf-root", "tuf-timestamp", "tuf-snapshot", "tuf-targets", "image-copy", "delta-copy", "layout", "link", "provenance", "ledger",
                  "ledger-checkpoint", "key-file", "repository-layout", "trusted-state", "policy", "trust", "revocations"] {
            #expect((counts[t] ?? 0) > 0, "no mutation of \(t)")
        }
    }
}

import Custody
import FirmchainCore
import Foundation
import Repository
import Signing

/// What may lie in `OUT/repository/`: the files verified TUF metadata accounts for, and
/// nothing else (check `release.repository.unlisted`, Docs/verify.md). A file planted in
/// `repository/targets/` is served to every client that asks for its name; one planted in
/// `repository/metadata/` waits for a client that trusts it. Both are refused here.
///
/// Usable on its own — the pipeline's pre-flight can refuse planted files before it signs on
/// top of a release:
///
/// ```swift
/// let v = try release.verifyRepository(now: now)
/// let planted = RepositoryContents.unlisted(in: DiskReleaseFiles(out), verification: v.repository)
/// ```
public enum RepositoryContents {
    /// The entries below `repository/` (paths relative to `OUT`, sorted) that `verification`'s
    /// trusted metadata does not account for. Accounted for are:
    ///
    /// - `metadata/N.root.json` for every root version up to the trusted one, `timestamp.json`,
    ///   `V.snapshot.json` up to the trusted snapshot's version, and `V.ROLE.json` up to the
    ///   version the trusted snapshot lists for `ROLE.json` (consistent snapshots keep the
    ///   versions clients may still be reading);
    /// - `targets/[dir/]HASH.NAME` for every hash of every target a trusted role lists, and of
    ///   every target an earlier `V.targets.json` lists when a threshold of some root's targets
    ///   keys signed that version (earlier releases' copies stay served).
    ///
    /// Anything else — another file name, a directory entry that is a symbolic link or a device,
    /// a copy under a hash no signed metadata lists — is returned. When the walk did not reach
    /// trusted targets, every entry is returned: nothing unverified vouches for a file.
    public static func unlisted(in files: any ReleaseFiles, verification: RepositoryVerification) -> [String] {
        let entries = files.entries(under: "repository")
        guard let trusted = verification.trusted, let snapshot = trusted.snapshot?.signed, trusted.targets != nil else { return entries }
        var allowed = Set<String>()
        let metadata = "repository/metadata/"
        let rootVersion = trusted.root.signed.version
        // `V.NAME`, V a version without leading zeros, up to the latest trusted one of NAME.
        func accounted(_ file: String) -> Bool {
            if file == "timestamp.json" { return true }
            guard let dot = file.firstIndex(of: "."), let v = Int64(file[..<dot]), v >= 1, String(v) == file[..<dot] else { return false }
            let name = String(file[file.index(after: dot)...])
            switch name {
            case "root.json": return v <= rootVersion
            case "snapshot.json": return v <= snapshot.version
            default: return v <= (snapshot.meta[name]?.version ?? 0)
            }
        }
        for e in entries where e.hasPrefix(metadata) && accounted(String(e.dropFirst(metadata.count))) { allowed.insert(e) }
        // Copies of what the trusted roles list.
        for entry in verification.allEntries { allowed.formUnion(copies(entry.name, entry.file)) }
        // Copies of what earlier, still signed, targets versions listed.
        let rings = rootRings(files, upTo: rootVersion)
        let current = snapshot.meta["targets.json"]?.version ?? 0
        if current > 1 {
            for v in 1..<current {
                let path = metadata + "\(v).targets.json"
                guard let bytes = try? files.read(path, limit: RepositoryStore.metadataLimit),
                      let md = try? Metadata<Targets>(bytes: bytes, path: path) else { continue }
                let signed = rings.contains { root, ring in
                    md.verify(role: root.roles.targets, as: .tuf("targets"), ring: ring, at: md.signed.expires.addingTimeInterval(-1)).isMet
                }
                if signed { for (name, t) in md.signed.targets { allowed.formUnion(copies(name, t)) } }
            }
        }
        return entries.filter { !allowed.contains($0) }
    }

    /// The paths of every hash-named copy of a target (`repository/targets/[dir/]HASH.NAME`).
    public static func copies(_ name: String, _ file: TargetFile) -> [String] {
        guard (try? RepositoryStore.validateTargetName(name)) != nil else { return [] }
        return file.hashes.values.map { "repository/targets/" + InMemorySource.targetKey(name: name, hash: $0.lowercased()) }
    }

    /// Every root of the chain that parses, with its key ring (the chain itself was verified by
    /// `repo.root.chain`; an earlier targets version was signed under one of them).
    private static func rootRings(_ files: any ReleaseFiles, upTo version: Int64) -> [(Root, KeyRing)] {
        guard version >= 1 else { return [] }
        return (1...version).compactMap { n in
            let path = "repository/metadata/\(n).root.json"
            guard let bytes = try? files.read(path, limit: RepositoryStore.metadataLimit),
                  let md = try? Metadata<Root>(bytes: bytes, path: path) else { return nil }
            return (md.signed, md.signed.keyRing())
        }
    }

    /// The release's copies of the roots up to the trusted one (`release.repository.roots`):
    /// `N.root.json` for N = the trusted root's version holds the trusted root (the same signed
    /// part, signed by its own root threshold), and each earlier `N.root.json` is root version N
    /// whose root keys signed N+1 with their threshold. Returns the failures (none: they agree).
    /// A client that bootstraps from the release's own first root trusts exactly these.
    public static func rootHistoryFailures(in files: any ReleaseFiles, trustedRoot: [UInt8]) -> [String] {
        guard let trusted = try? Metadata<Root>(bytes: trustedRoot) else { return ["the trusted root cannot be read"] }
        let top = trusted.signed.version
        guard top >= 1, top <= RepositoryVerifier.maxRootVersions else { return ["the trusted root has version \(top)"] }
        var failures = [String]()
        var later = trusted
        for n in stride(from: top, through: 1, by: -1) {
            let path = "repository/metadata/\(n).root.json"
            let md: Metadata<Root>
            do {
                guard let bytes = try files.read(path, limit: RepositoryStore.metadataLimit) else { failures.append("\(path) is missing"); break }
                md = try Metadata<Root>(bytes: bytes, path: path)
            } catch {
                failures.append("\(path): \(error)")
                break
            }
            if n == top {
                let same = (try? md.signedBytes()) == (try? trusted.signedBytes())
                let tally = md.verify(role: md.signed.roles.root, as: .tuf("root"), ring: md.signed.keyRing(), at: md.signed.expires.addingTimeInterval(-1))
                if !same { failures.append("\(path) is not the trusted root v\(top)") } else if !tally.isMet { failures.append(tally.describe(path)) }
            } else {
                let tally = later.verify(role: md.signed.roles.root, as: .tuf("root"), ring: md.signed.keyRing(), at: later.signed.expires.addingTimeInterval(-1))
                if md.signed.version != n { failures.append("\(path) has version \(md.signed.version)") } else if !tally.isMet {
                    failures.append("root v\(n + 1) is not signed by the root keys of \(path): " + tally.describe("root v\(n + 1)"))
                }
            }
            later = md
        }
        return failures
    }
}

import Custody
import FirmchainCore
import Foundation
import Repository
import Signing

/// What may lie in `OUT/repository/`: the files verified TUF metadata accounts for, and
/// nothing else (check `release.repository.unlisted`, Docs/verify.md). A file planted in
/// `repository/targets/` is served to every client that asks for its name; one planted in
/// `repository/metadata/` waits for a client that trusts it. Both are refused here, by the same
/// `RepositoryInventory` the pipeline runs before it signs on top of a release.
public enum RepositoryContents {
    /// The entries below `repository/` (paths relative to `OUT`, sorted) that `verification`'s
    /// trusted metadata does not account for, each with why (`RepositoryInventory`: metadata
    /// versions of the verified chain, earlier versions only when trusted keys signed them, and
    /// the hash-named copies of what the trusted roles and those earlier versions list, earlier
    /// copies with their listed digests). When the walk did not reach trusted targets, every
    /// entry is returned: nothing unverified vouches for a file.
    public static func unlisted(in files: any ReleaseFiles, verification: RepositoryVerification) -> [RepositoryInventory.Unaccounted] {
        let source = ReleaseFilesSource(files: files)
        do {
            return try RepositoryInventory.unaccounted(in: source, verified: verification, revocations: verification.trusted?.revocations ?? [])
        } catch {
            return [RepositoryInventory.Unaccounted(path: "repository", why: "cannot be listed: \(error)")]
        }
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

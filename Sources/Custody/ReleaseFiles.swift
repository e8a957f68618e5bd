import FirmchainCore
import Foundation
import Signing

/// Where a custody verifier reads a release directory from: the files of `OUT` by relative
/// path. The directory on disk and an in-memory copy implement it, so the same checks run on a
/// published release and on hundreds of mutated copies of one in a test.
public protocol ReleaseFiles: Sendable {
    /// What is read, for reports: the directory, or `memory`.
    var location: String { get }
    /// The bytes of the file at `path` (relative to `OUT`), nil when there is none.
    func read(_ path: String, limit: Int) throws -> [UInt8]?
    /// The names of the regular files directly in the directory `path` (relative to `OUT`).
    func fileNames(in path: String) -> [String]
    /// Every file of `OUT` as in-toto records them (`*.link*` and the like excluded), with sha256.
    func scan() throws -> [String: ArtifactDigests]
    /// The ledger checks over `custody/ledger.jsonl` and its checkpoint file.
    func verifyLedger(ring: KeyRing) throws -> LedgerVerification
    /// Every entry below the directory `path` that is not a directory (regular files, and also
    /// symbolic links and special files, which are listed and never followed), as paths
    /// relative to `OUT`, sorted. Empty when `path` does not exist.
    func entries(under path: String) -> [String]
}

/// A release directory on disk.
public struct DiskReleaseFiles: ReleaseFiles {
    /// `OUT`.
    public let out: String

    /// The release directory `out`.
    public init(_ out: String) { self.out = out }

    /// The directory.
    public var location: String { out }

    /// Reads `OUT/path` (regular files only, bounded). A symbolic link anywhere on the way
    /// inside `OUT` is refused, never followed: what it points at is not part of the release, and
    /// can change under a verified one.
    ///
    /// - Throws: `io.not-a-file` naming the link.
    public func read(_ path: String, limit: Int) throws -> [UInt8]? {
        var walked = out
        for part in path.split(separator: "/") {
            walked += "/" + part
            var st = stat()
            guard lstat(walked, &st) == 0 else { return nil }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                throw FirmchainError(.ioNotAFile, "is a symbolic link inside the release; a release holds only regular files, and a verifier never follows a link out of it",
                                     path: walked)
            }
        }
        return try FileIO.read(walked, limit: limit)
    }

    /// Lists `OUT/path`.
    public func fileNames(in path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: out + "/" + path)) ?? []).sorted()
    }

    /// `Artifacts.scan` of `OUT`.
    public func scan() throws -> [String: ArtifactDigests] { try Artifacts.scan(out) }

    /// The ledger read under its shared lock.
    public func verifyLedger(ring: KeyRing) throws -> LedgerVerification { try CustodyStore(out: out).ledger.verify(ring: ring) }

    /// Walks `OUT/path` without following symbolic links.
    public func entries(under path: String) -> [String] {
        var found = [String]()
        func walk(_ rel: String) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: out + "/" + rel)) ?? [] {
                let child = rel + "/" + name
                let type = (try? FileManager.default.attributesOfItem(atPath: out + "/" + child))?[.type] as? FileAttributeType
                if type == .typeDirectory { walk(child) } else { found.append(child) }
            }
        }
        walk(path)
        return found.sorted()
    }
}

/// A release directory held in memory: every file by its path relative to `OUT`.
public struct InMemoryReleaseFiles: ReleaseFiles {
    /// The files.
    public var files: [String: [UInt8]]

    /// A release of `files`.
    public init(files: [String: [UInt8]]) { self.files = files }

    /// A copy of every regular file under `out` (symbolic links are not followed).
    public init(copying out: String) throws {
        var files = [String: [UInt8]]()
        for case let rel as String in FileManager.default.enumerator(atPath: out) ?? FileManager.DirectoryEnumerator() {
            let full = out + "/" + rel
            let attrs = try? FileManager.default.attributesOfItem(atPath: full)
            if (attrs?[.type] as? FileAttributeType) == .typeRegular { files[rel] = try FileIO.read(full) }
        }
        self.init(files: files)
    }

    /// `memory`.
    public var location: String { "memory" }

    /// The file's bytes.
    public func read(_ path: String, limit: Int) throws -> [UInt8]? {
        guard let b = files[path] else { return nil }
        guard b.count <= limit else { throw FirmchainError(.ioTooLarge, "is larger than \(limit) bytes", path: "memory:" + path) }
        return b
    }

    /// The files directly in `path`.
    public func fileNames(in path: String) -> [String] {
        let prefix = path.isEmpty ? "" : path + "/"
        return files.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    /// Every file's sha256, minus in-toto's excluded names (matched on every path component).
    public func scan() throws -> [String: ArtifactDigests] {
        var out = [String: ArtifactDigests]()
        for (path, bytes) in files {
            let parts = path.split(separator: "/").map(String.init)
            if parts.contains(where: { part in Artifacts.inTotoExcludePatterns.contains { FNMatch.matches(part, $0) } }) { continue }
            out[path] = ["sha256": DigestCalculator.sha256Hex(bytes)]
        }
        return out
    }

    /// The held files whose path lies below `path`.
    public func entries(under path: String) -> [String] {
        let prefix = path.isEmpty ? "" : path + "/"
        return files.keys.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// The ledger checks over the held bytes.
    public func verifyLedger(ring: KeyRing) throws -> LedgerVerification {
        Ledger.verify(ledger: files["custody/ledger.jsonl"], checkpoint: files["custody/ledger.checkpoint.json"], ring: ring,
                      path: "memory:custody/ledger.jsonl", checkpointPath: "memory:custody/ledger.checkpoint.json")
    }
}

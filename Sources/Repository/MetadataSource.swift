import FirmchainCore
import Foundation

/// Where a verifier reads a repository from: metadata files by name and target copies by
/// hash. Everything it returns is untrusted; the verifier checks it against what it already
/// trusts. A directory on disk and an in-memory map implement it, so the same checks run on a
/// published release and on thousands of mutated releases in a test.
public protocol MetadataSource: Sendable {
    /// The bytes of the metadata file `name` (`2.root.json`, `timestamp.json`), nil when there
    /// is none.
    ///
    /// - Throws: when the file exists but cannot be read, or is larger than `limit`.
    func metadata(_ name: String, limit: Int) throws -> [UInt8]?

    /// The length and digests of the copy of target `name` served under `hash`, nil when the
    /// copy is missing.
    func targetDigests(name: String, hash: String, algorithms: Set<DigestAlgorithm>) throws -> Digests?

    /// How a metadata file is named in messages (a path, or `memory:NAME`).
    func describe(_ name: String) -> String

    /// What the source is, for reports: the repository directory, or `memory`.
    var location: String { get }
}

/// A repository in a release directory: `OUT/repository/metadata` and `OUT/repository/targets`.
public struct DirectorySource: MetadataSource {
    /// The repository's files on disk.
    public let store: RepositoryStore

    /// The repository of `store`.
    public init(_ store: RepositoryStore) { self.store = store }

    /// Reads `metadata/NAME` (bounded, regular files only).
    public func metadata(_ name: String, limit: Int) throws -> [UInt8]? {
        let path = store.metadataPath(name)
        guard FileIO.exists(path) else { return nil }
        return try FileIO.read(path, limit: limit)
    }

    /// Hashes `targets/[dir/]HASH.BASENAME` as it streams.
    public func targetDigests(name: String, hash: String, algorithms: Set<DigestAlgorithm>) throws -> Digests? {
        let path = store.targetPath(name: name, hash: hash)
        guard FileIO.exists(path) else { return nil }
        return try DigestCalculator.file(path, algorithms: algorithms)
    }

    /// The file's path.
    public func describe(_ name: String) -> String { store.metadataPath(name) }

    /// `OUT/repository`.
    public var location: String { store.directory + "/repository" }
}

/// A repository held in memory (a test's, or one a release builder made): metadata by name
/// and target copies by `HASH.NAME` as `RepositoryStore.targetPath` lays them out.
public struct InMemorySource: MetadataSource {
    /// Metadata files by name.
    public var metadataFiles: [String: [UInt8]]
    /// Target copies by their path under `targets/`, e.g. `3f2a….fw.bin`, `deltas/3f2a….p.bsdiff`.
    public var targetFiles: [String: [UInt8]]

    /// A source with the given files.
    public init(metadata: [String: [UInt8]] = [:], targets: [String: [UInt8]] = [:]) {
        metadataFiles = metadata
        targetFiles = targets
    }

    /// The repository inside a release directory held in memory: `repository/metadata/*` and
    /// `repository/targets/*` of `files` (paths relative to `OUT`).
    public init(release files: [String: [UInt8]]) {
        var metadata = [String: [UInt8]](), targets = [String: [UInt8]]()
        for (path, bytes) in files {
            if path.hasPrefix("repository/metadata/") { metadata[String(path.dropFirst("repository/metadata/".count))] = bytes }
            if path.hasPrefix("repository/targets/") { targets[String(path.dropFirst("repository/targets/".count))] = bytes }
        }
        self.init(metadata: metadata, targets: targets)
    }

    /// The path of target `name`'s copy under `hash`, relative to `targets/`.
    public static func targetKey(name: String, hash: String) -> String {
        if let slash = name.lastIndex(of: "/") { return "\(name[..<slash])/\(hash).\(name[name.index(after: slash)...])" }
        return "\(hash).\(name)"
    }

    /// The file, refused past `limit` like a file on disk.
    public func metadata(_ name: String, limit: Int) throws -> [UInt8]? {
        guard let b = metadataFiles[name] else { return nil }
        guard b.count <= limit else { throw FirmchainError(.ioTooLarge, "is larger than \(limit) bytes", path: describe(name)) }
        return b
    }

    /// The digests of the copy's bytes.
    public func targetDigests(name: String, hash: String, algorithms: Set<DigestAlgorithm>) throws -> Digests? {
        targetFiles[Self.targetKey(name: name, hash: hash)].map { DigestCalculator.bytes($0, algorithms: algorithms) }
    }

    /// `memory:NAME`.
    public func describe(_ name: String) -> String { "memory:" + name }

    /// `memory`.
    public var location: String { "memory" }
}

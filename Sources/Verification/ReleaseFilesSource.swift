import Custody
import FirmchainCore
import Repository

/// The TUF repository inside any `ReleaseFiles` (`OUT/repository/metadata`, `OUT/repository/targets`),
/// so the repository verifier reads the same files as the custody verifier: the directory on
/// disk or a copy in memory.
struct ReleaseFilesSource: MetadataSource {
    /// The release.
    let files: any ReleaseFiles
    /// The largest target copy read into memory.
    static let targetLimit = Int(Int32.max)

    func metadata(_ name: String, limit: Int) throws -> [UInt8]? {
        try files.read("repository/metadata/" + name, limit: limit)
    }

    func targetDigests(name: String, hash: String, algorithms: Set<DigestAlgorithm>) throws -> Digests? {
        try files.read("repository/targets/" + InMemorySource.targetKey(name: name, hash: hash), limit: Self.targetLimit)
            .map { DigestCalculator.bytes($0, algorithms: algorithms) }
    }

    func describe(_ name: String) -> String { files.location + ":repository/metadata/" + name }

    var location: String { files.location == "memory" ? "memory:repository" : files.location + "/repository" }
}

/// The release as `RepositoryInventory` lists it: on disk through `FileIO.entries` (symbolic
/// links listed, never followed, copies hashed as streams), in memory as the held files.
extension ReleaseFilesSource: RepositoryInventory.Listing {
    private var disk: RepositoryInventory.DiskListing? { (files as? DiskReleaseFiles).map { RepositoryInventory.DiskListing($0.out) } }

    func entries(under path: String) throws -> [(path: String, kind: FileIO.EntryKind)] {
        if let disk { return try disk.entries(under: path) }
        return files.entries(under: path).map { ($0, .regular) }
    }

    func read(_ path: String, limit: Int) throws -> [UInt8]? { try files.read(path, limit: limit) }

    func digests(of path: String, algorithms: Set<DigestAlgorithm>) throws -> Digests {
        if let disk { return try disk.digests(of: path, algorithms: algorithms) }
        guard let bytes = try files.read(path, limit: Self.targetLimit) else { throw FirmchainError(.ioNotFound, "no such file", path: path) }
        return DigestCalculator.bytes(bytes, algorithms: algorithms)
    }
}

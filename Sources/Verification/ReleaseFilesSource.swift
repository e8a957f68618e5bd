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

import Custody
import Export
import FirmchainCore
import Repository

/// `release.exports`: every distributor container in `OUT/exports/` (Docs/exports.md) carries, as
/// its payload, exactly the bytes of a target the verified metadata lists under the same file
/// name — by the payload's sha256 for Mender artifacts and SWUpdate packages, and for RAUC
/// verity bundles by the signed manifest's image sha256 after the dm-verity tree was recomputed
/// over the squashfs. RAUC plain bundles are listed as not inspected. The containers'
/// signatures are the distributors' to check (their keys are not part of the release's trust).
/// No check is added when the release has no `exports/`.
struct ExportChecks {
    let files: any ReleaseFiles
    let repository: RepositoryVerification

    /// The largest container read (4 GiB plus room for the container's own fields).
    static let containerLimit = (1 << 32) + (1 << 26)

    func check() -> Check? {
        let names = files.entries(under: "exports")
        let containers = names.filter { $0.hasSuffix(".mender") || $0.hasSuffix(".swu") || $0.hasSuffix(".raucb") }
        guard !containers.isEmpty else { return nil }
        // The verified targets by file name (the last path component).
        var byFileName = [String: [(name: String, sha256: String)]]()
        for (name, file) in repository.allTargets {
            let base = String(name.split(separator: "/").last ?? Substring(name))
            byFileName[base, default: []].append((name, file.hashes["sha256"]?.lowercased() ?? ""))
        }
        var failures = [String](), details = [String]()
        for path in containers {
            do {
                guard let bytes = try files.read(path, limit: Self.containerLimit) else { failures.append("\(path): unreadable"); continue }
                guard let payload = try ContainerInspection.payload(of: bytes, name: path) else {
                    details.append("\(path): a RAUC plain bundle (payload inside the squashfs, not inspected)")
                    continue
                }
                if let match = byFileName[payload.fileName]?.first(where: { $0.sha256 == payload.sha256 }) {
                    details.append("\(path): \(payload.format) payload \(payload.fileName) is target \(match.name)")
                } else {
                    failures.append("\(path): its \(payload.format) payload \(payload.fileName) (sha256 \(payload.sha256.prefix(16))…) is no target of the release")
                }
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        if failures.isEmpty {
            return Check("release.exports", .passed, "\(containers.count) export(s) carry released targets", subject: "exports", details: details)
        }
        return Check("release.exports", .failed, failures.joined(separator: "; "), subject: "exports", details: details)
    }
}

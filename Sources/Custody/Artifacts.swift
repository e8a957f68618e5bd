import Foundation
import FirmchainCore

/// Recording artefacts the way in-toto does: sha256 of each file, named by its path relative to
/// the release directory `OUT` (Docs/architecture.md "Release directory"), so that `in-toto-verify` run in `OUT` sees the
/// same names.
public enum Artifacts {
    /// The patterns in-toto leaves out when it records a directory (`ARTIFACT_EXCLUDE_PATTERNS`):
    /// link files (the verifier writes inspection links into the directory), `.git`, Python
    /// byte code and editor backups. A pattern matches any path component.
    public static let inTotoExcludePatterns = ["*.link*", ".git", "*.pyc", "*~"]

    /// Checks that `name` is a relative `/`-separated path without empty, `.` or `..` parts.
    ///
    /// - Throws: `custody.bad-artifact-name`.
    public static func validateName(_ name: String) throws {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !name.hasPrefix("/"), parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw FirmchainError(.custodyBadArtifactName, "artefact name \"\(name)\" must be a relative path without empty, . or .. parts or control characters")
        }
    }

    /// Hashes `file` (anywhere) and records it under `name` — for inputs that live outside
    /// `OUT`, such as the images a pipeline reads (`inputs/<basename>` by convention).
    public static func hash(file: String, as name: String, progress: ProgressReporter = SilentProgress()) throws -> (name: String, digests: ArtifactDigests) {
        try validateName(name)
        let d = try DigestCalculator.file(file, algorithms: [.sha256], progress: progress)
        return (name, ["sha256": d.sha256!])
    }

    /// Hashes files inside `out`, each given by its path relative to `out`; a directory stands
    /// for every file below it (recursively, minus `inTotoExcludePatterns`).
    public static func hash(_ relativePaths: [String], in out: String, progress: ProgressReporter = SilentProgress()) throws -> [String: ArtifactDigests] {
        var result = [String: ArtifactDigests]()
        for rel in relativePaths {
            let clean = rel.hasPrefix("./") ? String(rel.dropFirst(2)) : rel
            try validateName(clean)
            var isDir: ObjCBool = false
            let full = out + "/" + clean
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), isDir.boolValue {
                for (k, v) in try scan(out, under: clean, progress: progress) { result[k] = v }
            } else {
                result[clean] = ["sha256": try DigestCalculator.file(full, algorithms: [.sha256], progress: progress).sha256!]
            }
        }
        return result
    }

    /// Every regular file below `out/under` (or all of `out` when `under` is nil), named
    /// relative to `out`, hashed with sha256 — what in-toto records for `"."` with its default
    /// exclude patterns. Symbolic links to files are followed; to directories, not.
    public static func scan(_ out: String, under: String? = nil, exclude: [String] = inTotoExcludePatterns,
                            progress: ProgressReporter = SilentProgress()) throws -> [String: ArtifactDigests] {
        var result = [String: ArtifactDigests]()
        var stack = [under ?? ""]
        let fm = FileManager.default
        while let rel = stack.popLast() {
            let dir = rel.isEmpty ? out : out + "/" + rel
            let names: [String]
            do { names = try fm.contentsOfDirectory(atPath: dir) } catch {
                throw FirmchainError(.ioNotFound, "cannot list the directory", path: dir)
            }
            for name in names.sorted() {
                if exclude.contains(where: { FNMatch.matches(name, $0) }) { continue }
                let childRel = rel.isEmpty ? name : rel + "/" + name
                let full = out + "/" + childRel
                var isDir: ObjCBool = false
                guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }  // dangling link
                let attrs = try? fm.attributesOfItem(atPath: full)
                let isLink = (attrs?[.type] as? FileAttributeType) == .typeSymbolicLink
                if isDir.boolValue {
                    if !isLink { stack.append(childRel) }
                } else {
                    result[childRel] = ["sha256": try DigestCalculator.file(full, algorithms: [.sha256], progress: progress).sha256!]
                }
            }
        }
        return result
    }
}

import Foundation
import Testing
import TestSupport

@Suite("Fuzz targets (Docs/fuzzing.md)")
struct FuzzSeedTests {
    static var driver: String { TestEnv.productsDirectory.appendingPathComponent("firmchain-fuzz").path }

    @Test("every fuzz target replays its seeds (and every finding kept as a regression input) without a finding")
    func seedsReplay() throws {
        let list = try runProcess(Self.driver, ["--list"])
        #expect(list.status == 0)
        let targets = list.out.split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        #expect(Set(targets).isSuperset(of: ["bspatch", "json", "tuf-metadata", "dsse", "ledger", "der-keys", "pkcs11-uri", "policy-yaml",
                                            "pipeline-yaml", "cose", "recipient-cert", "device-state", "fcpatch"]))
        for t in targets {
            let seeds = TestEnv.packageRoot.appendingPathComponent("Tests/Fuzz/seeds/\(t)").path
            #expect(FileManager.default.fileExists(atPath: seeds), "no seeds for \(t)")
            let r = try runProcess(Self.driver, [t, seeds])
            #expect(r.status == 0 && r.out.contains("no finding"), "\(t): \(r.out) \(r.err.suffix(2000))")
        }
    }
}

import Export
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

/// RAUC bundles checked by the stock `rauc info --keyring` and `rauc extract --keyring`.
@Suite("RAUC bundles from a verified release, accepted by rauc info and rauc extract")
struct RAUCTests {
    static let fixture = Result { try ExportFixture("export-rauc") }

    func build(_ signer: any Signer, format: RAUCBundle.Format, name: String, certificate: String? = nil) throws -> [UInt8] {
        let f = try Self.fixture.get()
        let cert = try certificate ?? f.certificate(for: signer, name: name)
        let work = f.directory.file("work-\(name)-\(UUID().uuidString)")
        try FileIO.makeDirectories(work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        return try RAUCBundle.build(target: try f.target(),
                                    options: .init(compatible: "board-a", version: "1.2.0", format: format, certificate: cert, signingTime: f.now),
                                    signer: signer, workDirectory: work)
    }

    /// `rauc info` and `rauc extract` on `bundle`; returns both results and the extracted directory.
    func check(_ bundle: [UInt8], name: String) throws -> (info: ProcessResult, extract: ProcessResult, dir: String) {
        let f = try Self.fixture.get()
        let file = try f.write(name + ".raucb", bundle)
        let info = try runProcess("rauc", ["info", "--keyring", f.caFile, file])
        let dir = f.directory.file("extract-" + name)
        let extract = try runProcess("rauc", ["extract", "--keyring", f.caFile, file, dir])
        return (info, extract, dir)
    }

    /// Offsets to flip: in the payload (inside the squashfs), in the CMS (its signature value at
    /// the end), and in the verity tree for verity bundles.
    func flips(_ bundle: [UInt8], format: RAUCBundle.Format) -> [(String, Int)] {
        let cmsLength = bundle.suffix(8).reduce(0) { $0 << 8 | Int($1) }
        let cmsStart = bundle.count - 8 - cmsLength
        var out = [("payload", 200), ("signature", bundle.count - 8 - 5)]
        if format == .verity {
            let manifestAt = offset(of: Array("verity-hash=".utf8), in: bundle, from: cmsStart)!
            out.append(("signed manifest", manifestAt + 14))
            out.append(("verity tree", cmsStart - 4096 + 10))
        }
        return out
    }

    @Test("software P-256 and RSA keys, verity and plain: info and extract accept, the extracted image is the target, flips are rejected",
          arguments: [KeyType.ecdsaP256, .rsa], RAUCBundle.Format.allCases)
    func softwareKeys(type: KeyType, format: RAUCBundle.Format) throws {
        let f = try Self.fixture.get()
        let signer = try SoftwareSigner(generating: type)
        let name = "sw-\(type.rawValue)-\(format.rawValue)"
        let bundle = try build(signer, format: format, name: name)
        let ok = try check(bundle, name: name)
        #expect(ok.info.status == 0, "\(ok.info.out)\(ok.info.err)")
        #expect(ok.extract.status == 0, "\(ok.extract.out)\(ok.extract.err)")
        #expect(try FileIO.read(ok.dir + "/fw.bin") == f.targetBytes)
        for (what, i) in flips(bundle, format: format) {
            let r = try check(flipped(bundle, at: i), name: "\(name)-\(what.replacingOccurrences(of: " ", with: "-"))")
            #expect(r.extract.status != 0, "a flipped byte in the \(what) passed rauc extract")
            if what != "payload" && what != "verity tree" || format == .plain {
                #expect(r.info.status != 0, "a flipped byte in the \(what) passed rauc info")
            }
        }
    }

    @Test("a mksquashfs that fails or cannot run is export.tool-failed saying so; a compatible that is not one line is export.option-invalid")
    func builderFailures() throws {
        let f = try Self.fixture.get()
        let signer = try SoftwareSigner(generating: .ecdsaP256)
        let cert = try f.certificate(for: signer, name: "builder-failures")
        func build(mksquashfs: String = "/usr/bin/mksquashfs", compatible: String = "board-a") throws -> [UInt8] {
            let work = f.directory.file("work-failures-\(UUID().uuidString)")
            try FileIO.makeDirectories(work)
            defer { try? FileManager.default.removeItem(atPath: work) }
            return try RAUCBundle.build(target: try f.target(), options: .init(compatible: compatible, version: "1.2.0", certificate: cert, signingTime: f.now,
                                                                               mksquashfs: mksquashfs), signer: signer, workDirectory: work)
        }
        for (tool, says) in [("/bin/false", "mksquashfs failed"), (f.directory.file("no-such-mksquashfs"), "cannot run \(f.directory.file("no-such-mksquashfs"))")] {
            let error = #expect(throws: FirmchainError.self) { try build(mksquashfs: tool) }
            #expect(error?.code == .exportToolFailed && error?.reason.hasPrefix(says) == true && error?.category.exitCode == 70, "\(String(describing: error))")
        }
        let error = #expect(throws: FirmchainError.self) { try build(compatible: "board-a\n[evil]") }
        #expect(error?.code == .exportOptionInvalid && error?.reason == "the RAUC compatible must be one non-empty line without brackets", "\(String(describing: error))")
    }

    @Test("SoftHSM P-256 and RSA-3072 keys sign verity bundles rauc accepts", arguments: ["ecdsa-p256", "rsa-3072"])
    func tokenKeys(type: String) throws {
        let token = try SoftHSMTestToken.shared()
        let signer = try Signers.open(token.key(type)!.uri, options: ExportFixture.tokenOptions)
        let r = try check(try build(signer, format: .verity, name: "hsm-\(type)"), name: "hsm-\(type)")
        #expect(r.info.status == 0, "\(r.info.out)\(r.info.err)")
        #expect(r.extract.status == 0, "\(r.extract.out)\(r.extract.err)")
    }

    @Test("two verity bundles with an RSA key are byte-identical", arguments: RAUCBundle.Format.allCases)
    func reproducible(format: RAUCBundle.Format) throws {
        let f = try Self.fixture.get()
        let signer = try SoftwareSigner(generating: .rsa)
        let cert = try f.certificate(for: signer, name: "repro")
        #expect(try build(signer, format: format, name: "repro-a", certificate: cert) == build(signer, format: format, name: "repro-b", certificate: cert))
    }

    @Test("the verity tree of one block is that block's salted hash, and the root hashes the top level")
    func verityTreeSmall() {
        let data = [UInt8](repeating: 7, count: 4096)
        let (tree, root) = VerityTree.build(data: data, salt: [1, 2])
        #expect(tree.count == 4096)
        let leafHash = Array(tree.prefix(32))
        #expect(Array(tree[32...]).allSatisfy { $0 == 0 })
        #expect(root != leafHash)
        // 129 blocks need two hash blocks at level 0 and one at level 1, stored first.
        let (big, _) = VerityTree.build(data: [UInt8](repeating: 1, count: 4096 * 129), salt: [])
        #expect(big.count == 3 * 4096)
    }

    @Test("firmchain export rauc writes a bundle rauc info accepts")
    func command() throws {
        let f = try Self.fixture.get()
        let (signer, keyFile) = try f.softwareKey(.ecdsaP256, name: "cli-rauc")
        let cert = try f.write("cli-rauc.pem", Array(try f.certificate(for: signer, name: "CLI rauc").utf8))
        let root = try f.write("trusted-root.json", f.built.trustedRoot)
        let out = f.directory.file("cli.raucb")
        let r = try runProcess(TestEnv.firmchain, ["export", "rauc", "--release", f.built.release.path, "--trusted-root", root,
                                                   "--at", UTCTimestamp.string(from: f.now), "--target", "fw.bin", "--key", keyFile,
                                                   "--cert", cert, "--compatible", "board-a", "--version", "1.2.0", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let info = try runProcess("rauc", ["info", "--keyring", f.caFile, out])
        #expect(info.status == 0, "\(info.out)\(info.err)")
    }
}

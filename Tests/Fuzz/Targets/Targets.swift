// The fuzz targets: one per parser of untrusted bytes (Docs/fuzzing.md). Each takes any bytes
// and must either reject them with a `FirmchainError` or accept them; a crash, a trap, a hang,
// an unexpected error type or a sanitizer report is a finding. The same functions run under
// libFuzzer (`make fuzz`, Entry.swift with -DFUZZING) and as a plain regression driver.
import CFirmchainPatch
import Custody
import Delta
import Encryption
import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Repository
import Signing
import Verification

/// A named fuzz target.
struct FuzzTarget: Sendable {
    /// The name `make fuzz` and `FIRMCHAIN_FUZZ_TARGET` use.
    let name: String
    /// What it parses.
    let parses: String
    /// One input; throws only `FirmchainError` for rejected input.
    let run: @Sendable ([UInt8]) throws -> Void
}

/// The old file BSDIFF40 and firmchain1 inputs are applied to: byte i = (i * 31 + i / 7) mod 251
/// (the seeds in Tests/Fuzz/seeds/bspatch and seeds/fcpatch were made for it; a firmchain1 seed
/// carries its sha256, so only a patch made for this file gets past the base check).
let fuzzOld: [UInt8] = (0..<4096).map { UInt8(truncatingIfNeeded: ($0 * 31 + $0 / 7) % 251) }

/// A fixed reference time, so a run is reproducible.
let fuzzNow = Date(timeIntervalSince1970: 1_800_000_000)

/// Every target.
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "bspatch", parses: "BSDIFF40 patches (reader and patcher)") { bytes in
        let out = try fuzzOld.withUnsafeBufferPointer { o in
            try bytes.withUnsafeBufferPointer { try Patcher.apply(old: o, patch: $0, maxNewSize: 1 << 20) }
        }
        let declared = Int(BSDIFF40.decodeInteger(bytes, at: 24))
        guard out.count == declared else { fatalError("output size \(out.count) != declared \(declared)") }
    },
    FuzzTarget(name: "fcpatch", parses: "firmchain1 patches through the C applier (fcpatch_apply) and the Swift one, which must agree, on the same 4 KiB old file") { bytes in
        fuzzFirmchain1(bytes)
    },
    FuzzTarget(name: "json", parses: "the strict JSON reader, and canonical re-encoding of what it accepts") { bytes in
        let value = try JSONReader().parse(bytes)
        // What the reader accepts, the canonical encoder writes and the reader reads back equal.
        if let canonical = try? JSONEncoding.canonical(value), try JSONReader().parse(canonical) != value {
            fatalError("canonical JSON does not read back equal")
        }
    },
    FuzzTarget(name: "tuf-metadata", parses: "TUF root, targets (firmware fields), snapshot, timestamp, revocation list") { bytes in
        _ = try? Metadata<Root>(bytes: bytes)
        _ = try? Metadata<Snapshot>(bytes: bytes)
        _ = try? Metadata<Timestamp>(bytes: bytes)
        _ = try? Metadata<RevocationList>(bytes: bytes)
        if let root = try? Metadata<Root>(bytes: bytes) {
            _ = root.verify(role: root.signed.roles.root, as: .tuf("root"), ring: root.signed.keyRing(), at: fuzzNow)
        }
        let targets = try Metadata<Targets>(bytes: bytes)
        for t in targets.signed.targets.values { if let fw = try FirmwareInfo(custom: t.custom) { try? fw.validate() } }
    },
    FuzzTarget(name: "dsse", parses: "DSSE envelopes, in-toto links and layouts (Metablock or DSSE), SLSA provenance lines") { bytes in
        _ = try? SignedLink(bytes: bytes, path: "fuzz.link")
        _ = try? SignedLayout(bytes: bytes, path: "fuzz.layout")
        for env in (try? CustodyStore.provenance(bytes, path: "fuzz.jsonl")) ?? [] { _ = try? ProvenanceStatement(envelope: env) }
        _ = try DSSEEnvelope(bytes: bytes, path: "fuzz.dsse")
    },
    FuzzTarget(name: "ledger", parses: "ledger lines and the checkpoint file") { bytes in
        // The first line is the checkpoint file, the rest the ledger.
        let split = bytes.firstIndex(of: 0x0A) ?? bytes.count
        let v = Ledger.verify(ledger: Array(bytes[split...].dropFirst()), checkpoint: Array(bytes[..<split]), ring: KeyRing(),
                              path: "fuzz.jsonl", checkpointPath: "fuzz.checkpoint.json")
        guard !v.checks.isEmpty else { fatalError("no ledger check ran") }
    },
    FuzzTarget(name: "der-keys", parses: "SPKI DER public keys, PEM public keys, PKCS#8 private keys in PEM") { bytes in
        _ = try? PublicKey(spkiDER: bytes)
        _ = try? PublicKey(pem: String(decoding: bytes, as: UTF8.self))
        // The fuzzer's bytes between PEM markers (spelled in two parts so that no committed file
        // reads as holding a private key; none does).
        let label = "PRIVATE" + " KEY"
        let pem = "-----BEGIN \(label)-----\n" + Base64.encode(bytes) + "\n-----END \(label)-----\n"
        _ = try? SoftwareSigner(pem: pem, description: "fuzz", passphrase: { nil })
        _ = try PublicKey(spkiDER: bytes)
    },
    FuzzTarget(name: "pkcs11-uri", parses: "RFC 7512 pkcs11: URIs") { bytes in
        _ = try PKCS11URI(parsing: String(decoding: bytes, as: UTF8.self))
    },
    FuzzTarget(name: "policy-yaml", parses: "policy files (Policies/*.yml)") { bytes in
        _ = try Policy(yaml: String(decoding: bytes, as: UTF8.self), path: "fuzz-policy.yml")
    },
    FuzzTarget(name: "pipeline-yaml", parses: "pipeline files (Pipelines/*.yml)") { bytes in
        _ = try PipelineSpec(yaml: String(decoding: bytes, as: UTF8.self), path: "fuzz-pipeline.yml", baseDirectory: "/nonexistent")
    },
    FuzzTarget(name: "cose", parses: "strict bounded CBOR and COSE_Encrypt structures (SUIT firmware-encryption profile)") { bytes in
        _ = try? CBORDecoder.decode(bytes)
        _ = try COSEEncrypt(decoding: bytes)
    },
    FuzzTarget(name: "recipient-cert", parses: "X.509 recipient certificates, PEM or DER (through OpenSSL)") { bytes in
        _ = try RecipientCertificate(bytes: bytes, path: "fuzz.pem")
    },
    FuzzTarget(name: "device-state", parses: "the verifier's state document (--previous)") { bytes in
        _ = try DeviceState(bytes: bytes, path: "fuzz-state.json")
    },
]

/// The C applier's view of one fuzz input: the old file and the patch in memory, and what it wrote.
private final class Firmchain1FuzzIO {
    let patch: [UInt8]
    var written = 0
    var output = [UInt8]()
    init(patch: [UInt8]) { self.patch = patch }

    static func of(_ ctx: UnsafeMutableRawPointer?) -> Firmchain1FuzzIO { Unmanaged.fromOpaque(ctx!).takeUnretainedValue() }

    /// Copies bytes[offset ..< offset + len] to buf; -1 outside bytes (the applier promised not to ask).
    static func read(_ bytes: [UInt8], _ offset: UInt64, _ buf: UnsafeMutablePointer<UInt8>?, _ len: Int) -> Int32 {
        guard offset <= UInt64(bytes.count), UInt64(len) <= UInt64(bytes.count) - offset, let buf else { return -1 }
        if len > 0 { bytes.withUnsafeBufferPointer { buf.update(from: $0.baseAddress! + Int(offset), count: len) } }
        return 0
    }
}

/// Runs fcpatch_apply on `patch` against `fuzzOld`, and the Swift applier beside it. Any status
/// is an answer; a finding is a crash, a sanitizer report, a write before the base was checked,
/// a success with the wrong length, or the two appliers disagreeing on accepting or on the image.
func fuzzFirmchain1(_ patch: [UInt8]) {
    let maxNew: UInt64 = 1 << 20
    var workspaceSize = 1 << 16
    var header = fcpatch_header()
    if patch.count >= Int(FCPATCH_HEADER_SIZE), UInt32(bitPattern: fcpatch_read_header(patch, UInt64(patch.count), &header)) == FCPATCH_OK.rawValue {
        // A few bytes of LZMA2 can declare and decode a control section of hundreds of MiB of
        // empty triples: slow, not wrong. Keep each run short.
        if header.section.0.length > 1 << 20 { return }
        workspaceSize = min(fcpatch_workspace_size(&header), 4 << 20)
    }
    let box = Firmchain1FuzzIO(patch: patch)
    let workspace = UnsafeMutableRawPointer.allocate(byteCount: max(workspaceSize, 1), alignment: 16)
    defer { workspace.deallocate() }
    var io = fcpatch_io()
    io.ctx = Unmanaged.passUnretained(box).toOpaque()
    io.read_old = { _, offset, buf, len in Firmchain1FuzzIO.read(fuzzOld, offset, buf, len) }
    io.read_patch = { ctx, offset, buf, len in Firmchain1FuzzIO.read(Firmchain1FuzzIO.of(ctx).patch, offset, buf, len) }
    io.write_new = { ctx, buf, len in
        let io = Firmchain1FuzzIO.of(ctx)
        io.written += len
        if let buf, len > 0 { io.output.append(contentsOf: UnsafeBufferPointer(start: buf, count: len)) }
        return 0
    }
    let status = withExtendedLifetime(box) {
        UInt32(bitPattern: fcpatch_apply(&io, UInt64(fuzzOld.count), UInt64(patch.count), maxNew, workspace, workspaceSize))
    }
    switch status {
    case FCPATCH_OK.rawValue:
        guard UInt64(box.written) == header.new_size else { fatalError("fcpatch: wrote \(box.written) bytes, header says \(header.new_size)") }
    case FCPATCH_E_BAD_HEADER.rawValue, FCPATCH_E_UNSUPPORTED.rawValue, FCPATCH_E_WORKSPACE.rawValue, FCPATCH_E_TOO_LARGE.rawValue,
         FCPATCH_E_WRONG_BASE.rawValue:
        guard box.written == 0 else { fatalError("fcpatch: status \(status) after writing \(box.written) bytes") }
    case FCPATCH_E_READ.rawValue, FCPATCH_E_WRITE.rawValue:
        // The callbacks fail only for a read outside the old image or the patch: the applier
        // promised never to ask for one.
        fatalError("fcpatch: status \(status): the applier read outside its inputs")
    default:
        guard UInt64(box.written) <= maxNew else { fatalError("fcpatch: wrote \(box.written) bytes, more than allowed") }
    }
    // The Swift applier implements the same rules: it accepts exactly what the C one accepts,
    // and makes the same image (a workspace the harness capped says nothing about the patch).
    guard status != FCPATCH_E_WORKSPACE.rawValue else { return }
    var swift = [UInt8]()
    let swiftAccepts = (try? fuzzOld.withUnsafeBufferPointer { o in
        try patch.withUnsafeBufferPointer { try FirmchainDelta1.apply(old: o, patch: $0, maxNewSize: Int(maxNew)) { swift.append(contentsOf: $0) } }
    }) != nil
    guard swiftAccepts == (status == FCPATCH_OK.rawValue) else {
        fatalError("fcpatch: the C applier says \(status), the Swift applier \(swiftAccepts ? "accepts" : "refuses")")
    }
    guard !swiftAccepts || swift == box.output else { fatalError("fcpatch: the C and Swift appliers made different images") }
}

/// Runs `target` on one input: a `FirmchainError` is a rejection, anything else a finding.
func fuzzOne(_ target: FuzzTarget, _ bytes: [UInt8]) {
    do { try target.run(bytes) } catch is FirmchainError {
        // Rejected: the expected outcome for almost every input.
    } catch {
        fatalError("\(target.name): unexpected error type \(type(of: error)): \(error)")
    }
}

// The fuzz targets: one per parser of untrusted bytes (Docs/fuzzing.md). Each takes any bytes
// and must either reject them with a `FirmchainError` or accept them; a crash, a trap, a hang,
// an unexpected error type or a sanitizer report is a finding. The same functions run under
// libFuzzer (`make fuzz`, Entry.swift with -DFUZZING) and as a plain regression driver.
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

/// The old file BSDIFF40 inputs are applied to: byte i = (i * 31 + i / 7) mod 251 (the seeds
/// in Tests/Fuzz/seeds were made for it).
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

/// Runs `target` on one input: a `FirmchainError` is a rejection, anything else a finding.
func fuzzOne(_ target: FuzzTarget, _ bytes: [UInt8]) {
    do { try target.run(bytes) } catch is FirmchainError {
        // Rejected: the expected outcome for almost every input.
    } catch {
        fatalError("\(target.name): unexpected error type \(type(of: error)): \(error)")
    }
}

// swift-tools-version:6.0
//
// Firmchain — build-time tools for the firmware supply chain.
//
// Every library target below is pure: it never prints, exits, reads the wall clock or the
// environment. Time, tokens, files and progress come in through parameters or protocols.
// The `firmchain` executable is a thin command-line frontend over them.
import PackageDescription

let package = Package(
    name: "Firmchain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "firmchain", targets: ["firmchain"]),
        .library(name: "FirmchainCore", targets: ["FirmchainCore"]),
        .library(name: "SuffixArray", targets: ["SuffixArray"]),
        .library(name: "Delta", targets: ["Delta"]),
        .library(name: "Signing", targets: ["Signing"]),
        .library(name: "Repository", targets: ["Repository"]),
        .library(name: "Custody", targets: ["Custody"]),
        .library(name: "KeyLifecycle", targets: ["KeyLifecycle"]),
        .library(name: "Encryption", targets: ["Encryption"]),
        .library(name: "Verification", targets: ["Verification"]),
        .library(name: "Export", targets: ["Export"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // FirmchainCore: what every other part stands on — the error type and exit-code classes,
        // the verification vocabulary, OLPC canonical JSON (and a strict JSON reader for untrusted
        // metadata), streaming digests, atomic file writes, UTC timestamps and the progress
        // protocol. Time comes in as one `now: Date` per run, passed down by the command line.
        .target(
            name: "FirmchainCore",
            dependencies: ["CSystem", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // CSystem: the one Linux system call Swift's Glibc module lacks (renameat2 with
        // RENAME_EXCHANGE), so a staged release replaces the published one in one step; only
        // FirmchainCore's DirectoryStage_system.swift imports it.
        .target(name: "CSystem"),
        // SuffixArray: suffix-array construction over bytes (SA-IS, pure Swift, 32-bit indices)
        // and its linear-time checker. The hot core of delta generation; no I/O, no C.
        .target(name: "SuffixArray", dependencies: ["FirmchainCore"]),
        // CBZip2: the system libbz2, used for the three bzip2 streams of a BSDIFF40 patch.
        .systemLibrary(name: "CBZip2", pkgConfig: nil, providers: [.apt(["libbz2-dev"])]),
        // CLZMA: the system liblzma (liblzma-dev), for the raw LZMA2 sections of a firmchain1
        // patch (Docs/formats/FIRMCHAIN1.md §4); only Delta's *_lzma.swift files import it.
        .systemLibrary(name: "CLZMA", pkgConfig: nil, providers: [.apt(["liblzma-dev"])]),
        // Delta: bsdiff alignment over the suffix array (segments), and two patch formats, each
        // a separate writer and bounds-checked streaming reader: BSDIFF40, so stock bspatch
        // applies it, and firmchain1 (LZMA2 sections, the images' digests inside).
        .target(
            name: "Delta",
            dependencies: ["SuffixArray", "CBZip2", "CLZMA", "FirmchainCore"]
        ),
        // CFirmchainPatch: the device-side firmchain1 applier (Docs/formats/FIRMCHAIN1.md) in portable
        // C99 with its own LZMA2 decoder, streaming from one caller-given workspace with no heap and
        // no library. Firmware projects vendor its five files; here only firmchain-fuzz imports it,
        // and CApplierBuildTests compiles it (with cli/, the `fcpatch` driver) under cc and sanitizers.
        .target(name: "CFirmchainPatch", exclude: ["cli"]),
        // CPKCS11: the standard PKCS#11 header (from libp11-kit-dev) and a few C helpers
        // for dlopen and the function list; only files named *_pkcs11.swift import it.
        .target(
            name: "CPKCS11",
            cSettings: [.unsafeFlags(["-I/usr/include/p11-kit-1"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // Signing: the `Signer` protocol, software keys (PEM, PKCS#8, encrypted PKCS#8) and
        // PKCS#11 keys named by RFC 7512 URIs. Returns raw signature bytes; envelopes
        // (TUF, DSSE, COSE, CMS) are built elsewhere. Its DER (SPKI, PKCS#8, PBES2, ECDSA-Sig-Value,
        // CKA_EC_PARAMS/CKA_EC_POINT) is read and written through swift-asn1.
        .target(
            name: "Signing",
            dependencies: [
                "FirmchainCore", "CPKCS11",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // COpenSSL: the system OpenSSL 3 (libssl-dev) with a few C helpers for streaming AES-GCM
        // and CMS; only files named *_openssl.swift import it.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("crypto")]),
        // Encryption: payloads encrypted once for many recipients — COSE_Encrypt (SUIT
        // firmware-encryption profile) with a strict bounded CBOR reader, ECDH-ES+AES-KW and AES-KW
        // recipients, streaming AES-GCM in constant memory, and a CMS AuthEnvelopedData export.
        .target(
            name: "Encryption",
            dependencies: ["FirmchainCore", "Signing", "COpenSSL", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Repository: TUF 1.0 metadata (root, targets with delegations, snapshot, timestamp) as
        // immutable values with unknown fields preserved, threshold signing and verification as
        // values, the firmware fields of `custom`, and the on-disk repository layout.
        .target(
            name: "Repository",
            dependencies: ["FirmchainCore", "Signing"]
        ),
        // ReleasePolicy: policy files (`Policies/*.yml`) read into typed values, and the bounded,
        // line-aware YAML reader pipeline files share; errors name file, line and key.
        .target(
            name: "ReleasePolicy",
            dependencies: ["FirmchainCore", "Signing", "Repository", .product(name: "Yams", package: "Yams")]
        ),
        // Release: the release directory `OUT/` (DESIGN: repository/, custody/, keys/, report/)
        // and the one place its layout, key files and provenance are written.
        .target(
            name: "Release",
            dependencies: ["FirmchainCore", "Signing", "Repository", "Custody"]
        ),
        // KeyLifecycle: key ceremonies — rotation, revocation and overlap-window proposals that
        // officers approve one at a time, each on their own machine; apply publishes only when the
        // thresholds of the old and the new root hold, and records every action in the ledger.
        .target(
            name: "KeyLifecycle",
            dependencies: ["FirmchainCore", "Signing", "Repository", "Custody", "Release"]
        ),
        // Pipeline: pipeline files and steps as typed units that declare what they consume and
        // produce; the runner checks their order, hashes materials and products, records every
        // link, and compiles the in-toto layout from the pipeline's own steps.
        .target(
            name: "Pipeline",
            dependencies: ["FirmchainCore", "Signing", "Repository", "Delta", "Custody", "Release", "ReleasePolicy", "Encryption", "Export",
                           "Verification", .product(name: "Yams", package: "Yams")]
        ),
        // Custody: chain-of-custody evidence — in-toto links in DSSE envelopes signed through
        // `Signer`, the owner-signed layout compiled from a custody policy, SLSA Provenance v1
        // statements, the flock-protected hash-chained ledger, and verifiers that return values.
        // (Keyids come from Signing's TUFKey: in-toto and TUF compute them the same way.)
        .target(
            name: "Custody",
            dependencies: ["FirmchainCore", "Signing"]
        ),
        // Verification: `ReleaseVerifier`, the one check of a whole release against trust given
        // from outside it (trusted root, owner keys, policy, previous state), composing the TUF,
        // revocation and custody verifiers with the release-level checks (unlisted files,
        // firmware fields, deltas reproduced, custody products, policy) into one report.
        .target(
            name: "Verification",
            dependencies: ["FirmchainCore", "Signing", "Repository", "Custody", "Release", "ReleasePolicy", "Delta", "Encryption", "Export"]
        ),
        // Export: distributor containers from a verified release — Mender artifact v3, SWUpdate
        // .swu and RAUC bundles — with CMS SignedData and X.509 certificates built by
        // swift-certificates around signatures made by any `Signer` (the HSM signs; the envelope
        // is built here), deterministic tar/cpio writers and the dm-verity hash tree.
        .target(
            name: "Export",
            dependencies: ["FirmchainCore", "Signing", "Repository", "Release",
                           .product(name: "X509", package: "swift-certificates"),
                           .product(name: "SwiftASN1", package: "swift-asn1"),
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The command-line frontend: argument parsing, output (human or --json), exit codes,
        // logging and terminal progress. All logic lives in the libraries above.
        .executableTarget(
            name: "firmchain",
            dependencies: [
                "FirmchainCore", "Delta", "SuffixArray", "Signing", "Repository", "Pipeline", "Custody", "Release", "ReleasePolicy",
                "KeyLifecycle", "Encryption", "Verification", "Export", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["FirmchainCore"], path: "Tests/Support"),
        .testTarget(name: "FirmchainCoreTests", dependencies: ["FirmchainCore", "Export", "SuffixArray", "Delta", "Signing", "Repository", "Custody", "ReleasePolicy", "KeyLifecycle", "Encryption", "TestSupport"]),
        .testTarget(name: "KeyLifecycleTests", dependencies: ["KeyLifecycle", "Pipeline", "Release", "Repository", "Custody", "Signing", "FirmchainCore", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "ReleasePolicy", "Release", "Repository", "Custody", "Signing", "FirmchainCore", "Encryption", "Delta", "KeyLifecycle", "TestSupport"]),
        // VerificationTests: the release verifier on releases built by the real pipeline runner, and
        // the tamper suite (hundreds of mutations, each refused with its expected check id).
        .testTarget(name: "VerificationTests", dependencies: ["Verification", "Pipeline", "ReleasePolicy", "Release", "Repository", "Custody",
                                                              "Delta", "Encryption", "Signing", "FirmchainCore", "TestSupport"]),
        .testTarget(name: "RepositoryTests", dependencies: ["Repository", "Signing", "FirmchainCore", "TestSupport"]),
        // A child process for the kill-during-atomic-write test.
        .executableTarget(name: "atomic-write-probe", dependencies: ["FirmchainCore"], path: "Tests/AtomicWriteProbe"),
        // SigningTests: software keys and SoftHSM tokens in temporary directories, checked by
        // openssl; the PKCS#11 error paths SoftHSM cannot produce go through a fake function layer.
        // EncryptionTests: CBOR and COSE against pycose, CMS against openssl cms, SoftHSM ECDH.
        .testTarget(name: "EncryptionTests", dependencies: ["Encryption", "Signing", "FirmchainCore", "TestSupport"]),
        // ExportTests: containers checked by the stock validators (mender-artifact, swupdate, rauc)
        // and CMS/certificates by openssl, with software keys and SoftHSM keys.
        .testTarget(name: "ExportTests", dependencies: ["Export", "Verification", "Pipeline", "Release", "Repository", "Signing", "FirmchainCore", "TestSupport",
                                                        .product(name: "X509", package: "swift-certificates"),
                                                        .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "SigningTests", dependencies: ["Signing", "FirmchainCore", "TestSupport",
                                                         .product(name: "SwiftASN1", package: "swift-asn1")]),
        .testTarget(name: "SuffixArrayTests", dependencies: ["SuffixArray", "TestSupport"]),
        // sa-bench: times SuffixArray.build on a file and checks the result (Benchmarks/suffix-array/run.sh).
        .executableTarget(
            name: "sa-bench", dependencies: ["SuffixArray"], path: "Benchmarks/suffix-array/SwiftDriver"),
        // scan-bench: times the suffix sort and the alignment scan of a pair apart (Benchmarks/delta).
        .executableTarget(
            name: "scan-bench", dependencies: ["Delta", "SuffixArray"], path: "Benchmarks/delta/ScanDriver"),
        // firmchain-fuzz: one fuzz target per parser of untrusted bytes (Docs/fuzzing.md). Built with
        // `--sanitize fuzzer,address -Xswiftc -DFUZZING` by `make fuzz` it is a libFuzzer binary; built here
        // it replays files through a target (seeds and findings as regression inputs).
        .executableTarget(
            name: "firmchain-fuzz",
            dependencies: ["FirmchainCore", "Delta", "Signing", "Repository", "Custody", "ReleasePolicy", "Pipeline", "Encryption",
                           "Verification", "CFirmchainPatch"],
            path: "Tests/Fuzz/Targets"),
        // bz2-bench: times BSDIFF40.write on a diff-like block serially and on all cores, and
        // checks the patches are byte-identical (Benchmarks/bzip2/SwiftDriver).
        .executableTarget(name: "bz2-bench", dependencies: ["Delta"], path: "Benchmarks/bzip2/SwiftDriver"),
        // encrypt-bench: times the streaming AES-GCM engine and the SHA-256 of the encryption
        // pipeline in memory, beside `openssl speed` (Benchmarks/encrypt/run.sh).
        .executableTarget(name: "encrypt-bench", dependencies: ["Encryption", "Signing", "FirmchainCore"], path: "Benchmarks/encrypt/SwiftDriver"),
        // CustodyTests: releases built with the real commands and checked by in-toto-verify,
        // securesystemslib and Firmchain's verifier; the ledger under concurrent and killed writers.
        .testTarget(name: "CustodyTests", dependencies: ["Custody", "Repository", "Signing", "FirmchainCore", "TestSupport"]),
        // DeltaTests: BSDIFF40 round trips, interop with bsdiff/bspatch, hostile patches; Resources/firmchain1
        // holds the C applier's test patches (CApplierBuildTests builds CFirmchainPatch with cc, not SwiftPM).
        .testTarget(name: "DeltaTests", dependencies: ["Delta", "SuffixArray", "FirmchainCore", "TestSupport"],
                    exclude: ["Fixtures", "Resources"]),
    ]
)

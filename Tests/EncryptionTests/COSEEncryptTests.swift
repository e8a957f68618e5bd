import Encryption
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

/// A plaintext, two device keys, a group key, and a payload encrypted for the first device and
/// the group, in a temporary directory.
struct EncryptedFixture {
    let dir: TemporaryDirectory
    let plaintext: [UInt8]
    let deviceA: SoftwareKeyAgreement
    let deviceB: SoftwareKeyAgreement
    let group: KeyEncryptionKey
    let descriptor: EncryptionDescriptor
    var ciphertextPath: String { dir.file("fw.bin") }
    var structurePath: String { dir.file("fw.bin.cose") }
    var outputPath: String { dir.file("out/fw.bin") }

    init(length: Int = 200_000, chunkSize: Int = 1 << 16, content: ContentAlgorithm = .a256gcm) throws {
        dir = try TemporaryDirectory("firmchain-enc")
        var rng = SeededGenerator(seed: UInt64(length))
        plaintext = rng.bytes(length)
        try FileIO.makeDirectories(dir.file("in"))
        try FileIO.makeDirectories(dir.file("out"))
        try AtomicFile.write(plaintext, to: dir.file("in/fw.bin"))
        deviceA = try SoftwareKeyAgreement(generatingDescription: "device A")
        deviceB = try SoftwareKeyAgreement(generatingDescription: "device B")
        group = try KeyEncryptionKey(bytes: rng.bytes(32), keyID: Array("fleet-eu".utf8))
        let encryptor = try Encryptor(recipients: [.publicKey(deviceA.publicKey), .keyEncryptionKey(group)],
                                      options: EncryptionOptions(contentAlgorithm: content, chunkSize: chunkSize))
        descriptor = try encryptor.encrypt(file: dir.file("in/fw.bin"), into: dir.path)
    }

    func decrypt(with key: DecryptionKey) throws -> DecryptionResult {
        try Decryptor.decrypt(structure: FileIO.read(structurePath), ciphertext: ciphertextPath, key: key, to: outputPath)
    }

    /// Whether the output directory is empty: no plaintext, no temporary file.
    var outputDirectoryIsEmpty: Bool { (try? FileManager.default.contentsOfDirectory(atPath: dir.file("out")))?.isEmpty ?? false }
}

@Suite("COSE_Encrypt")
struct COSEEncryptTests {
    @Test("a payload encrypted once opens with the device key and with the group key alike")
    func roundTripEachRecipient() throws {
        let f = try EncryptedFixture()
        for key in [DecryptionKey.agreement(f.deviceA), .keyEncryptionKey(f.group)] {
            let result = try f.decrypt(with: key)
            #expect(try FileIO.read(f.outputPath) == f.plaintext)
            #expect(result.plaintext == f.descriptor.plaintext)
        }
        #expect(f.descriptor.plaintext == FileDigest(sha256: DigestCalculator.sha256Hex(f.plaintext), length: Int64(f.plaintext.count)))
        let cipher = try FileIO.read(f.ciphertextPath)
        #expect(cipher.count == f.plaintext.count + 16)
        #expect(f.descriptor.ciphertext.sha256 == DigestCalculator.sha256Hex(cipher))
        #expect(f.descriptor.recipients.map(\.algorithm) == ["ECDH-ES+A256KW", "A256KW"])
        #expect(f.descriptor.recipients[1].keyID == Hex.encode(Array("fleet-eu".utf8)))
    }

    @Test("the structure is a tagged COSE_Encrypt with a nil ciphertext, the IV unprotected and A256GCM protected")
    func structureShape() throws {
        let f = try EncryptedFixture(length: 10)
        let bytes = try FileIO.read(f.structurePath)
        #expect(Array(bytes.prefix(2)) == [0xD8, 0x60])
        let s = try COSEEncrypt(decoding: bytes)
        #expect(s.ciphertext == nil)
        #expect(s.protectedHeader == [0xA1, 0x01, 0x03])
        #expect(s.iv.count == 12)
        #expect(s.recipients.count == 2)
        #expect(s.recipients[1].protectedHeader.isEmpty)
        #expect(s.encoded == bytes)
        #expect(bytes.count < 400, "two recipients fit a microcontroller's header buffer")
    }

    @Test("AES-128-GCM content and an A128KW group key round trip")
    func aes128() throws {
        let dir = try TemporaryDirectory("firmchain-enc")
        try AtomicFile.write(Array("hello fleet".utf8), to: dir.file("p"))
        let kek = try KeyEncryptionKey(bytes: [UInt8](repeating: 7, count: 16), keyID: [1])
        let device = try SoftwareKeyAgreement()
        let d = try Encryptor(recipients: [.keyEncryptionKey(kek), .publicKey(device.publicKey, keyWrap: .a128kw)],
                              options: EncryptionOptions(contentAlgorithm: .a128gcm))
            .encrypt(file: dir.file("p"), ciphertextTo: dir.file("c"), structureTo: dir.file("c.cose"))
        #expect(d.contentAlgorithm == .a128gcm)
        #expect(d.recipients.map(\.algorithm) == ["A128KW", "ECDH-ES+A128KW"])
        for key in [DecryptionKey.keyEncryptionKey(kek), .agreement(device)] {
            _ = try Decryptor.decrypt(structure: FileIO.read(dir.file("c.cose")), ciphertext: dir.file("c"), key: key, to: dir.file("o"))
            #expect(try FileIO.read(dir.file("o")) == Array("hello fleet".utf8))
        }
    }

    @Test("an empty file and a file of many chunks both round trip", arguments: [0, 1, 65_536, 3 * 65_536 + 17])
    func chunkBoundaries(length: Int) throws {
        let f = try EncryptedFixture(length: length)
        _ = try f.decrypt(with: .agreement(f.deviceA))
        #expect(try FileIO.read(f.outputPath) == f.plaintext)
    }

    @Test("decrypting in 4 KiB chunks, many hand-overs between the pipeline's threads, gives back the plaintext and the digests the encryption recorded; a flipped byte in a middle chunk still leaves nothing", arguments: [0, 4095, 4096, 4097, 200_000])
    func smallChunks(length: Int) throws {
        let f = try EncryptedFixture(length: length, chunkSize: 4096)
        let options = EncryptionOptions(chunkSize: 4096)
        func decrypt() throws -> DecryptionResult {
            try Decryptor.decrypt(structure: FileIO.read(f.structurePath), ciphertext: f.ciphertextPath, key: .keyEncryptionKey(f.group),
                                  to: f.outputPath, options: options)
        }
        let original = try FileIO.read(f.ciphertextPath)
        var flipped = original
        flipped[flipped.count / 2] ^= 0x80
        try AtomicFile.write(flipped, to: f.ciphertextPath)
        #expect(throws: FirmchainError.self) { try decrypt() }
        #expect(f.outputDirectoryIsEmpty)

        try AtomicFile.write(original, to: f.ciphertextPath)
        let result = try decrypt()
        #expect(try FileIO.read(f.outputPath) == f.plaintext)
        #expect(result.plaintext == f.descriptor.plaintext)
        #expect(f.descriptor.plaintext == FileDigest(sha256: DigestCalculator.sha256Hex(f.plaintext), length: Int64(length)))
        #expect(f.descriptor.ciphertext == FileDigest(sha256: DigestCalculator.sha256Hex(original), length: Int64(length + 16)))
    }

    @Test("a plaintext digest the caller already has is recorded as given, without hashing again; one that is not 64 lower-case hex digits is refused and nothing is written")
    func callerHashedPlaintext() throws {
        let f = try EncryptedFixture()
        let encryptor = try Encryptor(recipients: [.keyEncryptionKey(f.group)])
        let digest = DigestCalculator.sha256Hex(f.plaintext)
        try FileIO.makeDirectories(f.dir.file("given"))
        let d = try encryptor.encrypt(file: f.dir.file("in/fw.bin"), ciphertextTo: f.dir.file("given/fw.bin"),
                                      structureTo: f.dir.file("given/fw.bin.cose"), plaintextSHA256: digest)
        #expect(d.plaintext == f.descriptor.plaintext)
        #expect(d.ciphertext == FileDigest(sha256: DigestCalculator.sha256Hex(try FileIO.read(f.dir.file("given/fw.bin"))), length: Int64(f.plaintext.count + 16)))
        let result = try Decryptor.decrypt(structure: FileIO.read(f.dir.file("given/fw.bin.cose")), ciphertext: f.dir.file("given/fw.bin"),
                                           key: .keyEncryptionKey(f.group), to: f.outputPath)
        #expect(try FileIO.read(f.outputPath) == f.plaintext)
        #expect(result.plaintext.sha256 == digest)

        for bad in [digest.uppercased(), String(digest.dropLast()), "sha256:" + digest.dropFirst(7)] {
            let error = #expect(throws: FirmchainError.self) {
                try encryptor.encrypt(file: f.dir.file("in/fw.bin"), ciphertextTo: f.dir.file("bad/fw.bin"),
                                      structureTo: f.dir.file("bad/fw.bin.cose"), plaintextSHA256: bad)
            }
            #expect(error?.code == .usageInvalid)
        }
        #expect(!FileIO.exists(f.dir.file("bad")))
    }

    @Test("a recipient added later opens the same ciphertext, which is not rewritten")
    func addRecipientLater() throws {
        let f = try EncryptedFixture()
        let before = try FileIO.read(f.ciphertextPath)
        let d = try Encryptor.addRecipients([.publicKey(f.deviceB.publicKey)], ciphertext: f.ciphertextPath,
                                            structure: f.structurePath, unlockingWith: .keyEncryptionKey(f.group))
        #expect(try FileIO.read(f.ciphertextPath) == before)
        #expect(d.recipients.count == 3)
        #expect(d.plaintext == f.descriptor.plaintext)
        _ = try f.decrypt(with: .agreement(f.deviceB))
        #expect(try FileIO.read(f.outputPath) == f.plaintext)
    }

    @Test("adding a recipient needs a key that unwraps the content key; the structure is left alone otherwise")
    func addRecipientNeedsKey() throws {
        let f = try EncryptedFixture()
        let before = try FileIO.read(f.structurePath)
        let error = #expect(throws: FirmchainError.self) {
            try Encryptor.addRecipients([.publicKey(f.deviceB.publicKey)], ciphertext: f.ciphertextPath,
                                        structure: f.structurePath, unlockingWith: .agreement(f.deviceB))
        }
        #expect(error?.code == .encryptionNoRecipient)
        #expect(try FileIO.read(f.structurePath) == before)
    }

    @Test("a changed byte anywhere in the ciphertext or tag is refused and leaves no plaintext", arguments: [0, 1000, 199_999, 200_000, 200_015])
    func flippedByte(offset: Int) throws {
        let f = try EncryptedFixture()
        var c = try FileIO.read(f.ciphertextPath)
        c[offset] ^= 0x01
        try AtomicFile.write(c, to: f.ciphertextPath)
        let error = #expect(throws: FirmchainError.self) { try f.decrypt(with: .agreement(f.deviceA)) }
        #expect(error?.code == .encryptionAuthenticationFailed)
        #expect(error?.category.exitCode == 1)
        #expect(f.outputDirectoryIsEmpty)
    }

    @Test("a truncated ciphertext is refused and leaves no plaintext", arguments: [0, 10, 100_000, 200_015])
    func truncated(keep: Int) throws {
        let f = try EncryptedFixture()
        let c = try FileIO.read(f.ciphertextPath)
        try AtomicFile.write(c.prefix(keep), to: f.ciphertextPath)
        let error = #expect(throws: FirmchainError.self) { try f.decrypt(with: .agreement(f.deviceA)) }
        #expect(error?.code == (keep < 16 ? .encryptionTruncated : .encryptionAuthenticationFailed))
        #expect(f.outputDirectoryIsEmpty)
    }

    @Test("a key that is not a recipient is refused by name, and leaves no plaintext")
    func wrongKey() throws {
        let f = try EncryptedFixture()
        let otherGroup = try KeyEncryptionKey(bytes: [UInt8](repeating: 1, count: 32), keyID: Array("fleet-eu".utf8))
        for key in [DecryptionKey.agreement(f.deviceB), .keyEncryptionKey(otherGroup)] {
            let error = #expect(throws: FirmchainError.self) { try f.decrypt(with: key) }
            #expect(error?.code == .encryptionNoRecipient)
            #expect(error?.reason.contains("unwraps none of the 2 recipient(s)") == true)
        }
        #expect(f.outputDirectoryIsEmpty)
    }

    @Test("a recipient edited to point at another key is refused: the other key's kid, its ephemeral key, or an unprotected algorithm change")
    func editedRecipient() throws {
        let f = try EncryptedFixture()
        let s = try COSEEncrypt(decoding: FileIO.read(f.structurePath))
        guard case .tagged(_, .array(var items)) = try CBORDecoder.decode(s.encoded), var rs = items[3].arrayValue,
              case .array(var r0) = rs[0], var u0 = r0[1].mapValue else { Issue.record("unexpected shape"); return }
        // Device B's kid on device A's recipient: B tries it first and the unwrap fails.
        let kidIndex = u0.firstIndex { $0.key == .int(4) }!
        u0[kidIndex] = CBORMapEntry(.int(4), .bytes(EncryptionRecipient.defaultKeyID(for: f.deviceB.publicKey)))
        // And a fresh ephemeral key (a point on the curve, not the one the wrap was made with).
        let fresh = try SoftwareKeyAgreement()
        let spki = fresh.publicKey.spkiDER
        let point = Array(spki.suffix(65))
        let ekIndex = u0.firstIndex { $0.key == .int(-1) }!
        u0[ekIndex] = CBORMapEntry(.int(-1), .map([CBORMapEntry(.int(1), .int(2)), CBORMapEntry(.int(-1), .int(1)),
                                                   CBORMapEntry(.int(-2), .bytes(Array(point[1..<33]))), CBORMapEntry(.int(-3), .bytes(Array(point[33..<65])))]))
        r0[1] = .map(u0)
        rs[0] = .array(r0)
        items[3] = .array(rs)
        try AtomicFile.write(CBOR.tagged(96, .array(items)).encoded, to: f.structurePath)
        for key in [DecryptionKey.agreement(f.deviceA), .agreement(f.deviceB)] {
            let error = #expect(throws: FirmchainError.self) { try f.decrypt(with: key) }
            #expect(error?.code == .encryptionNoRecipient)
        }
        #expect(f.outputDirectoryIsEmpty)
        // The group recipient is untouched and still opens the payload.
        _ = try f.decrypt(with: .keyEncryptionKey(f.group))
    }

    @Test("a changed content header (another IV, or the protected algorithm) fails the tag")
    func editedContentHeader() throws {
        let f = try EncryptedFixture()
        let original = try FileIO.read(f.structurePath)
        guard case .tagged(_, .array(let items)) = try CBORDecoder.decode(original) else { return }
        var withIV = items
        withIV[1] = .map([CBORMapEntry(.int(5), .bytes([UInt8](repeating: 0, count: 12)))])
        try AtomicFile.write(CBOR.tagged(96, .array(withIV)).encoded, to: f.structurePath)
        let error = #expect(throws: FirmchainError.self) { try f.decrypt(with: .keyEncryptionKey(f.group)) }
        #expect(error?.code == .encryptionAuthenticationFailed)
        #expect(f.outputDirectoryIsEmpty)
    }

    @Test("300 random mutations of the structure are each refused or, when they leave the cryptography intact, decrypt correctly")
    func mutatedStructures() throws {
        let f = try EncryptedFixture(length: 1000)
        let original = try FileIO.read(f.structurePath)
        var rng = SeededGenerator(seed: 96)
        for _ in 0..<300 {
            var m = original
            switch rng.next() % 3 {
            case 0: m[Int(rng.next() % UInt64(m.count))] ^= UInt8(1 << (rng.next() % 8))
            case 1: m = Array(m.prefix(Int(rng.next() % UInt64(m.count))))
            default: m += rng.bytes(1 + Int(rng.next() % 4))
            }
            do {
                _ = try Decryptor.decrypt(structure: m, ciphertext: f.ciphertextPath, key: .keyEncryptionKey(f.group), to: f.outputPath)
                #expect(try FileIO.read(f.outputPath) == f.plaintext)
                try FileManager.default.removeItem(atPath: f.outputPath)
            } catch let e as FirmchainError {
                #expect(e.category == .malformedInput || e.category == .verificationFailed || e.category == .key, "\(e)")
            }
            #expect(f.outputDirectoryIsEmpty)
        }
    }

    @Test("structures outside the profile are refused with a reason", arguments: [
        ("d8618440a0f680", "tag is 97"),
        ("d8608443a10103a0f680", "12-byte IV"),
        ("d8608443a10107a1054c000000000000000000000000f680", "content algorithm 7"),
        ("d8608443a10103a1054c000000000000000000000000f6818340a040", "no algorithm"),
        ("d8608443a10103a1054c000000000000000000000000f6818343a10124a040", "protected header must be empty"),
        ("d8608443a10103a2054c00000000000000000000000002a0f681834040a0", "critical"),
        ("d8608443a10103a20101054c000000000000000000000000f680", "both the protected and unprotected"),
    ])
    func outsideProfile(hex: String, reason: String) throws {
        let error = #expect(throws: FirmchainError.self) { try COSEEncrypt(decoding: Hex.decode(hex)!) }
        #expect(error?.reason.contains(reason) == true, "\(error?.reason ?? "")")
        // An algorithm outside the profile has a code of its own; every other shape is cose-malformed.
        #expect(error?.code == (reason.contains("algorithm 7") ? .encryptionAlgorithmUnsupported : .encryptionCOSEMalformed), "\(String(describing: error))")
        #expect(error?.category.exitCode == 65)
    }

    @Test("a plaintext larger than AES-GCM allows under one key and IV is encryption.too-large before a byte is read, and nothing is written")
    func plaintextTooLarge() throws {
        let dir = try TemporaryDirectory("firmchain-enc")
        let plaintext = dir.file("huge.bin")
        // Sparse: one byte more than 2^36 - 32 costs no disk.
        try #require(FileManager.default.createFile(atPath: plaintext, contents: nil))
        let h = try #require(FileHandle(forWritingAtPath: plaintext))
        try h.truncate(atOffset: UInt64(Encryptor.maxPlaintextLength) + 1)
        try h.close()
        let encryptor = try Encryptor(recipients: [.keyEncryptionKey(try KeyEncryptionKey(bytes: [UInt8](repeating: 2, count: 32), keyID: [1]))])
        try FileIO.makeDirectories(dir.file("out"))
        let error = #expect(throws: FirmchainError.self) { try encryptor.encrypt(file: plaintext, into: dir.file("out")) }
        #expect(error?.code == .encryptionTooLarge && error?.path == plaintext && error?.category.exitCode == 65, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("out")).isEmpty)
    }

    @Test("an encryption that cannot finish leaves neither ciphertext nor structure behind")
    func failedEncryptionLeavesNothing() throws {
        let dir = try TemporaryDirectory("firmchain-enc")
        try AtomicFile.write([UInt8](repeating: 1, count: 5000), to: dir.file("p"))
        let kek = try KeyEncryptionKey(bytes: [UInt8](repeating: 2, count: 32), keyID: [1])
        let encryptor = try Encryptor(recipients: [.keyEncryptionKey(kek)])
        // The structure's directory does not exist: the ciphertext was complete but must not stay.
        let e1 = #expect(throws: FirmchainError.self) {
            try encryptor.encrypt(file: dir.file("p"), ciphertextTo: dir.file("c"), structureTo: dir.file("missing/c.cose"))
        }
        #expect(e1?.code == .ioCannotCreate)
        // A missing plaintext.
        let e2 = #expect(throws: FirmchainError.self) { try encryptor.encrypt(file: dir.file("absent"), into: dir.path) }
        #expect(e2?.code == .ioNotFound)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["p"])
    }

    @Test("key-encryption key files: raw bytes or hex, the kid from the file name; anything else refused")
    func kekFiles() throws {
        let dir = try TemporaryDirectory("firmchain-kek")
        try AtomicFile.write([UInt8](repeating: 0xAB, count: 32), to: dir.file("fleet-a.kek"))
        try AtomicFile.write(Array((String(repeating: "ab", count: 16) + "\n").utf8), to: dir.file("fleet-b.hex"))
        try AtomicFile.write([UInt8](repeating: 1, count: 24), to: dir.file("bad.kek"))
        let a = try KeyEncryptionKey(file: dir.file("fleet-a.kek"))
        #expect(a.algorithm == .a256kw && a.keyID == Array("fleet-a".utf8))
        let b = try KeyEncryptionKey(file: dir.file("fleet-b.hex"))
        #expect(b.algorithm == .a128kw && b.keyID == Array("fleet-b".utf8))
        let error = #expect(throws: FirmchainError.self) { try KeyEncryptionKey(file: dir.file("bad.kek")) }
        #expect(error?.code == .encryptionKEKMalformed)
    }
}

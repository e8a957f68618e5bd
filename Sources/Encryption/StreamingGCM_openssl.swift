import COpenSSL
import FirmchainCore
import Signing

/// AES-GCM over a stream through OpenSSL's EVP interface (swift-crypto's AES.GCM is one-shot):
/// a multi-GiB file passes through a fixed buffer. One instance per message; not thread-safe.
///
/// This is the engine `Encryptor` and `Decryptor` run every payload through. It is visible to
/// this package only (`package`, not `public`), so a benchmark can time it alone
/// (Benchmarks/encrypt) while users go through `Encryptor`, which draws a fresh key and IV for
/// every message: a (key, IV) pair used twice breaks AES-GCM's confidentiality and authenticity
/// (NIST SP 800-38D §8).
package final class StreamingGCM {
    private let ctx: OpaquePointer
    private let encrypting: Bool
    private var finished = false

    /// Starts encryption or decryption with `key` (16 or 32 bytes) and a 12-byte `iv`, after
    /// authenticating `aad`. The caller never uses one `iv` twice under one key.
    package init(encrypting: Bool, key: Secret, iv: [UInt8], aad: [UInt8]) throws {
        guard let c = EVP_CIPHER_CTX_new() else { throw Self.failure("EVP_CIPHER_CTX_new") }
        ctx = c
        self.encrypting = encrypting
        let ok = key.withBytes { k in
            iv.withUnsafeBufferPointer { ivb in
                fc_gcm_init(ctx, encrypting ? 1 : 0, k.bindMemory(to: UInt8.self).baseAddress, k.count, ivb.baseAddress, ivb.count)
            }
        }
        guard ok == 1 else { throw Self.failure("AES-GCM setup") }
        guard aad.withUnsafeBufferPointer({ fc_gcm_aad(ctx, $0.baseAddress, $0.count) }) == 1 else { throw Self.failure("AES-GCM AAD") }
    }

    /// Transforms `input` into the first `input.count` bytes of `output` (the same memory is
    /// allowed: chunks are encrypted in place).
    package func update(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        precondition(output.count >= input.count && !finished)
        guard input.count > 0 else { return }
        let ok = fc_gcm_update(ctx, output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                               input.baseAddress!.assumingMemoryBound(to: UInt8.self), input.count)
        guard ok == 1 else { throw Self.failure("AES-GCM update") }
    }

    /// Encryption: the 16-byte tag.
    package func finishEncrypting() throws -> [UInt8] {
        precondition(encrypting && !finished)
        finished = true
        var tag = [UInt8](repeating: 0, count: 16)
        guard tag.withUnsafeMutableBufferPointer({ fc_gcm_finish_encrypt(ctx, $0.baseAddress) }) == 1 else {
            throw Self.failure("AES-GCM final")
        }
        return tag
    }

    /// Decryption: whether `tag` verifies.
    package func finishDecrypting(tag: [UInt8]) -> Bool {
        precondition(!encrypting && !finished && tag.count == 16)
        finished = true
        let ok = tag.withUnsafeBufferPointer { fc_gcm_finish_decrypt(ctx, $0.baseAddress) } == 1
        ERR_clear_error()
        return ok
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    static func failure(_ step: String) -> FirmchainError {
        FirmchainError(.encryptionBackendFailed, "OpenSSL failed at \(step): \(openSSLErrors())")
    }
}

/// The OpenSSL error queue as one line (and cleared).
func openSSLErrors() -> String {
    var parts = [String]()
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        parts.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return parts.isEmpty ? "no detail" : parts.joined(separator: "; ")
}

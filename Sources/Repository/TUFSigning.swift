import FirmchainCore
import Signing

/// Which keys signed a piece of metadata, as a value (STYLE.md §4): the verifier reports it,
/// it does not throw for a bad signature.
public struct ThresholdResult: Sendable, Hashable {
    /// Keyids of the role whose signature is present and valid.
    public var valid: [String]
    /// Keyids of the role with a signature that does not verify.
    public var invalid: [String]
    /// Keyids of the role that did not sign.
    public var missing: [String]
    /// The role's threshold.
    public var threshold: Int

    /// Whether at least `threshold` distinct keys of the role signed validly (TUF spec §5.3.4).
    public var isMet: Bool { valid.count >= threshold }
}

extension Metadata {
    /// Checks the signatures against `role`'s keys from `keys` (TUF spec §5.3.4 / §5.4.2).
    /// Signatures by keys outside the role are ignored; each key counts once.
    public func verify(role: RoleKeys, keys: [String: TUFKey]) -> ThresholdResult {
        let message = (try? signedBytes()) ?? []
        var valid = [String](), invalid = [String]()
        for keyid in role.keyids {
            let sigs = signatures.filter { $0.keyid == keyid }
            guard !sigs.isEmpty else { continue }
            // The keyid must be the key's real keyid: a root could otherwise alias one key twice.
            if let key = keys[keyid], key.keyid == keyid, !message.isEmpty,
               sigs.contains(where: { key.isValidSignature(hex: $0.sig, for: message) }) {
                valid.append(keyid)
            } else {
                invalid.append(keyid)
            }
        }
        let missing = role.keyids.filter { id in !signatures.contains { $0.keyid == id } }
        return ThresholdResult(valid: valid, invalid: invalid, missing: missing, threshold: role.threshold)
    }

    /// Replaces the signatures with fresh ones from `signers`, each over the canonical `signed`
    /// bytes with the algorithm its TUF scheme names.
    ///
    /// - Throws: `FirmchainError` `repo.threshold-not-met` when fewer than `role.threshold`
    ///   signers hold keys of `role`; signer errors as they come.
    public mutating func sign(with signers: [any Signer], role: RoleKeys, roleName: String) throws {
        let message = try signedBytes()
        var sigs = [TUFSignature]()
        for signer in signers {
            let key = TUFKey(signer.publicKey)
            guard role.keyids.contains(key.keyid), !sigs.contains(where: { $0.keyid == key.keyid }) else { continue }
            guard let algorithm = key.algorithm else { continue }
            let sig = try signer.sign(message, algorithm: algorithm)
            sigs.append(TUFSignature(keyid: key.keyid, sig: Hex.encode(sig)))
        }
        guard sigs.count >= role.threshold else {
            throw FirmchainError(.repoThresholdNotMet, "the \(roleName) role needs \(role.threshold) signature(s) but only \(sigs.count) of the given keys belong to it")
        }
        signatures = sigs
    }
}

import FirmchainCore
import Foundation
import Signing

extension Root {
    /// A key ring that trusts each key of this root for the top-level roles that list it
    /// (`KeyRole.tuf("root")`, …), a key in an overlap window only before the window closes
    /// (`RoleKeys.windows`), with `revocations` applied. A key listed under an id that is not
    /// its own keyid is not trusted.
    public func keyRing(revocations: [Revocation] = []) -> KeyRing {
        var ring = KeyRing()
        for role in TopLevelRole.allCases {
            let windows = roles[role].windows
            for id in roles[role].keyids {
                if let key = keys[id] { ring.add(key, roles: [.tuf(role.rawValue)], listedAs: id, validUntil: windows[id]) }
            }
        }
        for r in revocations { ring.revoke(r) }
        return ring
    }
}

extension Metadata {
    /// The signatures as the key ring takes them (a signature that is not hex counts as invalid).
    var signatureList: [(keyid: String, signature: [UInt8])] {
        signatures.map { ($0.keyid, Hex.decode($0.sig) ?? []) }
    }

    /// Checks the signatures against the members of `role`, trusted by `ring` for `keyRole` at
    /// `time` (TUF spec §5.3.4 / §5.4.2): each key counts once, signatures by keys outside the
    /// role are ignored, and a revoked key's signature does not count.
    public func verify(role: RoleKeys, as keyRole: KeyRole, ring: KeyRing, at time: Date) -> ThresholdTally {
        ring.tally(signatureList, over: (try? signedBytes()) ?? [], members: role.keyids, role: keyRole, threshold: role.threshold, at: time)
    }

    /// Adds `signer`'s signature over the canonical `signed` bytes, keeping every other
    /// signature (a ceremony collects them one officer at a time), and returns the tally so
    /// far. A signature by the same key is replaced, never duplicated.
    ///
    /// - Throws: `repo.threshold-not-met` when `signer`'s key is not a member of `role`;
    ///   signer errors as they come.
    @discardableResult
    public mutating func addSignature(by signer: any Signer, role: RoleKeys, as keyRole: KeyRole, ring: KeyRing, at time: Date) throws -> ThresholdTally {
        let key = TUFKey(signer.publicKey)
        guard role.keyids.contains(key.keyid), let algorithm = key.algorithm else {
            throw FirmchainError(.repoThresholdNotMet, "key \(key.keyid.prefix(8)) has no say in the \(keyRole) role")
        }
        let sig = try signer.sign(try signedBytes(), algorithm: algorithm)
        signatures.removeAll { $0.keyid == key.keyid }
        signatures.append(TUFSignature(keyid: key.keyid, sig: Hex.encode(sig)))
        return verify(role: role, as: keyRole, ring: ring, at: time)
    }

    /// Replaces the signatures with fresh ones from `signers`, each over the canonical `signed`
    /// bytes with the algorithm its TUF scheme names.
    ///
    /// - Throws: `repo.threshold-not-met` when fewer than `role.threshold` signers hold keys
    ///   of `role`; signer errors as they come.
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
            let given = signers.map { String(TUFKey($0.publicKey).keyid.prefix(8)) }
            throw FirmchainError(
                .repoThresholdNotMet,
                "the \(roleName) role needs \(role.threshold) signature(s) from its keys \(role.keyids.map { String($0.prefix(8)) }.joined(separator: ", ")); "
                    + "\(sigs.count) of the given keys (\(given.isEmpty ? "none" : given.joined(separator: ", "))) belong to it")
        }
        signatures = sigs
    }
}

import FirmchainCore
import Foundation
import Repository
import Signing

/// What keys a ceremony may bring in and what roots it may make (Docs/keys.md "Guards"): the
/// policy's algorithms and key age, and the one unsafe switch.
public struct KeyRules: Sendable {
    /// Signature algorithms a new key may use (nil: every one Firmchain signs with).
    public var allowedAlgorithms: Set<SignatureAlgorithm>?
    /// The smallest RSA modulus a new key may have.
    public var minimumRSABits: Int
    /// Keys listed longer than this draw a warning (nil: no limit).
    public var maximumKeyAge: TimeInterval?
    /// Allow a root whose threshold equals its key count, which one lost key makes
    /// unrecoverable (`--force-unrecoverable`).
    public var allowUnrecoverableRoot: Bool

    /// Rules from their parts; the defaults allow every algorithm, RSA from 3072 bits, no age limit.
    public init(allowedAlgorithms: Set<SignatureAlgorithm>? = nil, minimumRSABits: Int = 3072, maximumKeyAge: TimeInterval? = nil,
                allowUnrecoverableRoot: Bool = false) {
        self.allowedAlgorithms = allowedAlgorithms
        self.minimumRSABits = minimumRSABits
        self.maximumKeyAge = maximumKeyAge
        self.allowUnrecoverableRoot = allowUnrecoverableRoot
    }
}

/// A change of one role's keys (`firmchain keys rotate`).
public struct RotationRequest: Sendable {
    /// The role whose keys change.
    public var role: TopLevelRole
    /// Keys to add.
    public var add: [PublicKey]
    /// Keyids to remove.
    public var remove: [String]
    /// The new threshold (nil: unchanged).
    public var threshold: Int?
    /// When given, the removed keys stay in the role until this time (an overlap window), so
    /// devices that have not updated keep verifying; a window-close ceremony removes them.
    public var overlapUntil: Date?
    /// A renewal: the next root keeps every key and threshold and only gets a new expiry (an
    /// expiring or expired root is replaced before clients refuse it).
    public var renew: Bool

    /// A request from its parts.
    public init(role: TopLevelRole, add: [PublicKey] = [], remove: [String] = [], threshold: Int? = nil, overlapUntil: Date? = nil,
                renew: Bool = false) {
        self.role = role
        self.add = add
        self.remove = remove
        self.threshold = threshold
        self.overlapUntil = overlapUntil
        self.renew = renew
    }
}

/// How long what a ceremony makes stays valid.
public struct CeremonyExpiry: Sendable {
    /// The proposed root's validity.
    public var root: TimeInterval
    /// The proposal's own validity: after it, it can no longer be approved or applied.
    public var proposal: TimeInterval
    /// The revocation list's validity.
    public var revocations: TimeInterval

    /// A year for the root and the revocation list, a week for the proposal.
    public init(root: TimeInterval = 365 * 86_400, proposal: TimeInterval = 7 * 86_400, revocations: TimeInterval = 365 * 86_400) {
        self.root = root
        self.proposal = proposal
        self.revocations = revocations
    }
}

/// Where a proposal's approvals stand: one tally per threshold it needs, and the approvals
/// that no longer cover its bytes.
public struct CeremonyState: Sendable {
    /// One threshold the proposal must meet.
    public struct Requirement: Sendable {
        /// What must sign, in words ("root v4 by the root keys of v3").
        public var name: String
        /// The signatures that count so far.
        public var tally: ThresholdTally
    }
    /// Every threshold, in the order they are checked.
    public var requirements: [Requirement]
    /// Keyids whose approval does not verify over the proposal as it is now.
    public var invalidApprovals: [String]
    /// Keyids whose approval counts.
    public var validApprovals: [String]

    /// Whether every threshold holds and no approval is broken.
    public var isMet: Bool { invalidApprovals.isEmpty && requirements.allSatisfy(\.tally.isMet) }

    /// One line per threshold not met: how many signatures of which keys are missing.
    public var missing: [String] {
        requirements.filter { !$0.tally.isMet }.map { r in
            let need = r.tally.threshold - r.tally.valid.count
            let from = r.tally.missing + r.tally.invalid + r.tally.untrusted
            return "\(r.name): \(r.tally.valid.count) of \(r.tally.threshold), \(need) more needed"
                + (from.isEmpty ? "" : " from \(from.map { String($0.prefix(8)) }.sorted().joined(separator: ", "))")
        }
    }
}

/// The key ceremonies (Docs/keys.md): proposals that officers approve one at a time, each on
/// their own machine, and that publish only when the thresholds of the old and the new root
/// hold (TUF spec §5.3.4). Everything here is pure: the callers read and write the files.
public enum KeyCeremony {
    // MARK: Proposing

    /// A proposal that changes one role's keys or threshold in the next root.
    ///
    /// - Throws: `keys.refused-change` for a change the guards refuse (`check`).
    public static func proposeRotation(base: [UInt8], request: RotationRequest, rules: KeyRules = KeyRules(),
                                       expiry: CeremonyExpiry = CeremonyExpiry(), now: Date) throws -> (proposal: KeyProposal, warnings: [String]) {
        let current = try Metadata<Root>(bytes: base, path: "base root")
        var next = nextRoot(current.signed, expiry: expiry, now: now)
        var role = next.roles[request.role]
        var changes = [String]()
        for key in request.add {
            let k = TUFKey(key)
            guard !role.keyids.contains(k.keyid) else {
                throw refused("key \(k.keyid.prefix(8)) is already in the \(request.role.rawValue) role")
            }
            try allow(key, rules)
            role.keyids.append(k.keyid)
            next.keys[k.keyid] = next.keys[k.keyid] ?? k.added(at: now)
            changes.append("add \(describe(key)) to \(request.role.rawValue)")
        }
        for id in request.remove {
            guard role.keyids.contains(id) else { throw refused("key \(id.prefix(8)) is not in the \(request.role.rawValue) role") }
            if let until = request.overlapUntil {
                guard until > now else { throw refused("the overlap window must end after now") }
                role.windows[id] = until
                changes.append("keep key \(id.prefix(8)) in \(request.role.rawValue) until \(UTCTimestamp.string(from: until)) (overlap window), then remove it")
            } else {
                role.keyids.removeAll { $0 == id }
                role.windows[id] = nil
                changes.append("remove key \(id.prefix(8)) from \(request.role.rawValue)")
            }
        }
        if let t = request.threshold, t != role.threshold {
            changes.append("\(request.role.rawValue) threshold \(role.threshold) -> \(t)")
            role.threshold = t
        }
        if request.renew {
            changes.append("renew the root: it expires \(UTCTimestamp.string(from: next.expires)) (root v\(current.signed.version) expires \(UTCTimestamp.string(from: current.signed.expires)))")
        }
        guard !changes.isEmpty else { throw refused("the rotation changes nothing: give --add, --remove, --threshold or --renew") }
        next.roles[request.role] = role
        return try finish(kind: .rotation, role: request.role, base: base, current: current.signed, next: next, changes: changes,
                          revocations: nil, rules: rules, expiry: expiry, now: now)
    }

    /// A proposal that revokes `revocation.keyid`: the next revocation list lists it, and the
    /// next root removes it from every role (adding `replacements` and setting `threshold`
    /// in each role that loses it, for an emergency rotation in the same ceremony).
    ///
    /// - Throws: `keys.refused-change` when a role would be left below its threshold, or the
    ///   key is already revoked for the same reason.
    public static func proposeRevocation(base: [UInt8], list: RevocationList?, revocation: Revocation, replacements: [PublicKey] = [],
                                         threshold: Int? = nil, rules: KeyRules = KeyRules(), expiry: CeremonyExpiry = CeremonyExpiry(),
                                         now: Date) throws -> (proposal: KeyProposal, warnings: [String]) {
        let current = try Metadata<Root>(bytes: base, path: "base root")
        var next = nextRoot(current.signed, expiry: expiry, now: now)
        if let old = list?.revoked.first(where: { $0.keyid == revocation.keyid }), old.reason == revocation.reason {
            throw refused("key \(revocation.keyid.prefix(8)) is already revoked (\(old.reason.rawValue))")
        }
        var changes = ["revoke key \(revocation.keyid.prefix(8)) (\(revocation.reason.rawValue), from \(UTCTimestamp.string(from: revocation.time)))"]
        var affected = [TopLevelRole]()
        for r in TopLevelRole.allCases where next.roles[r].keyids.contains(revocation.keyid) {
            var role = next.roles[r]
            role.keyids.removeAll { $0 == revocation.keyid }
            role.windows[revocation.keyid] = nil
            changes.append("remove key \(revocation.keyid.prefix(8)) from \(r.rawValue)")
            for key in replacements {
                let k = TUFKey(key)
                guard !role.keyids.contains(k.keyid) else { continue }
                try allow(key, rules)
                role.keyids.append(k.keyid)
                next.keys[k.keyid] = next.keys[k.keyid] ?? k.added(at: now)
                changes.append("add \(describe(key)) to \(r.rawValue)")
            }
            if let threshold, threshold != role.threshold {
                changes.append("\(r.rawValue) threshold \(role.threshold) -> \(threshold)")
                role.threshold = threshold
            }
            next.roles[r] = role
            affected.append(r)
        }
        if affected.isEmpty, !replacements.isEmpty { throw refused("key \(revocation.keyid.prefix(8)) is in no role, so --add has nowhere to go") }
        let previous = list ?? RevocationList(common: CommonFields(version: 0, expires: now), revoked: [])
        let nextList = previous.adding(revocation, expires: now.addingTimeInterval(expiry.revocations))
        // The root pins the list, so an older signed list cannot be put back in its place.
        next.unrecognized[KeyLifecycleFields.revocations] = ["version": .int(nextList.version),
                                                             "sha256": .string(DigestCalculator.sha256Hex(try JSONEncoding.canonical(nextList.signedJSON)))]
        return try finish(kind: .revocation, role: affected.first ?? .root, base: base, current: current.signed, next: next, changes: changes,
                          revocations: Metadata(signed: nextList), rules: rules, expiry: expiry, now: now)
    }

    /// A proposal that removes every key whose overlap window has ended (in `role`, or in every role).
    ///
    /// - Throws: `keys.refused-change` when no window has ended, naming when the next one does.
    public static func proposeWindowClose(base: [UInt8], role only: TopLevelRole? = nil, rules: KeyRules = KeyRules(),
                                          expiry: CeremonyExpiry = CeremonyExpiry(), now: Date) throws -> (proposal: KeyProposal, warnings: [String]) {
        let current = try Metadata<Root>(bytes: base, path: "base root")
        var next = nextRoot(current.signed, expiry: expiry, now: now)
        var changes = [String](), first: TopLevelRole?
        var upcoming = [Date]()
        for r in TopLevelRole.allCases where only == nil || only == r {
            var role = next.roles[r]
            for (id, until) in role.windows.sorted(by: { $0.key < $1.key }) {
                guard until <= now else { upcoming.append(until); continue }
                role.keyids.removeAll { $0 == id }
                role.windows[id] = nil
                changes.append("close the overlap window of key \(id.prefix(8)) in \(r.rawValue) (ended \(UTCTimestamp.string(from: until))): remove it")
                first = first ?? r
            }
            next.roles[r] = role
        }
        guard let first else {
            throw refused(upcoming.min().map { "no overlap window has ended yet; the next ends \(UTCTimestamp.string(from: $0))" }
                            ?? "no role has an overlap window")
        }
        return try finish(kind: .windowClose, role: first, base: base, current: current.signed, next: next, changes: changes,
                          revocations: nil, rules: rules, expiry: expiry, now: now)
    }

    // MARK: Guards

    /// The guards every proposed root must pass (Docs/keys.md "Guards"), returning the
    /// warnings: each role's threshold between 1 and the keys that last past every window; a
    /// root whose threshold equals that key count refused unless `allowUnrecoverableRoot`;
    /// keys past `maximumKeyAge` warned about.
    ///
    /// - Throws: `keys.refused-change`.
    public static func check(_ root: Root, rules: KeyRules, now: Date) throws -> [String] {
        for r in TopLevelRole.allCases {
            let role = root.roles[r], lasting = role.lastingKeyids.count
            guard role.threshold >= 1 else { throw refused("the \(r.rawValue) threshold must be at least 1") }
            guard role.threshold <= lasting else {
                throw refused("the \(r.rawValue) threshold \(role.threshold) is larger than its \(lasting) key(s)"
                              + (role.windows.isEmpty ? "" : " that stay after the overlap window"))
            }
            for id in role.keyids where root.keys[id] == nil { throw refused("the \(r.rawValue) role lists key \(id.prefix(8)), which root.keys lacks") }
        }
        let rootRole = root.roles.root
        if rootRole.threshold == rootRole.lastingKeyids.count, !rules.allowUnrecoverableRoot {
            throw refused("a root with threshold \(rootRole.threshold) of \(rootRole.lastingKeyids.count) key(s) is lost with one key: add a key, lower the threshold, or pass --force-unrecoverable")
        }
        var warnings = [String]()
        if let maxAge = rules.maximumKeyAge {
            for (id, key) in root.keys.sorted(by: { $0.key < $1.key }) {
                if let added = key.addedTime, now.timeIntervalSince(added) > maxAge {
                    warnings.append("key \(id.prefix(8)) was added \(UTCTimestamp.string(from: added)), \(Int(now.timeIntervalSince(added) / 86_400)) days ago, past the policy's maximum key age of \(Int(maxAge / 86_400)) days: rotate it")
                }
            }
        }
        return warnings
    }

    /// A proposal that changes the keys or threshold of the delegated role `role` in the
    /// published `targets` (Docs/keys.md "Delegated roles"). `baseRoot` is the newest root's file,
    /// `targetsFile` the published `N.targets.json` file.
    ///
    /// - Throws: `keys.refused-change` for an unknown role, a key already there or not there, a
    ///   threshold outside 1…keys, a key the rules forbid, or no change at all.
    public static func proposeDelegationRotation(baseRoot: [UInt8], targetsFile: [UInt8], role: String, add: [PublicKey] = [], remove: [String] = [],
                                                 threshold: Int? = nil, rules: KeyRules = KeyRules(), expiry: CeremonyExpiry = CeremonyExpiry(),
                                                 now: Date) throws -> (proposal: KeyProposal, warnings: [String]) {
        let root = try Metadata<Root>(bytes: baseRoot, path: "base root")
        let targets = try Metadata<Targets>(bytes: targetsFile, path: "targets.json")
        guard let delegations = targets.signed.delegations, let current = delegations.roles.first(where: { $0.name == role }) else {
            throw refused("the published targets delegate no role named \(role) (delegated roles: \((targets.signed.delegations?.roles.map(\.name) ?? []).joined(separator: ", ")))")
        }
        var keys = current.keys.keyids.compactMap { delegations.keys[$0] }
        for key in add {
            let k = TUFKey(key)
            guard !keys.contains(where: { $0.keyid == k.keyid }) else { throw refused("key \(k.keyid.prefix(8)) is already a key of \(role)") }
            try allow(key, rules)
            keys.append(k)
        }
        for id in remove {
            guard let i = keys.firstIndex(where: { $0.keyid == id }) else { throw refused("key \(id.prefix(8)) is not a key of \(role)") }
            keys.remove(at: i)
        }
        let newThreshold = threshold ?? min(current.keys.threshold, max(keys.count, 1))
        guard !keys.isEmpty, newThreshold >= 1, newThreshold <= keys.count else {
            throw refused("\(role) would have \(keys.count) key(s) and threshold \(newThreshold); the threshold must be between 1 and the number of keys")
        }
        let change = DelegationChange(role: role, baseTargetsSHA256: DigestCalculator.sha256Hex(targetsFile), previousKeyids: current.keys.keyids,
                                      previousThreshold: current.keys.threshold, keys: keys, threshold: newThreshold)
        guard !change.changes.isEmpty else { throw refused("the proposal changes nothing") }
        var p = KeyProposal(kind: .rotation, role: .targets, baseFile: baseRoot, created: now, expires: now.addingTimeInterval(expiry.proposal),
                            changes: change.changes, root: Metadata(signed: root.signed))
        p.delegation = change
        try validateShape(p)
        return (p, [])
    }

    // MARK: Approving

    /// The keyids with a say in `proposal`: the root keys of its base root and of the root it
    /// proposes (a revocation list is signed by the latter); for a delegated role's rotation, the
    /// root keys and the role's new keys.
    public static func officers(of proposal: KeyProposal) throws -> [String] {
        let base = try proposal.baseRoot().signed
        if let d = proposal.delegation { return Array(Set(base.roles.root.keyids + d.keys.map(\.keyid))).sorted() }
        return Array(Set(base.roles.root.keyids + proposal.root.signed.roles.root.keyids)).sorted()
    }

    /// Adds `signer`'s approval: its signature over the proposed root (and revocation list),
    /// and over the proposal's digest with the time. Every other officer's signature is kept.
    ///
    /// - Throws: `keys.stale-proposal` past the proposal's expiry; `keys.not-an-officer` for a
    ///   key with no say in this change; `keys.approval-invalid` when an earlier approval no
    ///   longer covers the proposal (it was edited); `keys.refused-change` when the proposed
    ///   root fails the guards; signer errors.
    @discardableResult
    public static func approve(_ proposal: inout KeyProposal, signer: any Signer, revocations: [Revocation] = [], now: Date) throws -> CeremonyState {
        guard now < proposal.expires else { throw stale("the proposal expired \(UTCTimestamp.string(from: proposal.expires)); make a new one") }
        try validateShape(proposal)
        let before = try state(of: proposal, revocations: revocations, at: now)
        if let broken = before.invalidApprovals.first {
            throw FirmchainError(.keysApprovalInvalid, "the approval by \(broken.prefix(8)) no longer covers this proposal's bytes: it was edited after that approval; make a new proposal")
        }
        let key = TUFKey(signer.publicKey), base = try proposal.baseRoot().signed
        if let d = proposal.delegation {
            // A delegated role's rotation: the root officers and the new keys approve; no metadata is signed now.
            guard try officers(of: proposal).contains(key.keyid) else {
                throw FirmchainError(.keysNotAnOfficer, "key \(key.keyid.prefix(8)) (\(signer.keyDescription)) has no say in this change: only the root keys of root v\(base.version) and the new keys of \(d.role) approve it")
            }
            if let r = revocations.first(where: { $0.keyid == key.keyid }), r.reason == .compromised || now >= r.time {
                throw FirmchainError(.keysNotAnOfficer, "key \(key.keyid.prefix(8)) is revoked (\(r.reason.rawValue)); its approval would not count")
            }
            try addApproval(&proposal, signer: signer, key: key, now: now)
            return try state(of: proposal, revocations: revocations, at: now)
        }
        let oldRole = base.roles.root, newRole = proposal.root.signed.roles.root
        guard oldRole.keyids.contains(key.keyid) || newRole.keyids.contains(key.keyid) else {
            throw FirmchainError(.keysNotAnOfficer, "key \(key.keyid.prefix(8)) (\(signer.keyDescription)) has no say in this change: only the root keys of root v\(base.version) and of the proposed v\(proposal.root.signed.version) approve it")
        }
        let ring = ringFor(proposal, revocations: revocations)
        if let r = allRevocations(proposal, revocations).first(where: { $0.keyid == key.keyid }), r.reason == .compromised || now >= r.time {
            throw FirmchainError(.keysNotAnOfficer, "key \(key.keyid.prefix(8)) is revoked (\(r.reason.rawValue)); its approval would not count")
        }
        try proposal.root.addSignature(by: signer, role: oldRole.keyids.contains(key.keyid) ? oldRole : newRole, as: .tuf("root"), ring: ring, at: now)
        if newRole.keyids.contains(key.keyid), proposal.revocations != nil {
            try proposal.revocations!.addSignature(by: signer, role: newRole, as: .tuf("root"), ring: ring, at: now)
        }
        try addApproval(&proposal, signer: signer, key: key, now: now)
        return try state(of: proposal, revocations: revocations, at: now)
    }

    /// `signer`'s signature over the proposal's digest, the keyid and the time.
    private static func addApproval(_ proposal: inout KeyProposal, signer: any Signer, key: TUFKey, now: Date) throws {
        let digest = try proposal.digest()
        guard let algorithm = key.algorithm else { throw FirmchainError(.keysNotAnOfficer, "key \(key.keyid.prefix(8)) has no signature algorithm Firmchain knows") }
        let sig = try signer.sign(KeyProposal.approvalMessage(digest: digest, keyid: key.keyid, time: now), algorithm: algorithm)
        proposal.approvals.removeAll { $0.keyid == key.keyid }
        proposal.approvals.append(KeyApproval(keyid: key.keyid, time: now, signature: Hex.encode(sig)))
    }

    /// Where the approvals stand: an approval counts only when its signature over the digest
    /// verifies, and then the officer's signatures count toward: the proposed root by the base
    /// root's root keys, by its own root keys, and the revocation list by the proposed root's
    /// root keys. `revocations` (the list in force; a revocation proposal adds its own) are
    /// applied, so a revoked officer does not count.
    ///
    /// With `requiredApprovals` (the policy's `ceremonies.approvals`), that many valid
    /// approvals by `officers` (keyids; nil: every key with a say) must be present too.
    public static func state(of proposal: KeyProposal, revocations: [Revocation] = [], requiredApprovals: Int? = nil,
                             officers named: Set<String>? = nil, at now: Date) throws -> CeremonyState {
        let base = try proposal.baseRoot().signed, next = proposal.root.signed
        let digest = try proposal.digest()
        var valid = [String](), invalid = [String]()
        let delegatedKeys = Dictionary((proposal.delegation?.keys ?? []).map { ($0.keyid, $0) }) { a, _ in a }
        for a in proposal.approvals {
            guard let key = next.keys[a.keyid] ?? base.keys[a.keyid] ?? delegatedKeys[a.keyid], key.keyid == a.keyid,
                  key.isValidSignature(Hex.decode(a.signature) ?? [], for: KeyProposal.approvalMessage(digest: digest, keyid: a.keyid, time: a.time))
            else { invalid.append(a.keyid); continue }
            valid.append(a.keyid)
        }
        if let d = proposal.delegation {
            // The root officers' threshold, and the new keys' own threshold (each holder has the key).
            let inForce = allRevocations(proposal, revocations)
            let baseRing = base.keyRing(revocations: inForce)
            var officersTally = ThresholdTally(threshold: base.roles.root.threshold)
            officersTally.valid = valid.filter { base.roles.root.keyids.contains($0) && baseRing.trust($0, for: .tuf("root"), at: now).isTrusted }
            officersTally.missing = base.roles.root.keyids.filter { !officersTally.valid.contains($0) }.sorted()
            var keysTally = ThresholdTally(threshold: d.threshold)
            let revoked = Set(inForce.filter { $0.reason == .compromised || now >= $0.time }.map(\.keyid))
            keysTally.valid = valid.filter { delegatedKeys[$0] != nil && !revoked.contains($0) }
            keysTally.missing = delegatedKeys.keys.filter { !keysTally.valid.contains($0) }.sorted()
            var reqs = [CeremonyState.Requirement(name: "the change of \(d.role) by the root keys of v\(base.version)", tally: officersTally),
                        CeremonyState.Requirement(name: "the change of \(d.role) by its new keys", tally: keysTally)]
            if let requiredApprovals {
                // The policy's officers are people the root already trusts: the new team keys
                // (which the proposer may have made) never count here.
                var t = ThresholdTally(threshold: requiredApprovals)
                let sayers = Set(base.roles.root.keyids)
                let eligible = named.map { sayers.intersection($0) } ?? sayers
                t.valid = valid.filter { eligible.contains($0) && baseRing.trust($0, for: .tuf("root"), at: now).isTrusted }
                t.missing = eligible.filter { !t.valid.contains($0) }.sorted()
                reqs.append(.init(name: "the policy's \(requiredApprovals) officer approval(s)", tally: t))
            }
            return CeremonyState(requirements: reqs, invalidApprovals: invalid, validApprovals: valid)
        }
        var root = proposal.root
        root.signatures.removeAll { !valid.contains($0.keyid) }
        let ring = ringFor(proposal, revocations: revocations)
        var reqs = [
            CeremonyState.Requirement(name: "root v\(next.version) by the root keys of v\(base.version)",
                                      tally: root.verify(role: base.roles.root, as: .tuf("root"), ring: base.keyRing(revocations: allRevocations(proposal, revocations)), at: now)),
            CeremonyState.Requirement(name: "root v\(next.version) by its own root keys",
                                      tally: root.verify(role: next.roles.root, as: .tuf("root"), ring: ring, at: now)),
        ]
        if var list = proposal.revocations {
            list.signatures.removeAll { !valid.contains($0.keyid) }
            reqs.append(.init(name: "revocation list v\(list.signed.version) by the root keys of v\(next.version)",
                              tally: list.verify(role: next.roles.root, as: .tuf("root"), ring: ring, at: now)))
        }
        if let requiredApprovals {
            var t = ThresholdTally(threshold: requiredApprovals)
            let sayers = Set(try officers(of: proposal))
            let eligible = named.map { sayers.intersection($0) } ?? sayers
            let baseRing = base.keyRing(revocations: allRevocations(proposal, revocations))
            t.valid = valid.filter { eligible.contains($0) && (ring.trust($0, for: .tuf("root"), at: now).isTrusted || baseRing.trust($0, for: .tuf("root"), at: now).isTrusted) }
            t.missing = eligible.filter { !t.valid.contains($0) }.sorted()
            reqs.append(.init(name: "the policy's \(requiredApprovals) officer approval(s)", tally: t))
        }
        return CeremonyState(requirements: reqs, invalidApprovals: invalid, validApprovals: valid)
    }

    /// Checks the proposal is a well-formed next root of its base: version N + 1, the guards'
    /// structure (thresholds within key counts), and a revocation list only on a revocation.
    static func validateShape(_ proposal: KeyProposal) throws {
        let base = try proposal.baseRoot().signed
        if let d = proposal.delegation {
            guard try proposal.root.signedBytes() == (try proposal.baseRoot()).signedBytes() else {
                throw FirmchainError(.keysMalformedProposal, "a delegated role's rotation leaves the root as it is, and this proposal changes it")
            }
            guard !d.keys.isEmpty, d.threshold >= 1, d.threshold <= d.keys.count, Set(d.keys.map(\.keyid)).count == d.keys.count,
                  Set(d.keys.compactMap { $0.publicKey()?.tufPublicValue }).count == d.keys.count else {
                throw FirmchainError(.keysMalformedProposal, "the proposed keys of \(d.role) and their threshold \(d.threshold) do not fit (a key listed twice, or unreadable)")
            }
            guard proposal.changes == d.changes else {
                throw FirmchainError(.keysMalformedProposal, "the proposal's description of its change does not match the keys it proposes for \(d.role)")
            }
            // A team key is the team's alone: a key of a top-level role would count twice in the tallies.
            let topLevel = Set(TopLevelRole.allCases.flatMap { base.roles[$0].keyids })
            if let shared = d.keys.first(where: { topLevel.contains($0.keyid) }) {
                throw FirmchainError(.keysRefusedChange, "key \(shared.keyid.prefix(8)) is a key of a top-level role of root v\(base.version); a team's keys must be its own")
            }
            return
        }
        guard proposal.root.signed.version == base.version + 1 else {
            throw FirmchainError(.keysMalformedProposal, "the proposed root has version \(proposal.root.signed.version), not \(base.version + 1)")
        }
        _ = try check(proposal.root.signed, rules: KeyRules(allowUnrecoverableRoot: true), now: proposal.created)
    }

    // MARK: Helpers

    static func allRevocations(_ p: KeyProposal, _ inForce: [Revocation]) -> [Revocation] {
        var all = [String: Revocation]()
        for r in inForce + (p.revocations?.signed.revoked ?? []) { all[r.keyid] = r }
        return Array(all.values)
    }

    static func ringFor(_ p: KeyProposal, revocations: [Revocation]) -> KeyRing {
        p.root.signed.keyRing(revocations: allRevocations(p, revocations))
    }

    private static func nextRoot(_ current: Root, expiry: CeremonyExpiry, now: Date) -> Root {
        var next = current
        next.common.version = current.version + 1
        next.common.expires = now.addingTimeInterval(expiry.root)
        return next
    }

    private static func finish(kind: CeremonyKind, role: TopLevelRole, base: [UInt8], current: Root, next draft: Root, changes: [String],
                               revocations: Metadata<RevocationList>?, rules: KeyRules, expiry: CeremonyExpiry, now: Date) throws -> (proposal: KeyProposal, warnings: [String]) {
        var next = draft
        // Keys no role lists any more leave root.keys.
        let listed = Set(TopLevelRole.allCases.flatMap { next.roles[$0].keyids })
        next.keys = next.keys.filter { listed.contains($0.key) }
        let warnings = try check(next, rules: rules, now: now)
        let p = KeyProposal(kind: kind, role: role, baseFile: base, created: now, expires: now.addingTimeInterval(expiry.proposal),
                            changes: changes, root: Metadata(signed: next), revocations: revocations)
        return (p, warnings)
    }

    static func allow(_ key: PublicKey, _ rules: KeyRules) throws {
        let algorithm = key.keyType.defaultAlgorithm
        if let allowed = rules.allowedAlgorithms, !allowed.contains(algorithm) {
            throw refused("\(describe(key)) signs with \(algorithm.rawValue), which the policy does not allow (allowed: \(allowed.map(\.rawValue).sorted().joined(separator: ", ")))")
        }
        if key.keyType == .rsa, let bits = key.rsaBits, bits < rules.minimumRSABits {
            throw refused("\(describe(key)) is RSA-\(bits); the policy requires at least \(rules.minimumRSABits) bits")
        }
    }

    static func describe(_ key: PublicKey) -> String {
        "key \(TUFKey(key).keyid.prefix(8)) (\(key.keyType.rawValue)\(key.rsaBits.map { "-\($0)" } ?? ""))"
    }

    static func refused(_ reason: String) -> FirmchainError { FirmchainError(.keysRefusedChange, reason) }
    static func stale(_ reason: String) -> FirmchainError { FirmchainError(.keysStaleProposal, reason) }
}

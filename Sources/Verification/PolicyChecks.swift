import Custody
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing

/// Step 8 of `ReleaseVerifier`: what the policy given from outside asks of the keys and the
/// steps that made the release. Every check is skipped when no policy was given.
struct PolicyChecks {
    let policy: Policy?
    let repository: RepositoryVerification
    let custody: CustodyVerification
    let trust: ReleaseTrust
    let now: Date

    static let ids = ["policy.algorithms", "policy.thresholds", "policy.key-age", "policy.steps"]

    func all() -> [Check] {
        guard let policy else { return Self.ids.map { Check($0, .skipped, "no policy was given") } }
        guard let root = repository.root else {
            return Self.ids.map { Check($0, .skipped, "the root chain did not verify, so its keys are not trusted") }
        }
        return [algorithms(policy, root), thresholds(policy, root), keyAge(policy, root), steps(policy)]
    }

    /// The keys whose algorithms the policy rules: the trusted root's, the owner keys given and
    /// the layout's functionaries (once it is trusted), each with where it is named.
    private func keys(_ root: Root) -> [(what: String, key: TUFKey)] {
        var out = [(String, TUFKey)]()
        for role in TopLevelRole.allCases {
            for kid in root.roles[role].keyids { if let k = root.keys[kid] { out.append(("\(role.rawValue) key \(kid.prefix(8))", k)) } }
        }
        for k in trust.ownerKeys { out.append(("owner key \(k.keyid.prefix(8))", TUFKey(k))) }
        if custody.report.check("custody.layout.signatures")?.status == .passed, let layout = custody.layout?.layout {
            for step in layout.steps {
                for kid in step.pubkeys { if let k = layout.keys[kid] { out.append(("\(step.name) functionary \(kid.prefix(8))", k)) } }
            }
        }
        return out
    }

    private func algorithms(_ policy: Policy, _ root: Root) -> Check {
        var failures = [String]()
        let all = keys(root)
        for (what, key) in all {
            guard let pk = key.publicKey() else { failures.append("\(what): keytype \(key.keytype) cannot be read"); continue }
            do { try policy.check(key: pk, reference: what) } catch let e as FirmchainError { failures.append(e.reason) } catch { failures.append("\(what): \(error)") }
        }
        return .from("policy.algorithms", "every key signs with an algorithm and size the policy allows (\(all.count) key(s))", failures: failures)
    }

    private func thresholds(_ policy: Policy, _ root: Root) -> Check {
        let failures = TopLevelRole.allCases.compactMap { role -> String? in
            let have = root.roles[role].threshold, want = policy.roles[role].threshold
            return have < want ? "\(role.rawValue): root v\(root.version) asks \(have) signature(s), the policy \(want)" : nil
        }
        return .from("policy.thresholds", "every role's threshold in the trusted root is at least the policy's", failures: failures)
    }

    private func keyAge(_ policy: Policy, _ root: Root) -> Check {
        var failures = [String](), unknown = [String]()
        let limit = TimeInterval(policy.maximumKeyAgeDays) * 86_400
        for role in TopLevelRole.allCases {
            for kid in root.roles[role].keyids {
                guard let added = root.keys[kid]?.addedTime else { unknown.append("\(role.rawValue) key \(kid.prefix(8)): the root does not say when it was added"); continue }
                let days = Int(now.timeIntervalSince(added) / 86_400)
                if now.timeIntervalSince(added) > limit {
                    failures.append("\(role.rawValue) key \(kid.prefix(8)) is \(days) days old, above the policy's \(policy.maximumKeyAgeDays): rotate it")
                }
            }
        }
        let title = "no root-listed key is older than the policy's \(policy.maximumKeyAgeDays) days"
        if !failures.isEmpty { return Check("policy.key-age", .failed, title, details: failures + unknown) }
        return Check("policy.key-age", unknown.isEmpty ? .passed : .warning, title, details: unknown)
    }

    /// The layout's steps are exactly the steps the policy names functionaries for.
    private func steps(_ policy: Policy) -> Check {
        let title = "the layout has exactly the steps the policy names functionaries for"
        guard custody.report.check("custody.layout.signatures")?.status == .passed, let layout = custody.layout?.layout else {
            return Check("policy.steps", .skipped, title, details: ["the layout is not trusted"])
        }
        let have = Set(layout.steps.map(\.name)), want = Set(policy.functionaries.keys)
        let failures = want.subtracting(have).sorted().map { "step \($0): required by the policy, missing from the layout" }
            + have.subtracting(want).sorted().map { "step \($0): in the layout, but the policy names no functionary for it" }
        return .from("policy.steps", title, failures: failures, passedDetails: [layout.steps.map(\.name).joined(separator: ", ")])
    }
}

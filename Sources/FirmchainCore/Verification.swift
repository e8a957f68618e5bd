import Foundation

/// The outcome of one check (Docs/architecture.md "One verification vocabulary").
public enum CheckStatus: String, Sendable, Hashable, CaseIterable {
    /// The check ran and held.
    case passed
    /// The check ran and did not hold: what it checked must not be trusted.
    case failed
    /// Nothing is wrong with what is there, but a person should know (a torn last ledger line
    /// after a crash, entries not yet covered by a signed checkpoint).
    case warning
    /// The check could not run: an earlier one failed, or there was nothing to check.
    case skipped
}

/// One check a verifier ran, as a value: a stable dotted id (`repo.timestamp.signatures`,
/// `custody.links.threshold`), the outcome, one sentence saying why, the file it is about, and
/// the facts behind it. Ids are a contract listed in `Docs/verify.md`; reasons may change.
public struct Check: Sendable, Hashable {
    /// The stable dotted id.
    public var id: String
    /// The outcome.
    public var status: CheckStatus
    /// What was checked, or why it did not hold.
    public var reason: String
    /// The file the check is about, relative to what was verified, when there is one.
    public var subject: String?
    /// Further facts: each failure found, or what was seen.
    public var details: [String]

    /// A check from its parts.
    public init(_ id: String, _ status: CheckStatus, _ reason: String, subject: String? = nil, details: [String] = []) {
        self.id = id
        self.status = status
        self.reason = reason
        self.subject = subject
        self.details = details
    }

    /// A check that passed with `reason` when `holds`, and failed with `failure` otherwise.
    public static func require(_ id: String, _ holds: Bool, _ reason: String, failure: String? = nil, subject: String? = nil) -> Check {
        Check(id, holds ? .passed : .failed, holds ? reason : (failure ?? reason), subject: subject)
    }

    /// A check that passed when `failures` is empty and failed otherwise, with the failures
    /// (or `passedDetails`) as details.
    public static func from(_ id: String, _ reason: String, failures: [String], passedDetails: [String] = [],
                            subject: String? = nil) -> Check {
        Check(id, failures.isEmpty ? .passed : .failed, reason, subject: subject, details: failures.isEmpty ? passedDetails : failures)
    }
}

/// Every check of one verification, in the order they ran, at one reference time, with where
/// trust came from. Each verifier returns one; reports compose by appending (`merge`), and the
/// text and JSON renderings below are the only ones (the command line prints them as they are).
public struct VerificationReport: Sendable, Hashable {
    /// The media type of the JSON document.
    public static let mediaType = "application/vnd.firmchain.verification+json;version=1"

    /// The time expiry was judged at (one per run).
    public var referenceTime: Date
    /// What was verified (a release directory, a repository).
    public var subject: String
    /// Where trust came from, one line each: the trusted root, owner keys, the policy, the
    /// previous state. Nothing inside what is verified vouches for itself.
    public var trust: [String]
    /// The checks in the order they ran.
    public var checks: [Check]
    /// Facts the verification established, for machines (the verified targets, for example).
    public var facts: [String: JSONValue]
    /// Whether trust came from outside what was verified. False when a command fell back to
    /// keys or a root found inside it: then a pass only shows it agrees with itself.
    public var anchored = true

    /// An empty report.
    public init(subject: String, referenceTime: Date, trust: [String] = [], checks: [Check] = [], facts: [String: JSONValue] = [:]) {
        self.subject = subject
        self.referenceTime = referenceTime
        self.trust = trust
        self.checks = checks
        self.facts = facts
    }

    /// Whether at least one check ran and none failed.
    public var passed: Bool { !checks.isEmpty && !checks.contains { $0.status == .failed } }
    /// Whether at least one check ran and none failed or warned.
    public var passedStrictly: Bool { passed && !checks.contains { $0.status == .warning } }
    /// The checks that failed.
    public var failures: [Check] { checks.filter { $0.status == .failed } }

    /// The first check with `id`, if one ran.
    public func check(_ id: String) -> Check? { checks.first { $0.id == id } }

    /// Appends one check.
    public mutating func append(_ check: Check) { checks.append(check) }

    /// Appends `other`'s checks, trust lines and facts after this report's.
    public mutating func merge(_ other: VerificationReport) {
        checks += other.checks
        for t in other.trust where !trust.contains(t) { trust.append(t) }
        facts = facts.merging(other.facts) { mine, _ in mine }
    }

    /// Appends a skipped check for each id in `ids`: they could not run because an earlier
    /// check failed, and nothing unverified is trusted.
    public mutating func skip(_ ids: [String], because reason: String) {
        for id in ids { checks.append(Check(id, .skipped, reason)) }
    }

    /// The versioned JSON document (`--json`).
    public var json: JSONValue {
        let counts = Dictionary(grouping: checks, by: \.status).mapValues { JSONValue.int($0.count) }
        var doc: [String: JSONValue] = [
            "media_type": .string(Self.mediaType),
            "subject": .string(subject),
            "reference_time": .string(UTCTimestamp.string(from: referenceTime)),
            "passed": .bool(passed),
            "anchored": .bool(anchored),
            "trust": .array(trust.map { .string($0) }),
            "summary": .object(Dictionary(uniqueKeysWithValues: CheckStatus.allCases.map { ($0.rawValue, counts[$0] ?? .int(0)) })),
            "checks": .array(checks.map { c in
                var o: [String: JSONValue] = ["id": .string(c.id), "status": .string(c.status.rawValue), "reason": .string(c.reason)]
                if let s = c.subject { o["subject"] = .string(s) }
                if !c.details.isEmpty { o["details"] = .array(c.details.map { .string($0) }) }
                return .object(o)
            }),
        ]
        if !facts.isEmpty { doc["facts"] = .object(facts) }
        return .object(doc)
    }

    /// The report for a person: where trust came from, one numbered line per check with its
    /// id and reason (details indented below), and a closing verdict naming what was verified.
    public func text(verdict: String? = nil) -> String {
        // Reasons and subjects quote the release (file names, hardware ids): one line each, as shown.
        var lines = trust.map { "trust: \(DisplayText.oneLine($0))" }
        let width = checks.map(\.id.count).max() ?? 0
        let mark: [CheckStatus: String] = [.passed: "ok  ", .failed: "FAIL", .warning: "warn", .skipped: "skip"]
        for (i, c) in checks.enumerated() {
            let number = String(repeating: " ", count: max(0, String(checks.count).count - String(i + 1).count)) + "\(i + 1)"
            let subject = c.subject.map { " (\(DisplayText.oneLine($0)))" } ?? ""
            lines.append("\(number). [\(mark[c.status]!)] \(c.id.padding(toLength: width, withPad: " ", startingAt: 0))  \(DisplayText.oneLine(c.reason))\(subject)")
            for d in c.details { lines.append("      \(DisplayText.oneLine(d))") }
        }
        let n = Dictionary(grouping: checks, by: \.status).mapValues(\.count)
        let tally = "\(n[.passed] ?? 0) passed, \(n[.failed] ?? 0) failed, \(n[.warning] ?? 0) warning(s), \(n[.skipped] ?? 0) skipped"
        let outcome = passed ? (anchored ? "verified" : "agrees with itself (no trust anchor was given: not verified)") : "FAILED verification"
        lines.append("\(DisplayText.oneLine(verdict ?? subject)) \(outcome): \(tally)")
        return lines.joined(separator: "\n")
    }
}

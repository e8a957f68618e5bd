/// One check a verifier ran, as a value (STYLE.md §4): what was checked, the outcome, and the
/// facts behind it. Reports list checks in the order they ran and number them from 1.
public struct CustodyCheck: Sendable, Hashable {
    /// The outcome of a check.
    public enum Status: String, Sendable, Hashable {
        /// The check ran and held.
        case passed
        /// The check ran and did not hold: the evidence must not be trusted.
        case failed
        /// Nothing is wrong with what is there, but something a person should know (a torn last
        /// line after a crash, entries not yet covered by a signed checkpoint).
        case warning
        /// The check could not run because an earlier one failed or there was nothing to check.
        case skipped
    }

    /// What was checked, as a sentence.
    public var title: String
    /// The outcome.
    public var status: Status
    /// Facts: what failed and where, or what was seen.
    public var details: [String]

    /// A check from its parts.
    public init(_ title: String, _ status: Status, _ details: [String] = []) {
        self.title = title
        self.status = status
        self.details = details
    }

    /// A check that passed when `failures` is empty and failed otherwise.
    static func from(_ title: String, failures: [String], passedDetails: [String] = []) -> CustodyCheck {
        CustodyCheck(title, failures.isEmpty ? .passed : .failed, failures.isEmpty ? passedDetails : failures)
    }
}

extension Array where Element == CustodyCheck {
    /// Whether no check failed.
    public var allHold: Bool { !contains { $0.status == .failed } }
    /// Whether no check failed or warned.
    public var allHoldStrictly: Bool { !contains { $0.status == .failed || $0.status == .warning } }
}
